//! Issue 15, findings 6 and 11: byte limits on fields, a bound on schedules, the cancel
//! route, and the REST nits. Real HTTP on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Api, TOKEN};
use fleetbench_gateway::{GatewayConfig, RunningGateway, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn gateway(config: GatewayConfig) -> (RunningGateway, Api) {
    let gateway = start(config).await.unwrap();
    let api = Api::new(gateway.http_addr());
    (gateway, api)
}

async fn rest_device(api: &Api, unique_id: &str) -> String {
    let (status, body) = api
        .post("/devices", json!({ "unique_id": unique_id }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["_id"].as_str().unwrap().to_owned()
}

fn message(body: &Value) -> &str {
    body["message"].as_str().expect("message")
}

#[tokio::test]
async fn fields_are_bounded_in_bytes_and_refuse_nul() {
    let (gw, api) = gateway(GatewayConfig::default()).await;
    let id = rest_device(&api, "d1").await;
    let path = format!("/devices/{id}/gateway_commands");
    let long = "n".repeat(1025);
    let (status, body) = api
        .post(&path, json!({"command_type": "reboot", "name": long}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        message(&body),
        "name: 1025 bytes: at most 1024 are accepted"
    );
    let (status, body) = api
        .post(&path, json!({"command_type": "reboot", "name": "a\u{0}b"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(message(&body), "name: contains a NUL character");
    let (status, body) = api.post("/devices", json!({"unique_id": "x\u{0}"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(message(&body), "unique_id: contains a NUL character");
    let (status, body) = api
        .post(
            &path,
            json!({"command_type": "lwm2m_file_pull", "filepath": "/a\u{0}", "file_id": "5c0feb9a693d3f000115028c"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(message(&body), "filepath: contains a NUL character");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_schedule_may_not_start_beyond_the_bound() {
    let (gw, api) = gateway(GatewayConfig::default()).await;
    let id = rest_device(&api, "d1").await;
    let path = format!("/devices/{id}/gateway_commands");
    let (status, body) = api
        .post(
            &path,
            json!({"command_type": "reboot", "schedule": {"start_datetime": "9999-01-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&body).starts_with("schedule.start_datetime: 9999-01-01T00:00:00"),
        "{body}"
    );
    assert!(
        message(&body).contains("more than 604800 s ahead"),
        "{body}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn cancel_ends_in_flight_targets_and_frees_their_slots() {
    let (gw, api) = gateway(GatewayConfig {
        max_in_flight: 1,
        ..GatewayConfig::default()
    })
    .await;
    let id = rest_device(&api, "d1").await;
    let path = format!("/devices/{id}/gateway_commands");
    let start = gw.engine().state().now().get() + time::Duration::days(1);
    let start = start
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, held) = api
        .post(
            &path,
            json!({"command_type": "reboot", "schedule": {"start_datetime": start}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{held}");
    let (status, _) = api.post(&path, json!({"command_type": "reboot"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let held_id = held["_id"].as_str().unwrap();
    let (status, body) = api
        .post(&format!("/gateway_commands/{held_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let done = api.wait_command(held_id).await;
    let entry = common::only_status(&done);
    assert_eq!(entry["status"], "fail");
    assert_eq!(entry["status_message"], "cancelled");
    let (status, body) = api.post(&path, json!({"command_type": "reboot"})).await;
    assert_eq!(status, StatusCode::OK, "the slot is free again: {body}");
    let (status, body) = api
        .post(&format!("/gateway_commands/{held_id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = api
        .post(
            "/gateway_commands/5c0feb9a693d3f000115028c/cancel",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    gw.shutdown().await;
}

#[tokio::test]
async fn rest_nits() {
    let (gw, api) = gateway(GatewayConfig::default()).await;
    let (status, body) = api.post("/software_updates", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(message(&body), "name: required");

    let (status, body) = api
        .raw(
            Method::POST,
            "/devices",
            br#"{"unique_id":"x"}"#.to_vec(),
            "text/plain",
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(
        message(&body),
        "Content-Type: \"text/plain\": expected application/json"
    );
    let (status, _) = api
        .raw(
            Method::POST,
            "/devices",
            br#"{"unique_id":"y"}"#.to_vec(),
            "application/json; charset=utf-8",
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let echoed = "z".repeat(900_000);
    let (status, body) = api
        .post("/gateway_commands", json!({"command_type": echoed}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let text = message(&body);
    assert!(
        text.chars().count() <= 401 && text.ends_with('…'),
        "{}",
        text.len()
    );

    let (status, body) = api.get("/devices?parent_device_id=").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).starts_with("parent_device_id: empty"));

    let (status, _, _) = api
        .call(Method::DELETE, "/gateway_commands", None, Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    gw.shutdown().await;
}

/// Finding 11: a bulk request that creates nothing because every device is busy (the
/// in-flight limit is reached) is refused whole with 429, as a single create is; one that
/// creates some commands answers 200 and lists every failure.
#[tokio::test]
async fn bulk_request_with_every_device_busy_is_refused_with_429() {
    let (gw, api) = gateway(GatewayConfig {
        max_in_flight: 1,
        ..GatewayConfig::default()
    })
    .await;
    let a = rest_device(&api, "bulk-a").await;
    let b = rest_device(&api, "bulk-b").await;
    // A scheduled command holds the single in-flight slot.
    let start = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = api
        .post(
            &format!("/devices/{a}/gateway_commands"),
            json!({"command_type": "reboot", "schedule": {"start_datetime": start}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, headers, body) = api
        .call(
            Method::POST,
            "/devices/bulk/reboot",
            Some(json!({"device_ids": [a, b]})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    let text = message(&body);
    assert!(
        text.starts_with("device_ids:") && text.contains("in flight"),
        "{text}"
    );
    gw.shutdown().await;
}

/// Finding 6: a list page larger than the response cap is refused with 400 naming
/// `per_page`, instead of being built whole in memory.
#[tokio::test]
async fn a_list_page_beyond_the_byte_cap_is_refused() {
    let (gw, api) = gateway(GatewayConfig {
        max_schedule_ahead: std::time::Duration::from_secs(86_400),
        ..GatewayConfig::default()
    })
    .await;
    let id = rest_device(&api, "lister").await;
    let start = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    // 20 commands with a 900 KB payload each: 18 MB of JSON, above the 16 MiB cap.
    let filler = "p".repeat(900_000);
    for _ in 0..20 {
        let (status, body) = api
            .post(
                &format!("/devices/{id}/gateway_commands"),
                json!({"command_type": "reboot", "schedule": {"start_datetime": start},
                       "payload": {"filler": filler}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}", message(&body));
    }
    let (status, body) = api.get("/gateway_commands?per_page=20").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let text = message(&body);
    assert!(text.starts_with("per_page: 20:"), "{text}");
    let (status, body) = api.get("/gateway_commands?per_page=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().unwrap().len(), 5);
    gw.shutdown().await;
}
