//! Issue 15, finding 9: two writes larger than one block to the same resource of one device
//! are Block1 exchanges; the gateway serialises them so that both succeed. Real fleet over
//! loopback UDP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Api, only_status};
use fleetbench_fleet::FleetConfig;
use fleetbench_gateway::{GatewayConfig, start};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_large_writes_to_one_resource_both_succeed() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let fleet = fleetbench_fleet::start(FleetConfig {
        server: gateway.coap_addr(),
        devices: 1,
        seed: 9,
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    fleet
        .wait_registered(Duration::from_secs(20))
        .await
        .unwrap();
    let endpoint = fleet.endpoints()[0].clone();
    api.wait_device(&endpoint, |d| d["active"] == true).await;

    // Two file paths of 3000 bytes each: three Block1 blocks per write.
    let values = ["a".repeat(3000), "b".repeat(3000)];
    let mut ids = Vec::new();
    for value in &values {
        let (status, created) = api
            .post(
                &format!("/devices/{endpoint}/gateway_commands"),
                json!({"command_type": "lwm2m_request", "type": "write",
                       "endpoint": "/33000/0/8", "data": value}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{created}");
        ids.push(created["_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let done = api.wait_command(id).await;
        assert_eq!(only_status(&done)["status"], "success", "{done}");
    }
    let read = api
        .post(
            &format!("/devices/{endpoint}/gateway_commands"),
            json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/33000/0/8"}),
        )
        .await
        .1;
    let read = api.wait_command(read["_id"].as_str().unwrap()).await;
    let value = &only_status(&read)["result"]["values"][0]["value"];
    assert!(
        values.iter().any(|v| value == v),
        "the resource holds one whole write, got {value}"
    );
    fleet.shutdown().await;
}
