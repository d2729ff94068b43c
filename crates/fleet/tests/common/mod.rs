//! The shared harness of the driver tests: one device driver on an in-memory datagram
//! transport, against a sans-IO CoAP endpoint playing the server, under tokio's paused clock.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_fleet::device::{Device, DeviceSpec};
use fleetbench_fleet::driver::{DeviceDriver, DriverParts, Shared};
use fleetbench_fleet::profile::{Behaviour, BehaviourProfile};
use fleetbench_fleet::registration::{Registration, RetryPolicy};
use fleetbench_lwm2m::clock::TokioClock;
use fleetbench_lwm2m::coap::{
    Endpoint, EndpointConfig, Event, ExchangeId, RequestId, RequestOptions,
};
use fleetbench_lwm2m::transport::DatagramTransport;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::{Instant, timeout};

pub type Datagram = (Vec<u8>, SocketAddr);

/// One end of an in-memory datagram link.
pub struct MemorySocket {
    local: SocketAddr,
    outgoing: mpsc::Sender<Datagram>,
    incoming: Mutex<mpsc::Receiver<Datagram>>,
    /// Receives that fail before the link works.
    failures_left: std::sync::atomic::AtomicUsize,
}

impl DatagramTransport for MemorySocket {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn send_to(
        &self,
        datagram: &[u8],
        _peer: SocketAddr,
    ) -> impl Future<Output = std::io::Result<usize>> + Send {
        let bytes = datagram.to_vec();
        let (sender, local) = (self.outgoing.clone(), self.local);
        async move {
            let length = bytes.len();
            sender
                .send((bytes, local))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
            Ok(length)
        }
    }

    async fn recv_from(&self, buffer: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        use std::sync::atomic::Ordering;
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(std::io::Error::other("injected receive failure"));
        }
        let mut incoming = self.incoming.lock().await;
        let (bytes, from) = incoming
            .recv()
            .await
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        let length = bytes.len().min(buffer.len());
        buffer[..length].copy_from_slice(&bytes[..length]);
        Ok((length, from))
    }
}

pub const SERVER: &str = "10.0.0.1:5683";
pub const DEVICE: &str = "10.0.0.2:40000";

/// The server side: a sans-IO endpoint pumped by hand.
pub struct Server {
    pub endpoint: Endpoint,
    pub from_device: mpsc::Receiver<Datagram>,
    pub to_device: mpsc::Sender<Datagram>,
    /// Raw datagrams the device sent, decoded, in order (for ACK/response shape checks).
    pub wire: Vec<(Instant, Packet)>,
    pub stop_tx: watch::Sender<bool>,
    pub shared: Arc<Shared>,
    pub task: tokio::task::JoinHandle<()>,
}

pub fn device_addr() -> SocketAddr {
    DEVICE.parse().unwrap()
}

pub fn start_device(profile: BehaviourProfile, lifetime: Duration) -> Server {
    start_device_with(Options {
        profile,
        lifetime,
        ..Options::default()
    })
}

pub fn start_device_with_receive_failures(
    profile: BehaviourProfile,
    lifetime: Duration,
    receive_failures: usize,
) -> Server {
    start_device_with(Options {
        profile,
        lifetime,
        receive_failures,
        ..Options::default()
    })
}

/// How to start the device under test.
pub struct Options {
    pub profile: BehaviourProfile,
    pub lifetime: Duration,
    pub receive_failures: usize,
    pub queue_window: Option<Duration>,
    pub update_period: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            profile: BehaviourProfile::default(),
            lifetime: Duration::from_secs(600),
            receive_failures: 0,
            queue_window: None,
            update_period: None,
        }
    }
}

