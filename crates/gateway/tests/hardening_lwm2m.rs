//! Issue 15, findings 2 and 3: LwM2M registrations cannot be taken over blindly, and a
//! Register flood is bounded. Real CoAP over loopback UDP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::Api;
use fleetbench_gateway::{GatewayConfig, RunningGateway, start};
use fleetbench_lwm2m::coap::RequestOptions;
use fleetbench_lwm2m::coap::service::{CoapClient, CoapService, ServiceConfig};
use fleetbench_lwm2m::coap_lite::Packet;
use fleetbench_lwm2m::packets::{code_text, location_path};
use fleetbench_lwm2m::registration::{
    RegistrationParams, deregister_request, register_request, update_request,
};

const LINKS: &str = "</>;rt=\"oma.lwm2m\";ct=11542,</1/0>,</3/0>";

/// A CoAP client on its own loopback socket (a device or an attacker).
struct Peer {
    client: CoapClient,
    service: CoapService,
}

impl Peer {
    async fn bind() -> Self {
        let (service, client, _incoming) = CoapService::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ServiceConfig::default(),
            7,
        )
        .await
        .unwrap();
        Self { client, service }
    }

    async fn send(&self, server: SocketAddr, packet: Packet) -> Packet {
        self.client
            .request(server, packet, RequestOptions::default())
            .await
            .unwrap()
    }

    async fn register(&self, server: SocketAddr, endpoint: &str) -> Packet {
        self.send(
            server,
            register_request(&RegistrationParams::new(endpoint, 60), LINKS),
        )
        .await
    }
}

async fn gateway(config: GatewayConfig) -> (RunningGateway, Api) {
    let gateway = start(config).await.unwrap();
    let api = Api::new(gateway.http_addr());
    (gateway, api)
}

async fn metric(api: &Api, name: &str) -> u64 {
    let (_, body) = api.get("/metrics").await;
    let text = body.as_str().expect("metrics text").to_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in {text}"))
}

