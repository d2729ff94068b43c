//! End to end with the real fleet (crates/fleet): simulated devices register over real UDP,
//! the gateway discovers their sub-devices and carries commands to them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Api, only_status};
use fleetbench_fleet::profile::FirmwareFailure;
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
            reboot_downtime: Duration::from_millis(200),
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
    for device in [&endpoint, &sub] {
        run(
            &api,
            device,
            json!({"command_type": "lwm2m_request", "type": "exec", "endpoint": "/33000/0/6"}),
        )
        .await;
    }
    run(
        &api,
        &sub,
        json!({"command_type": "data_restriction", "payload": {"enable": false}}),
    )
    .await;
    run(
        &api,
        &sub,
        json!({"command_type": "restore_backup", "url": "coap://127.0.0.1/sub-backup"}),
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
    let big: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (_, big_file) = api
        .raw(
            reqwest::Method::POST,
            "/files?name=big.txt",
            big.clone(),
            "application/octet-stream",
        )
        .await;
    run(&api, &sub, json!({"command_type": "lwm2m_file", "type": "fileupload", "file_id": big_file["_id"], "filepath": "/var/big.txt"})).await;
    let sub_download = run(
        &api,
        &sub,
        json!({"command_type": "lwm2m_file", "type": "filedownload", "filepath": "/var/big.txt"}),
    )
    .await;
    assert_eq!(only_status(&sub_download)["result"]["size"], 5000);
    let sub_file = only_status(&sub_download)["result"]["file_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, sub_bytes) = api.get(&format!("/files/{sub_file}/data")).await;
    assert_eq!(
        sub_bytes,
        json!(String::from_utf8(big).unwrap()),
        "block-wise both ways through the sub-device prefix"
    );

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

/// A `/metrics` value.
async fn metric(api: &Api, name: &str) -> f64 {
    let (_, text) = api.get("/metrics").await;
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .filter(|rest| rest.starts_with(' '))
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Software updates through Object 5 with the real fleet: pushed (Package, Block1) and pulled
/// (Package URI: the device fetches `coap://<gateway>/files/<id>` block-wise from the gateway),
/// to a device and to a sub-device, following State until Downloaded and Update Result until
/// 1; and a package the device rejects (Update Result 5) fails with that result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn software_updates_are_pushed_and_pulled_through_object_5() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let profile = BehaviourProfile {
        reboot_downtime: Duration::from_millis(200),
        ..BehaviourProfile::default()
    };
    let fleet = fleetbench_fleet::start(FleetConfig {
        server: gateway.coap_addr(),
        devices: 2,
        sub_devices: 1,
        registration_spread: Duration::from_millis(50),
        seed: 11,
        profile: profile.clone(),
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    let broken = fleetbench_fleet::start(FleetConfig {
        server: gateway.coap_addr(),
        devices: 1,
        endpoint_prefix: "broken-".into(),
        registration_spread: Duration::from_millis(50),
        seed: 12,
        profile: BehaviourProfile {
            firmware_failures: vec![FirmwareFailure {
                result: 5,
                ratio: 1.0,
            }],
            ..profile
        },
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    fleet
        .wait_registered(Duration::from_secs(20))
        .await
        .unwrap();
    broken
        .wait_registered(Duration::from_secs(20))
        .await
        .unwrap();
    let (push_device, pull_device) = (fleet.endpoints()[0].clone(), fleet.endpoints()[1].clone());
    let pull_sub = sub_device_name(&pull_device, 0);
    api.wait_device(&pull_sub, |d| d["active"] == true).await;

    let package = vec![0x5a_u8; 5000];
    let (_, file) = api
        .raw(
            reqwest::Method::POST,
            "/files?name=fw.bin",
            package.clone(),
            "application/octet-stream",
        )
        .await;
    let file_id = file["_id"].as_str().unwrap().to_owned();
    let (_, push) = api
        .post(
            "/software_updates",
            json!({"name": "fw-push", "files": [{"name": "fw.bin", "file_id": file_id}]}),
        )
        .await;
    let link = format!("coap://{}/files/{file_id}", gateway.coap_addr());
    let (_, pull) = api
        .post(
            "/software_updates",
            json!({"name": "fw-pull", "files": [{"name": "fw.bin", "link": link}]}),
        )
        .await;

    let pushed = run(
        &api,
        &push_device,
        json!({"command_type": "software_update", "software_update_id": push["_id"], "timeout": 60}),
    )
    .await;
    let result = &only_status(&pushed)["result"];
    assert_eq!(result["update_result"], 1, "{pushed}");
    assert_eq!(result["delivery"], "push", "{pushed}");

    let blocks_before = metric(&api, "fleetbench_gateway_coap_file_blocks_served_total").await;
    let pulled = run(
        &api,
        &pull_device,
        json!({"command_type": "software_update", "software_update_id": pull["_id"], "timeout": 60}),
    )
    .await;
    assert_eq!(
        only_status(&pulled)["result"]["delivery"],
        "pull",
        "{pulled}"
    );
    let blocks = metric(&api, "fleetbench_gateway_coap_file_blocks_served_total").await;
    assert!(
        blocks - blocks_before >= 5.0,
        "the device fetched the 5000-byte package block-wise from the gateway ({} blocks)",
        blocks - blocks_before
    );
    assert!(
        gateway.engine().state().downloads.is_empty(),
        "the download token is revoked when the command target ends"
    );
    let sub_pulled = run(
        &api,
        &pull_sub,
        json!({"command_type": "software_update", "software_update_id": pull["_id"], "timeout": 60}),
    )
    .await;
    assert_eq!(only_status(&sub_pulled)["result"]["update_result"], 1);
    assert!(
        metric(&api, "fleetbench_gateway_coap_file_blocks_served_total").await - blocks >= 5.0,
        "the sub-device's pull fetched the package too"
    );

    let (status, created) = api
        .post(
            &format!("/devices/{}/gateway_commands", broken.endpoints()[0]),
            json!({"command_type": "software_update", "software_update_id": push["_id"], "timeout": 60}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let failed = api.wait_command(created["_id"].as_str().unwrap()).await;
    let entry = only_status(&failed);
    assert_eq!(entry["status"], "fail", "{failed}");
    assert_eq!(
        entry["status_message"],
        "firmware download failed: Update Result 5 (integrity check failure)",
        "{failed}"
    );

    broken.shutdown().await;
    fleet.shutdown().await;
    gateway.shutdown().await;
}
