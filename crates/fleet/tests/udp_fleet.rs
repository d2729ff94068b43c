//! A fleet on real UDP sockets against a tiny LwM2M server built on the lwm2m crate's CoAP
//! service: registration, read, write, execute, sub-device read, de-register on shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_fleet::{
    BehaviourProfile, FleetConfig, LinkImpairment, LinkProfile, SubDeviceMode, start,
    sub_device_name,
};
use fleetbench_lwm2m::coap::RequestOptions;
use fleetbench_lwm2m::coap::service::{CoapClient, CoapService, ServiceConfig};
use fleetbench_lwm2m::codec;
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::registration::RegistrationParams;
use fleetbench_lwm2m::value::{ResourceType, Value};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// What the server saw.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Register {
        params: RegistrationParams,
        peer: SocketAddr,
        links: String,
        content_format: Option<Vec<u8>>,
    },
    Update {
        location: Vec<String>,
        query: Vec<String>,
    },
    Deregister {
        location: Vec<String>,
    },
}

fn strings(packet: &Packet, option: CoapOption) -> Vec<String> {
    packet
        .get_option(option)
        .map(|v| {
            v.iter()
                .map(|s| String::from_utf8(s.clone()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn response(code: ResponseType) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Response(code);
    packet
}

/// Starts a server that accepts every registration (location `rd/<n>`) and reports what it
/// saw on a channel.
async fn server() -> (CoapService, CoapClient, mpsc::Receiver<Seen>) {
    server_with(ServiceConfig::default()).await
}

/// [`server`] with its own CoAP parameters.
async fn server_with(config: ServiceConfig) -> (CoapService, CoapClient, mpsc::Receiver<Seen>) {
    let (service, client, mut incoming) =
        CoapService::bind("127.0.0.1:0".parse().unwrap(), config, 7)
            .await
            .unwrap();
    let (seen_tx, seen_rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut next_id = 0;
        while let Some(request) = incoming.recv().await {
            let path = strings(&request.packet, CoapOption::UriPath);
            let query = strings(&request.packet, CoapOption::UriQuery);
            let (seen, answer) = match (request.packet.header.code, path.as_slice()) {
                (MessageClass::Request(RequestType::Post), [rd]) if rd == "rd" => {
                    next_id += 1;
                    let mut answer = response(ResponseType::Created);
                    answer.add_option(CoapOption::LocationPath, b"rd".to_vec());
                    answer.add_option(CoapOption::LocationPath, format!("r{next_id}").into_bytes());
                    let seen = Seen::Register {
                        params: RegistrationParams::from_query(&query).unwrap(),
                        peer: request.peer,
                        links: String::from_utf8(request.packet.payload.clone()).unwrap(),
                        content_format: request
                            .packet
                            .get_first_option(CoapOption::ContentFormat)
                            .cloned(),
                    };
                    (seen, answer)
                }
                (MessageClass::Request(RequestType::Post), _) => (
                    Seen::Update {
                        location: path,
                        query,
                    },
                    response(ResponseType::Changed),
                ),
                (MessageClass::Request(RequestType::Delete), _) => (
                    Seen::Deregister { location: path },
                    response(ResponseType::Deleted),
                ),
                _ => continue,
            };
            request.respond(answer);
            if seen_tx.send(seen).await.is_err() {
                break;
            }
        }
    });
    (service, client, seen_rx)
}

fn get(path: &str, accept: Option<u16>) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(RequestType::Get);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    if let Some(accept) = accept {
        let bytes = accept.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        packet.add_option(CoapOption::Accept, bytes[skip..].to_vec());
    }
    packet
}

fn with_method(mut packet: Packet, method: RequestType, payload: &[u8]) -> Packet {
    packet.header.code = MessageClass::Request(method);
    if !payload.is_empty() {
        packet.add_option(CoapOption::ContentFormat, Vec::new());
        packet.payload = payload.to_vec();
    }
    packet
}

async fn ask(client: &CoapClient, peer: SocketAddr, packet: Packet) -> Packet {
    timeout(
        WAIT,
        client.request(peer, packet, RequestOptions::default()),
    )
    .await
    .expect("device answered in time")
    .expect("exchange succeeded")
}

fn code(packet: &Packet) -> ResponseType {
    match packet.header.code {
        MessageClass::Response(code) => code,
        other => panic!("not a response: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_registers_serves_requests_and_deregisters() {
    let (service, client, mut seen) = server().await;
    let config = FleetConfig {
        server: service.local_addr(),
        devices: 3,
        sub_devices: 2,
        endpoint_prefix: "udp-".to_owned(),
        seed: 1,
        registration_spread: Duration::from_millis(200),
        ..FleetConfig::default()
    };
    let fleet = start(config).await.unwrap();
    fleet.wait_registered(WAIT).await.unwrap();
    assert_eq!(fleet.registered(), 3);

    let mut peers: HashMap<String, (SocketAddr, String)> = HashMap::new();
    for _ in 0..3 {
        let event = timeout(WAIT, seen.recv()).await.unwrap().unwrap();
        let Seen::Register {
            params,
            peer,
            links,
            content_format,
        } = event
        else {
            panic!("expected a Register, got {event:?}");
        };
        assert_eq!(params.version.as_deref(), Some("1.1"));
        assert_eq!(params.binding.as_deref(), Some("U"));
        assert_eq!(params.lifetime, Some(300));
        assert_eq!(content_format, Some(vec![40]));
        assert!(links.contains("</25>;ver=2.0,</25/0>,</25/1>"), "{links}");
        assert!(!links.contains("</0/"), "{links}");
        peers.insert(params.endpoint, (peer, links));
    }
    let mut names: Vec<&String> = peers.keys().collect();
    names.sort();
    assert_eq!(names, ["udp-000000", "udp-000001", "udp-000002"]);
    let (device, _) = peers["udp-000001"];
    assert_eq!(fleet.device_address(1), Some(device));

    // Read a single resource (text/plain by default).
    let answer = ask(&client, device, get("/3/0/0", None)).await;
    assert_eq!(code(&answer), ResponseType::Content);
    assert_eq!(answer.payload, b"fleetbench");
    // Read an instance as TLV and decode it.
    let answer = ask(&client, device, get("/25/1", Some(11542))).await;
    let records = codec::decode(
        ContentFormat::Tlv,
        &Lwm2mPath::instance(25, 1),
        &answer.payload,
        &|_: &Lwm2mPath| Some(ResourceType::String),
    )
    .unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.value == Value::String("udp-000001-sub1".into())),
        "{records:?}"
    );
    // Write, then read back.
    let write = with_method(get("/33000/0/4", None), RequestType::Put, b"warn");
    assert_eq!(
        code(&ask(&client, device, write).await),
        ResponseType::Changed
    );
    let answer = ask(&client, device, get("/33000/0/4", None)).await;
    assert_eq!(answer.payload, b"warn");
    // Errors.
    assert_eq!(
        code(&ask(&client, device, get("/3/0/4", None)).await),
        ResponseType::MethodNotAllowed
    );
    assert_eq!(
        code(&ask(&client, device, get("/dev7/3/0", None)).await),
        ResponseType::NotFound
    );
    // A sub-device through its prefix.
    let answer = ask(&client, device, get("/dev1/3/0/17", None)).await;
    assert_eq!(answer.payload, b"sensor");
    // Execute the Registration Update Trigger: an Update follows to the full location.
    let exec = with_method(get("/1/0/8", None), RequestType::Post, b"");
    assert_eq!(
        code(&ask(&client, device, exec).await),
        ResponseType::Changed
    );
    let event = timeout(WAIT, seen.recv()).await.unwrap().unwrap();
    let Seen::Update { location, query } = event else {
        panic!("expected an Update, got {event:?}");
    };
    assert_eq!(location.len(), 2);
    assert_eq!(location[0], "rd");
    assert!(query.is_empty());

    let stats = fleet.stats();
    assert_eq!(stats.registrations, 3);
    assert_eq!(stats.requests_received, 8, "{stats:?}");
    assert_eq!(stats.requests_answered, stats.requests_received);
    assert_eq!(stats.errors_injected, 0);

    let stats = fleet.stats_handle();
    timeout(WAIT, fleet.shutdown()).await.unwrap();
    assert_eq!(stats.snapshot().deregistrations, 3);
    assert_eq!(stats.registered(), 0);
    let mut deregistered = Vec::new();
    while deregistered.len() < 3 {
        match timeout(WAIT, seen.recv()).await.unwrap().unwrap() {
            Seen::Deregister { location } => deregistered.push(location),
            other => panic!("expected De-registers, got {other:?}"),
        }
    }
    deregistered.sort();
    assert_eq!(
        deregistered,
        [["rd", "r1"], ["rd", "r2"], ["rd", "r3"]]
            .map(|l| l.map(str::to_owned).to_vec())
            .to_vec()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_registered_times_out_without_a_server() {
    // A bound socket that never answers: devices cannot register.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = FleetConfig {
        server: silent.local_addr().unwrap(),
        devices: 2,
        registration_spread: Duration::ZERO,
        deregister_timeout: Duration::from_millis(200),
        ..FleetConfig::default()
    };
    let fleet = start(config).await.unwrap();
    let error = fleet
        .wait_registered(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("0 of 2"), "{error}");
    assert_eq!(fleet.registered(), 0);
    timeout(WAIT, fleet.shutdown()).await.unwrap();
}

#[tokio::test]
async fn invalid_config_names_the_field() {
    let config = FleetConfig {
        endpoint_prefix: "bad name".to_owned(),
        ..FleetConfig::default()
    };
    let error = start(config).await.unwrap_err();
    assert!(error.to_string().contains("endpoint_prefix"), "{error}");
    let config = FleetConfig {
        profile: fleetbench_fleet::BehaviourProfile {
            failure_ratio: 2.0,
            ..Default::default()
        },
        ..FleetConfig::default()
    };
    let error = start(config).await.unwrap_err();
    assert!(error.to_string().contains("failure_ratio"), "{error}");
}

/// Collects `count` Register events: endpoint name → (peer, links).
async fn registers(
    seen: &mut mpsc::Receiver<Seen>,
    count: usize,
) -> HashMap<String, (SocketAddr, String)> {
    let mut out = HashMap::new();
    while out.len() < count {
        match timeout(WAIT, seen.recv()).await.unwrap().unwrap() {
            Seen::Register {
                params,
                peer,
                links,
                ..
            } => {
                out.insert(params.endpoint, (peer, links));
            }
            other => panic!("expected Registers, got {other:?}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_endpoint_sub_devices_register_from_their_own_sockets() {
    let (service, client, mut seen) = server().await;
    let config = FleetConfig {
        server: service.local_addr(),
        devices: 2,
        sub_devices: 2,
        sub_device_mode: SubDeviceMode::PerEndpoint,
        endpoint_prefix: "pe-".to_owned(),
        registration_spread: Duration::from_millis(100),
        ..FleetConfig::default()
    };
    let fleet = start(config).await.unwrap();
    assert_eq!(fleet.endpoint_count(), 6);
    fleet.wait_registered(WAIT).await.unwrap();
    let peers = registers(&mut seen, 6).await;
    for index in 0..2 {
        let gateway = format!("pe-{index:06}");
        let (peer, links) = &peers[&gateway];
        assert_eq!(fleet.device_address(index), Some(*peer));
        assert!(links.contains("</25>;ver=2.0"), "{links}");
        assert!(
            !links.contains("</25/0>"),
            "no Object 25 instances: {links}"
        );
        for k in 0..2 {
            let name = sub_device_name(&gateway, k);
            let (sub_peer, sub_links) = &peers[&name];
            assert_eq!(fleet.sub_device_address(index, k), Some(*sub_peer));
            assert_ne!(sub_peer, peer);
            assert!(
                sub_links
                    .starts_with("</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</4/0>"),
                "{sub_links}"
            );
            assert!(sub_links.contains("</3304/0>,</3311/0>"), "{sub_links}");
            assert!(!sub_links.contains("</25"), "{sub_links}");
        }
    }
    assert_eq!(fleet.sub_device_address(0, 2), None);
    let sub = fleet.sub_device_address(1, 1).unwrap();
    let answer = ask(&client, sub, get("/3/0/2", None)).await;
    assert_eq!(answer.payload, b"SN-pe-000001-SUB1");
    let answer = ask(&client, sub, get("/3311/0/5850", None)).await;
    assert_eq!(answer.payload, b"0");
    let stats = fleet.stats_handle();
    timeout(WAIT, fleet.shutdown()).await.unwrap();
    assert_eq!(stats.snapshot().deregistrations, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_spread_over_loopback_addresses_beyond_a_per_address_cap() {
    let (service, client, mut seen) = server().await;
    let config = FleetConfig {
        server: service.local_addr(),
        devices: 5,
        max_sockets_per_ip: Some(2),
        endpoint_prefix: "cap-".to_owned(),
        registration_spread: Duration::from_millis(100),
        ..FleetConfig::default()
    };
    let fleet = start(config).await.unwrap();
    let ips: Vec<String> = (0..5)
        .map(|i| fleet.device_address(i).unwrap().ip().to_string())
        .collect();
    assert_eq!(
        ips,
        [
            "127.0.0.1",
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.2",
            "127.0.0.3"
        ]
    );
    fleet.wait_registered(WAIT).await.unwrap();
    let peers = registers(&mut seen, 5).await;
    for index in 0..5 {
        let (peer, _) = peers[&format!("cap-{index:06}")];
        assert_eq!(
            Some(peer),
            fleet.device_address(index),
            "the server sees the spread address"
        );
    }
    // Object 4 reports the address the device sends from.
    let device = fleet.device_address(4).unwrap();
    let answer = ask(&client, device, get("/4/0/4/0", None)).await;
    assert_eq!(answer.payload, b"127.0.0.3");
    timeout(WAIT, fleet.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_link_is_survived_by_retransmissions() {
    let fast = fleetbench_lwm2m::coap::EndpointConfig {
        ack_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let (service, client, _seen) = server_with(ServiceConfig {
        endpoint: fast.clone(),
        ..ServiceConfig::default()
    })
    .await;
    let lossy = LinkImpairment {
        loss: 0.3,
        duplicate: 0.2,
        ..LinkImpairment::default()
    };
    let config = FleetConfig {
        server: service.local_addr(),
        devices: 4,
        seed: 3,
        endpoint_prefix: "lossy-".to_owned(),
        registration_spread: Duration::from_millis(50),
        coap: fast,
        profile: BehaviourProfile {
            link: LinkProfile {
                uplink: lossy.clone(),
                downlink: lossy,
            },
            ..BehaviourProfile::default()
        },
        ..FleetConfig::default()
    };
    let fleet = start(config).await.unwrap();
    fleet.wait_registered(WAIT).await.unwrap();
    let device = fleet.device_address(0).unwrap();
    let mut answered = 0;
    for _ in 0..10 {
        // Both sides retransmit after 100 ms. A round trip survives 30 % loss each way with
        // probability 0.49, so an exchange (5 transmissions) fails with probability
        // 0.51^5 = 3.5 %; 3 or more failures in 10 happen about once in 200 runs.
        let answer = timeout(
            Duration::from_secs(20),
            client.request(device, get("/3/0/0", None), RequestOptions::default()),
        )
        .await
        .unwrap();
        if let Ok(answer) = answer {
            assert_eq!(answer.payload, b"fleetbench");
            answered += 1;
        }
    }
    assert!(answered >= 8, "only {answered} of 10 exchanges survived");
    let stats = fleet.stats();
    assert!(stats.datagrams_lost > 0, "{stats:?}");
    assert!(stats.datagrams_duplicated > 0, "{stats:?}");
    assert!(stats.retransmissions > 0, "{stats:?}");
    timeout(Duration::from_secs(20), fleet.shutdown())
        .await
        .unwrap();
}
