//! The tokio driver of one device: it owns the device's socket, its CoAP endpoint, its data
//! model, its registration client, its observations and its firmware downloads, and sleeps
//! on one timer: the earliest of the endpoint's deadline, the next delayed reply, the next
//! observation to look at, the next registration request, a sub-device's firmware install,
//! the next churn event and the end of a reboot or an offline period. An idle device costs
//! one pending timer (often none) and one pending receive.

mod firmware;
mod lifecycle;
mod requests;

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use coap_lite::Packet;
use fleetbench_lwm2m::clock::Clock;
use fleetbench_lwm2m::coap::{
    Endpoint, EndpointConfig, Event, ExchangeId, RequestId, RequestOptions,
};
use fleetbench_lwm2m::transport::DatagramTransport;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::device::{Device, DeviceAction};
use crate::observe::Observations;
use crate::precise_timer::ReplyTimer;
use crate::profile::Behaviour;
use crate::registration::{Outcome, Registration};
use crate::stats::{DelayHistograms, FleetCounters};

use firmware::Downloads;
use lifecycle::{Churn, QueueMode};

/// Replies at least this late are sent as separate responses after an empty ACK; shorter
/// delays are piggy-backed on the ACK (the server will not have retransmitted yet).
pub const SEPARATE_RESPONSE_THRESHOLD: Duration = Duration::from_secs(1);

/// Most delayed replies one device holds; beyond it requests are answered 5.03 at once.
pub const MAX_DELAYED_REPLIES: usize = 256;

/// After a receive error the socket is not read again for this long, so that a persistent
/// error cannot spin the task.
pub const RECEIVE_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Receive buffer per device: larger than any message the endpoint accepts.
pub const RECEIVE_BUFFER: usize = 2048;

/// Block size a device asks for when it pulls a firmware package.
pub const PULL_BLOCK_SIZE: usize = 1024;

/// What all device tasks of a fleet share.
#[derive(Debug)]
pub struct Shared {
    /// Counters.
    pub counters: FleetCounters,
    /// Devices registered right now.
    pub registered: watch::Sender<usize>,
    /// Reply delays applied, and their error.
    pub delays: Mutex<DelayHistograms>,
}

impl Shared {
    /// Fresh counters, nobody registered.
    pub fn new() -> Self {
        Self {
            counters: FleetCounters::default(),
            registered: watch::Sender::new(0),
            delays: Mutex::new(DelayHistograms::new()),
        }
    }

