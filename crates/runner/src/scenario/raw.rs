//! The scenario as written: serde shapes with spans, before validation.

use std::borrow::Cow;
use std::time::Duration;

use fleetbench_fleet::profile::duration;
use fleetbench_fleet::{ProfileSpec, SubDeviceMode};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::model::{CompletionMode, LoadModel, RunMode, SubDeviceRoute, TargetKindSelector};

/// A duration written as a humantime string ("250ms", "10s", "1h 30m"), read by the fleet's
/// [`duration::deserialize`] (which owns the 30-day bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub(crate) Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        duration::deserialize(deserializer).map(HumanDuration)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        duration::HumanDuration::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        duration::HumanDuration::json_schema(generator)
    }
}

pub(crate) type SDur = Spanned<HumanDuration>;

/// Top-level keys other than the arrays and tables handled piecewise.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeader {
    #[schemars(with = "Option<String>")]
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) description: Option<String>,
    #[schemars(with = "Option<i64>")]
    pub(crate) seed: Option<Spanned<i64>>,
    pub(crate) mode: Option<RunMode>,
    #[schemars(with = "Option<String>")]
    pub(crate) epoch: Option<Spanned<String>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) duration: Option<SDur>,
    #[schemars(with = "Option<LoadModel>")]
    pub(crate) load: Option<Spanned<LoadModel>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPhase {
    #[schemars(with = "Option<String>", regex(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub(crate) name: Option<Spanned<String>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) duration: Option<SDur>,
    #[schemars(with = "LoadModel")]
    pub(crate) load: Spanned<LoadModel>,
}

/// `[fleet]`; parse.rs reads its `classes` array element by element.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleetSettings {
    /// The device classes (read separately; always absent here).
    #[schemars(with = "Vec<RawClass>", length(min = 1), required)]
    #[allow(dead_code)]
    pub(crate) classes: Option<serde::de::IgnoredAny>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) registration_spread: Option<SDur>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) registration_timeout: Option<SDur>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) lifetime: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClass {
    #[schemars(with = "String", regex(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub(crate) name: Spanned<String>,
    #[schemars(with = "i64", range(min = 1, max = 1_000_000))]
    pub(crate) count: Spanned<i64>,
    #[schemars(with = "Option<i64>")]
    pub(crate) sub_devices: Option<Spanned<i64>>,
    #[schemars(with = "Option<String>")]
    pub(crate) endpoint_prefix: Option<Spanned<String>>,
    pub(crate) profile: Option<ProfileSpec>,
    pub(crate) sub_device_mode: Option<SubDeviceMode>,
    pub(crate) queue_mode: Option<bool>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) queue_awake_window: Option<SDur>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) update_period: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    #[schemars(with = "Option<String>")]
    pub(crate) mode: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub(crate) url: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub(crate) token: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub(crate) token_env: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub(crate) lwm2m_server: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPoll {
    pub(crate) mode: Option<CompletionMode>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) backstop_interval: Option<SDur>,
    pub(crate) read_details: Option<bool>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) interval: Option<SDur>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) give_up_after: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExecution {
    #[schemars(with = "Option<i64>")]
    pub(crate) max_in_flight: Option<Spanned<i64>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) drain_timeout: Option<SDur>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) request_timeout: Option<SDur>,
    #[schemars(with = "Option<i64>")]
    pub(crate) connections: Option<Spanned<i64>>,
    #[schemars(with = "Option<f64>")]
    pub(crate) max_error_ratio: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    #[schemars(with = "Option<String>")]
    pub(crate) label: Option<Spanned<String>>,
    #[schemars(with = "Option<f64>")]
    pub(crate) weight: Option<Spanned<f64>>,
    #[schemars(with = "String")]
    pub(crate) command_type: Spanned<String>,
    #[serde(rename = "type")]
    #[schemars(with = "Option<String>")]
    pub(crate) kind: Option<Spanned<String>>,
    #[schemars(with = "Option<String>", regex(pattern = r"^/.+"))]
    pub(crate) endpoint: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub(crate) data: Option<Spanned<String>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) timeout: Option<SDur>,
    pub(crate) retry_options: Option<RawRetryOptions>,
    pub(crate) schedule: Option<RawSchedule>,
    pub(crate) targets: Option<RawTargets>,
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub(crate) extra: Option<Spanned<toml::Table>>,
    #[schemars(with = "Option<RawPackage>")]
    pub(crate) package: Option<Spanned<RawPackage>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPackage {
    pub(crate) name: Option<String>,
    #[schemars(with = "Option<i64>")]
    pub(crate) bytes: Option<Spanned<i64>>,
    #[schemars(with = "Option<String>")]
    pub(crate) link: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetryOptions {
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) timeout: Option<SDur>,
    #[schemars(with = "Option<i64>")]
    pub(crate) max_retries: Option<Spanned<i64>>,
    pub(crate) retry_strategy: Option<RawRetryStrategy>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetryStrategy {
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    pub(crate) kind: Spanned<String>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) fixed_interval: Option<SDur>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) exponential_base_interval: Option<SDur>,
    #[schemars(with = "Option<f64>")]
    pub(crate) exponential_multiplier: Option<Spanned<f64>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub(crate) exponential_max_interval: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    #[schemars(with = "HumanDuration")]
    pub(crate) opens_after: SDur,
    #[schemars(with = "HumanDuration")]
    pub(crate) lasts: SDur,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTargets {
    #[schemars(with = "Option<String>")]
    pub(crate) class: Option<Spanned<String>>,
    #[schemars(with = "Option<TargetKindSelector>")]
    pub(crate) kind: Option<Spanned<TargetKindSelector>>,
    #[schemars(with = "Option<f64>")]
    pub(crate) fraction: Option<Spanned<f64>>,
    #[schemars(with = "Option<SubDeviceRoute>")]
    pub(crate) route: Option<Spanned<SubDeviceRoute>>,
}