#[tokio::test]
async fn registration_ids_are_random_and_bound_to_the_registering_address() {
    let (gw, api) = gateway(GatewayConfig::default()).await;
    let server = gw.coap_addr();
    let victim = Peer::bind().await;
    let attacker = Peer::bind().await;

    let mut locations = Vec::new();
    for endpoint in ["victim", "other-1", "other-2"] {
        let created = victim.register(server, endpoint).await;
        assert_eq!(code_text(&created), "2.01");
        let location = location_path(&created);
        assert_eq!(location[0], "rd");
        assert_eq!(location[1].len(), 32, "{location:?}");
        assert!(location[1].bytes().all(|b| b.is_ascii_hexdigit()));
        locations.push(location);
    }
    assert_ne!(locations[0], locations[1]);
    for guess in ["1", "2", "3"] {
        let answer = attacker
            .send(server, deregister_request(&["rd", guess]))
            .await;
        assert_eq!(code_text(&answer), "4.04");
    }

    // Even with the right location, another address can neither De-register nor Update.
    let victim_location = &locations[0];
    let forged = attacker
        .send(server, deregister_request(victim_location))
        .await;
    assert_eq!(code_text(&forged), "4.04");
    let forged = attacker
        .send(server, update_request(victim_location, Some(30), None))
        .await;
    assert_eq!(code_text(&forged), "4.04");
    assert_eq!(
        metric(&api, "fleetbench_gateway_lwm2m_registrations_foreign_total").await,
        2
    );
    let (_, device) = api.get("/devices/victim").await;
    assert_eq!(device["active"], true, "{device}");
    assert_eq!(device["lwm2m"]["lifetime"], 60, "{device}");
    assert_eq!(
        device["lwm2m"]["address"],
        victim.service.local_addr().to_string()
    );

    // The registered address still can.
    let updated = victim
        .send(server, update_request(victim_location, Some(30), None))
        .await;
    assert_eq!(code_text(&updated), "2.04");
    let deleted = victim
        .send(server, deregister_request(victim_location))
        .await;
    assert_eq!(code_text(&deleted), "2.02");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_same_name_register_from_another_address_is_counted_and_logged() {
    let (gw, api) = gateway(GatewayConfig::default()).await;
    let server = gw.coap_addr();
    let first = Peer::bind().await;
    let second = Peer::bind().await;
    assert_eq!(code_text(&first.register(server, "ep").await), "2.01");
    assert_eq!(code_text(&first.register(server, "ep").await), "2.01");
    let name = "fleetbench_gateway_lwm2m_registrations_taken_over_total";
    assert_eq!(metric(&api, name).await, 0);
    assert_eq!(code_text(&second.register(server, "ep").await), "2.01");
    assert_eq!(metric(&api, name).await, 1);
    let (_, device) = api.get("/devices/ep").await;
    assert_eq!(
        device["lwm2m"]["address"],
        second.service.local_addr().to_string()
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_file_id_opens_nothing_over_coap() {
    let (gw, api) = gateway(GatewayConfig::default()).await;
    let (status, file) = api
        .raw(
            reqwest::Method::POST,
            "/files?name=secret.bin",
            b"uploaded through REST".to_vec(),
            "application/octet-stream",
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{file}");
    let id = file["_id"].as_str().unwrap();
    let stranger = Peer::bind().await;
    let answer = stranger
        .send(
            gw.coap_addr(),
            fleetbench_lwm2m::packets::new_request(
                fleetbench_lwm2m::coap_lite::RequestType::Get,
                &["files", id],
            ),
        )
        .await;
    assert_eq!(code_text(&answer), "4.04");
    assert!(answer.payload.is_empty() || !answer.payload.starts_with(b"uploaded"));
    gw.shutdown().await;
}

#[tokio::test]
async fn register_payloads_rates_and_the_registry_are_bounded() {
    let (gw, api) = gateway(GatewayConfig {
        max_devices: 2,
        max_register_payload: 512,
        register_rate: fleetbench_gateway::config::RateLimit {
            burst: 4,
            per_second: 0.001,
        },
        ..GatewayConfig::default()
    })
    .await;
    let server = gw.coap_addr();
    let device = Peer::bind().await;

    let huge = format!("</3/0>,{}", "</1/0>,".repeat(100));
    let too_large = device
        .send(
            server,
            register_request(&RegistrationParams::new("big", 60), &huge),
        )
        .await;
    assert_eq!(code_text(&too_large), "4.13");
    assert!(String::from_utf8_lossy(&too_large.payload).contains("at most 512"));

    let mut bad_name = register_request(&RegistrationParams::new("x", 60), LINKS);
    bad_name.clear_option(fleetbench_lwm2m::coap_lite::CoapOption::UriQuery);
    bad_name.add_option(
        fleetbench_lwm2m::coap_lite::CoapOption::UriQuery,
        b"ep=caf\xe9".to_vec(),
    );
    let invalid = device.send(server, bad_name).await;
    assert_eq!(code_text(&invalid), "4.00");
    assert!(String::from_utf8_lossy(&invalid.payload).contains("not valid UTF-8"));

    // Two devices fill the registry; the third waits until one is inactive.
    let a = device.register(server, "a").await;
    assert_eq!(code_text(&a), "2.01");
    let b = Peer::bind().await.register(server, "b").await;
    assert_eq!(code_text(&b), "2.01");
    let other = Peer::bind().await;
    let full = other.register(server, "c").await;
    assert_eq!(code_text(&full), "5.03");
    assert_eq!(
        metric(
            &api,
            "fleetbench_gateway_lwm2m_registrations_refused_full_total"
        )
        .await,
        1
    );
    let gone = device
        .send(server, deregister_request(&location_path(&a)))
        .await;
    assert_eq!(code_text(&gone), "2.02");
    assert_eq!(code_text(&other.register(server, "c").await), "2.01");
    let (status, _) = api.get("/devices/a").await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "the inactive device was evicted"
    );

    // `device` used 2 of its 4 tokens on refusals above and 1 on `a`: one left.
    assert_eq!(code_text(&device.register(server, "d").await), "5.03");
    let limited = device.register(server, "e").await;
    assert_eq!(code_text(&limited), "4.29");
    assert_eq!(
        metric(
            &api,
            "fleetbench_gateway_lwm2m_registrations_rate_limited_total"
        )
        .await,
        1
    );
    gw.shutdown().await;
}
