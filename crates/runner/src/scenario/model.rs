//! The validated scenario model: what a run needs, with every value checked.

use std::net::SocketAddr;
use std::time::Duration;

use fleetbench_fleet::profile::duration;
use fleetbench_fleet::profile::duration::HumanDuration;
use fleetbench_fleet::{ProfileSpec as Profile, SubDeviceMode};
use schemars::JsonSchema;
use serde::Deserialize;

use super::threshold::Threshold;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Short name (letters, digits, `-`, `_`, `.`), used in the run id.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Where the scenario came from (file name or the name given to `from_str`).
    pub origin: String,
    /// The scenario text as written (copied into each run directory as `scenario.toml`).
    pub source: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Real or virtual time.
    pub mode: RunMode,
    /// Virtual time: the UTC date-time the virtual clock starts at.
    pub epoch: time::OffsetDateTime,
    /// Load phases, run one after the other.
    pub phases: Vec<Phase>,
    /// The simulated devices.
    pub fleet: Fleet,
    /// The gateway under test.
    pub target: Target,
    /// Completion detection.
    pub poll: PollSettings,
    /// Generator limits.
    pub execution: ExecutionSettings,
    /// The weighted command mix.
    pub commands: Vec<CommandSpec>,
    /// Pass/fail rules evaluated on the results.
    pub thresholds: Vec<Threshold>,
}

/// How a scenario runs: `mode = "real"` or `"virtual"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// Real sockets and clocks.
    #[default]
    Real,
    /// One process on tokio's paused clock, in-memory network, in-process API.
    Virtual,
}

impl RunMode {
    /// True for [`RunMode::Virtual`].
    pub fn is_virtual(self) -> bool {
        self == RunMode::Virtual
    }
}

/// The default virtual-time epoch: 2030-01-01T00:00:00Z.
pub const DEFAULT_EPOCH: time::OffsetDateTime = time::macros::datetime!(2030-01-01 0:00 UTC);

impl Scenario {
    /// Sum of the phase durations.
    pub fn total_duration(&self) -> Duration {
        self.phases
            .iter()
            .fold(Duration::ZERO, |sum, p| sum.saturating_add(p.duration))
    }
}

/// One phase of load.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Unique name.
    pub name: String,
    /// How long the phase issues commands.
    pub duration: Duration,
    /// How commands are issued.
    pub load: LoadModel,
}

/// How a phase issues commands, tagged by `model`; each model takes exactly its parameters.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(tag = "model", rename_all = "lowercase", deny_unknown_fields)]
pub enum LoadModel {
    /// Open model: one command every `1/rate` seconds.
    Constant {
        /// Commands per second.
        #[schemars(extend("exclusiveMinimum" = 0), range(max = 1_000_000))]
        rate: f64,
    },
    /// Open model: Poisson arrivals (exponential gaps) with mean `rate` per second.
    Poisson {
        /// Mean commands per second.
        #[schemars(extend("exclusiveMinimum" = 0), range(max = 1_000_000))]
        rate: f64,
    },
    /// Open model: the rate moves linearly from stage to stage.
    Ramping {
        /// Rate at the start of the phase (default 0).
        #[serde(default)]
        #[schemars(range(min = 0, max = 1_000_000))]
        start_rate: f64,
        /// Consecutive stages; each ends at its target rate.
        #[schemars(length(min = 1))]
        stages: Vec<RampStage>,
    },
    /// Closed model: `concurrency` workers each send, wait for completion, think, repeat.
    Closed {
        /// Number of workers.
        #[schemars(range(min = 1, max = 1_000_000))]
        concurrency: usize,
        /// Pause between a completion and the worker's next command (default 0).
        #[serde(default, deserialize_with = "duration::deserialize")]
        #[schemars(with = "HumanDuration")]
        think_time: Duration,
    },
}

