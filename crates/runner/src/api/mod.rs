//! The runner's view of a gateway: the public EdgeIQ-style HTTP API only, behind a trait so
//! the measurement pipeline can be tested against an in-process fake under a paused clock.

pub mod events;
mod http;
mod in_process;
pub mod pool;
mod state;

use std::future::Future;
use std::time::Duration;

pub use events::{EventItem, EventReceiver, StatusEvent};
pub use http::HttpGateway;
pub use in_process::InProcessGateway;
pub use pool::PoolStats;
pub use state::{CommandState, DevicePage, DeviceRecord, DeviceStatus, Status};

/// Why a gateway request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 429: the gateway is saturated.
    #[error("429 Too Many Requests (retry after {retry_after:?})")]
    Rejected {
        /// `Retry-After`, if given.
        retry_after: Option<Duration>,
    },
    /// 404 on a command or device.
    #[error("404 Not Found: {0}")]
    NotFound(String),
    /// Any other non-2xx answer.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Connection, timeout or protocol error.
    #[error("transport error: {0}")]
    Transport(String),
    /// The body was not the expected JSON.
    #[error("unexpected response body: {0}")]
    Decode(String),
    /// No connection of the bounded pool became free in time: nothing was sent.
    #[error("no free connection in time")]
    NoConnection,
}

/// What one create request did.
#[derive(Debug)]
pub struct Sent {
    /// When the request was handed to a connection (`None`: it never was).
    pub sent_at: Option<tokio::time::Instant>,
    /// The stored command, or why not.
    pub result: Result<CommandState, ApiError>,
}

/// The gateway operations the runner needs.
pub trait GatewayApi: Send + Sync + 'static {
    /// `POST /devices/{device_id}/gateway_commands` with `body`; the stored command.
    fn create_command(
        &self,
        device_id: &str,
        body: &serde_json::Value,
    ) -> impl Future<Output = Result<CommandState, ApiError>> + Send;

    /// Like [`GatewayApi::create_command`], but over a connection obtained by
    /// `connection_by` (else [`ApiError::NoConnection`] and nothing sent), stamping when the
    /// request was handed to the connection. The default stamps just before the create.
    fn send_command(
        &self,
        device_id: &str,
        body: &serde_json::Value,
        connection_by: tokio::time::Instant,
    ) -> impl Future<Output = Sent> + Send {
        let _ = connection_by;
        async move {
            let sent_at = tokio::time::Instant::now();
            Sent {
                sent_at: Some(sent_at),
                result: self.create_command(device_id, body).await,
            }
        }
    }

    /// `GET /gateway_commands/{id}`.
    fn get_command(&self, id: &str) -> impl Future<Output = Result<CommandState, ApiError>> + Send;

    /// `GET /devices?page={page}&per_page={per_page}&page_meta=true` (pages start at 1).
    fn list_devices(
        &self,
        page: u64,
        per_page: u64,
    ) -> impl Future<Output = Result<DevicePage, ApiError>> + Send;

    /// Registers a firmware package: for a push, `POST /files` with `bytes` of content, then
    /// `POST /software_updates` naming it (or the `link` for a pull). Returns the update's
    /// `_id`.
    fn create_software_update(
        &self,
        package: &crate::scenario::Package,
    ) -> impl Future<Output = Result<String, ApiError>> + Send {
        let _ = package;
        async {
            Err(ApiError::Status {
                status: 501,
                body: "this client cannot create software updates".to_owned(),
            })
        }
    }

    /// Subscribes to `GET /gateway_commands/events?terminal_only=true` (terminal status
    /// changes as server-sent events; without the parameter when the gateway refuses it).
    /// `Ok(None)` when the gateway does not offer it (404, 405, 501 or not an event stream):
    /// the runner then polls.
    fn open_events(&self) -> impl Future<Output = Result<Option<EventReceiver>, ApiError>> + Send {
        async { Ok(None) }
    }

    /// Connection counters, when the client keeps a bounded pool.
    fn pool_stats(&self) -> Option<std::sync::Arc<PoolStats>> {
        None
    }
}
