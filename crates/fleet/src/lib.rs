//! The fleetbench fleet: simulated LwM2M devices with attached sub-devices, speaking real
//! CoAP over real UDP sockets.
//!
//! PUBLIC SURFACE CONTRACT (the runner and the binary use it): keep these names and
//! signatures; extend freely.
//!
//! Layout: [`model`] (object trees, attributes, sensors, file store, firmware state; no I/O),
//! [`device`] (the sans-IO request handler with Object 25 prefix routing and block-wise
//! transfers), [`registration`] (the sans-IO registration client), [`observe`] (the sans-IO
//! observation table), [`firmware_pull`] (the sans-IO Block2 download client),
//! [`profile`] (seeded behaviour), [`impaired`] (a lossy transport wrapper), [`driver`] (the
//! tokio task that owns one device's socket and one timer) and [`fleet`] (starting and
//! stopping many of them, [`bind`] spreading sockets over 127.0.0.x).
//!
//! What a device is: a gateway with Objects 0 (Security, never listed nor readable), 1
//! (Server), 3 (Device), 4 (Connectivity Monitoring), 5 (Firmware Update), 25 (LwM2M
//! Gateway, one instance per sub-device), 3303 (Temperature) and 33000 (the fleetbench
//! agent of `docs/gateway-api.md`); sub-device `k` (prefix `dev{k}`, Device ID
//! [`sub_device_name`]) has its own 3, 5, 3303, 3304 (Humidity), 3311 (Light Control) and
//! 33000 — or, in [`SubDeviceMode::PerEndpoint`], registers on its own with 0, 1 and 4 too.
//! It registers as LwM2M 1.1 over UDP (`b=U`, plus `Q` in queue mode) with the root link
//! `</>;rt="oma.lwm2m";ct=110`, updates at about half the lifetime, re-registers on 4.04 or
//! a failed Update with back-off, sends an Update with the object list after a Create or
//! Delete, and de-registers on [`RunningFleet::shutdown`]. Dropping a [`RunningFleet`]
//! without `shutdown` aborts the devices without de-registering.
//!
//! It serves Read, Write (replace and partial), Execute, Create, Delete, Discover,
//! Write-Attributes and Observe (pmin, pmax, gt, lt, st, epmin, epmax) in text/plain,
//! opaque, CBOR, TLV, SenML JSON and SenML CBOR, with block-wise transfers both ways, pulls
//! firmware packages over CoAP with Block2, and behaves as its [`BehaviourProfile`] says
//! (delays, injected errors, silence, link loss/duplication/reordering, churn, firmware
//! failures).
//!
//! Everything random (registration jitter, delays, failures, sensor values, link
//! impairments, churn, firmware outcomes, CoAP message IDs and tokens) is derived from
//! [`FleetConfig::seed`] and the device index.

pub mod bind;
pub mod device;
pub mod driver;
pub mod firmware_pull;
pub mod fleet;
pub mod fuzzing;
pub mod impaired;
pub mod limits;
pub mod model;
pub mod mux;
pub mod observe;
pub mod precise_timer;
pub mod profile;
pub mod registration;
pub mod seeds;
pub mod send;
pub mod stats;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use fleetbench_lwm2m::coap::EndpointConfig;

