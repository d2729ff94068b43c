//! The sans-IO CoAP endpoint: RFC 7252 message layer for one socket and any number of peers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{MessageClass, MessageType, Packet, ResponseType};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;

use super::config::EndpointConfig;
use super::dedup::{DedupCache, Seen};
use super::message::{empty_message, is_unknown_method, raw_type, unrecognised_critical_option};
use super::types::{
    EndpointStats, Event, ExchangeId, FailureReason, RequestId, RequestOptions, Transmit,
};

/// Most NON notifications remembered so that an RST answering one can be matched.
const RECENT_NON_CAPACITY: usize = 1024;

/// A CON we sent and are retransmitting until it is acknowledged.
#[derive(Debug)]
struct PendingCon {
    bytes: Vec<u8>,
    retransmissions: u32,
    timeout: Duration,
    deadline: Instant,
    owner: ConOwner,
}

#[derive(Debug, Clone)]
enum ConOwner {
    Request(RequestId),
    SeparateResponse,
    Notification(Vec<u8>),
}

/// Where one of our requests stands.
#[derive(Debug)]
enum RequestState {
    /// Waiting for an NSTART slot.
    Queued(Packet),
    /// Sent as CON, no ACK yet.
    AwaitingAck,
    /// Acknowledged empty, or sent NON: waiting for the response until the deadline.
    AwaitingResponse(Instant),
    /// An observation with its first response delivered.
    Observing,
}

#[derive(Debug)]
struct Outstanding {
    peer: SocketAddr,
    token: Vec<u8>,
    mid: Option<u16>,
    observe: bool,
    confirmable: bool,
    state: RequestState,
}

impl Outstanding {
    fn holds_slot(&self) -> bool {
        matches!(
            self.state,
            RequestState::AwaitingAck | RequestState::AwaitingResponse(_)
        )
    }
}

/// A request we received and have not answered yet.
#[derive(Debug)]
struct Incoming {
    peer: SocketAddr,
    mid: u16,
    token: Vec<u8>,
    confirmable: bool,
    acknowledged: bool,
}

#[derive(Debug, Default)]
struct PeerState {
    next_mid: u16,
    active: usize,
    queue: VecDeque<RequestId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Retransmit(SocketAddr, u16),
    ResponseDeadline(RequestId),
}

/// The RFC 7252 message layer, sans-IO.
///
/// Feed it datagrams with [`receive`](Self::receive) and the passage of time with
/// [`handle_timeout`](Self::handle_timeout); drain [`poll_transmit`](Self::poll_transmit) and
/// [`poll_event`](Self::poll_event) after each call, and wake it at
/// [`poll_timeout`](Self::poll_timeout). It never reads a clock and never touches a socket.
///
/// It assigns message IDs (per peer) and tokens, retransmits CONs with exponential back-off
/// (RFC 7252 §4.2), deduplicates received messages and replays the cached answer, sends
/// piggy-backed or separate responses, answers pings and unexpected messages with RST,
/// rejects unrecognised critical options with 4.02 and unknown methods with 4.05, and limits
/// outstanding requests per peer to NSTART.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: SmallRng,
    next_id: u64,
    peers: HashMap<SocketAddr, PeerState>,
    outstanding: HashMap<RequestId, Outstanding>,
    by_token: HashMap<(SocketAddr, Vec<u8>), RequestId>,
    pending_cons: HashMap<(SocketAddr, u16), PendingCon>,
    recent_non: HashMap<(SocketAddr, u16), Vec<u8>>,
    recent_non_order: VecDeque<(SocketAddr, u16)>,
    incoming: HashMap<ExchangeId, Incoming>,
    dedup: DedupCache,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: EndpointStats,
}

