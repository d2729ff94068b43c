//! A tokio driver for one [`Endpoint`] on one datagram socket with many peers: what an LwM2M
//! server (or any CoAP client/server on one socket) uses.
//!
//! [`CoapService::bind`] starts a task that owns the socket and the endpoint. It hands back a
//! [`CoapClient`] for requests and observations, and a bounded receiver of
//! [`IncomingRequest`]s. When the receiver is full, new requests are answered 5.03.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use coap_lite::{MessageClass, Packet, ResponseType};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{
    Endpoint, EndpointConfig, EndpointStats, Event, ExchangeId, FailureReason, RequestId,
    RequestOptions,
};
use crate::transport::{DatagramTransport, MAX_DATAGRAM};

/// Bounds of a [`CoapService`].
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// The message layer's parameters.
    pub endpoint: EndpointConfig,
    /// Requests (and observations) in flight through the client at once; further calls wait.
    pub max_in_flight: usize,
    /// Received requests waiting for the application; beyond it new ones get 5.03.
    pub incoming_capacity: usize,
    /// Notifications buffered per observation; beyond it they are dropped and counted.
    pub notification_capacity: usize,
    /// Requested kernel receive buffer of the socket (SO_RCVBUF), so bursts such as a
    /// registration storm are not dropped; the kernel caps it at `net.core.rmem_max`.
    pub receive_buffer_bytes: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            endpoint: EndpointConfig::default(),
            max_in_flight: 65_536,
            incoming_capacity: 4_096,
            notification_capacity: 64,
            receive_buffer_bytes: 4 << 20,
        }
    }
}

/// Why a request through the [`CoapClient`] got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The message layer gave up.
    #[error("{0}")]
    Failed(FailureReason),
    /// The service has stopped.
    #[error("the CoAP service has stopped")]
    Stopped,
}

/// Where the service notes when a request first went on the wire: the instant its first
/// datagram was handed to the socket, after any NSTART queueing in the endpoint. Shared by
/// clones; only the first note sticks, so one probe given to every request of a multi-request
/// operation (block-wise transfers) keeps the operation's first datagram. The note is made by
/// the service's task, so it survives a caller that stops waiting for the answer.
#[derive(Debug, Clone, Default)]
pub struct TransmissionProbe(Arc<OnceLock<Instant>>);

impl TransmissionProbe {
    /// An empty probe.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a first transmission at `at`, unless one is noted already.
    pub fn note(&self, at: Instant) {
        let _ = self.0.set(at);
    }

    /// When the first request given this probe first went on the wire, if it did.
    pub fn first(&self) -> Option<Instant> {
        self.0.get().copied()
    }
}

/// A request received by the service, waiting for its answer.
#[derive(Debug)]
pub struct IncomingRequest {
    /// Who sent it.
    pub peer: SocketAddr,
    /// The request.
    pub packet: Packet,
    exchange: ExchangeId,
    commands: mpsc::UnboundedSender<Command>,
}

impl IncomingRequest {
    /// Sends the response (the service sets type, message ID and token).
    pub fn respond(self, response: Packet) {
        let _ = self
            .commands
            .send(Command::Respond(self.exchange, response));
    }

    /// Acknowledges now; answer later with [`respond`](Self::respond).
    pub fn accept_later(&self) {
        let _ = self.commands.send(Command::AcceptLater(self.exchange));
    }
}

/// A stream of Observe notifications. Dropping it cancels the observation locally: later
/// notifications are answered with RST.
#[derive(Debug)]
pub struct Notifications {
    receiver: mpsc::Receiver<Packet>,
    _guard: CancelOnDrop,
}

impl Notifications {
    /// The next notification; `None` when the observation ended.
    pub async fn next(&mut self) -> Option<Packet> {
        self.receiver.recv().await
    }
}

#[derive(Debug)]
enum Command {
    Request {
        key: u64,
        peer: SocketAddr,
        packet: Packet,
        options: RequestOptions,
        waiter: Waiter,
        probe: Option<TransmissionProbe>,
    },
    Cancel(u64),
    Respond(ExchangeId, Packet),
    AcceptLater(ExchangeId),
}

#[derive(Debug)]
enum Waiter {
    Once(oneshot::Sender<Result<Packet, RequestError>>),
    Observe {
        first: Option<oneshot::Sender<Result<Packet, RequestError>>>,
        rest: mpsc::Sender<Packet>,
    },
}

#[derive(Debug)]
struct CancelOnDrop {
    key: u64,
    commands: mpsc::UnboundedSender<Command>,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.commands.send(Command::Cancel(self.key));
        }
    }
}

/// Sends requests through a running [`CoapService`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CoapClient {
    commands: mpsc::UnboundedSender<Command>,
    permits: Arc<Semaphore>,
    next_key: Arc<std::sync::atomic::AtomicU64>,
    notification_capacity: usize,
}