pub use fleet::{RunningFleet, StatsHandle, start, start_over};
pub use precise_timer::ReplyTimer;
pub use profile::{
    BehaviourProfile, ChurnProfile, ChurnSpec, DelayDistribution, DelaySpec, FirmwareFailure,
    LinkImpairment, LinkProfile, LinkSpec, ProfileSpec, SpecProblem,
};
pub use registration::RetryPolicy;
pub use stats::{DelayHistograms, FleetStats};

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
    /// CoAP message-layer parameters of every device (RFC 7252 defaults).
    pub coap: EndpointConfig,
    /// Back-off after a failed Register or Update.
    pub retry: RetryPolicy,
    /// Longest wait for the De-register answers at shutdown.
    pub deregister_timeout: Duration,
    /// How sub-devices reach the server: behind the gateway's Object 25 (default), or each
    /// as its own endpoint with its own socket.
    pub sub_device_mode: SubDeviceMode,
    /// Queue mode (`b=U` plus `Q`): devices listen only for an awake window after each
    /// datagram they send, and ignore everything else.
    pub queue_mode: bool,
    /// The awake window of queue mode (Leshan assumes 93 s, CoAP MAX_TRANSMIT_WAIT).
    pub queue_awake_window: Duration,
    /// Send a registration Update this often instead of at about half the lifetime (in queue
    /// mode: how often a sleeping device wakes up by itself).
    pub update_period: Option<Duration>,
    /// At most this many sockets per local address; further sockets go to the next
    /// 127.0.0.x (`None`: only when an address runs out of ports).
    pub max_sockets_per_ip: Option<usize>,
    /// The optional content formats advertised in the registration's root link `ct=`
    /// (110 SenML JSON, 112 SenML CBOR, 11542 TLV; all three are served whatever it says). One value is written unquoted, which is
    /// all Wakaama's parser accepts; several become `ct="110 112"`.
    pub root_content_formats: Vec<u16>,
    /// LwM2M 1.1 Send (`POST /dp`): period, paths and format; off by default.
    pub send: send::SendSpec,
    /// One socket per device, or a few shared sockets serving every device by its own
    /// 127.a.b.c address (see [`mux`]). [`SocketMode::Auto`] (the default) multiplexes a
    /// fleet of more than [`AUTO_MULTIPLEX_ABOVE`] endpoints when the server is on loopback
    /// and neither `bind_ips` nor `max_sockets_per_ip` asks for per-device sockets.
    pub socket_mode: SocketMode,
    /// Shared sockets in the multiplexed mode (`None`: one per core, at most 16).
    pub multiplexed_sockets: Option<usize>,
    /// Which of the `devices` this process runs (all by default): a distributed run starts
    /// one fleet per shard, each with its own share of the same device indices, names and
    /// seeds.
    pub shard: DeviceShard,
}

/// Shard `index` of `count` of a fleet: the devices whose index is `index` modulo `count`.
/// Every device keeps the endpoint name and seeds of its index, so the union of the `count`
/// shards is exactly the unsharded fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceShard {
    /// This shard, `0..count`.
    pub index: usize,
    /// Number of shards, at least 1.
    pub count: usize,
}

impl DeviceShard {
    /// Every device (shard 0 of 1).
    pub const ALL: DeviceShard = DeviceShard { index: 0, count: 1 };

    /// Whether device `device` belongs to this shard.
    pub fn owns(&self, device: usize) -> bool {
        self.count > 0 && device % self.count == self.index
    }

    /// The device indices of this shard among `0..devices`, ascending.
    pub fn indices(&self, devices: usize) -> impl Iterator<Item = usize> + use<> {
        let step = self.count.max(1);
        (self.index..devices).step_by(step)
    }

    /// How many of `0..devices` belong to this shard.
    pub fn len(&self, devices: usize) -> usize {
        let step = self.count.max(1);
        if self.index >= devices {
            0
        } else {
            (devices - self.index).div_ceil(step)
        }
    }

    /// True when the shard owns no device of `0..devices`.
    pub fn is_empty(&self, devices: usize) -> bool {
        self.len(devices) == 0
    }
}

impl Default for DeviceShard {
    fn default() -> Self {
        DeviceShard::ALL
    }
}

/// Endpoint count above which [`SocketMode::Auto`] multiplexes. Below it each device keeps
/// its own socket: the multiplexed path currently answers about 1.5 ms later at the median
/// (measured by `tests/reply_delays.rs` on a loaded 2-core machine, 2026-11-29), which the
/// instrument cannot afford; above it one socket per device would not fit the open-file
/// limit anyway.
pub const AUTO_MULTIPLEX_ABOVE: usize = 10_000;

/// How devices get their sockets (`auto`, `per_device` or `multiplexed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SocketMode {
    /// Multiplexed for more than [`AUTO_MULTIPLEX_ABOVE`] endpoints when the server is on
    /// loopback and the default local address is used; per-device otherwise.
    #[default]
    Auto,
    /// Every endpoint owns a UDP socket on `bind_ips` (one file descriptor each). For
    /// servers on other hosts.
    PerDevice,
    /// A few wildcard-bound sockets serve every endpoint, each at its own loopback address
    /// 127.a.b.c ([`mux::address_plan`]); the fleet needs at most
    /// [`limits::FD_BUDGET`] file descriptors whatever its size. Loopback servers only.
    Multiplexed,
}