/// A threshold: a rule string, or `{ rule = "...", abort_on_fail = true }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a threshold string like \"fails == 0\" or a table { rule = \"...\", abort_on_fail = true }"
)]
pub(crate) enum RawThreshold {
    Rule(String),
    Table(RawThresholdTable),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThresholdTable {
    pub(crate) rule: String,
    #[serde(default)]
    pub(crate) abort_on_fail: bool,
}

impl RawThreshold {
    pub(crate) fn rule(&self) -> &str {
        match self {
            RawThreshold::Rule(r) => r,
            RawThreshold::Table(t) => &t.rule,
        }
    }

    pub(crate) fn abort_on_fail(&self) -> bool {
        matches!(self, RawThreshold::Table(t) if t.abort_on_fail)
    }
}

/// The whole scenario file as the JSON Schema describes it (parse.rs reads it section by
/// section into the types above, so that one broken section does not hide the others).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "fleetbench scenario",
    description = "A fleetbench scenario (TOML). The runner checks more than this schema can (e.g. that filters name existing phases and commands); see docs/scenario-format.md. Generated from the runner's types: UPDATE_SCHEMA=1 cargo test -p fleetbench-runner --test schema."
)]
#[allow(dead_code)]
pub(crate) struct ScenarioFile {
    /// Short name, used in the run id.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    name: String,
    /// Free text.
    description: Option<String>,
    /// Seed of every random choice (default 0).
    seed: Option<u64>,
    /// `real` (default): real sockets and clocks, for speed. `virtual`: gateway, fleet and
    /// runner in one process on a virtual clock, for policy and behaviour (same as
    /// `fleetbench run --virtual-time`).
    mode: Option<RunMode>,
    /// Virtual time: the UTC date-time (RFC 3339) the virtual clock starts at (default
    /// 2030-01-01T00:00:00Z).
    epoch: Option<String>,
    /// Shorthand for one phase: its duration (with `load`).
    duration: Option<HumanDuration>,
    /// Shorthand for one phase: its load model (with `duration`).
    load: Option<LoadModel>,
    /// Load phases, run one after the other (instead of `duration` + `load`).
    #[schemars(length(min = 1))]
    phases: Option<Vec<RawPhase>>,
    /// The simulated devices.
    fleet: RawFleetSettings,
    /// The gateway under test (default: the embedded mock gateway).
    target: Option<RawTarget>,
    /// Completion detection.
    poll: Option<RawPoll>,
    /// Generator limits.
    execution: Option<RawExecution>,
    /// The weighted command mix.
    #[schemars(length(min = 1))]
    commands: Vec<RawCommand>,
    /// Pass/fail rules evaluated on the results.
    thresholds: Option<Vec<RawThreshold>>,
}
