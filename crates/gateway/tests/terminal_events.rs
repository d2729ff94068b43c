//! The event stream as a completion channel: terminal `status` events carry the target's full
//! record (identical to the detail GET's entry), `terminal_only=true` filters out the rest,
//! and a command created `sent` produces exactly one `sent` event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sse;

use std::collections::HashMap;

use common::Api;
use fleetbench_gateway::{GatewayConfig, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sse::EventReader;

async fn device(api: &Api, unique_id: &str) -> String {
    let (status, body) = api.post("/devices", json!({"unique_id": unique_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["_id"].as_str().unwrap().to_owned()
}

async fn create(api: &Api, device_id: &str, body: Value) -> String {
    let (status, created) = api
        .post(&format!("/devices/{device_id}/gateway_commands"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["_id"].as_str().unwrap().to_owned()
}

/// With `terminal_only=true` only terminal events arrive, each with a `record` equal (as a
/// JSON value) to the detail GET's `statuses[device_id]`.
#[tokio::test]
async fn terminal_events_carry_the_record_the_detail_get_shows() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let mut events = EventReader::open(&gateway, "?terminal_only=true").await;
    let mut expected = HashMap::new();
    for (k, body) in [
        json!({"command_type": "reboot"}),
        json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3/0/0"}),
        json!({"command_type": "heartbeat", "retry_options": {"max_retries": 2, "retry_strategy": {"type": "fixed", "fixed_interval": 0}}}),
    ]
    .into_iter()
    .enumerate()
    {
        // Not registered over LwM2M: every attempt fails at once.
        let device_id = device(&api, &format!("terminal-{k}")).await;
        let command_id = create(&api, &device_id, body).await;
        expected.insert(command_id, device_id);
    }
    for _ in 0..expected.len() {
        let event = events.next().await;
        assert_eq!(event.kind, "status", "{event:?}");
        let status = event.data["status"].as_str().unwrap();
        assert!(matches!(status, "success" | "fail"), "{event:?}");
        let command_id = event.data["command_id"].as_str().unwrap();
        let device_id = &expected[command_id];
        assert_eq!(event.data["device_id"], json!(device_id));
        let (code, detail) = api.get(&format!("/gateway_commands/{command_id}")).await;
        assert_eq!(code, StatusCode::OK, "{detail}");
        let entry = &detail["statuses"][device_id];
        assert_eq!(&event.data["record"], entry, "event {event:?}");
        assert_eq!(event.data["record"]["status"], event.data["status"]);
        let attempts = entry["attempts"].as_array().unwrap();
        assert!(!attempts.is_empty(), "{entry}");
        for attempt in attempts {
            assert!(attempt["outcome"].is_string(), "{attempt}");
        }
    }
    gateway.shutdown().await;
}

/// Without the filter a command's target is announced `sent` once (at creation), then its
/// terminal status with the record; non-terminal events carry no record.
#[tokio::test]
async fn a_command_created_sent_has_one_sent_event() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let device_id = device(&api, "once").await;
    let mut events = EventReader::open(&gateway, &format!("?device_id={device_id}")).await;
    let command_id = create(&api, &device_id, json!({"command_type": "reboot"})).await;
    let mut seen = Vec::new();
    loop {
        let event = events.next().await;
        assert_eq!(event.data["command_id"], json!(command_id), "{event:?}");
        let status = event.data["status"].as_str().unwrap().to_owned();
        let terminal = matches!(status.as_str(), "success" | "fail");
        assert_eq!(event.data.get("record").is_some(), terminal, "{event:?}");
        seen.push(status);
        if terminal {
            break;
        }
    }
    assert_eq!(seen, vec!["sent".to_owned(), "fail".to_owned()]);
    gateway.shutdown().await;
}

/// A bad `terminal_only` value and an unknown parameter are refused, naming the parameter.
#[tokio::test]
async fn bad_event_parameters_are_refused() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let (status, body) = api.get("/gateway_commands/events?terminal_only=yes").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("terminal_only: \"yes\" is not true or false"),
        "{body}"
    );
    let (status, body) = api.get("/gateway_commands/events?terminal=true").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"].as_str().unwrap().starts_with("terminal:"),
        "{body}"
    );
    gateway.shutdown().await;
}
