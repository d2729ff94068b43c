//! [`GatewayApi`] over HTTP with one pooled `reqwest::Client`.

use std::time::Duration;

use reqwest::StatusCode;

use super::{ApiError, CommandState, DevicePage, GatewayApi};

/// Longest error body kept in an [`ApiError`].
const MAX_ERROR_BODY: usize = 300;

/// A gateway reached over its REST API.
#[derive(Debug, Clone)]
pub struct HttpGateway {
    client: reqwest::Client,
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
        Ok(HttpGateway {
            client,
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

impl GatewayApi for HttpGateway {
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
