//! Interop of the LwM2M 1.1 operations with an aiocoap server (an independent CoAP stack):
//! a Register over 1 KB sent with Block1 and reassembled by aiocoap, a Read-Composite (FETCH /)
//! from aiocoap answered in SenML CBOR, and the device's Send (`POST /dp`) decoded by aiocoap's
//! side with cbor2. Needs python3 with aiocoap and cbor2 (scripts/install-test-deps.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::Duration;

use fleetbench_fleet::send::SendSpec;
use fleetbench_fleet::{FleetConfig, start};
use fleetbench_lwm2m::codec::composite::CompositePath;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

#[tokio::test]
async fn aiocoap_reassembles_block1_register_reads_composite_and_receives_send() {
    let port = free_udp_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/lwm2m11_server.py");
    let mut server = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 must be installed (scripts/install-test-deps.sh)");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();

    let config = FleetConfig {
        server: SocketAddr::from(([127, 0, 0, 1], port)),
        devices: 1,
        // 150 Object 25 instances make the link list well over 1 KB.
        sub_devices: 150,
        endpoint_prefix: "interop11-".into(),
        registration_spread: Duration::from_millis(200),
        send: SendSpec {
            period: Some(Duration::from_millis(500)),
            paths: vec![
                CompositePath::Path("/3303/0/5700".parse().unwrap()),
                CompositePath::Path("/dev3/3304/0/5700".parse().unwrap()),
                CompositePath::Path("/3/0/17".parse().unwrap()),
            ],
            ..SendSpec::default()
        },
        ..FleetConfig::default()
    };
    let fleet = start(config).await.unwrap();

    let mut outputs = Vec::new();
    while outputs.len() < 4 {
        let line = timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the aiocoap server answered in time")
            .unwrap()
            .expect("the aiocoap server exited early (aiocoap and cbor2 installed? see stderr)");
        outputs.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    let status = timeout(Duration::from_secs(30), server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "aiocoap server failed: {status}");

    // 1. The Register arrived whole through aiocoap's Block1 reassembly.
    assert_eq!(outputs[0]["register"]["ep"], "interop11-000000");
    let links = outputs[0]["links"].as_str().unwrap();
    assert!(outputs[0]["links_len"].as_u64().unwrap() > 1024, "{links}");
    assert!(links.starts_with("</>;rt=\"oma.lwm2m\""), "{links}");
    assert!(
        links.ends_with("</3303/0>,</33000/0>"),
        "the last block arrived: {links}"
    );
    for k in [0, 75, 149] {
        assert!(links.contains(&format!("</25/{k}>")), "/25/{k} in {links}");
    }

    // 2. Read-Composite answered in SenML CBOR with full names; the missing /3/77 left out.
    let read = &outputs[1];
    assert_eq!(read["content_format"], 112);
    assert_eq!(read["decoder"], "cbor2");
    let values = read["read_composite"].as_object().unwrap();
    assert_eq!(values["/3/0/0"], "fleetbench");
    let temperature = values["/3303/0/5700"].as_f64().unwrap();
    assert!((-40.0..=85.0).contains(&temperature), "{temperature}");
    let humidity = values["/dev0/3304/0/5700"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&humidity), "{humidity}");
    assert_eq!(values["/dev0/3304/0/5701"], "%RH");
    assert_eq!(values["/dev149/3/0/17"], "sensor");
    assert!(!values.keys().any(|k| k.starts_with("/3/77")), "{values:?}");

    // 3. Two Sends on /dp in SenML CBOR with the configured paths.
    for send in &outputs[2..4] {
        assert_eq!(send["content_format"], 112);
        let values = send["send"].as_object().unwrap();
        let names: Vec<&String> = values.keys().collect();
        assert_eq!(names.len(), 3, "{values:?}");
        assert!(values["/3303/0/5700"].is_number(), "{values:?}");
        assert!(values["/dev3/3304/0/5700"].is_number(), "{values:?}");
        assert_eq!(values["/3/0/17"], "gateway");
    }
    fleet.shutdown().await;
}
