//! The fleetbench mock gateway: the EdgeIQ-style Gateway Command REST API in front of an
//! LwM2M server.
//!
//! PUBLIC SURFACE CONTRACT (the runner and the binary use it): keep these names and
//! signatures; extend freely.

use std::net::SocketAddr;
use std::time::Duration;

/// How to start a gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// HTTP listen address (port 0 picks a free port).
    pub http_addr: SocketAddr,
    /// CoAP (LwM2M server) listen address (port 0 picks a free port).
    pub coap_addr: SocketAddr,
    /// Accepted raw tokens for the `Authorization` header.
    pub tokens: Vec<String>,
    /// Largest accepted request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Most in-flight (non-terminal) commands before create answers 429.
    pub max_in_flight: usize,
    /// Completed commands kept before the oldest are evicted.
    pub retention: usize,
    /// `timeout` applied when a command gives none.
    pub default_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            coap_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: vec!["fleetbench-token".to_owned()],
            max_body_bytes: 1 << 20,
            max_in_flight: 100_000,
            retention: 200_000,
            default_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A listen address could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// `http` or `coap`.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not built yet.
    #[error("the gateway is not implemented yet")]
    NotImplemented,
}

/// A running gateway. Dropping it does not stop it; call [`RunningGateway::shutdown`].
#[derive(Debug)]
pub struct RunningGateway {
    http_addr: SocketAddr,
    coap_addr: SocketAddr,
}

impl RunningGateway {
    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound CoAP address devices register with.
    pub fn coap_addr(&self) -> SocketAddr {
        self.coap_addr
    }

    /// Stops serving and waits for the tasks to end.
    pub async fn shutdown(self) {}
}

/// Binds both listeners and starts serving.
pub async fn start(config: GatewayConfig) -> Result<RunningGateway, GatewayError> {
    let _ = config;
    Err(GatewayError::NotImplemented)
}