impl LoadModel {
    /// `constant`, `poisson`, `ramping` or `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            LoadModel::Constant { .. } => "constant",
            LoadModel::Poisson { .. } => "poisson",
            LoadModel::Ramping { .. } => "ramping",
            LoadModel::Closed { .. } => "closed",
        }
    }

    /// True for the open (arrival-rate) models.
    pub fn is_open(&self) -> bool {
        !matches!(self, LoadModel::Closed { .. })
    }
}

/// One stage of a ramp.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RampStage {
    /// Length of the stage.
    #[serde(deserialize_with = "duration::deserialize")]
    #[schemars(with = "HumanDuration")]
    pub duration: Duration,
    /// Rate reached at the end of the stage.
    #[schemars(range(min = 0, max = 1_000_000))]
    pub target_rate: f64,
}

/// The simulated fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Device classes, each started as its own fleet.
    pub classes: Vec<DeviceClass>,
    /// First registrations are spread over this window.
    pub registration_spread: Duration,
    /// Bound on waiting for every device to register and appear in `GET /devices`.
    pub registration_timeout: Duration,
    /// LwM2M registration lifetime.
    pub lifetime: Duration,
}

impl Fleet {
    /// Devices (gateways) over all classes.
    pub fn device_count(&self) -> usize {
        self.classes.iter().map(|c| c.count).sum()
    }

    /// Sub-devices over all classes.
    pub fn sub_device_count(&self) -> usize {
        self.classes.iter().map(|c| c.count * c.sub_devices).sum()
    }
}

/// A class of identical devices.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceClass {
    /// Unique name.
    pub name: String,
    /// Number of devices.
    pub count: usize,
    /// Sub-devices behind each device.
    pub sub_devices: usize,
    /// Endpoint name prefix: device `i` is `{prefix}{i:06}`.
    pub endpoint_prefix: String,
    /// How the devices behave.
    pub profile: Profile,
    /// How sub-devices reach the gateway.
    pub sub_device_mode: SubDeviceMode,
    /// LwM2M queue mode: devices listen only for an awake window after they send.
    pub queue_mode: bool,
    /// The awake window of queue mode.
    pub queue_awake_window: Duration,
    /// Send a registration Update this often (default: about half the lifetime).
    pub update_period: Option<Duration>,
}

impl DeviceClass {
    /// Endpoint name of device `index`.
    pub fn endpoint(&self, index: usize) -> String {
        format!("{}{index:06}", self.endpoint_prefix)
    }
}

/// The gateway under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Start the embedded mock gateway (the default).
    Embedded,
    /// An already running gateway.
    External {
        /// Base URL of the REST API, e.g. `http://127.0.0.1:8080`.
        url: String,
        /// Raw token for the `Authorization` header.
        token: String,
        /// LwM2M server address the fleet registers with.
        lwm2m_server: SocketAddr,
    },
}

/// How the runner learns that a command completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CompletionMode {
    /// Use the gateway's event stream when it offers one, else poll (the default).
    Auto,
    /// Require the event stream (the run fails to start without it).
    Events,
    /// Always poll `GET /gateway_commands/{id}`.
    Poll,
}

impl CompletionMode {
    /// `auto`, `events` or `poll`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionMode::Auto => "auto",
            CompletionMode::Events => "events",
            CompletionMode::Poll => "poll",
        }
    }
}

/// Completion detection: the gateway's event stream, or polling `GET /gateway_commands/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSettings {
    /// Events, polling, or events when available.
    pub mode: CompletionMode,
    /// With events: poll each waiting command this often anyway (a backstop against events
    /// the gateway lost without saying so).
    pub backstop_interval: Duration,
    /// With events: read each completed command once more over HTTP for its attempts and
    /// timestamps (off the latency path).
    pub read_details: bool,
    /// Pause between two polls of one command.
    pub interval: Duration,
    /// Give up on a command (count it `unfinished`) after this long; `None` derives it from
    /// the command's timeout and retries.
    pub give_up_after: Option<Duration>,
}

