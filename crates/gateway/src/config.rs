//! Gateway configuration.

use std::net::SocketAddr;
use std::time::Duration;

use fleetbench_lwm2m::coap::EndpointConfig;

pub use crate::lwm2m_server::rate_limit::RateLimit;

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
    /// Seed of every random choice (ids, CoAP message ids and tokens).
    pub seed: u64,
    /// Most devices (gateways plus attached devices) the gateway keeps.
    pub max_devices: usize,
    /// Most simultaneously active LwM2M observations.
    pub max_observations: usize,
    /// Events buffered per server-sent-events subscriber before it is told it lagged.
    pub events_buffer: usize,
    /// Total bytes of uploaded and downloaded files kept (oldest evicted first).
    pub max_file_bytes: usize,
    /// Slack after a registration's lifetime before it lapses.
    pub registration_grace: Duration,
    /// CoAP message-layer parameters of the LwM2M server (RFC 7252 defaults: a request to a
    /// device that never answers fails after about 93 s with "device did not answer (CoAP
    /// timeout)").
    pub coap: EndpointConfig,
    /// Most `/25` sub-device discoveries reading devices at once; further ones wait (at most
    /// one waiting per registration).
    pub discovery_concurrency: usize,
    /// Longest wait for a complete HTTP request head (from the accept, or from the end of
    /// the previous response on a keep-alive connection: it is also the idle timeout).
    pub http_header_timeout: Duration,
    /// Longest time a request body may take to arrive whole (408 and close beyond).
    pub http_body_timeout: Duration,
    /// Most HTTP connections served at once; keep it below the process's open-file limit
    /// minus its UDP sockets. Further connections get a 503 and are closed.
    pub http_max_connections: usize,
    /// Largest Register or Update payload (object links), in bytes (4.13 beyond).
    pub max_register_payload: usize,
    /// Registers allowed per source address (IP and port): a burst, then a rate (4.29
    /// beyond).
    pub register_rate: RateLimit,
    /// How long a de-registered or expired LwM2M device is kept (inactive) before it is
    /// forgotten. When the registry is full, the oldest inactive one is forgotten first.
    pub inactive_device_retention: Duration,
    /// How far ahead a command's `schedule` may start or end (400 beyond).
    pub max_schedule_ahead: Duration,
    /// Registration locations and download tokens from a generator seeded by `seed`
    /// instead of the OS (reproducible virtual-time runs; guessable, so off by default).
    pub seeded_tokens: bool,
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
            seed: 0,
            max_devices: 1_000_000,
            max_observations: 100_000,
            events_buffer: 4096,
            max_file_bytes: 256 << 20,
            registration_grace: Duration::from_secs(5),
            coap: EndpointConfig::default(),
            discovery_concurrency: 64,
            http_header_timeout: Duration::from_secs(10),
            http_body_timeout: Duration::from_secs(30),
            http_max_connections: 4096,
            max_register_payload: 4096,
            register_rate: RateLimit {
                burst: 20,
                per_second: 2.0,
            },
            inactive_device_retention: Duration::from_secs(3600),
            max_schedule_ahead: Duration::from_secs(7 * 86_400),
            seeded_tokens: false,
        }
    }
}
