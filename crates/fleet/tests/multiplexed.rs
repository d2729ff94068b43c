//! The multiplexed socket mode over real loopback: devices share one wildcard-bound socket,
//! each at its own 127.a.b.c address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use fleetbench_fleet::{FleetConfig, RunningFleet, SocketMode, start};
use fleetbench_lwm2m::coap::service::{CoapService, ServiceConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A registrar that accepts every Register, Update and De-register and reports each
/// Register's endpoint name and source address.
async fn registrar() -> (CoapService, mpsc::Receiver<(String, SocketAddr)>) {
    let (service, _client, mut incoming) =
        CoapService::bind("127.0.0.1:0".parse().unwrap(), ServiceConfig::default(), 3)
            .await
            .unwrap();
    let (seen_tx, seen_rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            let mut answer = Packet::new();
            let query: Vec<String> = request
                .packet
                .get_option(CoapOption::UriQuery)
                .map(|values| {
                    values
                        .iter()
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let code = match request.packet.header.code {
                MessageClass::Request(RequestType::Post) if !query.is_empty() => {
                    if let Some(ep) = query.iter().find_map(|q| q.strip_prefix("ep=")) {
                        let _ = seen_tx.try_send((ep.to_owned(), request.peer));
                    }
                    answer.add_option(CoapOption::LocationPath, b"rd".to_vec());
                    answer.add_option(CoapOption::LocationPath, b"1".to_vec());
                    ResponseType::Created
                }
                MessageClass::Request(RequestType::Delete) => ResponseType::Deleted,
                _ => ResponseType::Changed,
            };
            answer.header.code = MessageClass::Response(code);
            request.respond(answer);
        }
    });
    (service, seen_rx)
}

fn get(message_id: u16, token: &[u8], path: &[&str]) -> Vec<u8> {
    let mut packet = Packet::new();
    packet.header.set_type(MessageType::Confirmable);
    packet.header.code = MessageClass::Request(RequestType::Get);
    packet.header.message_id = message_id;
    packet.set_token(token.to_vec());
    for segment in path {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    packet.to_bytes().unwrap()
}

async fn two_device_fleet(server: SocketAddr) -> RunningFleet {
    let fleet = start(FleetConfig {
        server,
        devices: 2,
        endpoint_prefix: "mux-".to_owned(),
        seed: 9,
        registration_spread: Duration::from_millis(50),
        socket_mode: SocketMode::Multiplexed,
        multiplexed_sockets: Some(1),
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    fleet.wait_registered(WAIT).await.unwrap();
    fleet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_on_one_socket_never_see_each_others_datagrams() {
    let (service, mut registers) = registrar().await;
    let fleet = two_device_fleet(service.local_addr()).await;
    assert_eq!(fleet.socket_mode(), SocketMode::Multiplexed);
    assert_eq!(fleet.shared_sockets().len(), 1);
    let (a, b) = (
        fleet.device_address(0).unwrap(),
        fleet.device_address(1).unwrap(),
    );
    // One socket: same port, two addresses from the plan.
    assert_eq!(a.port(), b.port());
    assert_eq!(a.port(), fleet.shared_sockets()[0].port());
    assert_eq!(a.ip(), IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)));
    assert_eq!(b.ip(), IpAddr::V4(Ipv4Addr::new(127, 1, 0, 2)));
    // Each device registered from its own address.
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(timeout(WAIT, registers.recv()).await.unwrap().unwrap());
    }
    seen.sort();
    assert_eq!(
        seen,
        [("mux-000000".to_owned(), a), ("mux-000001".to_owned(), b)]
    );

    // A request to each: each answer comes from the address asked, with its own token, and
    // each device received exactly one request.
    let before = fleet.stats().requests_received;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&get(100, b"A", &["3", "0", "0"]), a)
        .await
        .unwrap();
    client
        .send_to(&get(200, b"B", &["3", "0", "0"]), b)
        .await
        .unwrap();
    let mut answers = Vec::new();
    let mut buffer = [0u8; 2048];
    for _ in 0..2 {
        let (length, from) = timeout(WAIT, client.recv_from(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        let packet = Packet::from_bytes(&buffer[..length]).unwrap();
        assert_eq!(packet.header.get_type(), MessageType::Acknowledgement);
        assert_eq!(
            packet.header.code,
            MessageClass::Response(ResponseType::Content)
        );
        answers.push((from, packet.header.message_id, packet.get_token().to_vec()));
    }
    answers.sort();
    assert_eq!(answers, [(a, 100, b"A".to_vec()), (b, 200, b"B".to_vec())]);
    assert_eq!(fleet.stats().requests_received - before, 2);
    assert_eq!(fleet.stats().unknown_destination, 0);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagram_for_an_unknown_address_is_dropped_and_counted() {
    let (service, _registers) = registrar().await;
    let fleet = two_device_fleet(service.local_addr()).await;
    let device = fleet.device_address(0).unwrap();
    let stranger = SocketAddr::from(([127, 1, 0, 77], device.port()));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // The stranger's datagram goes first on the same socket; the demultiplexer handles a
    // socket's datagrams in order, so once the device's answer is back the stranger's
    // datagram has been counted.
    client
        .send_to(&get(1, b"S", &["3", "0", "0"]), stranger)
        .await
        .unwrap();
    client
        .send_to(&get(2, b"D", &["3", "0", "0"]), device)
        .await
        .unwrap();
    let mut buffer = [0u8; 2048];
    let (length, from) = timeout(WAIT, client.recv_from(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, device);
    assert_eq!(
        Packet::from_bytes(&buffer[..length]).unwrap().get_token(),
        b"D"
    );
    assert_eq!(fleet.stats().unknown_destination, 1);
    fleet.shutdown().await;
}

#[tokio::test]
async fn auto_multiplexes_large_loopback_fleets_and_keeps_per_device_sockets_when_asked() {
    let small = FleetConfig::default();
    assert_eq!(small.effective_socket_mode(), SocketMode::PerDevice);
    let loopback = FleetConfig {
        devices: fleetbench_fleet::AUTO_MULTIPLEX_ABOVE + 1,
        ..FleetConfig::default()
    };
    assert_eq!(loopback.effective_socket_mode(), SocketMode::Multiplexed);
    let remote = FleetConfig {
        server: SocketAddr::from(([192, 0, 2, 1], 5683)),
        ..loopback.clone()
    };
    assert_eq!(remote.effective_socket_mode(), SocketMode::PerDevice);
    let capped = FleetConfig {
        max_sockets_per_ip: Some(10),
        ..loopback.clone()
    };
    assert_eq!(capped.effective_socket_mode(), SocketMode::PerDevice);
    let forced = FleetConfig {
        socket_mode: SocketMode::Multiplexed,
        ..remote
    };
    let error = forced.validate().unwrap_err();
    assert_eq!(error.config_field().as_deref(), Some("socket_mode"));
    let zero = FleetConfig {
        multiplexed_sockets: Some(0),
        ..FleetConfig::default()
    };
    assert_eq!(
        zero.validate().unwrap_err().config_field().as_deref(),
        Some("multiplexed_sockets")
    );

    // The per-device mode still works end to end.
    let (service, mut registers) = registrar().await;
    let fleet = start(FleetConfig {
        server: service.local_addr(),
        devices: 2,
        socket_mode: SocketMode::PerDevice,
        registration_spread: Duration::from_millis(10),
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    fleet.wait_registered(WAIT).await.unwrap();
    assert_eq!(fleet.socket_mode(), SocketMode::PerDevice);
    assert!(fleet.shared_sockets().is_empty());
    let (a, b) = (
        fleet.device_address(0).unwrap(),
        fleet.device_address(1).unwrap(),
    );
    assert_ne!(a.port(), b.port());
    let (_, peer) = timeout(WAIT, registers.recv()).await.unwrap().unwrap();
    assert!(peer == a || peer == b, "{peer}");
    fleet.shutdown().await;
}
