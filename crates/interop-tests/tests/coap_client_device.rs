//! Interop: libcoap's `coap-client` (Debian libcoap3-bin) talks to a simulated device directly:
//! reads, writes, executes and reads a sub-device resource through its Object 25 prefix.
//! Needs coap-client (scripts/install-test-deps.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{CoapOption, RequestType, ResponseType};
use fleetbench_fleet::{FleetConfig, RunningFleet, start};
use fleetbench_lwm2m::coap::service::{CoapService, ServiceConfig};
use fleetbench_lwm2m::packets::{method, new_response};
use tokio::process::Command;
use tokio::time::timeout;

/// libcoap's client binary: Debian names it coap-client-notls (also -openssl, -gnutls).
fn coap_client() -> &'static str {
    for candidate in [
        "coap-client-notls",
        "coap-client",
        "coap-client-openssl",
        "coap-client-gnutls",
    ] {
        if std::process::Command::new(candidate)
            .arg("-h")
            .output()
            .is_ok()
        {
            return candidate;
        }
    }
    panic!("libcoap's coap-client is not installed: run scripts/install-test-deps.sh");
}

/// A registrar that accepts every Register/Update, so the device is in its normal state.
async fn registrar() -> CoapService {
    let (service, _client, mut incoming) = CoapService::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServiceConfig::default(),
        9,
    )
    .await
    .unwrap();
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            let mut response = match method(&request.packet) {
                Some(RequestType::Post)
                    if request.packet.get_option(CoapOption::UriQuery).is_some() =>
                {
                    new_response(ResponseType::Created)
                }
                Some(RequestType::Delete) => new_response(ResponseType::Deleted),
                _ => new_response(ResponseType::Changed),
            };
            response.add_option(CoapOption::LocationPath, b"rd".to_vec());
            response.add_option(CoapOption::LocationPath, b"1".to_vec());
            request.respond(response);
        }
    });
    service
}

async fn one_device() -> (CoapService, RunningFleet, SocketAddr) {
    let registrar = registrar().await;
    let config = FleetConfig {
        server: registrar.local_addr(),
        devices: 1,
        sub_devices: 1,
        endpoint_prefix: "coap-client-".into(),
        registration_spread: Duration::from_millis(10),
        ..FleetConfig::default()
    };
    let fleet = start(config).await.unwrap();
    fleet
        .wait_registered(Duration::from_secs(30))
        .await
        .unwrap();
    let device = fleet.device_address(0).unwrap();
    (registrar, fleet, device)
}

/// Runs coap-client with `args` and the URI of `path` on `device`; returns stdout + stderr.
async fn coap(device: SocketAddr, args: &[&str], path: &str) -> String {
    let uri = format!("coap://{device}/{path}");
    let output = timeout(
        Duration::from_secs(30),
        Command::new(coap_client())
            .args(["-B", "10"])
            .args(args)
            .arg(&uri)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("coap-client finished in time")
    .unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

#[tokio::test]
async fn coap_client_reads_writes_and_executes_on_a_device() {
    let (registrar, fleet, device) = one_device().await;

    let manufacturer = coap(device, &["-m", "get", "-A", "0"], "3/0/0").await;
    assert!(manufacturer.contains("fleetbench"), "{manufacturer}");

    let written = coap(device, &["-m", "put", "-t", "0", "-e", "120"], "1/0/1").await;
    assert!(!written.contains("4."), "write failed: {written}");
    let lifetime = coap(device, &["-m", "get", "-A", "0"], "1/0/1").await;
    assert!(
        lifetime.trim().ends_with("120"),
        "read back after write: {lifetime}"
    );

    let not_executable = coap(device, &["-m", "post"], "3/0/0").await;
    assert!(
        not_executable.contains("4.05"),
        "Execute on a readable resource: {not_executable}"
    );

    let missing = coap(device, &["-m", "get"], "3/0/999").await;
    assert!(missing.contains("4.04"), "unknown resource: {missing}");

    let sub_device = coap(device, &["-m", "get", "-A", "0"], "dev0/3303/0/5700").await;
    let value: f64 = sub_device
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a number: {sub_device:?}"));
    assert!(
        (-40.0..=85.0).contains(&value),
        "sub-device temperature {value}"
    );

    fleet.shutdown().await;
    registrar.shutdown().await;
}