pub fn start_device_with(options: Options) -> Server {
    let (to_device, device_rx) = mpsc::channel(64);
    let (device_tx, from_device) = mpsc::channel(64);
    let socket = MemorySocket {
        local: device_addr(),
        outgoing: device_tx,
        incoming: Mutex::new(device_rx),
        failures_left: std::sync::atomic::AtomicUsize::new(options.receive_failures),
    };
    let now = Instant::now();
    let lifetime = options.lifetime;
    let spec = DeviceSpec {
        endpoint: "paused-1".to_owned(),
        seed: 3,
        lifetime,
        sub_devices: 1,
        queue_mode: options.queue_window.is_some(),
        firmware_failures: options.profile.firmware_failures.clone(),
        ..DeviceSpec::default()
    };
    let shared = Arc::new(Shared::new());
    let (stop, stop_rx) = watch::channel(false);
    let driver = DeviceDriver::new(DriverParts {
        socket,
        server: SERVER.parse().unwrap(),
        endpoint_config: EndpointConfig::default(),
        endpoint_seed: 5,
        device: Device::new(&spec, now),
        behaviour: Behaviour::new(options.profile, 6),
        registration: Registration::new(
            "paused-1",
            lifetime,
            now + Duration::from_secs(1),
            RetryPolicy::default(),
            7,
        )
        .with_queue_mode(options.queue_window.is_some())
        .with_update_period(options.update_period),
        deregister_timeout: Duration::from_secs(5),
        queue_awake_window: options.queue_window,
        churn_seed: 9,
        shared: Arc::clone(&shared),
        clock: Arc::new(TokioClock),
        // Tokio's timer under the paused clock: the detection is part of what is tested.
        reply_timer: fleetbench_fleet::ReplyTimer::for_current_runtime(),
    });
    let task = tokio::spawn(driver.run(stop_rx));
    Server {
        endpoint: Endpoint::new(EndpointConfig::default(), 8),
        from_device,
        to_device,
        wire: Vec::new(),
        stop_tx: stop,
        shared,
        task,
    }
}

impl Server {
    pub async fn flush(&mut self) {
        while let Some(transmit) = self.endpoint.poll_transmit() {
            let from: SocketAddr = SERVER.parse().unwrap();
            self.to_device.send((transmit.bytes, from)).await.unwrap();
        }
    }

