//! The LwM2M side against a scripted device built on the crate's own CoAP service (real UDP on
//! loopback): registration, `/25` sub-device discovery, commands to the gateway and to
//! sub-devices, de-registration while a request is in flight, malformed registrations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::{Api, only_status};
use fleetbench_gateway::{GatewayConfig, start};
use fleetbench_lwm2m::coap::service::{CoapClient, CoapService, IncomingRequest, ServiceConfig};
use fleetbench_lwm2m::coap::{EndpointConfig, RequestOptions};
use fleetbench_lwm2m::coap_lite::{MessageClass, MessageType, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::codec::{self, Record};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::packets::{
    code_text, location_path, method, new_request, new_response, set_content_format, uri_path,
};
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::registration::{RegistrationParams, deregister_request, register_request};
use fleetbench_lwm2m::value::Value;
use reqwest::StatusCode;
use serde_json::json;

const LINKS: &str = "</>;rt=\"oma.lwm2m\";ct=11542,</1/0>,</3/0>,</25>;ver=2.0,</25/0>,</25/1>";

/// Writes and executes the device received: path and payload.
type Log = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A scripted LwM2M device: answers what the tests need, records writes, and parks requests to
/// `/3/0/9` without answering.
struct FakeDevice {
    client: CoapClient,
    _service: CoapService,
    writes: Log,
    parked: Arc<Mutex<Vec<IncomingRequest>>>,
}

fn object25(endpoint: &str) -> Vec<u8> {
    let base = Lwm2mPath::object(25);
    let mut records = Vec::new();
    for k in 0..2u16 {
        records.push(Record::new(
            Lwm2mPath::resource(25, k, 0),
            Value::String(format!("{endpoint}-sub{k}")),
        ));
        records.push(Record::new(
            Lwm2mPath::resource(25, k, 1),
            Value::String(format!("dev{k}")),
        ));
        records.push(Record::new(
            Lwm2mPath::resource(25, k, 3),
            Value::CoreLink("</3303/0>".into()),
        ));
    }
    codec::encode(ContentFormat::Tlv, &base, &records).unwrap()
}

fn content(format: u16, payload: &[u8]) -> Packet {
    let mut response = new_response(ResponseType::Content);
    set_content_format(&mut response, format);
    response.payload = payload.to_vec();
    response
}

impl FakeDevice {
    async fn start(endpoint: &str) -> Self {
        let endpoint = endpoint.to_owned();
        let (service, client, mut incoming) = CoapService::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ServiceConfig::default(),
            99,
        )
        .await
        .unwrap();
        let writes: Log = Arc::new(Mutex::new(Vec::new()));
        let parked = Arc::new(Mutex::new(Vec::new()));
        let (log, park) = (writes.clone(), parked.clone());
        tokio::spawn(async move {
            while let Some(request) = incoming.recv().await {
                let path = uri_path(&request.packet).join("/");
                let response = match (method(&request.packet), path.as_str()) {
                    (Some(RequestType::Get), "25") => {
                        content(ContentFormat::Tlv.number(), &object25(&endpoint))
                    }
                    (Some(RequestType::Get), "3/0/0") => content(0, b"fleetbench"),
                    (Some(RequestType::Get), "dev0/3303/0/5700") => content(0, b"21.5"),
                    (Some(RequestType::Get), "3/0/9") => {
                        request.accept_later();
                        park.lock().unwrap().push(request);
                        continue;
                    }
                    (
                        Some(RequestType::Put | RequestType::Post),
                        "3/0/13" | "3/0/4" | "dev1/3/0/4" | "dev0/33000/0/6",
                    ) => {
                        log.lock()
                            .unwrap()
                            .push((path.clone(), request.packet.payload.clone()));
                        new_response(ResponseType::Changed)
                    }
                    _ => new_response(ResponseType::NotFound),
                };
                request.respond(response);
            }
        });
        Self {
            client,
            _service: service,
            writes,
            parked,
        }
    }

    async fn register(&self, server: SocketAddr, endpoint: &str) -> Vec<String> {
        let request = register_request(&RegistrationParams::new(endpoint, 60), LINKS);
        let response = self
            .client
            .request(server, request, RequestOptions::default())
            .await
            .unwrap();
        assert_eq!(code_text(&response), "2.01");
        location_path(&response)
    }

    async fn send(&self, server: SocketAddr, packet: Packet) -> Packet {
        self.client
            .request(server, packet, RequestOptions::default())
            .await
            .unwrap()
    }
}