/// The most shared sockets the multiplexed mode may open.
pub const MAX_MULTIPLEXED_SOCKETS: usize = 64;

/// How sub-devices are exposed to the LwM2M server (`object25` or `per_endpoint` in a
/// scenario file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubDeviceMode {
    /// Object 25 instances on the gateway; every operation on a sub-device goes to the
    /// gateway's endpoint behind the sub-device's prefix (`/dev0/3303/0/5700`).
    #[default]
    Object25,
    /// Every sub-device registers as its own endpoint ([`sub_device_name`]) from its own
    /// socket; the gateway then has no Object 25 instances.
    PerEndpoint,
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
            coap: EndpointConfig::default(),
            retry: RetryPolicy::default(),
            deregister_timeout: Duration::from_secs(5),
            sub_device_mode: SubDeviceMode::Object25,
            queue_mode: false,
            queue_awake_window: Duration::from_secs(93),
            update_period: None,
            max_sockets_per_ip: None,
            root_content_formats: vec![110],
            send: send::SendSpec::default(),
            socket_mode: SocketMode::Auto,
            multiplexed_sockets: None,
            shard: DeviceShard::ALL,
        }
    }
}

/// The most devices one fleet may run.
pub const MAX_DEVICES: usize = 1_000_000;

impl FleetConfig {
    /// The endpoint client name of device `index`: `{endpoint_prefix}{index:06}`.
    pub fn endpoint_name(&self, index: usize) -> String {
        format!("{}{index:06}", self.endpoint_prefix)
    }

    /// Checks every field; the error names the field and the value.
    pub fn validate(&self) -> Result<(), FleetError> {
        let invalid = |field: &'static str, value: String, reason: &'static str| {
            Err(FleetError::InvalidConfig {
                field,
                value,
                reason,
            })
        };
        if self.devices > MAX_DEVICES {
            return invalid(
                "devices",
                self.devices.to_string(),
                "at most 1000000 devices",
            );
        }
        if let Err(err) = self.send.validate() {
            return invalid(
                "send",
                err.to_string(),
                "see fleetbench_fleet::send::SendSpec",
            );
        }
        if self.sub_devices > device::MAX_SUB_DEVICES {
            return invalid(
                "sub_devices",
                self.sub_devices.to_string(),
                "at most 4096 sub-devices per device",
            );
        }
        let name_ok = !self.endpoint_prefix.is_empty()
            && self
                .endpoint_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if !name_ok {
            return invalid(
                "endpoint_prefix",
                format!("{:?}", self.endpoint_prefix),
                "must be non-empty ASCII letters, digits, '-', '_', '.' or ':'",
            );
        }
        if self.lifetime < Duration::from_secs(1) || self.lifetime.as_secs() > u64::from(u32::MAX) {
            return invalid(
                "lifetime",
                format!("{:?}", self.lifetime),
                "must be between 1 s and 2^32 - 1 s",
            );
        }
        if self.retry.base.is_zero() || self.retry.cap < self.retry.base {
            return invalid(
                "retry",
                format!("{:?}", self.retry),
                "base must be above zero and cap at least base",
            );
        }
        if self.coap.ack_random_factor < 1.0 || !self.coap.ack_random_factor.is_finite() {
            return invalid(
                "coap.ack_random_factor",
                self.coap.ack_random_factor.to_string(),
                "must be a finite number >= 1",
            );
        }
        if self.queue_mode && self.queue_awake_window < Duration::from_millis(1) {
            return invalid(
                "queue_awake_window",
                format!("{:?}", self.queue_awake_window),
                "must be at least 1 ms in queue mode",
            );
        }
        if let Some(period) = self.update_period
            && (period < Duration::from_millis(100) || period > self.lifetime)
        {
            return invalid(
                "update_period",
                format!("{period:?}"),
                "must be between 100 ms and the lifetime",
            );
        }
        if self.shard.count == 0 || self.shard.index >= self.shard.count {
            return invalid(
                "shard",
                format!("{}/{}", self.shard.index, self.shard.count),
                "must be I/N with N >= 1 and 0 <= I < N",
            );
        }
        if self.max_sockets_per_ip == Some(0) {
            return invalid("max_sockets_per_ip", "0".to_owned(), "must be at least 1");
        }
        if let Some(format) = self
            .root_content_formats
            .iter()
            .find(|f| !matches!(f, 110 | 112 | 11542))
        {
            return invalid(
                "root_content_formats",
                format.to_string(),
                "must be among 110 (SenML JSON), 112 (SenML CBOR) and 11542 (TLV)",
            );
        }
        if let Some(count) = self.multiplexed_sockets
            && !(1..=MAX_MULTIPLEXED_SOCKETS).contains(&count)
        {
            return invalid(
                "multiplexed_sockets",
                count.to_string(),
                "must be between 1 and 64",
            );
        }
        if self.socket_mode == SocketMode::Multiplexed && !self.server.ip().is_loopback() {
            return invalid(
                "socket_mode",
                format!("multiplexed with server {}", self.server),
                "the multiplexed mode serves loopback servers only; use per_device",
            );
        }
        let endpoints = match self.sub_device_mode {
            SubDeviceMode::Object25 => self.devices,
            SubDeviceMode::PerEndpoint => self.devices.saturating_mul(self.sub_devices + 1),
        };
        if endpoints > MAX_DEVICES {
            return invalid(
                "sub_device_mode",
                format!("{:?} with {} endpoints", self.sub_device_mode, endpoints),
                "at most 1000000 endpoints (devices x (1 + sub_devices) per endpoint)",
            );
        }
        self.profile.validate().map_err(FleetError::Profile)
    }