impl CoapClient {
    fn key(&self) -> u64 {
        self.next_key
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends a request and waits for its response. Dropping the future abandons the
    /// exchange: no more retransmissions.
    pub async fn request(
        &self,
        peer: SocketAddr,
        packet: Packet,
        options: RequestOptions,
    ) -> Result<Packet, RequestError> {
        self.request_probed(peer, packet, options, None).await
    }

    /// [`request`](Self::request), noting in `probe` when the request first went on the
    /// wire.
    pub async fn request_probed(
        &self,
        peer: SocketAddr,
        packet: Packet,
        options: RequestOptions,
        probe: Option<TransmissionProbe>,
    ) -> Result<Packet, RequestError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| RequestError::Stopped)?;
        let key = self.key();
        let (sender, receiver) = oneshot::channel();
        let mut guard = CancelOnDrop {
            key,
            commands: self.commands.clone(),
            armed: true,
        };
        let options = RequestOptions {
            observe: false,
            ..options
        };
        self.commands
            .send(Command::Request {
                key,
                peer,
                packet,
                options,
                waiter: Waiter::Once(sender),
                probe,
            })
            .map_err(|_| RequestError::Stopped)?;
        let result = receiver.await.unwrap_or(Err(RequestError::Stopped));
        guard.armed = false;
        result
    }

    /// Starts an observation (GET with Observe 0 is added if missing) and waits for the first
    /// response. Returns it with the stream of later notifications.
    pub async fn observe(
        &self,
        peer: SocketAddr,
        packet: Packet,
    ) -> Result<(Packet, Notifications), RequestError> {
        self.observe_probed(peer, packet, None).await
    }

    /// [`observe`](Self::observe), noting in `probe` when the Observe request first went on
    /// the wire.
    pub async fn observe_probed(
        &self,
        peer: SocketAddr,
        packet: Packet,
        probe: Option<TransmissionProbe>,
    ) -> Result<(Packet, Notifications), RequestError> {
        let key = self.key();
        let (first_sender, first_receiver) = oneshot::channel();
        let (rest_sender, rest_receiver) = mpsc::channel(self.notification_capacity.max(1));
        let guard = CancelOnDrop {
            key,
            commands: self.commands.clone(),
            armed: true,
        };
        let options = RequestOptions {
            confirmable: true,
            observe: true,
        };
        let waiter = Waiter::Observe {
            first: Some(first_sender),
            rest: rest_sender,
        };
        self.commands
            .send(Command::Request {
                key,
                peer,
                packet,
                options,
                waiter,
                probe,
            })
            .map_err(|_| RequestError::Stopped)?;
        let first = first_receiver.await.unwrap_or(Err(RequestError::Stopped))?;
        Ok((
            first,
            Notifications {
                receiver: rest_receiver,
                _guard: guard,
            },
        ))
    }
}

/// A running CoAP service.
#[derive(Debug)]
pub struct CoapService {
    local_addr: SocketAddr,
    stats: Arc<Mutex<EndpointStats>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl CoapService {
    /// Binds a UDP socket on `addr` and starts the service.
    pub async fn bind(
        addr: SocketAddr,
        config: ServiceConfig,
        seed: u64,
    ) -> std::io::Result<(Self, CoapClient, mpsc::Receiver<IncomingRequest>)> {
        let socket = bind_udp(addr, config.receive_buffer_bytes)?;
        Self::start(socket, config, seed)
    }

    /// Starts the service on any datagram transport.
    pub fn start<T: DatagramTransport>(
        transport: T,
        config: ServiceConfig,
        seed: u64,
    ) -> std::io::Result<(Self, CoapClient, mpsc::Receiver<IncomingRequest>)> {
        let local_addr = transport.local_addr()?;
        let (commands, command_receiver) = mpsc::unbounded_channel();
        let (incoming_sender, incoming_receiver) = mpsc::channel(config.incoming_capacity.max(1));
        let (stop, stop_receiver) = oneshot::channel();
        let stats = Arc::new(Mutex::new(EndpointStats::default()));
        let client = CoapClient {
            commands: commands.clone(),
            permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            next_key: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            notification_capacity: config.notification_capacity,
        };
        let driver = Driver {
            endpoint: Endpoint::new(config.endpoint.clone(), seed),
            transport,
            commands,
            waiters: HashMap::new(),
            keys: HashMap::new(),
            probes: HashMap::new(),
            incoming: incoming_sender,
            stats: Arc::clone(&stats),
        };
        let task = tokio::spawn(driver.run(command_receiver, stop_receiver));
        Ok((
            Self {
                local_addr,
                stats,
                stop: Some(stop),
                task,
            },
            client,
            incoming_receiver,
        ))
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The message layer's counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats.lock().map(|stats| *stats).unwrap_or_default()
    }

    /// Stops the service and waits for its task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

struct Driver<T> {
    endpoint: Endpoint,
    transport: T,
    commands: mpsc::UnboundedSender<Command>,
    waiters: HashMap<RequestId, (u64, Waiter)>,
    keys: HashMap<u64, RequestId>,
    /// Probes of requests not yet transmitted (removed at the first transmission or when the
    /// request ends).
    probes: HashMap<RequestId, TransmissionProbe>,
    incoming: mpsc::Sender<IncomingRequest>,
    stats: Arc<Mutex<EndpointStats>>,
}

impl<T: DatagramTransport> Driver<T> {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        loop {
            let deadline = self.endpoint.poll_timeout();
            tokio::select! {
                received = self.transport.recv_from(&mut buffer) => {
                    match received {
                        Ok((length, peer)) => self.endpoint.receive(Instant::now(), peer, &buffer[..length]),
                        Err(error) => tracing::debug!(%error, "CoAP socket receive error"),
                    }
                }
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                () = sleep_until_optional(deadline) => self.endpoint.handle_timeout(Instant::now()),
                _ = &mut stop => break,
            }
            self.flush().await;
        }
        for (_, (_, waiter)) in self.waiters.drain() {
            fail_waiter(waiter, RequestError::Stopped);
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Request {
                key,
                peer,
                packet,
                options,
                waiter,
                probe,
            } => {
                let id = self.endpoint.send_request(now, peer, packet, options);
                self.waiters.insert(id, (key, waiter));
                self.keys.insert(key, id);
                if let Some(probe) = probe {
                    self.probes.insert(id, probe);
                }
            }
            Command::Cancel(key) => {
                if let Some(id) = self.keys.remove(&key) {
                    self.waiters.remove(&id);
                    self.probes.remove(&id);
                    self.endpoint.cancel(now, id);
                }
            }
            Command::Respond(exchange, packet) => self.endpoint.respond(now, exchange, packet),
            Command::AcceptLater(exchange) => self.endpoint.accept_later(exchange),
        }
    }

    async fn flush(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            self.on_event(event);
        }
        while let Some(transmit) = self.endpoint.poll_transmit() {
            match self.transport.send_to(&transmit.bytes, transmit.peer).await {
                Ok(_) => {
                    if let Some(probe) = transmit.first_of.and_then(|id| self.probes.remove(&id)) {
                        probe.note(Instant::now());
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, peer = %transmit.peer, "CoAP send error");
                }
            }
        }
        if let Ok(mut stats) = self.stats.lock() {
            *stats = self.endpoint.stats();
        }
    }