async fn command(api: &Api, device: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, created) = api
        .post(&format!("/devices/{device}/gateway_commands"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    api.wait_command(created["_id"].as_str().unwrap()).await
}

#[tokio::test]
async fn registration_discovery_and_commands_to_gateway_and_sub_devices() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let device = FakeDevice::start("ep-1").await;
    let location = device.register(gateway.coap_addr(), "ep-1").await;
    assert_eq!(location[0], "rd");

    let gw = api
        .wait_device("ep-1", |d| {
            d["attached_device_ids"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
        })
        .await;
    assert_eq!(gw["active"], true);
    assert_eq!(
        gw["lwm2m"]["registration_id"],
        format!("rd/{}", location[1])
    );
    let gw_id = gw["_id"].as_str().unwrap().to_owned();
    let (_, sub0) = api.get("/devices/ep-1-sub0").await;
    assert_eq!(sub0["parent_device_id"], gw_id);
    assert_eq!(sub0["lwm2m"]["prefix"], "dev0");
    let (_, children) = api
        .get(&format!("/devices?parent_device_id={gw_id}&page_meta=true"))
        .await;
    assert_eq!(children["total"], 2);

    let read = command(
        &api,
        &gw_id,
        json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3/0/0"}),
    )
    .await;
    let entry = only_status(&read);
    assert_eq!(entry["status"], "success", "{read}");
    assert_eq!(entry["result"]["values"][0]["value"], "fleetbench");

    let sub_read = command(
        &api,
        "ep-1-sub0",
        json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3303/0/5700"}),
    )
    .await;
    let entry = only_status(&sub_read);
    assert_eq!(entry["status"], "success", "{sub_read}");
    assert_eq!(entry["result"]["values"][0]["value"], "21.5");
    assert_eq!(
        sub_read["statuses"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap(),
        sub0["_id"].as_str().unwrap()
    );

    let write = command(&api, &gw_id, json!({"command_type": "lwm2m_request", "type": "write", "endpoint": "/3/0/13", "data": "1700000000"})).await;
    assert_eq!(only_status(&write)["status"], "success", "{write}");
    let reboot = command(&api, &gw_id, json!({"command_type": "reboot"})).await;
    assert_eq!(only_status(&reboot)["status"], "success", "{reboot}");
    let heartbeat = command(&api, "ep-1-sub0", json!({"command_type": "heartbeat"})).await;
    assert_eq!(only_status(&heartbeat)["status"], "success", "{heartbeat}");

    let sub1 = api.get("/devices/ep-1-sub1").await.1;
    let fan_out = command(
        &api,
        &gw_id,
        json!({"command_type": "reboot", "attached_device_ids": [sub1["_id"]]}),
    )
    .await;
    assert_eq!(
        fan_out["statuses"][sub1["_id"].as_str().unwrap()]["status"],
        "success",
        "{fan_out}"
    );

    let missing = command(
        &api,
        &gw_id,
        json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3/0/1"}),
    )
    .await;
    let entry = only_status(&missing);
    assert_eq!(entry["status"], "fail");
    assert!(
        entry["status_message"]
            .as_str()
            .unwrap()
            .contains("4.04 Not Found"),
        "{missing}"
    );

    let writes = device.writes.lock().unwrap().clone();
    let paths: Vec<&str> = writes.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["3/0/13", "3/0/4", "dev0/33000/0/6", "dev1/3/0/4"]);
    assert_eq!(writes[0].1, b"1700000000");
    gateway.shutdown().await;
}

#[tokio::test]
async fn deregistration_fails_in_flight_commands_and_marks_devices_inactive() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let device = FakeDevice::start("ep-2").await;
    let location = device.register(gateway.coap_addr(), "ep-2").await;
    let gw = api
        .wait_device("ep-2", |d| {
            d["attached_device_ids"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
        })
        .await;
    let gw_id = gw["_id"].as_str().unwrap();

    let (status, created) = api
        .post(&format!("/devices/{gw_id}/gateway_commands"), json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3/0/9", "timeout": 60}))
        .await;
    assert_eq!(status, StatusCode::OK);
    common::eventually(|| async { (!device.parked.lock().unwrap().is_empty()).then_some(()) })
        .await;
    let deleted = device
        .send(gateway.coap_addr(), deregister_request(&location))
        .await;
    assert_eq!(code_text(&deleted), "2.02");

    let done = api.wait_command(created["_id"].as_str().unwrap()).await;
    let entry = only_status(&done);
    assert_eq!(entry["status"], "fail");
    assert!(
        entry["status_message"]
            .as_str()
            .unwrap()
            .contains("de-registered"),
        "{done}"
    );
    let gw = api.get("/devices/ep-2").await.1;
    assert_eq!(gw["active"], false);
    assert_eq!(api.get("/devices/ep-2-sub1").await.1["active"], false);

    let after = command(&api, gw_id, json!({"command_type": "reboot"})).await;
    assert!(
        only_status(&after)["status_message"]
            .as_str()
            .unwrap()
            .contains("not registered"),
        "{after}"
    );
    let again = device
        .send(gateway.coap_addr(), deregister_request(&location))
        .await;
    assert_eq!(code_text(&again), "4.04");
    gateway.shutdown().await;
}

#[tokio::test]
async fn malformed_registrations_are_refused_with_a_diagnostic() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let device = FakeDevice::start("ep-3").await;
    let server = gateway.coap_addr();

    let mut no_endpoint = new_request(RequestType::Post, &["rd"]);
    fleetbench_lwm2m::packets::add_queries(&mut no_endpoint, &["lt=60"]);
    no_endpoint.payload = b"</3/0>".to_vec();
    let response = device.send(server, no_endpoint).await;
    assert_eq!(code_text(&response), "4.00");
    assert!(String::from_utf8_lossy(&response.payload).contains("`ep`"));

    let mut params = RegistrationParams::new("ep-3", 60);
    params.version = Some("1.2".into());
    let mut request = register_request(&RegistrationParams::new("ep-3", 60), "</3/0>");
    request.clear_option(fleetbench_lwm2m::coap_lite::CoapOption::UriQuery);
    fleetbench_lwm2m::packets::add_queries(&mut request, &params.to_query());
    let response = device.send(server, request).await;
    assert_eq!(code_text(&response), "4.12");

    let response = device
        .send(
            server,
            register_request(&RegistrationParams::new("ep-3", 60), "</3/0"),
        )
        .await;
    assert_eq!(code_text(&response), "4.00");
    assert!(String::from_utf8_lossy(&response.payload).contains("registration payload"));

    let response = device
        .send(
            server,
            register_request(&RegistrationParams::new("ep-3", 60), ""),
        )
        .await;
    assert_eq!(code_text(&response), "4.00");

    let update = fleetbench_lwm2m::registration::update_request(&["rd", "nope"], Some(60), None);
    assert_eq!(code_text(&device.send(server, update).await), "4.04");
    gateway.shutdown().await;
}

#[tokio::test]
async fn stored_files_are_served_over_coap_block_wise() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let (status, file) = api
        .raw(
            reqwest::Method::POST,
            "/files?name=fw.bin",
            data.clone(),
            "application/octet-stream",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let device = FakeDevice::start("ep-4").await;
    let peer = fleetbench_gateway::lwm2m_server::transfer::Peer {
        client: &device.client,
        addr: gateway.coap_addr(),
        endpoint: "gateway",
    };
    let file_id = file["_id"].as_str().unwrap();
    let by_id = device
        .send(
            gateway.coap_addr(),
            new_request(RequestType::Get, &["files", file_id]),
        )
        .await;
    assert_eq!(
        code_text(&by_id),
        "4.04",
        "a file id opens nothing over CoAP"
    );
    let state = gateway.engine().state();
    let grant = state
        .downloads
        .mint(
            fleetbench_gateway::model::ObjectId::parse(file_id).unwrap(),
            state.clock.now(),
        )
        .unwrap();
    let mut request = new_request(RequestType::Get, &["files", grant.token()]);
    request.add_option(
        fleetbench_lwm2m::coap_lite::CoapOption::Block2,
        fleetbench_lwm2m::block::BlockOption::new(0, false, 512)
            .unwrap()
            .encode(),
    );
    let first = device.send(gateway.coap_addr(), request).await;
    assert_eq!(code_text(&first), "2.05");
    assert_eq!(first.payload, data[..512]);
    let whole = read_file(&peer, grant.token()).await;
    assert_eq!(whole, data);
    let token = grant.token().to_owned();
    drop(grant);
    let revoked = device
        .send(
            gateway.coap_addr(),
            new_request(RequestType::Get, &["files", &token]),
        )
        .await;
    assert_eq!(
        code_text(&revoked),
        "4.04",
        "a dropped grant revokes its token"
    );
    let missing = device
        .send(
            gateway.coap_addr(),
            new_request(RequestType::Get, &["files", "5c0feb9a693d3f000115028c"]),
        )
        .await;
    assert_eq!(code_text(&missing), "4.04");
    gateway.shutdown().await;
}

/// Reads `/files/<id>` with the gateway's own Block2 client (which follows every block).
async fn read_file(
    peer: &fleetbench_gateway::lwm2m_server::transfer::Peer<'_>,
    id: &str,
) -> Vec<u8> {
    let response = peer
        .exchange(new_request(RequestType::Get, &["files", id]))
        .await
        .unwrap();
    let mut body = response.payload.clone();
    let mut block = fleetbench_lwm2m::block::BlockOption::decode(
        response
            .get_first_option(fleetbench_lwm2m::coap_lite::CoapOption::Block2)
            .unwrap(),
    )
    .unwrap();
    while block.more {
        let mut request = new_request(RequestType::Get, &["files", id]);
        let next = fleetbench_lwm2m::block::BlockOption::with_szx(block.num + 1, false, block.szx)
            .unwrap();
        request.add_option(
            fleetbench_lwm2m::coap_lite::CoapOption::Block2,
            next.encode(),
        );
        let response = peer.exchange(request).await.unwrap();
        body.extend_from_slice(&response.payload);
        block = fleetbench_lwm2m::block::BlockOption::decode(
            response
                .get_first_option(fleetbench_lwm2m::coap_lite::CoapOption::Block2)
                .unwrap(),
        )
        .unwrap();
    }
    body
}

#[tokio::test]
async fn a_device_that_stops_updating_goes_inactive_when_its_lifetime_lapses() {
    let config = GatewayConfig {
        registration_grace: std::time::Duration::ZERO,
        ..GatewayConfig::default()
    };
    let gateway = start(config).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let device = FakeDevice::start("ep-5").await;
    let request = register_request(&RegistrationParams::new("ep-5", 1), LINKS);
    let response = device.send(gateway.coap_addr(), request).await;
    assert_eq!(code_text(&response), "2.01");
    let location = location_path(&response);
    api.wait_device("ep-5", |d| d["active"] == true).await;
    let lapsed = api.wait_device("ep-5", |d| d["active"] == false).await;
    assert_eq!(lapsed["lwm2m"]["lifetime"], 1);
    let update = fleetbench_lwm2m::registration::update_request(&location, None, None);
    assert_eq!(
        code_text(&device.send(gateway.coap_addr(), update).await),
        "4.04",
        "a lapsed registration must register again"
    );
    let (_, _, metrics) = api.call(reqwest::Method::GET, "/metrics", None, None).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("fleetbench_gateway_lwm2m_registration_expiries_total 1")
    );
    gateway.shutdown().await;
}