impl Endpoint {
    /// A new endpoint; `seed` drives message IDs, tokens and retransmission jitter.
    pub fn new(config: EndpointConfig, seed: u64) -> Self {
        let dedup = DedupCache::new(config.dedup_capacity);
        Self {
            config,
            rng: SmallRng::seed_from_u64(seed),
            next_id: 0,
            peers: HashMap::new(),
            outstanding: HashMap::new(),
            by_token: HashMap::new(),
            pending_cons: HashMap::new(),
            recent_non: HashMap::new(),
            recent_non_order: VecDeque::new(),
            incoming: HashMap::new(),
            dedup,
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Protocol counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Requests sent (or queued) and not finished, observations included.
    pub fn outstanding_requests(&self) -> usize {
        self.outstanding.len()
    }

    /// Received requests not answered yet.
    pub fn unanswered_requests(&self) -> usize {
        self.incoming.len()
    }

    /// Message IDs remembered for deduplication.
    pub fn remembered_messages(&self) -> usize {
        self.dedup.len()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next. May be early
    /// (a timer whose work is already done); never late.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        match (timer, self.dedup.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends a request to `peer`. The caller sets the code, options and payload; the
    /// endpoint sets the type, message ID and token. The outcome arrives as
    /// [`Event::Response`] or [`Event::Failed`].
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mut packet: Packet,
        options: RequestOptions,
    ) -> RequestId {
        let id = RequestId(self.allocate_id());
        let token = self.unique_token(peer);
        packet.set_token(token.clone());
        if options.observe && packet.get_observe_value().is_none() {
            packet.set_observe_value(0);
        }
        self.by_token.insert((peer, token.clone()), id);
        let rng = &mut self.rng;
        let state = self.peers.entry(peer).or_insert_with(|| PeerState {
            next_mid: rng.random(),
            active: 0,
            queue: VecDeque::new(),
        });
        if state.active < self.config.nstart.max(1) {
            self.outstanding.insert(
                id,
                Outstanding {
                    peer,
                    token,
                    mid: None,
                    observe: options.observe,
                    confirmable: options.confirmable,
                    state: RequestState::AwaitingAck,
                },
            );
            self.transmit_request(now, id, packet);
        } else if state.queue.len() < self.config.max_queued_per_peer {
            state.queue.push_back(id);
            self.outstanding.insert(
                id,
                Outstanding {
                    peer,
                    token,
                    mid: None,
                    observe: options.observe,
                    confirmable: options.confirmable,
                    state: RequestState::Queued(packet),
                },
            );
        } else {
            self.by_token.remove(&(peer, token));
            self.events.push_back(Event::Failed {
                request: id,
                peer,
                reason: FailureReason::Overloaded,
            });
        }
        id
    }

    /// Stops a request or an observation without an event: no more retransmissions, and
    /// later notifications for its token are answered with RST.
    pub fn cancel(&mut self, now: Instant, request: RequestId) {
        let Some(outstanding) = self.outstanding.get(&request) else {
            return;
        };
        let peer = outstanding.peer;
        if let Some(mid) = outstanding.mid {
            self.pending_cons.remove(&(peer, mid));
        }
        if matches!(outstanding.state, RequestState::Queued(_))
            && let Some(state) = self.peers.get_mut(&peer)
        {
            state.queue.retain(|queued| *queued != request);
        }
        self.finish(now, request);
    }

    /// Answers a received request. A CON request not yet acknowledged gets a piggy-backed
    /// response in the ACK; one already acknowledged gets a separate CON response; a NON
    /// request gets a NON response with a fresh message ID. The endpoint sets the type,
    /// message ID and token.
    pub fn respond(&mut self, now: Instant, exchange: ExchangeId, mut response: Packet) {
        let Some(incoming) = self.incoming.remove(&exchange) else {
            return;
        };
        response.set_token(incoming.token.clone());
        let piggy_backed = incoming.confirmable && !incoming.acknowledged;
        if piggy_backed {
            response.header.set_type(MessageType::Acknowledgement);
            response.header.message_id = incoming.mid;
        } else {
            let kind = if incoming.confirmable {
                MessageType::Confirmable
            } else {
                MessageType::NonConfirmable
            };
            response.header.set_type(kind);
            response.header.message_id = self.next_mid(incoming.peer);
        }
        let bytes = match self.encode(&response) {
            Ok(bytes) => bytes,
            Err(reason) => {
                let mut fallback = Packet::new();
                fallback.header = response.header.clone();
                fallback.header.code = MessageClass::Response(ResponseType::InternalServerError);
                fallback.set_token(incoming.token.clone());
                fallback.payload = format!("response not sent: {reason}").into_bytes();
                match self.encode(&fallback) {
                    Ok(bytes) => bytes,
                    Err(_) => return,
                }
            }
        };
        if piggy_backed {
            self.dedup
                .update(incoming.peer, incoming.mid, Seen::Answered(bytes.clone()));
        } else if incoming.confirmable {
            self.track_con(
                now,
                incoming.peer,
                response.header.message_id,
                bytes.clone(),
                ConOwner::SeparateResponse,
            );
        } else {
            self.dedup
                .update(incoming.peer, incoming.mid, Seen::Answered(Vec::new()));
        }
        self.transmits
            .push_back(Transmit::new(incoming.peer, bytes));
    }

    /// Acknowledges a received CON request now with an empty ACK; the response will follow
    /// separately (RFC 7252 §5.2.2). Does nothing for NON or already acknowledged requests.
    pub fn accept_later(&mut self, exchange: ExchangeId) {
        let Some(incoming) = self.incoming.get_mut(&exchange) else {
            return;
        };
        if !incoming.confirmable || incoming.acknowledged {
            return;
        }
        incoming.acknowledged = true;
        let ack = empty_message(MessageType::Acknowledgement, incoming.mid);
        let (peer, mid) = (incoming.peer, incoming.mid);
        self.dedup.update(peer, mid, Seen::Answered(ack.clone()));
        self.transmits.push_back(Transmit::new(peer, ack));
    }

    /// Drops a received request without answering it (a simulated lost reply). A duplicate of
    /// it is then ignored too.
    pub fn abandon(&mut self, exchange: ExchangeId) {
        if let Some(incoming) = self.incoming.remove(&exchange) {
            self.dedup
                .update(incoming.peer, incoming.mid, Seen::Answered(Vec::new()));
        }
    }

    /// Sends an Observe notification (device side): `packet` is the response (code, Observe
    /// option, payload); the endpoint sets the type, a fresh message ID and `token`. If the
    /// observer rejects it with RST, or a CON notification is never acknowledged,
    /// [`Event::NotificationRejected`] follows.
    pub fn send_notification(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        token: &[u8],
        mut packet: Packet,
        confirmable: bool,
    ) -> Result<(), FailureReason> {
        let mid = self.next_mid(peer);
        packet.set_token(token.to_vec());
        packet.header.message_id = mid;
        packet.header.set_type(if confirmable {
            MessageType::Confirmable
        } else {
            MessageType::NonConfirmable
        });
        let bytes = self.encode(&packet).map_err(FailureReason::Encode)?;
        if confirmable {
            self.track_con(
                now,
                peer,
                mid,
                bytes.clone(),
                ConOwner::Notification(token.to_vec()),
            );
        } else {
            self.remember_non(peer, mid, token.to_vec());
        }
        self.transmits.push_back(Transmit::new(peer, bytes));
        Ok(())
    }

    /// Processes one received datagram.
    pub fn receive(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) {
        self.forget_expired(now);
        if datagram.len() < 4 || datagram[0] >> 6 != 1 {
            // Too short to be CoAP, or an unknown version: silently ignored (RFC 7252 §3).
            self.stats.malformed += 1;
            return;
        }
        let kind = raw_type(datagram[0]);
        let mid = u16::from_be_bytes([datagram[2], datagram[3]]);
        let is_empty_code = datagram[1] == 0;
        let packet = match Packet::from_bytes(datagram) {
            Ok(packet) if !is_empty_code || datagram.len() == 4 => packet,
            _ => {
                // Message format error: reject (RST) a CON, silently ignore anything else.
                self.stats.malformed += 1;
                if kind == MessageType::Confirmable {
                    self.send_reset(peer, mid);
                }
                return;
            }
        };
        match (kind, packet.header.code) {
            (MessageType::Confirmable, MessageClass::Empty) => self.send_reset(peer, mid),
            (MessageType::NonConfirmable, MessageClass::Empty) => {}
            (MessageType::Acknowledgement, MessageClass::Empty) => {
                self.on_ack(now, peer, mid, None)
            }
            (MessageType::Acknowledgement, MessageClass::Response(_)) => {
                self.on_ack(now, peer, mid, Some(packet))
            }
            (MessageType::Acknowledgement, _) => self.stats.malformed += 1,
            (MessageType::Reset, _) => self.on_reset(now, peer, mid),
            (_, MessageClass::Request(_)) => self.on_request(now, peer, kind, packet),
            (_, MessageClass::Response(_)) => self.on_response_message(now, peer, kind, packet),
            (_, class) => self.on_unknown_code(now, peer, kind, packet, class),
        }
    }

    /// Runs every timer due at or before `now`: retransmissions, response deadlines,
    /// expiry of remembered message IDs and of unanswered requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.forget_expired(now);
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Retransmit(peer, mid) => self.on_retransmit_timer(now, peer, mid),
                Timer::ResponseDeadline(id) => {
                    let expired = matches!(
                        self.outstanding.get(&id),
                        Some(Outstanding { state: RequestState::AwaitingResponse(deadline), .. }) if *deadline <= now
                    );
                    if expired {
                        self.fail(now, id, FailureReason::Timeout);
                    }
                }
            }
        }
    }

    fn allocate_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn next_mid(&mut self, peer: SocketAddr) -> u16 {
        let rng = &mut self.rng;
        let state = self.peers.entry(peer).or_insert_with(|| PeerState {
            next_mid: rng.random(),
            active: 0,
            queue: VecDeque::new(),
        });
        let mid = state.next_mid;
        state.next_mid = state.next_mid.wrapping_add(1);
        mid
    }

    fn unique_token(&mut self, peer: SocketAddr) -> Vec<u8> {
        loop {
            let token: [u8; 4] = self.rng.random();
            let token = token.to_vec();
            if !self.by_token.contains_key(&(peer, token.clone())) {
                return token;
            }
        }
    }

    fn encode(&self, packet: &Packet) -> Result<Vec<u8>, String> {
        packet
            .to_bytes_with_limit(self.config.max_message_size)
            .map_err(|error| format!("{error:?}"))
    }

    fn initial_timeout(&mut self) -> Duration {
        let factor = self.config.ack_random_factor.max(1.0);
        let jitter: f64 = self.rng.random_range(1.0..=factor);
        self.config.ack_timeout.mul_f64(jitter)
    }

    fn track_con(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        mid: u16,
        bytes: Vec<u8>,
        owner: ConOwner,
    ) {
        let timeout = self.initial_timeout();
        let deadline = now + timeout;
        self.pending_cons.insert(
            (peer, mid),
            PendingCon {
                bytes,
                retransmissions: 0,
                timeout,
                deadline,
                owner,
            },
        );
        self.timers
            .push(Reverse((deadline, Timer::Retransmit(peer, mid))));
    }

    fn remember_non(&mut self, peer: SocketAddr, mid: u16, token: Vec<u8>) {
        if self.recent_non.insert((peer, mid), token).is_none() {
            self.recent_non_order.push_back((peer, mid));
        }
        while self.recent_non_order.len() > RECENT_NON_CAPACITY {
            if let Some(key) = self.recent_non_order.pop_front() {
                self.recent_non.remove(&key);
            }
        }
    }

    fn transmit_request(&mut self, now: Instant, id: RequestId, mut packet: Packet) {
        let Some(outstanding) = self.outstanding.get(&id) else {
            return;
        };
        let (peer, confirmable) = (outstanding.peer, outstanding.confirmable);
        let mid = self.next_mid(peer);
        packet.header.message_id = mid;
        packet.header.set_type(if confirmable {
            MessageType::Confirmable
        } else {
            MessageType::NonConfirmable
        });
        let bytes = match self.encode(&packet) {
            Ok(bytes) => bytes,
            Err(reason) => {
                // Not holding a slot yet: fail without touching the peer's counters.
                self.outstanding.remove(&id);
                self.remove_token(id, peer);
                self.events.push_back(Event::Failed {
                    request: id,
                    peer,
                    reason: FailureReason::Encode(reason),
                });
                return;
            }
        };
        if let Some(state) = self.peers.get_mut(&peer) {
            state.active += 1;
        }
        let deadline = now + self.config.response_timeout;
        if let Some(outstanding) = self.outstanding.get_mut(&id) {
            outstanding.mid = Some(mid);
            outstanding.state = if confirmable {
                RequestState::AwaitingAck
            } else {
                RequestState::AwaitingResponse(deadline)
            };
        }
        if confirmable {
            self.track_con(now, peer, mid, bytes.clone(), ConOwner::Request(id));
        } else {
            self.timers
                .push(Reverse((deadline, Timer::ResponseDeadline(id))));
        }
        self.transmits.push_back(Transmit {
            peer,
            bytes,
            first_of: Some(id),
        });
    }

    fn remove_token(&mut self, id: RequestId, peer: SocketAddr) {
        self.by_token
            .retain(|(token_peer, _), owner| !(*token_peer == peer && *owner == id));
    }

    /// Ends a request: frees its NSTART slot and token and starts the next queued request.
    fn finish(&mut self, now: Instant, id: RequestId) {
        let Some(outstanding) = self.outstanding.remove(&id) else {
            return;
        };
        self.by_token
            .remove(&(outstanding.peer, outstanding.token.clone()));
        if outstanding.holds_slot() {
            self.release_slot(now, outstanding.peer);
        }
    }

    fn release_slot(&mut self, now: Instant, peer: SocketAddr) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.active = state.active.saturating_sub(1);
        if state.active >= self.config.nstart.max(1) {
            return;
        }
        while let Some(next) = state.queue.pop_front() {
            if let Some(Outstanding {
                state: RequestState::Queued(_),
                ..
            }) = self.outstanding.get(&next)
            {
                // Re-borrow to take the packet out.
                let packet = match self
                    .outstanding
                    .get_mut(&next)
                    .map(|o| std::mem::replace(&mut o.state, RequestState::AwaitingAck))
                {
                    Some(RequestState::Queued(packet)) => packet,
                    _ => continue,
                };
                self.transmit_request(now, next, packet);
                return;
            }
        }
    }

    fn fail(&mut self, now: Instant, id: RequestId, reason: FailureReason) {
        if let Some(outstanding) = self.outstanding.get(&id) {
            let peer = outstanding.peer;
            if reason == FailureReason::Timeout {
                self.stats.timeouts += 1;
            }
            self.events.push_back(Event::Failed {
                request: id,
                peer,
                reason,
            });
            self.finish(now, id);
        }
    }

    fn send_reset(&mut self, peer: SocketAddr, mid: u16) {
        self.stats.resets_sent += 1;
        self.transmits
            .push_back(Transmit::new(peer, empty_message(MessageType::Reset, mid)));
    }

    fn on_retransmit_timer(&mut self, now: Instant, peer: SocketAddr, mid: u16) {
        let max_retransmit = self.config.max_retransmit;
        let Some(pending) = self.pending_cons.get_mut(&(peer, mid)) else {
            return;
        };
        if pending.deadline > now {
            return;
        }
        if pending.retransmissions < max_retransmit {
            pending.retransmissions += 1;
            pending.timeout *= 2;
            pending.deadline = now + pending.timeout;
            let deadline = pending.deadline;
            let bytes = pending.bytes.clone();
            self.stats.retransmissions += 1;
            self.timers
                .push(Reverse((deadline, Timer::Retransmit(peer, mid))));
            self.transmits.push_back(Transmit::new(peer, bytes));
            return;
        }
        let Some(pending) = self.pending_cons.remove(&(peer, mid)) else {
            return;
        };
        match pending.owner {
            ConOwner::Request(id) => self.fail(now, id, FailureReason::Timeout),
            ConOwner::Notification(token) => self
                .events
                .push_back(Event::NotificationRejected { peer, token }),
            ConOwner::SeparateResponse => {}
        }
    }

    fn on_ack(&mut self, now: Instant, peer: SocketAddr, mid: u16, response: Option<Packet>) {
        let owner = match self.pending_cons.get(&(peer, mid)) {
            Some(pending) => pending.owner.clone(),
            None => {
                self.stats.duplicates += 1;
                return;
            }
        };
        match owner {
            ConOwner::Request(id) => {
                let Some(outstanding) = self.outstanding.get(&id) else {
                    self.pending_cons.remove(&(peer, mid));
                    return;
                };
                if let Some(packet) = response {
                    if packet.get_token() != outstanding.token.as_slice() {
                        // A piggy-backed response must echo our token; ignore a mismatch and
                        // keep retransmitting.
                        self.stats.malformed += 1;
                        return;
                    }
                    self.pending_cons.remove(&(peer, mid));
                    self.deliver(now, id, peer, packet);
                } else {
                    self.pending_cons.remove(&(peer, mid));
                    let deadline = now + self.config.response_timeout;
                    if let Some(outstanding) = self.outstanding.get_mut(&id) {
                        outstanding.state = RequestState::AwaitingResponse(deadline);
                    }
                    self.timers
                        .push(Reverse((deadline, Timer::ResponseDeadline(id))));
                }
            }
            ConOwner::SeparateResponse | ConOwner::Notification(_) => {
                self.pending_cons.remove(&(peer, mid));
            }
        }
    }

    /// Hands a response to the application and moves the request on.
    fn deliver(&mut self, now: Instant, id: RequestId, peer: SocketAddr, packet: Packet) {
        let Some(outstanding) = self.outstanding.get_mut(&id) else {
            return;
        };
        let observing = outstanding.observe && packet.get_observe_value().is_some();
        let held_slot = outstanding.holds_slot();
        if observing {
            outstanding.state = RequestState::Observing;
            self.events.push_back(Event::Response {
                request: id,
                peer,
                packet,
            });
            if held_slot {
                self.release_slot(now, peer);
            }
        } else {
            self.events.push_back(Event::Response {
                request: id,
                peer,
                packet,
            });
            self.finish(now, id);
        }
    }

    fn on_reset(&mut self, now: Instant, peer: SocketAddr, mid: u16) {
        if let Some(pending) = self.pending_cons.remove(&(peer, mid)) {
            match pending.owner {
                ConOwner::Request(id) => self.fail(now, id, FailureReason::Reset),
                ConOwner::Notification(token) => self
                    .events
                    .push_back(Event::NotificationRejected { peer, token }),
                ConOwner::SeparateResponse => {}
            }
        } else if let Some(token) = self.recent_non.remove(&(peer, mid)) {
            self.events
                .push_back(Event::NotificationRejected { peer, token });
        }
    }

    /// Forgets message IDs past EXCHANGE_LIFETIME, and requests the application never
    /// answered within it.
    fn forget_expired(&mut self, now: Instant) {
        for exchange in self.dedup.expire(now) {
            self.incoming.remove(&exchange);
        }
    }

    /// Remembers a received message for deduplication, dropping the state of unanswered
    /// requests the bounded cache had to forget.
    fn remember(&mut self, peer: SocketAddr, mid: u16, seen: Seen, expires: Instant) {
        for exchange in self.dedup.insert(peer, mid, seen, expires) {
            self.incoming.remove(&exchange);
        }
    }

    /// Answers a received message once: remembers `bytes` for duplicates until `expires` and
    /// sends them (nothing is sent when `bytes` is empty: the message is silently ignored).
    fn answer_once(&mut self, peer: SocketAddr, mid: u16, bytes: Vec<u8>, expires: Instant) {
        self.remember(peer, mid, Seen::Answered(bytes.clone()), expires);
        if !bytes.is_empty() {
            self.transmits.push_back(Transmit::new(peer, bytes));
        }
    }

    /// Returns true when the message is a duplicate (and replays the cached answer).
    fn is_duplicate(&mut self, peer: SocketAddr, mid: u16) -> bool {
        let Some(seen) = self.dedup.get(peer, mid) else {
            return false;
        };
        self.stats.duplicates += 1;
        if let Seen::Answered(bytes) = seen
            && !bytes.is_empty()
        {
            let bytes = bytes.clone();
            self.transmits.push_back(Transmit::new(peer, bytes));
        }
        true
    }

    fn on_request(&mut self, now: Instant, peer: SocketAddr, kind: MessageType, packet: Packet) {
        let mid = packet.header.message_id;
        if self.is_duplicate(peer, mid) {
            return;
        }
        let expires = now + self.config.exchange_lifetime;
        let confirmable = kind == MessageType::Confirmable;
        if let Some(option) = unrecognised_critical_option(&packet) {
            if confirmable {
                let bytes = self.piggy_backed_error(
                    &packet,
                    ResponseType::BadOption,
                    format!("unrecognised critical option {option}"),
                );
                self.answer_once(peer, mid, bytes, expires);
            } else {
                self.answer_once(peer, mid, Vec::new(), expires);
            }
            return;
        }
        let exchange = ExchangeId(self.allocate_id());
        self.remember(peer, mid, Seen::Pending(exchange), expires);
        self.incoming.insert(
            exchange,
            Incoming {
                peer,
                mid,
                token: packet.get_token().to_vec(),
                confirmable,
                acknowledged: false,
            },
        );
        self.events.push_back(Event::Request {
            exchange,
            peer,
            packet,
        });
    }

    fn piggy_backed_error(
        &self,
        request: &Packet,
        code: ResponseType,
        diagnostic: String,
    ) -> Vec<u8> {
        let mut response = Packet::new();
        response.header.set_type(MessageType::Acknowledgement);
        response.header.message_id = request.header.message_id;
        response.header.code = MessageClass::Response(code);
        response.set_token(request.get_token().to_vec());
        response.payload = diagnostic.into_bytes();
        self.encode(&response).unwrap_or_else(|_| {
            empty_message(MessageType::Acknowledgement, request.header.message_id)
        })
    }

    fn on_response_message(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        kind: MessageType,
        packet: Packet,
    ) {
        let mid = packet.header.message_id;
        if self.is_duplicate(peer, mid) {
            return;
        }
        let expires = now + self.config.exchange_lifetime;
        let Some(id) = self
            .by_token
            .get(&(peer, packet.get_token().to_vec()))
            .copied()
        else {
            // Nobody waits for this token (for example a cancelled observation): reject.
            self.stats.resets_sent += 1;
            self.answer_once(peer, mid, empty_message(MessageType::Reset, mid), expires);
            return;
        };
        let answer = if kind == MessageType::Confirmable {
            empty_message(MessageType::Acknowledgement, mid)
        } else {
            Vec::new()
        };
        self.answer_once(peer, mid, answer, expires);
        // A separate response implies our request arrived: stop retransmitting it.
        if let Some(request_mid) = self.outstanding.get(&id).and_then(|o| o.mid) {
            self.pending_cons.remove(&(peer, request_mid));
        }
        self.deliver(now, id, peer, packet);
    }

    fn on_unknown_code(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        kind: MessageType,
        packet: Packet,
        class: MessageClass,
    ) {
        let mid = packet.header.message_id;
        if self.is_duplicate(peer, mid) {
            return;
        }
        let expires = now + self.config.exchange_lifetime;
        let bytes = if kind != MessageType::Confirmable {
            Vec::new()
        } else if is_unknown_method(class) {
            self.piggy_backed_error(
                &packet,
                ResponseType::MethodNotAllowed,
                "unknown method".to_owned(),
            )
        } else {
            self.stats.resets_sent += 1;
            empty_message(MessageType::Reset, mid)
        };
        self.answer_once(peer, mid, bytes, expires);
    }
}
