//! A validated gateway command: what was asked, immutable once accepted.

use std::time::Duration;

use fleetbench_lwm2m::path::Lwm2mPath;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::ids::ObjectId;
use super::kinds::{CommandType, Lwm2mType};
use super::timestamp::Timestamp;

/// A validated command. Serializes to the fields of the stored GatewayCommand object (the
/// record adds `_id`, `statuses` and timestamps).
#[derive(Debug, Clone, Serialize)]
pub struct CommandSpec {
    /// The command type.
    pub command_type: CommandType,
    /// The addressed device (`_id`).
    pub device_id: ObjectId,
    /// Values for the device; typed values given top level (`enable`, `url`, `level`) are
    /// copied here.
    pub payload: Map<String, Value>,
    /// When the command may run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Whole-command deadline per target, in seconds (the default when none was given).
    pub timeout: u64,
    /// Setting `_id` (accepted as `settings_id` or `setting_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings_id: Option<String>,
    /// User-defined command `_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    /// Software update `_id` (`software_update` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_update_id: Option<ObjectId>,
    /// Attached devices targeted through the addressed gateway.
    pub attached_device_ids: Vec<ObjectId>,
    /// Retry policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<RetryOptions>,
    /// LwM2M sub-command.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub lwm2m_type: Option<Lwm2mType>,
    /// LwM2M path (normalised text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Value for `write`, arguments for `exec`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Path of the file on the device (`lwm2m_file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filepath: Option<String>,
    /// File to push (`fileupload`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<ObjectId>,
    /// Company, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
    /// User, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Name, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Always `cloud`.
    pub origin: &'static str,
    /// Target device ids: the addressed device, or the attached devices when
    /// `attached_device_ids` is given.
    #[serde(skip)]
    pub targets: Vec<ObjectId>,
    /// Parsed `endpoint`.
    #[serde(skip)]
    pub path: Option<Lwm2mPath>,
}

/// A validated `schedule`.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The object as given (echoed back).
    pub raw: Value,
    /// Window start; `None` = open now.
    pub start: Option<Timestamp>,
    /// Window end; `None` = never closes.
    pub end: Option<Timestamp>,
    /// Delay between attempts when no `retry_options.retry_strategy` is given.
    pub retry_interval: Option<Duration>,
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

/// Most retries a command may ask for.
pub const MAX_RETRIES_LIMIT: u32 = 100;

/// Most attempts when retries are bounded only by a schedule window.
pub const WINDOW_RETRY_LIMIT: u32 = MAX_RETRIES_LIMIT;

/// A validated `retry_options`.
#[derive(Debug, Clone)]
pub struct RetryOptions {
    /// The object as given (echoed back).
    pub raw: Value,
    /// Per-attempt deadline.
    pub attempt_timeout: Option<Duration>,
    /// Most retries after the first attempt; `None` = not given.
    pub max_retries: Option<u32>,
    /// Delay policy between attempts; `None` = not given.
    pub strategy: Option<RetryStrategy>,
}

impl Serialize for RetryOptions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

/// How long to wait before each retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryStrategy {
    /// Always the same delay.
    Fixed {
        /// The delay.
        interval: Duration,
    },
    /// `min(base * multiplier^(n-1), max)` before retry `n`.
    Exponential {
        /// Delay before the first retry.
        base: Duration,
        /// Growth factor (at least 1).
        multiplier: f64,
        /// Upper bound; `None` = unbounded.
        max: Option<Duration>,
    },
}

impl RetryStrategy {
    /// The delay before retry `n` (1-based: the delay after attempt `n`).
    pub fn delay(&self, retry: u32) -> Duration {
        match *self {
            Self::Fixed { interval } => interval,
            Self::Exponential {
                base,
                multiplier,
                max,
            } => {
                let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
                let seconds = base.as_secs_f64() * multiplier.powi(exponent);
                let cap = max.map_or(f64::MAX, |max| max.as_secs_f64());
                let bounded = seconds.min(cap).min(MAX_DELAY.as_secs_f64());
                Duration::try_from_secs_f64(bounded).unwrap_or(MAX_DELAY)
            }
        }
    }
}

/// No retry delay exceeds this (one year).
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 86_400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_delay_grows_then_caps() {
        let strategy = RetryStrategy::Exponential {
            base: Duration::from_secs(180),
            multiplier: 2.0,
            max: Some(Duration::from_secs(3600)),
        };
        let delays: Vec<u64> = (1..=6).map(|n| strategy.delay(n).as_secs()).collect();
        assert_eq!(delays, vec![180, 360, 720, 1440, 2880, 3600]);
        let unbounded = RetryStrategy::Exponential {
            base: Duration::from_secs(1),
            multiplier: 10.0,
            max: None,
        };
        assert_eq!(unbounded.delay(400), MAX_DELAY);
    }

    #[test]
    fn fixed_delay_is_constant() {
        let strategy = RetryStrategy::Fixed {
            interval: Duration::from_millis(1500),
        };
        assert_eq!(strategy.delay(1), strategy.delay(9));
        assert_eq!(strategy.delay(3), Duration::from_millis(1500));
    }
}