    /// The socket mode [`SocketMode::Auto`] resolves to for this configuration.
    pub fn effective_socket_mode(&self) -> SocketMode {
        match self.socket_mode {
            SocketMode::Auto => {
                let default_ips =
                    self.bind_ips.is_empty() || self.bind_ips == [IpAddr::from([127, 0, 0, 1])];
                if self.server.ip().is_loopback()
                    && default_ips
                    && self.max_sockets_per_ip.is_none()
                    && self.endpoint_count() > AUTO_MULTIPLEX_ABOVE
                {
                    SocketMode::Multiplexed
                } else {
                    SocketMode::PerDevice
                }
            }
            mode => mode,
        }
    }

    /// How many shared sockets the multiplexed mode opens.
    pub fn multiplexed_socket_count(&self) -> usize {
        self.multiplexed_sockets.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(std::num::NonZeroUsize::get)
                .unwrap_or(1)
                .clamp(1, 16)
        })
    }

    /// How many UDP sockets the fleet opens: one per endpoint, or the few shared ones of
    /// the multiplexed mode.
    pub fn socket_count(&self) -> usize {
        match self.effective_socket_mode() {
            SocketMode::Multiplexed => self.multiplexed_socket_count(),
            _ => self.endpoint_count(),
        }
    }

    /// How many endpoints this shard registers: its devices, plus their sub-devices in
    /// [`SubDeviceMode::PerEndpoint`].
    pub fn endpoint_count(&self) -> usize {
        let devices = self.shard.len(self.devices);
        match self.sub_device_mode {
            SubDeviceMode::Object25 => devices,
            SubDeviceMode::PerEndpoint => devices.saturating_mul(self.sub_devices + 1),
        }
    }
}

impl FleetError {
    /// For a configuration problem, the dotted path of the offending field of
    /// [`FleetConfig`] (`update_period`, `profile.link.uplink.reorder_delay`, ...).
    pub fn config_field(&self) -> Option<String> {
        match self {
            FleetError::InvalidConfig { field, .. } => Some((*field).to_owned()),
            FleetError::Profile(e) => Some(format!("profile.{}", e.field())),
            _ => None,
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
    /// A configuration field is invalid.
    #[error("fleet config field {field} is {value}: {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// The process cannot hold the file descriptors the fleet needs.
    #[error(
        "the fleet needs {needed} file descriptors ({mode}) but only {available} are free \
         (open-file limit {limit}, {open} open); {hint}"
    )]
    FileBudget {
        /// Descriptors the fleet would open.
        needed: usize,
        /// Descriptors still free under the soft limit.
        available: usize,
        /// The soft open-file limit.
        limit: u64,
        /// Descriptors open now.
        open: usize,
        /// Which socket mode asked.
        mode: &'static str,
        /// What to do about it.
        hint: &'static str,
    },
    /// The behaviour profile is invalid.
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    /// Not built yet (kept for callers that matched on it; never returned now).
    #[error("the fleet is not implemented yet")]
    NotImplemented,
}
