//! The scenario as written: serde shapes with spans, before validation.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A duration written as a humantime string ("250ms", "10s", "1h 30m").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub(crate) Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration string like \"250ms\" or \"10s\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v.trim())
                    .map(HumanDuration)
                    .map_err(|e| {
                        E::custom(format!(
                            "expected a duration like \"250ms\" or \"10s\", got \"{v}\" ({e})"
                        ))
                    })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "expected a duration string with a unit like \"{v}s\" or \"{v}ms\", got the bare number {v}"
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "expected a duration string with a unit like \"{v}s\", got the bare number {v}"
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

pub(crate) type SDur = Spanned<HumanDuration>;

/// Top-level keys other than the arrays and tables handled piecewise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeader {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) description: Option<String>,
    pub(crate) seed: Option<Spanned<i64>>,
    pub(crate) duration: Option<SDur>,
    pub(crate) load: Option<Spanned<RawLoad>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPhase {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) duration: Option<SDur>,
    pub(crate) load: Spanned<RawLoad>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoad {
    pub(crate) model: Spanned<String>,
    pub(crate) rate: Option<Spanned<f64>>,
    pub(crate) start_rate: Option<Spanned<f64>>,
    pub(crate) stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    pub(crate) concurrency: Option<Spanned<i64>>,
    pub(crate) think_time: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    pub(crate) duration: SDur,
    pub(crate) target_rate: Spanned<f64>,
}

/// `[fleet]` without its `classes` array.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleetSettings {
    pub(crate) registration_spread: Option<SDur>,
    pub(crate) registration_timeout: Option<SDur>,
    pub(crate) lifetime: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClass {
    pub(crate) name: Spanned<String>,
    pub(crate) count: Spanned<i64>,
    pub(crate) sub_devices: Option<Spanned<i64>>,
    pub(crate) endpoint_prefix: Option<Spanned<String>>,
    pub(crate) profile: Option<RawProfile>,
    pub(crate) sub_device_mode: Option<Spanned<String>>,
    pub(crate) queue_mode: Option<bool>,
    pub(crate) queue_awake_window: Option<SDur>,
    pub(crate) update_period: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    pub(crate) delay: Option<Spanned<RawDelay>>,
    pub(crate) failure_ratio: Option<Spanned<f64>>,
    pub(crate) no_reply_ratio: Option<Spanned<f64>>,
    pub(crate) reboot_downtime: Option<SDur>,
    pub(crate) notification_period: Option<SDur>,
    pub(crate) sample_period: Option<SDur>,
    pub(crate) firmware_failures: Option<Vec<Spanned<RawFirmwareFailure>>>,
    pub(crate) link: Option<Spanned<RawLink>>,
    pub(crate) churn: Option<Spanned<RawChurn>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFirmwareFailure {
    pub(crate) result: Spanned<i64>,
    pub(crate) ratio: Spanned<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLink {
    pub(crate) loss: Option<Spanned<f64>>,
    pub(crate) duplicate: Option<Spanned<f64>>,
    pub(crate) reorder: Option<Spanned<f64>>,
    pub(crate) reorder_delay: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChurn {
    pub(crate) offline_rate_per_hour: Option<Spanned<f64>>,
    pub(crate) offline_duration: Option<Spanned<RawDelay>>,
    pub(crate) reboot_rate_per_hour: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelay {
    pub(crate) distribution: Spanned<String>,
    pub(crate) value: Option<SDur>,
    pub(crate) min: Option<SDur>,
    pub(crate) max: Option<SDur>,
    pub(crate) mean: Option<SDur>,
    pub(crate) std_dev: Option<SDur>,
    pub(crate) median: Option<SDur>,
    pub(crate) sigma: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) token: Option<Spanned<String>>,
    pub(crate) token_env: Option<Spanned<String>>,
    pub(crate) lwm2m_server: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPoll {
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) backstop_interval: Option<SDur>,
    pub(crate) read_details: Option<bool>,
    pub(crate) interval: Option<SDur>,
    pub(crate) give_up_after: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExecution {
    pub(crate) max_in_flight: Option<Spanned<i64>>,
    pub(crate) drain_timeout: Option<SDur>,
    pub(crate) request_timeout: Option<SDur>,
    pub(crate) connections: Option<Spanned<i64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommand {
    pub(crate) label: Option<Spanned<String>>,
    pub(crate) weight: Option<Spanned<f64>>,
    pub(crate) command_type: Spanned<String>,
    #[serde(rename = "type")]
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) endpoint: Option<Spanned<String>>,
    pub(crate) data: Option<Spanned<String>>,
    pub(crate) timeout: Option<SDur>,
    pub(crate) retry_options: Option<RawRetryOptions>,
    pub(crate) schedule: Option<RawSchedule>,
    pub(crate) targets: Option<RawTargets>,
    pub(crate) extra: Option<Spanned<toml::Table>>,
    pub(crate) package: Option<Spanned<RawPackage>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPackage {
    pub(crate) name: Option<String>,
    pub(crate) bytes: Option<Spanned<i64>>,
    pub(crate) link: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetryOptions {
    pub(crate) timeout: Option<SDur>,
    pub(crate) max_retries: Option<Spanned<i64>>,
    pub(crate) retry_strategy: Option<RawRetryStrategy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetryStrategy {
    #[serde(rename = "type")]
    pub(crate) kind: Spanned<String>,
    pub(crate) fixed_interval: Option<SDur>,
    pub(crate) exponential_base_interval: Option<SDur>,
    pub(crate) exponential_multiplier: Option<Spanned<f64>>,
    pub(crate) exponential_max_interval: Option<SDur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub(crate) opens_after: SDur,
    pub(crate) lasts: SDur,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTargets {
    pub(crate) class: Option<Spanned<String>>,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) fraction: Option<Spanned<f64>>,
    pub(crate) route: Option<Spanned<String>>,
}

/// A threshold: a rule string, or `{ rule = "...", abort_on_fail = true }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a threshold string like \"fails == 0\" or a table { rule = \"...\", abort_on_fail = true }"
)]
pub(crate) enum RawThreshold {
    Rule(String),
    Table(RawThresholdTable),
}

#[derive(Debug, Clone, Deserialize)]
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
