//! [`GatewayApi`] over the gateway's axum [`Router`] called in process as a tower `Service`:
//! no sockets, the same requests and JSON as over HTTP. Virtual-time runs use it, so that
//! HTTP costs nothing and takes no time.

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::events::{EVENT_CHANNEL_CAPACITY, EventItem, EventReceiver, SseParser, decode};
use super::http::{package_bytes, path_segment};
use super::{ApiError, CommandState, DevicePage, GatewayApi};

/// Longest error body kept in an [`ApiError`].
const MAX_ERROR_BODY: usize = 300;

/// Most bytes of one non-streaming answer read into memory.
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// A gateway's REST API called in process.
#[derive(Debug, Clone)]
pub struct InProcessGateway {
    router: Router,
    token: String,
}

impl InProcessGateway {
    /// Calls `router` with the raw `token` in `Authorization`.
    pub fn new(router: Router, token: &str) -> Self {
        Self {
            router,
            token: token.to_owned(),
        }
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<http::Response<Body>, ApiError> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::AUTHORIZATION, &self.token);
        if let Some(c) = content_type {
            request = request.header(http::header::CONTENT_TYPE, c);
        }
        let request = request
            .body(Body::from(body))
            .map_err(|e| ApiError::Transport(format!("request {path}: {e}")))?;
        match self.router.clone().oneshot(request).await {
            Ok(response) => Ok(response),
            Err(never) => match never {},
        }
    }

    async fn json(
        &self,
        method: http::Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<serde_json::Value, ApiError> {
        let response = self.call(method, path, content_type, body).await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| ApiError::Transport(format!("reading the answer to {path}: {e}")))?
            .to_bytes();
        match status {
            429 => Err(ApiError::Rejected { retry_after }),
            404 => Err(ApiError::NotFound(snippet(&bytes))),
            s if !(200..300).contains(&s) => Err(ApiError::Status {
                status: s,
                body: snippet(&bytes),
            }),
            _ => serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::Decode(format!("{e}: {}", snippet(&bytes)))),
        }
    }

    async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| ApiError::Decode(format!("request body: {e}")))?;
        self.json(
            http::Method::POST,
            path,
            Some("application/json"),
            Bytes::from(bytes),
        )
        .await
    }
}

fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ERROR_BODY)]).into_owned()
}

fn id_of(value: &serde_json::Value, what: &str) -> Result<String, ApiError> {
    value
        .get("_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Decode(format!("{what} without a string `_id`")))
}

/// Reads the event stream's body into `tx` until it ends or the receiver is dropped.
async fn read_events(mut body: Body, tx: tokio::sync::mpsc::Sender<EventItem>) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            () = tx.closed() => return,
        };
        let reason = match frame {
            Some(Ok(frame)) => {
                let Some(bytes) = frame.data_ref() else {
                    continue;
                };
                let now = tokio::time::Instant::now();
                if let Err(e) = parser.feed(bytes, &mut events) {
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
            None => "the gateway closed the event stream".to_owned(),
            Some(Err(e)) => format!("event stream: {e}"),
        };
        let _ = tx.send(EventItem::Broken(reason)).await;
        return;
    }
}

impl GatewayApi for InProcessGateway {
    async fn create_command(
        &self,
        device_id: &str,
        body: &serde_json::Value,
    ) -> Result<CommandState, ApiError> {
        let path = format!("/devices/{}/gateway_commands", path_segment(device_id));
        CommandState::from_json(&self.post_json(&path, body).await?)
    }

    async fn get_command(&self, id: &str) -> Result<CommandState, ApiError> {
        let path = format!("/gateway_commands/{}", path_segment(id));
        let value = self
            .json(http::Method::GET, &path, None, Bytes::new())
            .await?;
        CommandState::from_json(&value)
    }

    async fn list_devices(&self, page: u64, per_page: u64) -> Result<DevicePage, ApiError> {
        let path = format!("/devices?page={page}&per_page={per_page}&page_meta=true");
        let value = self
            .json(http::Method::GET, &path, None, Bytes::new())
            .await?;
        serde_json::from_value(value).map_err(|e| ApiError::Decode(format!("device page: {e}")))
    }

    async fn create_software_update(
        &self,
        package: &crate::scenario::Package,
    ) -> Result<String, ApiError> {
        use crate::scenario::Package;
        let (name, file) = match package {
            Package::Push { name, bytes } => {
                let path = format!("/files?name={}", path_segment(name));
                let file = self
                    .json(
                        http::Method::POST,
                        &path,
                        Some("application/octet-stream"),
                        Bytes::from(package_bytes(*bytes)),
                    )
                    .await?;
                let id = id_of(&file, "stored file")?;
                (name, serde_json::json!({"name": name, "file_id": id}))
            }
            Package::Pull { name, link } => (name, serde_json::json!({"name": name, "link": link})),
        };
        let body = serde_json::json!({"name": name, "files": [file]});
        let update = self.post_json("/software_updates", &body).await?;
        id_of(&update, "software update")
    }

    async fn open_events(&self) -> Result<Option<EventReceiver>, ApiError> {
        let response = self
            .call(
                http::Method::GET,
                "/gateway_commands/events?terminal_only=true",
                None,
                Bytes::new(),
            )
            .await?;
        let status = response.status().as_u16();
        if matches!(status, 404 | 405 | 501) {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(ApiError::Status {
                status,
                body: "the event stream was refused".to_owned(),
            });
        }
        let (tx, rx) = tokio::sync::mpsc::channel(EVENT_CHANNEL_CAPACITY);
        tokio::spawn(read_events(response.into_body(), tx));
        Ok(Some(rx))
    }
}
