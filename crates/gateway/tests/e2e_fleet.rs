//! End to end with the real fleet (crates/fleet): simulated devices register over real UDP,
//! the gateway discovers their sub-devices and carries commands to them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Api, only_status};
use fleetbench_fleet::{BehaviourProfile, FleetConfig, sub_device_name};
use fleetbench_gateway::{GatewayConfig, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn run(api: &Api, device: &str, body: Value) -> Value {
    let (status, created) = api
        .post(&format!("/devices/{device}/gateway_commands"), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body} -> {created}");
    let done = api.wait_command(created["_id"].as_str().unwrap()).await;
    for entry in done["statuses"].as_object().unwrap().values() {
        assert_eq!(entry["status"], "success", "{body} -> {done}");
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_reach_fleet_devices_and_their_sub_devices() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let config = FleetConfig {
        server: gateway.coap_addr(),
        devices: 3,
        sub_devices: 2,
        registration_spread: Duration::from_millis(50),
        seed: 7,
        profile: BehaviourProfile {
            notification_period: Duration::from_millis(50),
            ..BehaviourProfile::default()
        },
        ..FleetConfig::default()
    };
    let fleet = fleetbench_fleet::start(config).await.unwrap();
    fleet
        .wait_registered(Duration::from_secs(20))
        .await
        .unwrap();
    let endpoint = fleet.endpoints()[1].clone();
    let gw = api
        .wait_device(&endpoint, |d| {
            d["active"] == true
                && d["attached_device_ids"]
                    .as_array()
                    .is_some_and(|a| a.len() == 2)
        })
        .await;
    let sub = sub_device_name(&endpoint, 1);
    let sub_device = api.wait_device(&sub, |d| d["active"] == true).await;
    assert_eq!(sub_device["parent_device_id"], gw["_id"]);

    let read = run(
        &api,
        &endpoint,
        json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3303/0/5700"}),
    )
    .await;
    assert!(
        only_status(&read)["result"]["values"][0]["value"].is_number()
            || only_status(&read)["result"]["values"][0]["value"].is_string(),
        "{read}"
    );
    let sub_read = run(
        &api,
        &sub,
        json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3/0"}),
    )
    .await;
    assert!(
        !only_status(&sub_read)["result"]["values"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{sub_read}"
    );
    run(
        &api,
        &endpoint,
        json!({"command_type": "log_level", "level": "debug"}),
    )
    .await;
    let level = run(
        &api,
        &endpoint,
        json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/33000/0/4"}),
    )
    .await;
    assert_eq!(
        only_status(&level)["result"]["values"][0]["value"],
        "debug",
        "{level}"
    );
    run(&api, &sub, json!({"command_type": "lwm2m_request", "type": "write", "endpoint": "/33000/0/4", "data": "warn"})).await;
    for kind in ["send_config", "backup", "log_upload", "heartbeat", "status"] {
        run(&api, &endpoint, json!({"command_type": kind})).await;
        run(&api, &sub, json!({"command_type": kind})).await;
    }
    run(
        &api,
        &endpoint,
        json!({"command_type": "data_restriction", "enable": true}),
    )
    .await;
    run(
        &api,
        &endpoint,
        json!({"command_type": "restore_backup", "payload": {"url": "coap://127.0.0.1/backup"}}),
    )
    .await;
    run(&api, &sub, json!({"command_type": "reboot"})).await;
    run(
        &api,
        &endpoint,
        json!({"command_type": "reboot", "attached_device_ids": [sub_device["_id"]]}),
    )
    .await;

    let (_, file) = api
        .raw(
            reqwest::Method::POST,
            "/files?name=cfg.txt",
            b"hello fleet".to_vec(),
            "application/octet-stream",
        )
        .await;
    run(&api, &endpoint, json!({"command_type": "lwm2m_file", "type": "fileupload", "file_id": file["_id"], "filepath": "/etc/cfg.txt"})).await;
    let download = run(
        &api,
        &endpoint,
        json!({"command_type": "lwm2m_file", "type": "filedownload", "filepath": "/etc/cfg.txt"}),
    )
    .await;
    let file_id = only_status(&download)["result"]["file_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, bytes) = api.get(&format!("/files/{file_id}/data")).await;
    assert_eq!(bytes, json!("hello fleet"));

    let observe = run(
        &api,
        &endpoint,
        json!({"command_type": "lwm2m_request", "type": "observe", "endpoint": "/3303/0/5700"}),
    )
    .await;
    assert_eq!(observe["observation"]["active"], true, "{observe}");
    let observe_id = observe["_id"].as_str().unwrap().to_owned();
    let notified = common::eventually(|| async {
        let (_, command) = api.get(&format!("/gateway_commands/{observe_id}")).await;
        (command["observation"]["notifications"].as_u64() >= Some(2)).then_some(command)
    })
    .await;
    assert!(
        notified["observation"]["last_value"].is_number()
            || notified["observation"]["last_value"].is_string(),
        "{notified}"
    );
    assert_eq!(
        only_status(&notified)["status"],
        "success",
        "statuses never change after terminal"
    );
    run(&api, &endpoint, json!({"command_type": "lwm2m_request", "type": "observe_stop", "endpoint": "/3303/0/5700"})).await;
    let observed = api
        .get(&format!(
            "/gateway_commands/{}",
            observe["_id"].as_str().unwrap()
        ))
        .await
        .1;
    assert_eq!(observed["observation"]["active"], false, "{observed}");

    let other = fleet.endpoints()[2].clone();
    let (_, package) = api
        .raw(
            reqwest::Method::POST,
            "/files?name=fw.bin",
            vec![7u8; 3000],
            "application/octet-stream",
        )
        .await;
    let (_, update) = api
        .post(
            "/software_updates",
            json!({"name": "fw-2", "files": [{"name": "fw.bin", "file_id": package["_id"]}]}),
        )
        .await;
    let updated = run(&api, &other, json!({"command_type": "software_update", "software_update_id": update["_id"], "timeout": 60})).await;
    assert_eq!(
        only_status(&updated)["result"]["update_result"],
        1,
        "{updated}"
    );

    fleet.shutdown().await;
    api.wait_device(&endpoint, |d| d["active"] == false).await;
    gateway.shutdown().await;
}
