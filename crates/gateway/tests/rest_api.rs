//! REST contract tests: every route and every error, against the real server on 127.0.0.1:0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Api, TOKEN, eventually, only_status};
use fleetbench_gateway::{GatewayConfig, RunningGateway, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn gateway(config: GatewayConfig) -> (RunningGateway, Api) {
    let gateway = start(config).await.unwrap();
    let api = Api::new(gateway.http_addr());
    (gateway, api)
}

async fn device(api: &Api, unique_id: &str) -> String {
    let (status, body) = api.post("/devices", json!({"unique_id": unique_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["_id"].as_str().unwrap().to_owned()
}

async fn bad_request(api: &Api, body: Value, expected: &str) {
    let (status, answer) = api.post("/gateway_commands", body.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.starts_with(expected),
        "{body}: {message:?} does not start with {expected:?}"
    );
}

fn is_object_id(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 24
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[tokio::test]
async fn auth_is_the_raw_token_and_errors_are_json() {
    let (gateway, api) = gateway(GatewayConfig::default()).await;
    for token in [None, Some("wrong"), Some("Bearer fleetbench-token")] {
        let (status, _, body) = api
            .call(Method::GET, "/gateway_commands", None, token)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, json!({"message": "You are not authorized"}));
    }
    for path in ["/gateway_commands", "/api/v1/platform/gateway_commands"] {
        let (status, _, body) = api.call(Method::GET, path, None, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, json!([]));
    }
    let (status, _, body) = api.call(Method::GET, "/nowhere", None, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().unwrap().contains("/nowhere"));
    let (status, _, body) = api
        .call(Method::DELETE, "/gateway_commands", None, Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["message"].is_string());
    for path in ["/health", "/api/v1/platform/health"] {
        let (status, _, body) = api.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
    }
    let (status, _, body) = api.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["paths"]["/gateway_commands"].is_object(), "{body}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn create_get_and_fail_a_command_to_an_unregistered_device() {
    let (gateway, api) = gateway(GatewayConfig::default()).await;
    let id = device(&api, "lonely").await;
    let (status, created) = api
        .post(
            "/api/v1/platform/gateway_commands",
            json!({"command_type": "reboot", "device_id": id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(is_object_id(&created["_id"]));
    assert_eq!(created["command_type"], "reboot");
    assert_eq!(created["device_id"], id.as_str());
    assert_eq!(created["timeout"], 30);
    let created_at = created["created_at"].as_str().unwrap();
    assert_eq!(
        created_at.len(),
        "2023-04-04T00:52:28.001016Z".len(),
        "{created_at}"
    );
    assert!(created_at.ends_with('Z'));
    let entry = &created["statuses"][id.as_str()];
    assert!(
        matches!(entry["status"].as_str(), Some("sent" | "fail")),
        "{created}"
    );

    let done = api.wait_command(created["_id"].as_str().unwrap()).await;
    let entry = only_status(&done);
    assert_eq!(entry["status"], "fail");
    assert!(
        entry["status_message"]
            .as_str()
            .unwrap()
            .contains("no LwM2M registration"),
        "{done}"
    );
    assert_eq!(entry["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(entry["attempts"][0]["outcome"], "fail");
    let transitions: Vec<&str> = entry["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(transitions, ["sent", "fail"]);

    let (status, by_path) = api
        .post(
            "/devices/lonely/gateway_commands",
            json!({"command_type": "heartbeat"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{by_path}");
    assert_eq!(by_path["device_id"], id.as_str());
    let (status, _) = api
        .post(
            "/devices/nobody/gateway_commands",
            json!({"command_type": "heartbeat"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api.get("/gateway_commands/5c0feb9a693d3f000115028c").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].is_string());
    assert_eq!(
        api.get("/gateway_commands/not-an-id").await.0,
        StatusCode::NOT_FOUND
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn validation_errors_name_the_field_and_the_value() {
    let (gateway, api) = gateway(GatewayConfig::default()).await;
    let id = device(&api, "target").await;
    let other = device(&api, "other").await;
    let base = |extra: Value| {
        let mut body = json!({"device_id": id});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    bad_request(
        &api,
        base(json!({"command_type": "foo"})),
        "command_type: unknown value \"foo\"; expected one of send_config,",
    )
    .await;
    bad_request(&api, json!({"device_id": id}), "command_type: required").await;
    bad_request(
        &api,
        json!({"command_type": "reboot"}),
        "device_id: required",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "timout": 5})),
        "timout: unknown field `timout`",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "timeout": "soon"})),
        "timeout: invalid type",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "timeout": 0})),
        "timeout: must be a positive number of seconds, got 0",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "timeout": -3})),
        "timeout: must be a positive number of seconds, got -3",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "attached_device_ids": [1]})),
        "attached_device_ids[0]: invalid type",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "attached_device_ids": [other]})),
        "attached_device_ids[0]: device",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "software_update"})),
        "software_update_id: required",
    )
    .await;
    bad_request(&api, base(json!({"command_type": "software_update", "software_update_id": "5c0feb9a693d3f000115028c"})), "software_update_id: no software update").await;
    bad_request(
        &api,
        base(json!({"command_type": "lwm2m_request", "endpoint": "/3/0/0"})),
        "type: required for command_type lwm2m_request",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "lwm2m_request", "type": "read"})),
        "endpoint: required for type read",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "lwm2m_request", "type": "write", "endpoint": "/3/0/13"})),
        "data: required for type write",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3/x/0"})),
        "endpoint: \"/3/x/0\": LwM2M path segment 2 (instance)",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "lwm2m_request", "type": "exec", "endpoint": "/3/0"})),
        "endpoint: exec needs a resource path",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "lwm2m_request", "type": "fileupload", "endpoint": "/3/0"})),
        "type: \"fileupload\" is not valid with command_type lwm2m_request",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "type": "read"})),
        "type: only valid with",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "lwm2m_file", "type": "fileupload", "filepath": "/tmp/a"})),
        "file_id: required for type fileupload",
    )
    .await;
    bad_request(&api, base(json!({"command_type": "lwm2m_file", "type": "fileupload", "file_id": "5c0feb9a693d3f000115028c"})), "filepath: required").await;
    bad_request(
        &api,
        base(json!({"command_type": "lwm2m_file", "type": "filedownload"})),
        "filepath: required for type filedownload",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "schedule": {"start_datetime": "2030-01-02T00:00:00Z", "end_datetime": "2030-01-01T00:00:00Z"}})),
        "schedule.end_datetime: 2030-01-01T00:00:00.000000Z is not after schedule.start_datetime",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "schedule": {"start_datetime": "tomorrow"}})),
        "schedule.start_datetime: \"tomorrow\" is not an RFC 3339",
    )
    .await;
    bad_request(&api, base(json!({"command_type": "reboot", "retry_options": {"retry_strategy": {"type": "random"}}})), "retry_options.retry_strategy.type: unknown value \"random\"").await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "retry_options": {"max_retries": 1000}})),
        "retry_options.max_retries: must be a whole number 0..=100",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "reboot", "retry_options": {"timeout": 0}})),
        "retry_options.timeout: must be a positive",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "log_level", "level": "loud"})),
        "level: unknown value \"loud\"; expected one of trace, debug, info, warn, error, critical",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "log_level"})),
        "level: required",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "data_restriction"})),
        "enable: required",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "data_restriction", "payload": {"enable": "yes"}})),
        "enable: must be true or false",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "restore_backup"})),
        "url: required",
    )
    .await;
    bad_request(
        &api,
        base(json!({"command_type": "restore_backup", "url": "http://x/it's"})),
        "url: \"http://x/it's\" contains",
    )
    .await;

    let (status, accepted) = api
        .post(
            "/gateway_commands",
            base(json!({"command_type": "data_restriction", "payload": {"enable": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (status, accepted) = api
        .post(
            "/gateway_commands",
            base(json!({"command_type": "log_level", "level": "debug"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(accepted["payload"]["level"], "debug");

    let (status, _, body) = api
        .call(Method::POST, "/gateway_commands", None, Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        body["message"],
        "Content-Type: missing: expected application/json"
    );
    let (status, body) = api
        .raw(
            Method::POST,
            "/gateway_commands",
            Vec::new(),
            "application/json",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "body: empty; expected a JSON object");
    let (status, body) = api
        .raw(
            Method::POST,
            "/gateway_commands",
            b"{\"command_type\": \"reboot\",\n  oops}".to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("body: malformed JSON at line 2 column"),
        "{body}"
    );
    let (status, body) = api
        .post(
            "/gateway_commands",
            json!({"command_type": "reboot", "device_id": "ghost"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().unwrap().contains("\"ghost\""));
    gateway.shutdown().await;
}

#[tokio::test]
async fn body_limit_and_in_flight_limit() {
    let config = GatewayConfig {
        max_body_bytes: 2048,
        max_in_flight: 1,
        max_schedule_ahead: Duration::from_secs(1000 * 365 * 86_400),
        ..GatewayConfig::default()
    };
    let (gateway, api) = gateway(config).await;
    let id = device(&api, "busy").await;
    let big = json!({"command_type": "reboot", "device_id": id, "name": "x".repeat(4096)});
    let (status, body) = api.post("/gateway_commands", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["message"].is_string(), "{body}");

    let later = json!({"command_type": "reboot", "device_id": id, "schedule": {"start_datetime": "2999-01-01T00:00:00Z"}});
    let (status, first) = api.post("/gateway_commands", later.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["statuses"][id.as_str()]["status"], "enqueued");
    let (status, headers, body) = api
        .call(Method::POST, "/gateway_commands", Some(later), Some(TOKEN))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    assert!(body["message"].as_str().unwrap().contains("in flight"));
    gateway.shutdown().await;
}

#[tokio::test]
async fn listing_filters_paging_and_retention() {
    let config = GatewayConfig {
        retention: 3,
        ..GatewayConfig::default()
    };
    let (gateway, api) = gateway(config).await;
    let a = device(&api, "a").await;
    let b = device(&api, "b").await;
    let mut ids = Vec::new();
    for (device, kind) in [
        (&a, "reboot"),
        (&b, "heartbeat"),
        (&a, "heartbeat"),
        (&b, "reboot"),
    ] {
        let (status, body) = api
            .post(
                "/gateway_commands",
                json!({"command_type": kind, "device_id": device}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let id = body["_id"].as_str().unwrap().to_owned();
        api.wait_command(&id).await;
        ids.push(id);
    }
    // Retention 3: the oldest completed command is gone.
    assert_eq!(
        api.get(&format!("/gateway_commands/{}", ids[0])).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, all) = api.get("/gateway_commands?page_meta=true").await;
    assert_eq!(all["total"], 3);
    assert_eq!(all["page"], 1);
    assert_eq!(all["per_page"], 100);
    let listed: Vec<&str> = all["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&ids[1], &ids[2], &ids[3]]);
    let (_, page) = api.get("/gateway_commands?per_page=2&page=2").await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    let (_, by_device) = api
        .get(&format!("/gateway_commands?device_id={b}&page_meta=true"))
        .await;
    assert_eq!(by_device["total"], 2);
    let (_, by_type) = api
        .get("/gateway_commands?command_type=heartbeat&device_id=a")
        .await;
    assert_eq!(by_type.as_array().unwrap().len(), 1);
    let (_, by_status) = api
        .get("/gateway_commands?status=fail&page_meta=true")
        .await;
    assert_eq!(by_status["total"], 3);
    let (_, none) = api.get("/gateway_commands?status=success").await;
    assert_eq!(none, json!([]));
    let (_, per_device) = api.get(&format!("/devices/{a}/gateway_commands")).await;
    assert_eq!(per_device.as_array().unwrap().len(), 1);
    for (query, expected) in [
        ("status=done", "status: unknown value \"done\""),
        ("command_type=x", "command_type: unknown value \"x\""),
        (
            "per_page=1001",
            "per_page: 1001 is over the maximum of 1000",
        ),
        ("page=0", "page: \"0\" is not a positive integer"),
        ("page_meta=yes", "page_meta: \"yes\" is not true or false"),
        ("colour=red", "colour: unknown query parameter"),
        (
            "software_update_id=zz",
            "software_update_id: \"zz\" is not a 24-hex-digit id",
        ),
    ] {
        let (status, body) = api.get(&format!("/gateway_commands?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            body["message"].as_str().unwrap().starts_with(expected),
            "{query}: {body}"
        );
    }

    let (_, devices) = api.get("/devices?page_meta=true&per_page=1").await;
    assert_eq!(devices["total"], 2);
    assert_eq!(devices["resources"].as_array().unwrap().len(), 1);
    let (_, one) = api.get("/devices?unique_id=b").await;
    assert_eq!(one[0]["_id"], b.as_str());
    let (status, by_id) = api.get(&format!("/devices/{a}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["unique_id"], "a");
    assert_eq!(api.get("/devices/a").await.1["_id"], a.as_str());
    assert_eq!(api.get("/devices/zzz").await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/devices?parent_device_id=a").await.1, json!([]));
    let (status, body) = api.post("/devices", json!({"unique_id": "a"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().starts_with("unique_id:"));
    gateway.shutdown().await;
}

#[tokio::test]
async fn files_software_updates_and_bulk() {
    let (gateway, api) = gateway(GatewayConfig::default()).await;
    let (status, raw) = api
        .raw(
            Method::POST,
            "/files?name=fw.bin",
            vec![1, 2, 3, 4],
            "application/octet-stream",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{raw}");
    assert!(is_object_id(&raw["_id"]));
    assert_eq!(raw["size"], 4);
    assert_eq!(raw["name"], "fw.bin");
    let (status, encoded) = api
        .post(
            "/files",
            json!({"name": "a.txt", "data_base64": "aGVsbG8="}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(encoded["size"], 5);
    let (_, fetched) = api
        .get(&format!("/files/{}", encoded["_id"].as_str().unwrap()))
        .await;
    assert_eq!(fetched["name"], "a.txt");
    let (status, data) = api
        .get(&format!("/files/{}/data", encoded["_id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data, json!("hello"));
    let (status, body) = api.post("/files", json!({"data_base64": "%%%"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("data_base64: not valid base64")
    );
    assert_eq!(
        api.get("/files/5c0feb9a693d3f000115028c").await.0,
        StatusCode::NOT_FOUND
    );

    let (status, update) = api.post("/software_updates", json!({"name": "v2", "files": [{"name": "fw.bin", "file_id": raw["_id"]}], "reboot": true})).await;
    assert_eq!(status, StatusCode::OK, "{update}");
    let update_id = update["_id"].as_str().unwrap();
    assert_eq!(
        api.get(&format!("/software_updates/{update_id}")).await.1["name"],
        "v2"
    );
    let (status, body) = api
        .post(
            "/software_updates",
            json!({"files": [{"file_id": "5c0feb9a693d3f000115028c"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("files[0].file_id: no file"),
        "{body}"
    );
    assert_eq!(
        api.get("/software_updates/5c0feb9a693d3f000115028c")
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let a = device(&api, "bulk-a").await;
    device(&api, "bulk-b").await;
    let (status, bulk) = api
        .post(
            "/devices/bulk/software_update",
            json!({"device_ids": [a, "bulk-b", "nobody"], "software_update_id": update_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bulk}");
    assert_eq!(
        (
            bulk["total"].as_u64(),
            bulk["succeeded"].as_u64(),
            bulk["failed"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(bulk["errors"][0]["device_id"], "nobody");
    let (_, again) = api
        .get(&format!(
            "/bulk_responses/{}",
            bulk["_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(again["gateway_commands"].as_array().unwrap().len(), 2);
    assert_eq!(bulk["bulk_response_id"], bulk["_id"]);
    assert_eq!(bulk["progress"]["commands"], 2, "{bulk}");
    let bulk_path = format!("/bulk_responses/{}", bulk["_id"].as_str().unwrap());
    let progressed = eventually(|| async {
        let (_, body) = api.get(&bulk_path).await;
        (body["progress"]["complete"] == 2).then_some(body)
    })
    .await;
    assert_eq!(
        progressed["progress"],
        json!({"commands": 2, "complete": 2, "evicted": 0,
               "targets": {"sent": 0, "enqueued": 0, "success": 0, "fail": 2}}),
        "{progressed}"
    );
    let (_, listed) = api
        .get(&format!(
            "/gateway_commands?software_update_id={update_id}&page_meta=true"
        ))
        .await;
    assert_eq!(listed["total"], 2);
    let (status, body) = api
        .post("/devices/bulk/software_update", json!({"device_ids": [a]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("software_update_id: required")
    );
    let (status, _) = api
        .post("/devices/bulk/dance", json!({"device_ids": [a]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.get("/bulk_responses/5c0feb9a693d3f000115028c").await.0,
        StatusCode::NOT_FOUND
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn metrics_and_server_sent_events() {
    let (gateway, api) = gateway(GatewayConfig::default()).await;
    let id = device(&api, "watched").await;
    let client = reqwest::Client::new();
    let mut events = client
        .get(format!(
            "http://{}/gateway_commands/events?device_id={id}",
            gateway.http_addr()
        ))
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let (_, created) = api
        .post(
            "/gateway_commands",
            json!({"command_type": "reboot", "device_id": id}),
        )
        .await;
    let command_id = created["_id"].as_str().unwrap().to_owned();
    let text = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while !text.contains("\"status\":\"fail\"") {
            let chunk = events.chunk().await.unwrap().expect("stream open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await
    .expect("fail event arrives");
    assert!(text.contains("event: status"), "{text}");
    assert!(text.contains(&command_id), "{text}");

    let metrics = eventually(|| async {
        let (_, _, body) = api.call(Method::GET, "/metrics", None, None).await;
        let text = body.as_str().unwrap().to_owned();
        text.contains(
            "fleetbench_gateway_command_targets_total{command_type=\"reboot\",status=\"fail\"} 1",
        )
        .then_some(text)
    })
    .await;
    assert!(
        metrics.contains("fleetbench_gateway_commands_created_total{command_type=\"reboot\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("fleetbench_gateway_commands_in_flight 0"));
    assert!(metrics.contains("fleetbench_gateway_coap_retransmissions_total"));
    assert!(metrics.contains("fleetbench_gateway_devices_active 0"));
    gateway.shutdown().await;
}

/// A subscriber with a tiny buffer that reads nothing while a bulk request creates ten commands
/// (their `sent` events are published before the handler yields) first receives
/// `event: lagged` with the number of events it missed, then newer events.
#[tokio::test]
async fn a_lagging_event_subscriber_gets_a_lagged_event() {
    let (gateway, api) = gateway(GatewayConfig {
        events_buffer: 2,
        ..GatewayConfig::default()
    })
    .await;
    let mut ids = Vec::new();
    for k in 0..10 {
        ids.push(device(&api, &format!("lag-{k}")).await);
    }
    let mut events = reqwest::Client::new()
        .get(format!(
            "http://{}/gateway_commands/events",
            gateway.http_addr()
        ))
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    let (status, bulk) = api
        .post("/devices/bulk/reboot", json!({"device_ids": ids}))
        .await;
    assert_eq!(status, StatusCode::OK, "{bulk}");
    let text = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while !text.contains("event: status") {
            let chunk = events.chunk().await.unwrap().expect("stream open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await
    .expect("events arrive");
    let first = text.split("\n\n").next().unwrap();
    assert!(
        first.starts_with("event: lagged\ndata: {\"missed\":"),
        "{text}"
    );
    let missed: u64 = first
        .trim_start_matches("event: lagged\ndata: {\"missed\":")
        .trim_end_matches('}')
        .parse()
        .unwrap();
    assert!(missed >= 8, "{text}");
    let (_, _, body) = api.call(Method::GET, "/metrics", None, None).await;
    let lagged: u64 = body
        .as_str()
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("fleetbench_gateway_events_lagged_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(lagged >= missed, "{lagged} counted, {missed} reported");
    gateway.shutdown().await;
}

/// Every operation of `/openapi.json` (bare and under the platform prefix) reaches a handler:
/// none answers the router's "no route" 404 or 405.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let (gateway, api) = gateway(GatewayConfig::default()).await;
    let (_, _, document) = api.call(Method::GET, "/openapi.json", None, None).await;
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 2 * 15, "{}", paths.len());
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "5c0feb9a693d3f000115028c")
            .replace("{command_type}", "reboot");
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            if path.ends_with("/events") {
                // An endless stream: look at the status only.
                let response = reqwest::Client::new()
                    .get(format!("http://{}{concrete}", gateway.http_addr()))
                    .header("authorization", TOKEN)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                continue;
            }
            let body = (method == Method::POST).then(|| json!({}));
            let (status, _, answer) = api.call(method.clone(), &concrete, body, Some(TOKEN)).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if status == StatusCode::NOT_FOUND {
                let message = answer["message"].as_str().unwrap_or_default();
                assert!(
                    !message.starts_with("no route"),
                    "{method} {path}: {message}"
                );
            }
        }
    }
    gateway.shutdown().await;
}
