//! The bounds a scenario is checked against. Limits of the fleet and of the embedded gateway
//! are not repeated here: they are the constants of the crates that enforce them, re-exported
//! so that documentation and tests can name them.

use std::time::Duration;

pub use fleetbench_fleet::MAX_DEVICES as MAX_ENDPOINTS_PER_CLASS;
pub use fleetbench_fleet::device::MAX_SUB_DEVICES;

/// Largest device count of one class.
pub const MAX_DEVICES_PER_CLASS: i64 = 1_000_000;
/// Largest firmware package the runner uploads, bytes (the embedded gateway is started with
/// a request-body limit above it).
pub const MAX_PACKAGE_BYTES: i64 = 16 << 20;
/// Largest rate of an open phase, commands per second.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Largest closed-model concurrency.
pub const MAX_CONCURRENCY: i64 = 1_000_000;
/// Largest `execution.max_in_flight`.
pub const MAX_IN_FLIGHT: i64 = 1_000_000;
/// Largest `execution.connections` (the HTTP connection pool).
pub const MAX_CONNECTIONS: i64 = 10_000;
/// Default `execution.connections`.
pub const DEFAULT_CONNECTIONS: usize = 64;
/// Default `execution.max_error_ratio`: a run where more than this fraction of the planned
/// commands could not be sent (HTTP or transport errors) fails with exit 99.
pub const DEFAULT_MAX_ERROR_RATIO: f64 = 0.01;

/// Longest duration of any kind a scenario may give (30 days): phases, stages, think times,
/// schedules, profile periods. Owned by the fleet's duration parser, which every scenario
/// duration goes through.
pub use fleetbench_fleet::profile::duration::MAX_DURATION;
/// Longest timeout or waiting bound (7 days): command and attempt timeouts, retry intervals,
/// `registration_timeout`, `request_timeout`, `drain_timeout`, `poll.*`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 86_400);

/// Most devices (gateways plus sub-devices) over all classes: the embedded gateway's
/// registry size.
pub fn max_total_devices() -> usize {
    fleetbench_gateway::GatewayConfig::default().max_devices
}

/// File descriptors kept free for everything but device sockets and HTTP connections (logs,
/// result files, the gateway's listeners, the runtime).
pub const FD_RESERVE: u64 = 256;