    /// The next endpoint event, waiting at most `limit` (virtual time).
    pub async fn next_event(&mut self, limit: Duration) -> Option<(Instant, Event)> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(event) = self.endpoint.poll_event() {
                self.flush().await;
                return Some((Instant::now(), event));
            }
            self.flush().await;
            let wake = self
                .endpoint
                .poll_timeout()
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                datagram = self.from_device.recv() => {
                    let (bytes, from) = datagram?;
                    let now = Instant::now();
                    self.wire.push((now, Packet::from_bytes(&bytes).unwrap()));
                    self.endpoint.receive(now, from, &bytes);
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    self.endpoint.handle_timeout(now);
                }
            }
        }
    }

    /// Waits for the next request from the device and answers it with `code` (+ location).
    pub async fn answer_next(
        &mut self,
        limit: Duration,
        code: ResponseType,
        location: &[&str],
    ) -> (Instant, Packet) {
        loop {
            let (at, event) = self.next_event(limit).await.expect("a request in time");
            if let Event::Request {
                exchange, packet, ..
            } = event
            {
                let mut answer = Packet::new();
                answer.header.code = MessageClass::Response(code);
                for segment in location {
                    answer.add_option(CoapOption::LocationPath, segment.as_bytes().to_vec());
                }
                self.endpoint.respond(at, exchange, answer);
                self.flush().await;
                return (at, packet);
            }
        }
    }

    /// Waits for the next request from the device (other events are dropped).
    pub async fn next_request(&mut self, limit: Duration) -> Option<(Instant, ExchangeId, Packet)> {
        loop {
            let (at, event) = self.next_event(limit).await?;
            if let Event::Request {
                exchange, packet, ..
            } = event
            {
                return Some((at, exchange, packet));
            }
        }
    }

    /// Answers the next registration request like a registrar: Register 2.01 with location
    /// `/rd/7`, Update 2.04, De-register 2.02.
    pub async fn serve_registration(&mut self, limit: Duration) -> (Instant, Packet) {
        let (at, exchange, packet) = self.next_request(limit).await.expect("a request in time");
        let mut answer = Packet::new();
        let register = uri_path(&packet) == ["rd"];
        answer.header.code = MessageClass::Response(match packet.header.code {
            MessageClass::Request(RequestType::Delete) => ResponseType::Deleted,
            _ if register => ResponseType::Created,
            _ => ResponseType::Changed,
        });
        if register {
            answer.add_option(CoapOption::LocationPath, b"rd".to_vec());
            answer.add_option(CoapOption::LocationPath, b"7".to_vec());
        }
        self.reply(exchange, answer).await;
        (at, packet)
    }

    /// Answers a request taken with [`Self::next_request`].
    pub async fn reply(&mut self, exchange: ExchangeId, response: Packet) {
        self.endpoint.respond(Instant::now(), exchange, response);
        self.flush().await;
    }

    /// Sends `packet` (code, options, payload set) to the device; returns its id.
    pub async fn send_packet(&mut self, packet: Packet) -> RequestId {
        let id = self.endpoint.send_request(
            Instant::now(),
            device_addr(),
            packet,
            RequestOptions::default(),
        );
        self.flush().await;
        id
    }

    /// Sends a request to the device and waits for its answer (panics on failure).
    pub async fn ask(&mut self, packet: Packet) -> Packet {
        let id = self.send_packet(packet).await;
        let (_, answer) = self.outcome(id, Duration::from_secs(60)).await;
        answer.unwrap()
    }

    /// Sends a request to the device; returns its id.
    pub async fn send(&mut self, method: RequestType, path: &str) -> RequestId {
        let mut packet = Packet::new();
        packet.header.code = MessageClass::Request(method);
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
        }
        let id = self.endpoint.send_request(
            Instant::now(),
            device_addr(),
            packet,
            RequestOptions::default(),
        );
        self.flush().await;
        id
    }

    /// Waits for the response (or failure) to `id`.
    pub async fn outcome(
        &mut self,
        id: RequestId,
        limit: Duration,
    ) -> (Instant, Result<Packet, String>) {
        loop {
            let (at, event) = self.next_event(limit).await.expect("an outcome in time");
            match event {
                Event::Response {
                    request, packet, ..
                } if request == id => return (at, Ok(packet)),
                Event::Failed {
                    request, reason, ..
                } if request == id => return (at, Err(reason.to_string())),
                _ => {}
            }
        }
    }

    pub async fn register(&mut self) -> Instant {
        let (at, packet) = self
            .answer_next(Duration::from_secs(30), ResponseType::Created, &["rd", "7"])
            .await;
        assert_eq!(uri_path(&packet), ["rd"]);
        at
    }

    pub async fn stop(mut self) {
        self.stop_tx.send(true).unwrap();
        let (_, packet) = self
            .answer_next(Duration::from_secs(10), ResponseType::Deleted, &[])
            .await;
        assert_eq!(
            packet.header.code,
            MessageClass::Request(RequestType::Delete)
        );
        timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*self.shared.registered.borrow(), 0);
    }
}

/// A request with Uri-Path `path`, Uri-Query `query`, and a text/plain `payload` if any.
pub fn request(method: RequestType, path: &str, query: &[&str], payload: Option<&[u8]>) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(method);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    for item in query {
        packet.add_option(CoapOption::UriQuery, item.as_bytes().to_vec());
    }
    if let Some(payload) = payload {
        packet.add_option(CoapOption::ContentFormat, Vec::new());
        packet.payload = payload.to_vec();
    }
    packet
}

pub fn uri_query(packet: &Packet) -> Vec<String> {
    packet
        .get_option(CoapOption::UriQuery)
        .map(|v| {
            v.iter()
                .map(|s| String::from_utf8(s.clone()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

pub fn uri_path(packet: &Packet) -> Vec<String> {
    packet
        .get_option(CoapOption::UriPath)
        .map(|v| {
            v.iter()
                .map(|s| String::from_utf8(s.clone()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

pub fn code(packet: &Packet) -> ResponseType {
    match packet.header.code {
        MessageClass::Response(code) => code,
        other => panic!("not a response: {other:?}"),
    }
}