/// A device on a bare UDP socket: it registers, then only receives (it never acknowledges
/// anything unless told to), so tests can count what the gateway sends it.
struct RawDevice {
    socket: tokio::net::UdpSocket,
    server: SocketAddr,
}

impl RawDevice {
    async fn register(server: SocketAddr, endpoint: &str, links: &str) -> Self {
        let socket = tokio::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let mut request = register_request(&RegistrationParams::new(endpoint, 60), links);
        request.header.set_type(MessageType::Confirmable);
        request.header.message_id = 7;
        request.set_token(vec![7]);
        socket
            .send_to(&request.to_bytes().unwrap(), server)
            .await
            .unwrap();
        let device = Self { socket, server };
        let answer = device.next().await;
        assert_eq!(answer.header.message_id, 7);
        assert_eq!(code_text(&answer), "2.01");
        device
    }

    /// The next datagram the gateway sends.
    async fn next(&self) -> Packet {
        let mut buffer = [0u8; 2048];
        let (length, _) = tokio::time::timeout(common::WAIT, self.socket.recv_from(&mut buffer))
            .await
            .expect("a datagram in time")
            .unwrap();
        Packet::from_bytes(&buffer[..length]).unwrap()
    }

    /// Whether a datagram waits unread.
    fn pending(&self) -> bool {
        let mut buffer = [0u8; 2048];
        match self.socket.try_recv_from(&mut buffer) {
            Ok(_) => true,
            Err(error) => {
                assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
                false
            }
        }
    }

