//! [`GatewayApi`] over HTTP with one pooled `reqwest::Client`.

use std::time::Duration;

use reqwest::StatusCode;

use super::events::{
    EVENT_CHANNEL_CAPACITY, EVENTS_PROBE_TIMEOUT, EventItem, EventReceiver, SseParser, decode,
};
use super::{ApiError, CommandState, DevicePage, GatewayApi};

/// Longest error body kept in an [`ApiError`].
const MAX_ERROR_BODY: usize = 300;

/// A gateway reached over its REST API.
#[derive(Debug, Clone)]
pub struct HttpGateway {
    client: reqwest::Client,
    /// For the event stream: no overall timeout (the stream lasts the whole run).
    stream_client: reqwest::Client,
    base: String,
    token: String,
}

impl HttpGateway {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`) sending the raw `token` in
    /// `Authorization`. `pool_size` idle connections are kept per host; each request is
    /// bounded by `request_timeout`.
    pub fn new(
        base_url: &str,
        token: &str,
        pool_size: usize,
        request_timeout: Duration,
    ) -> Result<Self, ApiError> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(pool_size)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(request_timeout.min(Duration::from_secs(5)))
            .timeout(request_timeout)
            .build()
            .map_err(|e| ApiError::Transport(format!("cannot build the HTTP client: {e}")))?;
        let stream_client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(request_timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| ApiError::Transport(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpGateway {
            client,
            stream_client,
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Result<serde_json::Value, ApiError> {
        let response = request
            .header(reqwest::header::AUTHORIZATION, &self.token)
            .send()
            .await
            .map_err(|e| ApiError::Transport(describe(&e)))?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(ApiError::Rejected { retry_after });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(describe(&e)))?;
        if status == StatusCode::NOT_FOUND {
            return Err(ApiError::NotFound(snippet(&bytes)));
        }
        if !status.is_success() {
            return Err(ApiError::Status {
                status: status.as_u16(),
                body: snippet(&bytes),
            });
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Decode(format!("{e}: {}", snippet(&bytes))))
    }
}

fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ERROR_BODY)]).into_owned()
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "request timed out".to_owned()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

fn path_segment(id: &str) -> String {
    // Ids are opaque; escape anything that is not URL-safe.
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads the event stream into `tx` until it ends, fails, or the receiver is dropped.
async fn read_events(mut response: reqwest::Response, tx: tokio::sync::mpsc::Sender<EventItem>) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            () = tx.closed() => return,
        };
        let reason = match chunk {
            Ok(Some(bytes)) => {
                let now = tokio::time::Instant::now();
                if let Err(e) = parser.feed(&bytes, &mut events) {
                    e.to_string()
                } else {
                    for event in events.drain(..) {
                        if let Some(item) = decode(&event, now)
                            && tx.send(item).await.is_err()
                        {
                            return;
                        }
                    }
                    continue;
                }
            }
            Ok(None) => "the gateway closed the event stream".to_owned(),
            Err(e) => format!("event stream: {}", describe(&e)),
        };
        let _ = tx.send(EventItem::Broken(reason)).await;
        return;
    }
}

/// Deterministic package content: a repeating, position-dependent byte pattern.
pub fn package_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

fn id_of(value: &serde_json::Value, what: &str) -> Result<String, ApiError> {
    value
        .get("_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Decode(format!("{what} without a string `_id`")))
}

impl GatewayApi for HttpGateway {
    async fn create_software_update(
        &self,
        package: &crate::scenario::Package,
    ) -> Result<String, ApiError> {
        use crate::scenario::Package;
        let (name, file) = match package {
            Package::Push { name, bytes } => {
                let url = format!("{}/files?name={}", self.base, path_segment(name));
                let request = self
                    .client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(package_bytes(*bytes));
                let file = self.json(request).await?;
                let id = id_of(&file, "stored file")?;
                (name, serde_json::json!({"name": name, "file_id": id}))
            }
            Package::Pull { name, link } => (name, serde_json::json!({"name": name, "link": link})),
        };
        let url = format!("{}/software_updates", self.base);
        let body = serde_json::json!({"name": name, "files": [file]});
        let update = self.json(self.client.post(url).json(&body)).await?;
        id_of(&update, "software update")
    }

    async fn open_events(&self) -> Result<Option<EventReceiver>, ApiError> {
        let url = format!("{}/gateway_commands/events", self.base);
        let request = self
            .stream_client
            .get(url)
            .header(reqwest::header::AUTHORIZATION, &self.token)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let response = tokio::time::timeout(EVENTS_PROBE_TIMEOUT, request.send())
            .await
            .map_err(|_| {
                ApiError::Transport(format!(
                    "no answer to GET /gateway_commands/events within {EVENTS_PROBE_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| ApiError::Transport(describe(&e)))?;
        let status = response.status();
        if matches!(status.as_u16(), 404 | 405 | 501) {
            return Ok(None);
        }
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            return Err(ApiError::Status {
                status: status.as_u16(),
                body: snippet(&body),
            });
        }
        let is_sse = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_sse {
            return Ok(None);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(EVENT_CHANNEL_CAPACITY);
        tokio::spawn(read_events(response, tx));
        Ok(Some(rx))
    }

    async fn create_command(
        &self,
        device_id: &str,
        body: &serde_json::Value,
    ) -> Result<CommandState, ApiError> {
        let url = format!(
            "{}/devices/{}/gateway_commands",
            self.base,
            path_segment(device_id)
        );
        let value = self.json(self.client.post(url).json(body)).await?;
        CommandState::from_json(&value)
    }

    async fn get_command(&self, id: &str) -> Result<CommandState, ApiError> {
        let url = format!("{}/gateway_commands/{}", self.base, path_segment(id));
        let value = self.json(self.client.get(url)).await?;
        CommandState::from_json(&value)
    }

    async fn list_devices(&self, page: u64, per_page: u64) -> Result<DevicePage, ApiError> {
        let url = format!(
            "{}/devices?page={page}&per_page={per_page}&page_meta=true",
            self.base
        );
        let value = self.json(self.client.get(url)).await?;
        serde_json::from_value(value).map_err(|e| ApiError::Decode(format!("device page: {e}")))
    }
}
