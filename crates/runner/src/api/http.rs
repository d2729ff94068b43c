//! [`GatewayApi`] over HTTP: creates and polls go over two bounded pools of keep-alive
//! connections (commands, and a reserved share for polls); set-up calls and the event
//! stream use `reqwest`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use tokio::time::Instant;

use super::Sent;
use super::pool::{Answer, ConnectionPool, PoolStats, innermost};

use super::events::{
    EVENT_CHANNEL_CAPACITY, EVENTS_PROBE_TIMEOUT, EventItem, EventReceiver, SseParser, decode,
};
use super::{ApiError, CommandState, DevicePage, GatewayApi};

/// Longest error body kept in an [`ApiError`].
const MAX_ERROR_BODY: usize = 300;

/// The share of `connections` reserved for polls: one in eight, at least one (none when
/// there is a single connection: polls then share it).
pub fn poll_share(connections: usize) -> usize {
    if connections < 2 {
        0
    } else {
        connections.div_ceil(8)
    }
}

/// A gateway reached over its REST API.
#[derive(Debug, Clone)]
pub struct HttpGateway {
    client: reqwest::Client,
    /// For the event stream: no overall timeout (the stream lasts the whole run).
    stream_client: reqwest::Client,
    /// Creates.
    commands: Arc<ConnectionPool>,
    /// Polls (the reserved share), or `None` to share `commands`.
    polls: Option<Arc<ConnectionPool>>,
    stats: Arc<PoolStats>,
    base: String,
    /// The path prefix of `base` (empty, or `/prefix` without trailing slash).
    prefix: String,
    token: String,
}

impl HttpGateway {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`) sending the raw `token` in
    /// `Authorization`. Creates and polls use at most `connections` HTTP/1.1 connections in
    /// all ([`poll_share`] of them reserved for polls); each request is bounded by
    /// `request_timeout`.
    pub fn new(
        base_url: &str,
        token: &str,
        connections: usize,
        request_timeout: Duration,
    ) -> Result<Self, ApiError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let uri: http::Uri = base
            .parse()
            .map_err(|e| ApiError::Transport(format!("target url {base:?}: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(ApiError::Transport(format!(
                "target url {base:?}: only http:// is supported"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| ApiError::Transport(format!("target url {base:?}: no host")))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(authority.host(), port))
            .map_err(|e| ApiError::Transport(format!("target url {base:?}: {e}")))?
            .next()
            .ok_or_else(|| {
                ApiError::Transport(format!("target url {base:?}: the host has no address"))
            })?;
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let connections = connections.max(1);
        let reserved = poll_share(connections);
        let stats = Arc::new(PoolStats::default());
        let connect_timeout = request_timeout.min(Duration::from_secs(5));
        let pool = |size| {
            Arc::new(ConnectionPool::new(
                addr,
                authority.to_string(),
                size,
                Arc::clone(&stats),
                connect_timeout,
                request_timeout,
            ))
        };
        let commands = pool(connections - reserved);
        let polls = (reserved > 0).then(|| pool(reserved));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(Duration::from_secs(5))
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
            commands,
            polls,
            stats,
            base,
            prefix,
            token: token.to_owned(),
        })
    }

    /// Opens every pooled connection (before the first phase).
    pub async fn open_connections(&self) -> Result<(), ApiError> {
        self.commands.fill().await?;
        if let Some(p) = &self.polls {
            p.fill().await?;
        }
        Ok(())
    }

    /// The most connections the pools open.
    pub fn connections(&self) -> usize {
        self.commands.size() + self.polls.as_ref().map_or(0, |p| p.size())
    }

    async fn pooled(
        &self,
        pool: &ConnectionPool,
        method: http::Method,
        path: &str,
        body: Option<Bytes>,
        connection_by: Option<Instant>,
    ) -> (Option<Instant>, Result<serde_json::Value, ApiError>) {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(http::header::AUTHORIZATION, &self.token);
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let (sent_at, answer) = pool
            .request(request, body.unwrap_or_default(), connection_by)
            .await;
        (sent_at, answer.and_then(judge))
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// How long a create made outside the engine waits for a connection.
    fn commands_wait(&self) -> Duration {
        Duration::from_secs(5)
    }

    async fn events_request(&self, terminal_only: bool) -> Result<reqwest::Response, ApiError> {
        let query = if terminal_only {
            "?terminal_only=true"
        } else {
            ""
        };
        let url = format!("{}/gateway_commands/events{query}", self.base);
        let request = self
            .stream_client
            .get(url)
            .header(reqwest::header::AUTHORIZATION, &self.token)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        tokio::time::timeout(EVENTS_PROBE_TIMEOUT, request.send())
            .await
            .map_err(|_| {
                ApiError::Transport(format!(
                    "no answer to GET /gateway_commands/events within {EVENTS_PROBE_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| ApiError::Transport(describe(&e)))
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

/// The JSON of a pooled answer, or the error its status means.
fn judge(answer: Answer) -> Result<serde_json::Value, ApiError> {
    match answer.status {
        429 => Err(ApiError::Rejected {
            retry_after: answer.retry_after.map(Duration::from_secs),
        }),
        404 => Err(ApiError::NotFound(snippet(&answer.body))),
        s if !(200..300).contains(&s) => Err(ApiError::Status {
            status: s,
            body: snippet(&answer.body),
        }),
        _ => serde_json::from_slice(&answer.body)
            .map_err(|e| ApiError::Decode(format!("{e}: {}", snippet(&answer.body)))),
    }
}

fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ERROR_BODY)]).into_owned()
}

/// A reqwest error without its URL: what kind, and the innermost cause.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "request timed out".to_owned()
    } else if e.is_connect() {
        format!("connect: {}", innermost(e))
    } else {
        innermost(e)
    }
}

/// `id` as one URL path segment (anything not URL-safe percent-escaped).
pub(super) fn path_segment(id: &str) -> String {
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
        let mut response = self.events_request(true).await?;
        if response.status() == StatusCode::BAD_REQUEST {
            // An older gateway that does not know `terminal_only`: every status event.
            response = self.events_request(false).await?;
        }
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
        let by = Instant::now() + self.commands_wait();
        self.send_command(device_id, body, by).await.result
    }

    async fn send_command(
        &self,
        device_id: &str,
        body: &serde_json::Value,
        connection_by: Instant,
    ) -> Sent {
        let path = format!("/devices/{}/gateway_commands", path_segment(device_id));
        let bytes = match serde_json::to_vec(body) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                return Sent {
                    sent_at: None,
                    result: Err(ApiError::Decode(format!("request body: {e}"))),
                };
            }
        };
        let (sent_at, value) = self
            .pooled(
                &self.commands,
                http::Method::POST,
                &path,
                Some(bytes),
                Some(connection_by),
            )
            .await;
        Sent {
            sent_at,
            result: value.and_then(|v| CommandState::from_json(&v)),
        }
    }

    async fn get_command(&self, id: &str) -> Result<CommandState, ApiError> {
        let path = format!("/gateway_commands/{}", path_segment(id));
        let pool = self.polls.as_deref().unwrap_or(&self.commands);
        let (_, value) = self
            .pooled(pool, http::Method::GET, &path, None, None)
            .await;
        CommandState::from_json(&value?)
    }

    fn pool_stats(&self) -> Option<Arc<PoolStats>> {
        Some(Arc::clone(&self.stats))
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
