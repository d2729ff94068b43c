//! One device driver on an in-memory datagram transport, against a sans-IO CoAP endpoint
//! playing the server, under tokio's paused clock: registration timing, re-registration,
//! reboot downtime, delayed (piggy-backed and separate) replies, dropped and failed requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use fleetbench_fleet::device::{Device, DeviceSpec};
use fleetbench_fleet::driver::{DeviceDriver, DriverParts, Shared};
use fleetbench_fleet::profile::{Behaviour, BehaviourProfile, DelayDistribution};
use fleetbench_fleet::registration::{Registration, RetryPolicy};
use fleetbench_lwm2m::clock::TokioClock;
use fleetbench_lwm2m::coap::{Endpoint, EndpointConfig, Event, RequestId, RequestOptions};
use fleetbench_lwm2m::transport::DatagramTransport;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::{Instant, timeout};

type Datagram = (Vec<u8>, SocketAddr);

/// One end of an in-memory datagram link.
struct MemorySocket {
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

const SERVER: &str = "10.0.0.1:5683";
const DEVICE: &str = "10.0.0.2:40000";

/// The server side: a sans-IO endpoint pumped by hand.
struct Server {
    endpoint: Endpoint,
    from_device: mpsc::Receiver<Datagram>,
    to_device: mpsc::Sender<Datagram>,
    /// Raw datagrams the device sent, decoded, in order (for ACK/response shape checks).
    wire: Vec<(Instant, Packet)>,
    stop_tx: watch::Sender<bool>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

fn device_addr() -> SocketAddr {
    DEVICE.parse().unwrap()
}

fn start_device(profile: BehaviourProfile, lifetime: Duration) -> Server {
    start_device_with(Options {
        profile,
        lifetime,
        ..Options::default()
    })
}

fn start_device_with_receive_failures(
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
struct Options {
    profile: BehaviourProfile,
    lifetime: Duration,
    receive_failures: usize,
    queue_window: Option<Duration>,
    update_period: Option<Duration>,
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

fn start_device_with(options: Options) -> Server {
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
    async fn flush(&mut self) {
        while let Some(transmit) = self.endpoint.poll_transmit() {
            let from: SocketAddr = SERVER.parse().unwrap();
            self.to_device.send((transmit.bytes, from)).await.unwrap();
        }
    }

    /// The next endpoint event, waiting at most `limit` (virtual time).
    async fn next_event(&mut self, limit: Duration) -> Option<(Instant, Event)> {
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
    async fn answer_next(
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

    /// Sends a request to the device; returns its id.
    async fn send(&mut self, method: RequestType, path: &str) -> RequestId {
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
    async fn outcome(
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

    async fn register(&mut self) -> Instant {
        let (at, packet) = self
            .answer_next(Duration::from_secs(30), ResponseType::Created, &["rd", "7"])
            .await;
        assert_eq!(uri_path(&packet), ["rd"]);
        at
    }

    async fn stop(mut self) {
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

fn uri_path(packet: &Packet) -> Vec<String> {
    packet
        .get_option(CoapOption::UriPath)
        .map(|v| {
            v.iter()
                .map(|s| String::from_utf8(s.clone()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn code(packet: &Packet) -> ResponseType {
    match packet.header.code {
        MessageClass::Response(code) => code,
        other => panic!("not a response: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn registers_updates_at_half_lifetime_and_reregisters_on_not_found() {
    let start = Instant::now();
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(100));
    let registered_at = server.register().await;
    assert_eq!(registered_at - start, Duration::from_secs(1));
    let (update_at, update) = server
        .answer_next(Duration::from_secs(100), ResponseType::Changed, &[])
        .await;
    assert_eq!(uri_path(&update), ["rd", "7"]);
    let interval = update_at - registered_at;
    assert!(
        interval >= Duration::from_secs(45) && interval <= Duration::from_secs(55),
        "{interval:?}"
    );
    assert_eq!(*server.shared.registered.borrow(), 1);
    // The server lost the registration: the next Update gets 4.04, a Register follows at once.
    let (lost_at, _) = server
        .answer_next(Duration::from_secs(100), ResponseType::NotFound, &[])
        .await;
    let (again_at, packet) = server
        .answer_next(Duration::from_secs(10), ResponseType::Created, &["rd", "8"])
        .await;
    assert_eq!(uri_path(&packet), ["rd"]);
    assert!(again_at - lost_at < Duration::from_millis(10));
    let (_, update) = server
        .answer_next(Duration::from_secs(100), ResponseType::Changed, &[])
        .await;
    assert_eq!(uri_path(&update), ["rd", "8"]);
    let shared = Arc::clone(&server.shared);
    server.stop().await;
    let stats = shared.counters.snapshot();
    assert_eq!(
        (stats.registrations, stats.updates, stats.update_failures),
        (2, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn register_timeouts_back_off() {
    let start = Instant::now();
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(100));
    // Ignore the first Register entirely: CoAP retransmits, then the exchange fails and the
    // device backs off before a fresh Register (new MID).
    let mut first_ids = Vec::new();
    while first_ids.len() < 6 {
        let (bytes, _) = timeout(Duration::from_secs(200), server.from_device.recv())
            .await
            .unwrap()
            .unwrap();
        let packet = Packet::from_bytes(&bytes).unwrap();
        first_ids.push((Instant::now() - start, packet.header.message_id));
    }
    // 1 transmission + 4 retransmissions of the same MID, then a new Register.
    let mid = first_ids[0].1;
    assert!(
        first_ids[..5].iter().all(|(_, m)| *m == mid),
        "{first_ids:?}"
    );
    assert_ne!(first_ids[5].1, mid);
    // The exchange gives up after MAX_TRANSMIT_WAIT (~93 s from the first transmission at 1 s
    // for this seed's timeouts, at most), then waits the 2..3 s back-off.
    let retry_at = first_ids[5].0;
    assert!(
        retry_at > Duration::from_secs(45) && retry_at < Duration::from_secs(100),
        "{first_ids:?}"
    );
    assert_eq!(server.shared.counters.snapshot().registration_failures, 1);
    assert!(server.shared.counters.snapshot().retransmissions >= 4);
    assert_eq!(*server.shared.registered.borrow(), 0);
}

#[tokio::test(start_paused = true)]
async fn trigger_update_and_reboot() {
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(600));
    server.register().await;
    let id = server.send(RequestType::Post, "/1/0/8").await;
    let (_, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(code(&answer.unwrap()), ResponseType::Changed);
    let (_, update) = server
        .answer_next(Duration::from_secs(5), ResponseType::Changed, &[])
        .await;
    assert_eq!(uri_path(&update), ["rd", "7"]);

    let id = server.send(RequestType::Post, "/3/0/4").await;
    let (rebooted_at, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(code(&answer.unwrap()), ResponseType::Changed);
    assert_eq!(*server.shared.registered.borrow(), 0);
    // While down, requests go unanswered.
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let (registered_again, packet) = server
        .answer_next(Duration::from_secs(10), ResponseType::Created, &["rd", "9"])
        .await;
    assert_eq!(uri_path(&packet), ["rd"]);
    let downtime = registered_again - rebooted_at;
    assert!(
        downtime >= Duration::from_secs(2) && downtime < Duration::from_millis(2100),
        "{downtime:?}"
    );
    // The request sent during the downtime is retransmitted by the server's CoAP layer and
    // answered once the device is back.
    let (_, answer) = server.outcome(id, Duration::from_secs(60)).await;
    assert_eq!(answer.unwrap().payload, b"fleetbench");
    assert_eq!(server.shared.counters.snapshot().reboots, 1);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn short_delays_are_piggy_backed_long_delays_are_separate() {
    let profile = BehaviourProfile {
        delay: DelayDistribution::Fixed(Duration::from_millis(300)),
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(600));
    server.register().await;
    server.wire.clear();
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let sent = Instant::now();
    let (at, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(answer.unwrap().payload, b"fleetbench");
    assert_eq!(at - sent, Duration::from_millis(300));
    let (_, ack) = server.wire.last().unwrap();
    assert_eq!(ack.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(code(ack), ResponseType::Content);
    server.stop().await;

    let profile = BehaviourProfile {
        delay: DelayDistribution::Fixed(Duration::from_secs(3)),
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(600));
    server.register().await;
    server.wire.clear();
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let sent = Instant::now();
    let (at, answer) = server.outcome(id, Duration::from_secs(10)).await;
    assert_eq!(answer.unwrap().payload, b"fleetbench");
    assert_eq!(at - sent, Duration::from_secs(3));
    let kinds: Vec<(MessageType, MessageClass)> = server
        .wire
        .iter()
        .map(|(_, p)| (p.header.get_type(), p.header.code))
        .collect();
    assert_eq!(
        kinds,
        [
            (MessageType::Acknowledgement, MessageClass::Empty),
            (
                MessageType::Confirmable,
                MessageClass::Response(ResponseType::Content)
            ),
        ]
    );
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn injected_failures_and_dropped_requests() {
    let profile = BehaviourProfile {
        failure_ratio: 1.0,
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(600));
    server.register().await;
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let (_, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(code(&answer.unwrap()), ResponseType::InternalServerError);
    assert_eq!(server.shared.counters.snapshot().errors_injected, 1);
    server.stop().await;

    let profile = BehaviourProfile {
        no_reply_ratio: 1.0,
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(600));
    server.register().await;
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let (_, answer) = server.outcome(id, Duration::from_secs(200)).await;
    assert!(answer.unwrap_err().contains("timeout"));
    let stats = server.shared.counters.snapshot();
    assert_eq!((stats.requests_received, stats.requests_dropped), (1, 1));
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn observe_notifies_periodically_until_cancelled() {
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(600));
    server.register().await;
    // pmax on the instance applies to its resources (a value that never changes by itself:
    // only pmax makes it notify).
    let mut attributes = Packet::new();
    attributes.header.code = MessageClass::Request(RequestType::Put);
    for segment in ["dev0", "3", "0"] {
        attributes.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    attributes.add_option(CoapOption::UriQuery, b"pmax=3".to_vec());
    let id = server.endpoint.send_request(
        Instant::now(),
        device_addr(),
        attributes,
        RequestOptions::default(),
    );
    server.flush().await;
    let (_, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(code(&answer.unwrap()), ResponseType::Changed);

    let mut observe = Packet::new();
    observe.header.code = MessageClass::Request(RequestType::Get);
    for segment in ["dev0", "3", "0", "0"] {
        observe.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    let id = server.endpoint.send_request(
        Instant::now(),
        device_addr(),
        observe,
        RequestOptions {
            confirmable: true,
            observe: true,
        },
    );
    server.flush().await;
    let mut arrivals = Vec::new();
    for _ in 0..4 {
        let (at, answer) = server.outcome(id, Duration::from_secs(10)).await;
        let packet = answer.unwrap();
        assert_eq!(code(&packet), ResponseType::Content);
        let observe = packet.get_first_option(CoapOption::Observe).cloned();
        arrivals.push((at, observe));
    }
    assert_eq!(
        arrivals[0].1,
        Some(vec![]),
        "first response carries Observe 0"
    );
    assert_eq!(arrivals[1].1, Some(vec![1]));
    assert_eq!(arrivals[3].1, Some(vec![3]));
    assert_eq!(arrivals[2].0 - arrivals[1].0, Duration::from_secs(3));
    // The server forgets the observation: the next notification is answered with RST and
    // the device stops notifying.
    server.endpoint.cancel(Instant::now(), id);
    let sent = server.shared.counters.snapshot().notifications_sent;
    server.wire.clear();
    let quiet = server.next_event(Duration::from_secs(20)).await;
    assert!(quiet.is_none());
    let shared = Arc::clone(&server.shared);
    server.stop().await;
    assert_eq!(shared.counters.snapshot().notifications_sent, sent + 1);
}

#[tokio::test(start_paused = true)]
async fn receive_errors_pause_reading_instead_of_spinning() {
    let mut server = start_device_with_receive_failures(
        BehaviourProfile::default(),
        Duration::from_secs(600),
        50,
    );
    // Each failed receive pauses reading for 10 ms of virtual time: after 205 ms about
    // twenty have happened, not fifty. The device still registers and answers afterwards.
    tokio::time::sleep(Duration::from_millis(205)).await;
    let early = server.shared.counters.snapshot().socket_errors;
    assert!(
        (19..=22).contains(&early),
        "{early} receive errors after 205 ms"
    );
    server.register().await;
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let (_, answer) = server.outcome(id, Duration::from_secs(10)).await;
    assert_eq!(answer.unwrap().payload, b"fleetbench");
    assert_eq!(server.shared.counters.snapshot().socket_errors, 50);
    server.stop().await;
}
