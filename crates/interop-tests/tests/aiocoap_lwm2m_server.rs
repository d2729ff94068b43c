//! Interop: the fleet registers with a minimal LwM2M server written on aiocoap (an independent
//! CoAP implementation), which then reads it in TLV, SenML JSON, SenML CBOR and text/plain,
//! discovers an object and observes the device clock, decoding everything with its own code.
//! Needs python3 with aiocoap (scripts/install-test-deps.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::Duration;

use fleetbench_fleet::{FleetConfig, start};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

fn hex_text(hex: &Value) -> String {
    let hex = hex.as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn aiocoap_server_registers_and_reads_the_fleet() {
    let port = free_udp_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/lwm2m_server.py");
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
        sub_devices: 1,
        endpoint_prefix: "interop-".into(),
        registration_spread: Duration::from_millis(200),
        ..FleetConfig::default()
    };
    // The script may take a moment to bind; the device retries registration with back-off.
    let fleet = start(config).await.unwrap();

    let mut outputs = Vec::new();
    while outputs.len() < 7 {
        let line = timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the aiocoap server answered in time")
            .unwrap()
            .expect("the aiocoap server exited early (is aiocoap installed? see stderr)");
        outputs.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    let status = timeout(Duration::from_secs(30), server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "aiocoap server failed: {status}");

    let register = &outputs[0]["register"];
    assert_eq!(register["ep"], "interop-000000");
    assert_eq!(register["lwm2m"], "1.1");
    let links = outputs[0]["links"].as_str().unwrap();
    assert!(
        links.starts_with("</>;rt=\"oma.lwm2m\";ct=110,"),
        "root link first: {links}"
    );
    assert!(
        links.contains("</3/0>") && links.contains("</25/0>"),
        "{links}"
    );
    assert!(
        !links.contains("</0"),
        "Object 0 must never be listed: {links}"
    );

    let device = &outputs[1]["tlv_3_0"];
    assert_eq!(hex_text(&device["0"]), "fleetbench", "manufacturer /3/0/0");
    assert!(
        device["4"].is_null(),
        "the executable Reboot resource is not readable"
    );

    let sensor = &outputs[2]["senml_3303_0"];
    let value = sensor["/3303/0/5700"]
        .as_f64()
        .expect("a numeric /3303/0/5700");
    assert!((-40.0..=85.0).contains(&value), "temperature {value}");
    assert_eq!(sensor["/3303/0/5701"], "Cel");

    let sub_value: f64 = outputs[3]["sub_device_5700"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (-40.0..=85.0).contains(&sub_value),
        "sub-device temperature {sub_value}"
    );

    let humidity = &outputs[4]["senml_cbor_dev0_3304_0"];
    let value = humidity["/dev0/3304/0/5700"]
        .as_f64()
        .expect("a numeric /dev0/3304/0/5700 (the prefix is part of SenML names)");
    assert!((0.0..=100.0).contains(&value), "humidity {value}");
    assert_eq!(humidity["/dev0/3304/0/5701"], "%RH");

    let discovered = outputs[5]["discover_3303"].as_str().unwrap();
    assert!(
        discovered.starts_with("</3303>,</3303/0>,</3303/0/5601>"),
        "{discovered}"
    );

    let times: Vec<i64> = outputs[6]["observe_3_0_13"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect();
    assert_eq!(times.len(), 3, "{times:?}");
    assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
    fleet.shutdown().await;
}
