//! A reader of the gateway's event stream for integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use fleetbench_gateway::RunningGateway;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{TOKEN, WAIT};

/// One parsed server-sent event.
#[derive(Debug)]
pub struct SseEvent {
    /// The `event:` field.
    pub kind: String,
    /// The `data:` field, parsed.
    pub data: Value,
}

/// Reads an event stream, parsing whole events as they complete.
pub struct EventReader {
    response: reqwest::Response,
    pending: String,
}

impl EventReader {
    /// Subscribes with `query` (e.g. `?terminal_only=true`).
    pub async fn open(gateway: &RunningGateway, query: &str) -> Self {
        let response = reqwest::Client::new()
            .get(format!(
                "http://{}/gateway_commands/events{query}",
                gateway.http_addr()
            ))
            .header("authorization", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            response,
            pending: String::new(),
        }
    }

    /// The next event that has a `data` field (keep-alive comments are skipped).
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(end) = self.pending.find("\n\n") {
                    let block: String = self.pending.drain(..end + 2).collect();
                    let mut kind = String::from("message");
                    let mut data = None;
                    for line in block.lines() {
                        if let Some(value) = line.strip_prefix("event: ") {
                            kind = value.to_owned();
                        } else if let Some(value) = line.strip_prefix("data: ") {
                            data = Some(serde_json::from_str(value).unwrap());
                        }
                    }
                    if let Some(data) = data {
                        return SseEvent { kind, data };
                    }
                    continue;
                }
                let chunk = self.response.chunk().await.unwrap().expect("stream open");
                self.pending.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an event arrives in time")
    }
}
