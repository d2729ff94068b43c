//! Helpers shared by the gateway's integration tests: a small REST client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The default token of `GatewayConfig`.
pub const TOKEN: &str = "fleetbench-token";

/// How long any wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A REST client for one gateway.
pub struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    /// A client for the gateway at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    /// Sends a request with the token; returns status, headers and JSON body (or the text as
    /// a JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }

    /// Sends a raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET with the token.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::GET, path, None, Some(TOKEN)).await;
        (status, body)
    }

    /// POST JSON with the token.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::POST, path, Some(body), Some(TOKEN)).await;
        (status, body)
    }

    /// Polls `GET /gateway_commands/{id}` until every target is terminal.
    pub async fn wait_command(&self, id: &str) -> Value {
        eventually(|| async {
            let (status, body) = self.get(&format!("/gateway_commands/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let statuses = body["statuses"].as_object().expect("statuses map");
            let done = !statuses.is_empty()
                && statuses
                    .values()
                    .all(|entry| matches!(entry["status"].as_str(), Some("success" | "fail")));
            done.then_some(body)
        })
        .await
    }

    /// Polls `GET /devices/{key}` until `check` accepts it.
    pub async fn wait_device(&self, key: &str, check: impl Fn(&Value) -> bool) -> Value {
        eventually(|| async {
            let (status, body) = self.get(&format!("/devices/{key}")).await;
            (status == StatusCode::OK && check(&body)).then_some(body)
        })
        .await
    }
}

/// Re-evaluates `probe` (every 5 ms) until it yields a value; panics after [`WAIT`].
pub async fn eventually<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition reached in time")
}

/// The single status entry of a command.
pub fn only_status(command: &Value) -> &Value {
    let statuses = command["statuses"].as_object().expect("statuses");
    assert_eq!(statuses.len(), 1, "{command}");
    statuses.values().next().expect("one entry")
}