    fn on_event(&mut self, event: Event) {
        let now = Instant::now();
        match event {
            Event::Request {
                exchange,
                peer,
                packet,
            } => {
                let request = IncomingRequest {
                    peer,
                    packet,
                    exchange,
                    commands: self.commands.clone(),
                };
                if let Err(error) = self.incoming.try_send(request) {
                    let request = match error {
                        mpsc::error::TrySendError::Full(request)
                        | mpsc::error::TrySendError::Closed(request) => request,
                    };
                    let mut busy = Packet::new();
                    busy.header.code = MessageClass::Response(ResponseType::ServiceUnavailable);
                    busy.payload = b"server busy".to_vec();
                    self.endpoint.respond(now, request.exchange, busy);
                }
            }
            Event::Response {
                request, packet, ..
            } => self.on_response(now, request, packet),
            Event::Failed {
                request, reason, ..
            } => {
                self.probes.remove(&request);
                if let Some((key, waiter)) = self.waiters.remove(&request) {
                    self.keys.remove(&key);
                    fail_waiter(waiter, RequestError::Failed(reason));
                }
            }
            Event::NotificationRejected { .. } => {}
        }
    }

    fn on_response(&mut self, now: Instant, request: RequestId, packet: Packet) {
        self.probes.remove(&request);
        let Some((key, waiter)) = self.waiters.remove(&request) else {
            return;
        };
        match waiter {
            Waiter::Once(sender) => {
                self.keys.remove(&key);
                let _ = sender.send(Ok(packet));
            }
            Waiter::Observe {
                first: Some(sender),
                rest,
            } => {
                let still_observing = packet.get_observe_value().is_some();
                let _ = sender.send(Ok(packet));
                if still_observing {
                    self.waiters
                        .insert(request, (key, Waiter::Observe { first: None, rest }));
                } else {
                    self.keys.remove(&key);
                }
            }
            Waiter::Observe { first: None, rest } => match rest.try_send(packet) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {
                    self.waiters
                        .insert(request, (key, Waiter::Observe { first: None, rest }));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.keys.remove(&key);
                    self.endpoint.cancel(now, request);
                }
            },
        }
    }
}

fn fail_waiter(waiter: Waiter, error: RequestError) {
    match waiter {
        Waiter::Once(sender)
        | Waiter::Observe {
            first: Some(sender),
            ..
        } => {
            let _ = sender.send(Err(error));
        }
        Waiter::Observe { first: None, .. } => {}
    }
}

/// Binds a non-blocking UDP socket with the requested receive buffer (best effort: a refused
/// size keeps the kernel default).
fn bind_udp(
    addr: SocketAddr,
    receive_buffer_bytes: usize,
) -> std::io::Result<tokio::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(receive_buffer_bytes) {
        tracing::debug!(%error, receive_buffer_bytes, "SO_RCVBUF not applied");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

async fn sleep_until_optional(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
