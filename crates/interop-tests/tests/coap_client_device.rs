//! Interop: libcoap's `coap-client` (Debian libcoap3-bin) talks to a simulated device directly:
//! reads, writes, executes, reads a sub-device resource through its Object 25 prefix,
//! observes a changing resource, and moves a large file both ways block-wise (Block1 up,
//! Block2 down, 64-byte blocks). Needs coap-client (scripts/install-test-deps.sh).
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
        Duration::from_secs(60),
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

/// Whether coap-client's verbose log (`-v 7`) shows a 2.04 Changed response PDU.
fn changed(log: &str) -> bool {
    log.lines().any(|line| line.contains(" c:2.04 "))
}

#[tokio::test]
async fn coap_client_reads_writes_and_executes_on_a_device() {
    let (registrar, fleet, device) = one_device().await;

    let manufacturer = coap(device, &["-m", "get", "-A", "0"], "3/0/0").await;
    assert!(manufacturer.contains("fleetbench"), "{manufacturer}");

    let written = coap(
        device,
        &["-m", "put", "-t", "0", "-e", "120", "-v", "7"],
        "1/0/1",
    )
    .await;
    assert!(changed(&written), "write answered 2.04 Changed: {written}");
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

#[tokio::test]
async fn coap_client_observes_a_changing_resource() {
    let (registrar, fleet, device) = one_device().await;
    // The device clock (/3/0/13) changes every second: without attributes each change is
    // notified. Observe for 4 s, one line per notification.
    let output = coap(device, &["-m", "get", "-s", "4", "-w", "-A", "0"], "3/0/13").await;
    let values: Vec<i64> = output
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect();
    assert!(
        values.len() >= 3,
        "initial value + notifications: {output:?}"
    );
    assert!(
        values.windows(2).all(|pair| pair[1] > pair[0]),
        "increasing times: {values:?}"
    );
    // With pmax set on the manufacturer (which never changes), pmax alone drives notifications.
    let set = coap(device, &["-m", "put", "-v", "7"], "3/0/0?pmax=1").await;
    assert!(
        changed(&set),
        "Write-Attributes answered 2.04 Changed: {set}"
    );
    let output = coap(device, &["-m", "get", "-s", "3", "-w", "-v", "7"], "3/0/0").await;
    // Verbosity 7 logs each received PDU: `v:1 t:NON c:2.05 i:ecec {01} [ Observe:1, ...`.
    let responses: Vec<&str> = output.lines().filter(|l| l.contains(" c:2.05 ")).collect();
    let observes: Vec<u32> = responses
        .iter()
        .filter_map(|line| {
            let after = line.split("Observe:").nth(1)?;
            after
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        observes.len() >= 3,
        "the first response and notifications: {output}"
    );
    assert!(
        responses.iter().skip(1).all(|line| line.contains("t:NON")),
        "notifications are non-confirmable: {output}"
    );
    assert!(
        observes.windows(2).all(|pair| pair[1] > pair[0]),
        "increasing sequence: {observes:?}"
    );
    assert!(fleet.stats().notifications_sent >= 4);
    fleet.shutdown().await;
    registrar.shutdown().await;
}

#[tokio::test]
async fn coap_client_moves_a_large_file_block_wise_both_ways() {
    let (registrar, fleet, device) = one_device().await;
    let dir = std::env::temp_dir().join(format!("fleetbench-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Download: a 20000-byte virtual file in 64-byte Block2 blocks.
    let name = "/sim/20000";
    let select = coap(device, &["-m", "put", "-t", "0", "-e", name], "33000/0/8").await;
    assert!(!select.contains("4."), "select: {select}");
    let downloaded = dir.join("download.bin");
    let output = coap(
        device,
        &["-m", "get", "-b", "64", "-o", downloaded.to_str().unwrap()],
        "33000/0/9",
    )
    .await;
    let expected = fleetbench_fleet::model::files::virtual_file(name).unwrap();
    let got = std::fs::read(&downloaded).unwrap_or_default();
    assert_eq!(got.len(), expected.len(), "{output}");
    assert!(got == expected, "the 20000 bytes arrived intact");
    // Upload: 5000 bytes in 64-byte Block1 blocks to a new file on sub-device 0, then back.
    let upload: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let source = dir.join("upload.bin");
    std::fs::write(&source, &upload).unwrap();
    coap(
        device,
        &["-m", "put", "-t", "0", "-e", "/tmp/up.bin"],
        "dev0/33000/0/8",
    )
    .await;
    let output = coap(
        device,
        &[
            "-m",
            "put",
            "-t",
            "42",
            "-b",
            "64",
            "-f",
            source.to_str().unwrap(),
        ],
        "dev0/33000/0/9",
    )
    .await;
    assert!(!output.contains("4."), "upload: {output}");
    let back = dir.join("back.bin");
    coap(
        device,
        &["-m", "get", "-b", "256", "-o", back.to_str().unwrap()],
        "dev0/33000/0/9",
    )
    .await;
    assert!(
        std::fs::read(&back).unwrap_or_default() == upload,
        "the upload reads back"
    );
    std::fs::remove_dir_all(&dir).ok();
    fleet.shutdown().await;
    registrar.shutdown().await;
}
