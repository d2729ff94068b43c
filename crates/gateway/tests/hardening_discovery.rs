//! Issue 15, finding 4: a socket that registers many gateways listing Object 25 and never
//! answers cannot starve another gateway's sub-device discovery. Real CoAP over loopback UDP
//! and a real simulated fleet gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Api, eventually};
use fleetbench_fleet::{FleetConfig, sub_device_name};
use fleetbench_gateway::config::RateLimit;
use fleetbench_gateway::{GatewayConfig, start};
use fleetbench_lwm2m::coap_lite::MessageType;
use fleetbench_lwm2m::registration::{RegistrationParams, register_request};
use tokio::net::UdpSocket;

/// Registrations from the silent socket.
const SILENT_GATEWAYS: u16 = 40;
/// Discovery slots of the gateway under test.
const SLOTS: usize = 2;
/// Per-discovery timeout of the gateway under test.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(1);

async fn metric(api: &Api, name: &str) -> u64 {
    let (_, body) = api.get("/metrics").await;
    let text = body.as_str().expect("metrics text").to_owned();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_cannot_starve_another_gateways_discovery() {
    let gateway = start(GatewayConfig {
        discovery_concurrency: SLOTS,
        discovery_timeout: DISCOVERY_TIMEOUT,
        register_rate: RateLimit {
            burst: 1000,
            per_second: 1000.0,
        },
        ..GatewayConfig::default()
    })
    .await
    .unwrap();
    let api = Api::new(gateway.http_addr());
    let server = gateway.coap_addr();

    // The attacker: one plain UDP socket that sends Registers listing </25/0> and never
    // answers the gateway's reads of /25.
    let silent = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    for n in 0..SILENT_GATEWAYS {
        let mut packet = register_request(
            &RegistrationParams::new(format!("silent-{n}"), 300),
            "</1/0>,</3/0>,</25/0>",
        );
        packet.header.set_type(MessageType::Confirmable);
        packet.header.message_id = 1000 + n;
        packet.set_token(n.to_be_bytes().to_vec());
        silent
            .send_to(&packet.to_bytes().unwrap(), server)
            .await
            .unwrap();
    }
    // Every slot reads a silent gateway and the rest of the flood waits.
    let backlog = u64::from(SILENT_GATEWAYS) - SLOTS as u64;
    eventually(|| async {
        let running = metric(&api, "fleetbench_gateway_discoveries_running").await;
        let waiting = metric(&api, "fleetbench_gateway_discoveries_waiting").await;
        (running == SLOTS as u64 && waiting >= backlog - 2).then_some(())
    })
    .await;

    // A legitimate gateway with two sub-devices registers from its own socket.
    let fleet = fleetbench_fleet::start(FleetConfig {
        server,
        devices: 1,
        sub_devices: 2,
        seed: 15,
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    fleet
        .wait_registered(Duration::from_secs(20))
        .await
        .unwrap();
    let registered = Instant::now();
    let endpoint = fleet.endpoints()[0].clone();
    api.wait_device(&sub_device_name(&endpoint, 1), |d| d["active"] == true)
        .await;
    let waited = registered.elapsed();
    // First in first out would take backlog / SLOTS * DISCOVERY_TIMEOUT = 19 s; the fair
    // queue gives the fleet's socket the next free slot, at most one timeout away.
    assert!(
        waited < DISCOVERY_TIMEOUT * 4,
        "sub-devices appeared after {waited:?}"
    );
    assert!(
        metric(&api, "fleetbench_gateway_discoveries_waiting").await >= backlog / 2,
        "the flood is still queued behind the fleet's discovery"
    );
    fleet.shutdown().await;
}
