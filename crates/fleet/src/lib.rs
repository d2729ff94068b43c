//! The fleetbench fleet: simulated LwM2M devices with attached sub-devices, speaking real
//! CoAP over real UDP sockets.
//!
//! PUBLIC SURFACE CONTRACT (the runner and the binary use it): keep these names and
//! signatures; extend freely.
//!
//! Layout: [`model`] (object trees, no I/O), [`device`] (the sans-IO request handler with
//! Object 25 prefix routing), [`profile`] (seeded response delays and failures), and the
//! tokio driver that owns one UDP socket per device.

pub mod device;
pub mod model;
pub mod profile;
pub mod registration;
pub mod seeds;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use profile::{BehaviourProfile, DelayDistribution};

/// How to start a fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The LwM2M server devices register with.
    pub server: SocketAddr,
    /// Number of devices (gateways), each with its own UDP socket.
    pub devices: usize,
    /// Sub-devices attached behind each device (Object 25 instances).
    pub sub_devices: usize,
    /// Endpoint name prefix: device `i` registers as `{prefix}{i:06}`.
    pub endpoint_prefix: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Behaviour of every device.
    pub profile: BehaviourProfile,
    /// Registration lifetime.
    pub lifetime: Duration,
    /// First registrations are spread uniformly over this window.
    pub registration_spread: Duration,
    /// Local addresses sockets are spread over (default 127.0.0.1).
    pub bind_ips: Vec<IpAddr>,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            server: SocketAddr::from(([127, 0, 0, 1], 5683)),
            devices: 1,
            sub_devices: 0,
            endpoint_prefix: "fleetbench-".to_owned(),
            seed: 0,
            profile: BehaviourProfile::default(),
            lifetime: Duration::from_secs(300),
            registration_spread: Duration::from_secs(1),
            bind_ips: vec![IpAddr::from([127, 0, 0, 1])],
        }
    }
}

/// Sub-device `k` of device endpoint `ep` is named `{ep}-sub{k}` and has Object 25 prefix
/// `dev{k}`.
pub fn sub_device_name(endpoint: &str, index: usize) -> String {
    format!("{endpoint}-sub{index}")
}

/// Why the fleet failed.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A socket could not be bound.
    #[error("cannot bind a device socket on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not all devices registered in time.
    #[error("{registered} of {expected} devices registered within {waited:?}")]
    RegistrationTimeout {
        /// Registered so far.
        registered: usize,
        /// Expected.
        expected: usize,
        /// How long we waited.
        waited: Duration,
    },
    /// Not built yet.
    #[error("the fleet is not implemented yet")]
    NotImplemented,
}

/// A running fleet.
#[derive(Debug)]
pub struct RunningFleet {}

impl RunningFleet {
    /// Devices currently registered.
    pub fn registered(&self) -> usize {
        0
    }

    /// Waits until every device has registered, or fails after `timeout`.
    pub async fn wait_registered(&self, timeout: Duration) -> Result<(), FleetError> {
        Err(FleetError::RegistrationTimeout {
            registered: 0,
            expected: 0,
            waited: timeout,
        })
    }

    /// De-registers every device and stops.
    pub async fn shutdown(self) {}
}

/// Binds every device socket and starts the devices.
pub async fn start(config: FleetConfig) -> Result<RunningFleet, FleetError> {
    let _ = config;
    Err(FleetError::NotImplemented)
}