    /// Acknowledges `request` with a piggy-backed `code`.
    async fn answer(&self, request: &Packet, code: ResponseType) {
        let mut response = Packet::new();
        response.header.set_type(MessageType::Acknowledgement);
        response.header.message_id = request.header.message_id;
        response.header.code = MessageClass::Response(code);
        response.set_token(request.get_token().to_vec());
        self.socket
            .send_to(&response.to_bytes().unwrap(), self.server)
            .await
            .unwrap();
    }
}

/// A value of `/metrics`.
async fn metric(api: &Api, name: &str) -> f64 {
    let (_, text) = api.get("/metrics").await;
    let text = text.as_str().unwrap_or_default().to_owned();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .filter(|rest| rest.starts_with(' '))
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// A device that acknowledges nothing: the LwM2M server retransmits the CON request
/// `max_retransmit` times, then the command fails with "device did not answer (CoAP
/// timeout)" and an attempt outcome `no_answer` (not `timeout`, which is kept for deadlines).
#[tokio::test]
async fn a_device_that_never_answers_is_reported_as_a_coap_no_answer() {
    let config = GatewayConfig {
        coap: EndpointConfig {
            ack_timeout: std::time::Duration::from_millis(100),
            ack_random_factor: 1.0,
            max_retransmit: 2,
            ..EndpointConfig::default()
        },
        ..GatewayConfig::default()
    };
    let gateway = start(config).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let device = RawDevice::register(gateway.coap_addr(), "mute", "</1/0>,</3/0>").await;
    api.wait_device("mute", |d| d["active"] == true).await;
    let (status, created) = api
        .post(
            "/devices/mute/gateway_commands",
            json!({"command_type": "reboot", "timeout": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let first = device.next().await;
    assert_eq!(uri_path(&first), ["3", "0", "4"]);
    for _ in 0..2 {
        let again = device.next().await;
        assert_eq!(
            again.header.message_id, first.header.message_id,
            "a retransmission"
        );
    }
    let done = api.wait_command(created["_id"].as_str().unwrap()).await;
    let entry = only_status(&done);
    assert_eq!(entry["status"], "fail");
    assert_eq!(
        entry["status_message"],
        "device did not answer (CoAP timeout): endpoint \"mute\", no response after every CoAP retransmission"
    );
    assert_eq!(entry["attempts"][0]["outcome"], "no_answer", "{done}");
    assert!(!device.pending(), "no fourth transmission");
    common::eventually(|| async {
        (metric(&api, "fleetbench_gateway_coap_retransmissions_total").await >= 2.0).then_some(())
    })
    .await;
    gateway.shutdown().await;
}

/// With `discovery_concurrency` 2, four gateways that register listing Object 25 are read two
/// at a time: the other two wait (and get no request) until a discovery ends.
#[tokio::test]
async fn sub_device_discoveries_run_a_bounded_number_at_once() {
    let config = GatewayConfig {
        discovery_concurrency: 2,
        ..GatewayConfig::default()
    };
    let gateway = start(config).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let mut devices = Vec::new();
    for k in 0..4 {
        devices.push(
            RawDevice::register(
                gateway.coap_addr(),
                &format!("gw-{k}"),
                "</1/0>,</3/0>,</25>;ver=2.0,</25/0>",
            )
            .await,
        );
    }
    common::eventually(|| async {
        let running = metric(&api, "fleetbench_gateway_discoveries_running").await;
        let waiting = metric(&api, "fleetbench_gateway_discoveries_waiting").await;
        (running == 2.0 && waiting == 2.0).then_some(())
    })
    .await;
    let mut reading: Vec<(usize, Packet)> = Vec::new();
    while reading.len() < 2 {
        let next = devices.iter().map(|device| Box::pin(device.next()));
        let (request, index, _) = futures_util::future::select_all(next).await;
        assert_eq!(uri_path(&request), ["25"]);
        if reading.iter().all(|(seen, _)| *seen != index) {
            reading.push((index, request));
        }
    }
    let idle: Vec<usize> = (0..4)
        .filter(|k| reading.iter().all(|(seen, _)| seen != k))
        .collect();
    for k in &idle {
        assert!(!devices[*k].pending(), "gw-{k} was read beyond the bound");
    }
    let (first, request) = &reading[0];
    devices[*first]
        .answer(request, ResponseType::NotFound)
        .await;
    let next = idle.iter().map(|k| Box::pin(devices[*k].next()));
    let (request, _, _) = futures_util::future::select_all(next).await;
    assert_eq!(
        uri_path(&request),
        ["25"],
        "a waiting discovery got its turn"
    );
    common::eventually(|| async {
        let running = metric(&api, "fleetbench_gateway_discoveries_running").await;
        let waiting = metric(&api, "fleetbench_gateway_discoveries_waiting").await;
        (running == 2.0 && waiting == 1.0).then_some(())
    })
    .await;
    gateway.shutdown().await;
}