    /// A copy of the reply-delay histograms.
    pub fn delay_histograms(&self) -> DelayHistograms {
        self.delays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything one device task needs.
pub struct DeviceDriver<T: DatagramTransport> {
    socket: T,
    server: SocketAddr,
    endpoint: Endpoint,
    endpoint_config: EndpointConfig,
    endpoint_seed: u64,
    device: Device,
    behaviour: Behaviour,
    registration: Registration,
    registration_request: Option<RequestId>,
    sending: Option<crate::send::SendSchedule>,
    counted_registered: bool,
    delayed: BinaryHeap<Reverse<DelayedReply>>,
    reply_timer: ReplyTimer,
    /// Replies handed to the endpoint since the last flush: (request arrival, intended delay).
    replies_to_measure: Vec<(Instant, Duration)>,
    observations: Observations,
    downloads: Downloads,
    installs: Vec<(Instant, usize)>,
    next_sequence: u64,
    silent_until: Option<Instant>,
    offline_until: Option<Instant>,
    churn: Churn,
    queue: Option<QueueMode>,
    reboots: u64,
    last_retransmissions: u64,
    stopping_deadline: Option<Instant>,
    receive_paused_until: Option<Instant>,
    deregister_timeout: Duration,
    finished: bool,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
}

/// The parts of a device driver.
pub struct DriverParts<T> {
    /// The device's own socket.
    pub socket: T,
    /// The LwM2M server.
    pub server: SocketAddr,
    /// Message-layer parameters.
    pub endpoint_config: EndpointConfig,
    /// Seed of the message layer (each boot derives its own from it).
    pub endpoint_seed: u64,
    /// The data model.
    pub device: Device,
    /// Response delays, failures and churn.
    pub behaviour: Behaviour,
    /// The registration client.
    pub registration: Registration,
    /// Longest wait for the De-register answer at shutdown.
    pub deregister_timeout: Duration,
    /// Queue mode: the awake window after each uplink (`None`: always reachable).
    pub queue_awake_window: Option<Duration>,
    /// Seed of the churn schedule.
    pub churn_seed: u64,
    /// Counters and the registered count.
    pub shared: Arc<Shared>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// How delayed replies wait for their deadline ([`ReplyTimer::Tokio`] under a paused
    /// clock).
    pub reply_timer: ReplyTimer,
}

struct DelayedReply {
    at: Instant,
    arrived: Instant,
    intended: Duration,
    sequence: u64,
    exchange: ExchangeId,
    response: Packet,
    action: Option<DeviceAction>,
}

impl PartialEq for DelayedReply {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}

impl Eq for DelayedReply {}

impl PartialOrd for DelayedReply {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DelayedReply {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

impl<T: DatagramTransport> DeviceDriver<T> {
    /// A driver from its parts.
    pub fn new(parts: DriverParts<T>) -> Self {
        let now = parts.clock.now();
        let churn = Churn::new(&parts.behaviour.profile().churn, parts.churn_seed, now);
        let sending = crate::send::SendSchedule::new(parts.device.send_spec(), now);
        Self {
            socket: parts.socket,
            server: parts.server,
            endpoint: Endpoint::new(parts.endpoint_config.clone(), parts.endpoint_seed),
            endpoint_config: parts.endpoint_config,
            endpoint_seed: parts.endpoint_seed,
            device: parts.device,
            behaviour: parts.behaviour,
            registration: parts.registration,
            registration_request: None,
            sending,
            counted_registered: false,
            delayed: BinaryHeap::new(),
            reply_timer: parts.reply_timer,
            replies_to_measure: Vec::new(),
            observations: Observations::new(),
            downloads: Downloads::default(),
            installs: Vec::new(),
            next_sequence: 0,
            silent_until: None,
            offline_until: None,
            churn,
            queue: parts.queue_awake_window.map(QueueMode::new),
            reboots: 0,
            last_retransmissions: 0,
            stopping_deadline: None,
            receive_paused_until: None,
            deregister_timeout: parts.deregister_timeout,
            finished: false,
            shared: parts.shared,
            clock: parts.clock,
        }
    }

    /// Runs until `stop` turns true (or its sender is dropped), then de-registers (waiting
    /// at most the de-register timeout) and returns.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        if *stop.borrow() {
            self.begin_stop(self.clock.now());
        }
        loop {
            self.step(self.clock.now());
            self.flush().await;
            if self.finished {
                break;
            }
            let now = self.clock.now();
            if self.receive_paused_until.is_some_and(|until| until <= now) {
                self.receive_paused_until = None;
            }
            let receiving = self.receive_paused_until.is_none();
            let deadline = self.next_deadline();
            // Only a delayed reply's deadline needs sub-millisecond precision.
            let timer = if deadline.is_some()
                && self.delayed.peek().map(|Reverse(reply)| reply.at) == deadline
            {
                self.reply_timer
            } else {
                ReplyTimer::Tokio
            };
            let stopping = self.stopping_deadline.is_some();
            // Biased: datagrams already received (say, the answer to an Update) are handled
            // before a stop request.
            tokio::select! {
                biased;
                received = self.socket.recv_from(&mut buffer), if receiving => match received {
                    Ok((length, peer)) => {
                        let datagram = buffer.get(..length).unwrap_or_default();
                        self.on_datagram(self.clock.now(), peer, datagram);
                    }
                    Err(_) => {
                        FleetCounters::bump(&self.shared.counters.socket_errors);
                        self.receive_paused_until = Some(self.clock.now() + RECEIVE_ERROR_PAUSE);
                    }
                },
                changed = stop.changed(), if !stopping => {
                    if changed.is_err() || *stop.borrow() {
                        self.begin_stop(self.clock.now());
                    }
                }
                () = sleep_until_optional(deadline, timer) => self.on_timer(self.clock.now()),
            }
        }
        self.set_registered(false);
    }

    fn on_datagram(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) {
        if self.silent_until.is_some() {
            return;
        }
        if self.offline_until.is_some() {
            FleetCounters::bump(&self.shared.counters.dropped_while_offline);
            return;
        }
        if let Some(queue) = &self.queue
            && !queue.is_awake(now)
        {
            FleetCounters::bump(&self.shared.counters.dropped_while_asleep);
            return;
        }
        self.endpoint.receive(now, peer, datagram);
    }

    fn on_timer(&mut self, now: Instant) {
        self.churn_events(now);
        if let Some(until) = self.silent_until {
            if now >= until {
                self.wake(now);
            }
            return;
        }
        if self.offline_until.is_some_and(|until| now >= until) {
            self.offline_until = None;
        }
        if self.endpoint.poll_timeout().is_some_and(|at| at <= now) {
            self.endpoint.handle_timeout(now);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let churn = self.churn.next_event();
        if let Some(until) = self.silent_until {
            return [Some(until), self.receive_paused_until, churn]
                .into_iter()
                .flatten()
                .min();
        }
        [
            self.receive_paused_until,
            self.endpoint.poll_timeout(),
            self.delayed.peek().map(|Reverse(reply)| reply.at),
            self.observations.poll_timeout(),
            self.installs.iter().map(|(at, _)| *at).min(),
            if self.registration_request.is_none() && self.stopping_deadline.is_none() {
                self.registration.poll_timeout()
            } else {
                None
            },
            self.stopping_deadline,
            self.offline_until,
            churn,
            self.sending
                .as_ref()
                .map(crate::send::SendSchedule::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Processes everything that is due at `now` until nothing changes.
    fn step(&mut self, now: Instant) {
        if self.silent_until.is_some() {
            return;
        }
        if self
            .stopping_deadline
            .is_some_and(|deadline| now >= deadline)
        {
            self.finished = true;
            return;
        }
        // Each round either consumes an event, a due reply, due notifications, a due install
        // or sends a registration request; the bound only guards against a logic error
        // looping forever.
        for _ in 0..1024 {
            let mut progressed = false;
            while let Some(event) = self.endpoint.poll_event() {
                progressed = true;
                self.on_event(now, event);
                if self.silent_until.is_some() || self.finished {
                    return;
                }
            }
            while self
                .delayed
                .peek()
                .is_some_and(|Reverse(reply)| reply.at <= now)
            {
                if let Some(Reverse(reply)) = self.delayed.pop() {
                    progressed = true;
                    self.replies_to_measure
                        .push((reply.arrived, reply.intended));
                    self.respond(now, reply.exchange, reply.response, reply.action);
                    if self.silent_until.is_some() {
                        return;
                    }
                }
            }
            if self.finish_installs(now) {
                progressed = true;
            }
            let observations_due = self.observations.has_changes()
                || self.observations.poll_timeout().is_some_and(|at| at <= now);
            if observations_due {
                progressed = true;
                for notification in self.observations.poll(now, &mut self.device) {
                    self.notify(now, notification);
                }
            }
            let registration_due = self.registration.poll_timeout().is_some_and(|at| at <= now);
            if registration_due
                && self.registration_request.is_none()
                && self.stopping_deadline.is_none()
            {
                let links = self.device.registration_links();
                if let Some((_, packet)) = self.registration.poll_request(now, &links) {
                    progressed = true;
                    let id = self.endpoint.send_request(
                        now,
                        self.server,
                        packet,
                        RequestOptions::default(),
                    );
                    self.registration_request = Some(id);
                }
            }
            if let Some(sending) = &mut self.sending
                && self.stopping_deadline.is_none()
                && let Some(packet) =
                    sending.poll_request(now, &mut self.device, self.registration.is_registered())
            {
                progressed = true;
                let options = RequestOptions::default();
                sending.sent(
                    self.endpoint
                        .send_request(now, self.server, packet, options),
                );
            }
            if !progressed {
                break;
            }
        }
        self.count_retransmissions();
        self.set_registered(self.registration.is_registered());
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Request {
                exchange,
                peer,
                packet,
            } => self.on_request(now, exchange, peer, &packet),
            Event::Response {
                request, packet, ..
            } if Some(request) == self.registration_request => {
                self.registration_request = None;
                let outcome = self.registration.on_response(now, &packet);
                self.on_outcome(outcome);
            }
            Event::Failed { request, .. } if Some(request) == self.registration_request => {
                self.registration_request = None;
                let outcome = self.registration.on_failure(now);
                self.on_outcome(outcome);
            }
            Event::Response {
                request, packet, ..
            } if self.sending.as_ref().is_some_and(|s| s.owns(request)) => {
                if let Some(sending) = &mut self.sending {
                    sending.on_response(Some(&packet));
                }
            }
            Event::Failed { request, .. }
                if self.sending.as_ref().is_some_and(|s| s.owns(request)) =>
            {
                if let Some(sending) = &mut self.sending {
                    sending.on_response(None);
                }
            }
            Event::Response {
                request, packet, ..
            } => self.on_download_response(now, request, Some(&packet)),
            Event::Failed { request, .. } => self.on_download_response(now, request, None),
            Event::NotificationRejected { peer, token } => {
                self.observations.cancel(peer, &token);
            }
        }
    }

    fn on_outcome(&mut self, outcome: Option<Outcome>) {
        let counters = &self.shared.counters;
        let counter = match outcome {
            Some(Outcome::Registered) => &counters.registrations,
            Some(Outcome::RegisterFailed) => &counters.registration_failures,
            Some(Outcome::Updated) => &counters.updates,
            Some(Outcome::UpdateFailed) => &counters.update_failures,
            Some(Outcome::Deregistered) => {
                self.finished = true;
                &counters.deregistrations
            }
            None => return,
        };
        FleetCounters::bump(counter);
        self.set_registered(self.registration.is_registered());
    }

    async fn flush(&mut self) {
        // Stamped as the replies are handed to the socket (just before the sends, so that a
        // peer that got its answer finds it counted).
        self.measure_replies();
        let now = self.clock.now();
        while let Some(transmit) = self.endpoint.poll_transmit() {
            if self.offline_until.is_some() {
                FleetCounters::bump(&self.shared.counters.dropped_while_offline);
                continue;
            }
            if let Some(queue) = &mut self.queue {
                queue.uplink(now);
            }
            if self
                .socket
                .send_to(&transmit.bytes, transmit.peer)
                .await
                .is_err()
            {
                FleetCounters::bump(&self.shared.counters.socket_errors);
            }
        }
    }

    /// Records the delay applied to the replies about to be handed to the socket.
    fn measure_replies(&mut self) {
        if self.replies_to_measure.is_empty() {
            return;
        }
        if self.offline_until.is_some() {
            // Dropped at the socket: not applied.
            self.replies_to_measure.clear();
            return;
        }
        let sent = self.clock.now();
        let mut delays = self
            .shared
            .delays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (arrived, intended) in self.replies_to_measure.drain(..) {
            delays.record(sent.saturating_duration_since(arrived), intended);
        }
    }

    fn count_retransmissions(&mut self) {
        let total = self.endpoint.stats().retransmissions;
        let delta = total.saturating_sub(self.last_retransmissions);
        if delta > 0 {
            self.shared
                .counters
                .retransmissions
                .fetch_add(delta, std::sync::atomic::Ordering::Relaxed);
            self.last_retransmissions = total;
        }
    }

    fn set_registered(&mut self, registered: bool) {
        if registered == self.counted_registered {
            return;
        }
        self.counted_registered = registered;
        self.shared.registered.send_modify(|count| {
            if registered {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
            }
        });
    }
}

async fn sleep_until_optional(deadline: Option<Instant>, timer: ReplyTimer) {
    match deadline {
        Some(deadline) => timer.sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