/// Generator limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionSettings {
    /// Most commands in flight; a command due while the bound is hit is counted `dropped`.
    pub max_in_flight: usize,
    /// After the last phase, how long to wait for in-flight commands.
    pub drain_timeout: Duration,
    /// Bound on one HTTP request.
    pub request_timeout: Duration,
    /// HTTP/1.1 keep-alive connections to the target for creates and polls (a share
    /// reserved for polls), all opened before the first phase; never more (1..=10000,
    /// default 64).
    pub connections: usize,
    /// Largest fraction of the planned commands that may fail to be sent (HTTP errors,
    /// transport errors) before the run fails with exit 99 even without thresholds
    /// (0..=1, default 0.01).
    pub max_error_ratio: f64,
}

/// Which devices a command may target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetKindSelector {
    /// Devices (gateways) only.
    Gateway,
    /// Sub-devices only.
    SubDevice,
    /// Both.
    Any,
}

/// How a command reaches a sub-device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubDeviceRoute {
    /// POST to the sub-device's own `_id` (the gateway routes it through its parent).
    Direct,
    /// POST to the parent's `_id` with `attached_device_ids = [sub-device _id]`.
    ViaParent,
}

/// The devices a command is sent to.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSelector {
    /// Restrict to one device class (`None`: every class).
    pub class: Option<String>,
    /// Devices, sub-devices or both.
    pub kind: TargetKindSelector,
    /// Fraction (0..=1] of the matching devices in the target set (a seeded subset).
    pub fraction: f64,
    /// How sub-devices are addressed.
    pub route: SubDeviceRoute,
}

/// `retry_options` of a command (durations are sent as whole seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryOptions {
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// Back-off between attempts.
    pub retry_strategy: Option<RetryStrategy>,
}

/// `retry_options.retry_strategy`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryStrategy {
    /// `fixed` or `exponential`.
    pub kind: String,
    /// Pause of the fixed strategy.
    pub fixed_interval: Option<Duration>,
    /// First pause of the exponential strategy.
    pub exponential_base_interval: Option<Duration>,
    /// Growth factor of the exponential strategy.
    pub exponential_multiplier: Option<f64>,
    /// Cap of the exponential strategy.
    pub exponential_max_interval: Option<Duration>,
}

/// A gateway-side schedule, relative to the moment the command is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelativeSchedule {
    /// `start_datetime` = send time + this.
    pub opens_after: Duration,
    /// `end_datetime` = `start_datetime` + this.
    pub lasts: Duration,
}

/// One entry of the weighted command mix.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// Series label, default `command_type:type` (or `command_type`).
    pub label: String,
    /// Relative weight (> 0).
    pub weight: f64,
    /// `command_type` of the request body.
    pub command_type: String,
    /// `type` (the LwM2M sub-command), if any.
    pub kind: Option<String>,
    /// `endpoint` (LwM2M path), if any.
    pub endpoint: Option<String>,
    /// `data` (value of a write), if any.
    pub data: Option<String>,
    /// `timeout`, sent as whole seconds.
    pub timeout: Option<Duration>,
    /// `retry_options`.
    pub retry_options: Option<RetryOptions>,
    /// `schedule`, relative to the send time.
    pub schedule: Option<RelativeSchedule>,
    /// Further body fields, copied verbatim.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Who receives it.
    pub targets: TargetSelector,
    /// For `software_update`: the package the runner registers (`POST /software_updates`)
    /// before the load; its `_id` is sent as `software_update_id`.
    pub package: Option<Package>,
}

/// A firmware package for `software_update` commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Package {
    /// The gateway pushes this many bytes (uploaded with `POST /files`).
    Push {
        /// Name of the update.
        name: String,
        /// Package size.
        bytes: usize,
    },
    /// Devices pull the package from this URI.
    Pull {
        /// Name of the update.
        name: String,
        /// The package URI.
        link: String,
    },
}
