//! Behaviour profiles: how long a simulated device takes to answer, how often it fails (and
//! with which CoAP codes) or stays silent, how its link loses, duplicates and reorders
//! datagrams, how often it drops off the network or reboots, how its sensors sample and
//! which firmware updates fail. Every draw comes from a per-device seeded generator.

mod behaviour;
mod churn;
mod delay;
pub mod duration;
mod link;
pub mod spec;

pub use behaviour::{Behaviour, Disposition};
pub use churn::ChurnProfile;
pub use delay::{DelayDistribution, MAX_DELAY, exponential_wait, seconds_to_delay};
pub use link::{LinkImpairment, LinkProfile};
pub use spec::{ChurnSpec, DelaySpec, LinkSpec, ProfileSpec, SpecProblem};

use std::time::Duration;

use coap_lite::ResponseType;

use crate::model::firmware::failure_stage;

/// One kind of injected firmware failure: a fraction of packages ends with this Update
/// Result (2..=9 or 11: download-stage codes fail the download, 8 and 11 the Update).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirmwareFailure {
    /// The Update Result (`/5/0/5`) the package ends with.
    #[schemars(range(min = 2, max = 11))]
    pub result: u8,
    /// Fraction (0..=1) of packages.
    #[schemars(range(min = 0, max = 1))]
    pub ratio: f64,
}

/// How a class of devices behaves. Every random draw is seeded from
/// [`crate::FleetConfig::seed`].
#[derive(Debug, Clone, PartialEq)]
pub struct BehaviourProfile {
    /// Response delay added before answering a server request.
    pub delay: DelayDistribution,
    /// Fraction (0..=1) of requests answered with an error (one of `error_codes`) instead
    /// of being handled.
    pub failure_ratio: f64,
    /// Fraction (0..=1) of requests dropped without any answer (not even an ACK).
    pub no_reply_ratio: f64,
    /// How long a device stays silent after an Execute on `/3/0/4` (Reboot), a firmware
    /// update or a spontaneous reboot before it registers again.
    pub reboot_downtime: Duration,
    /// The Default Maximum Period (`/1/0/3`): observations without a `pmax` attribute
    /// notify at least this often. Zero: only on change.
    pub notification_period: Duration,
    /// The CoAP error codes injected failures answer with, drawn uniformly (4.xx or 5.xx).
    pub error_codes: Vec<ResponseType>,
    /// How often simulated sensors take a new reading (values change only then).
    pub sample_period: Duration,
    /// Injected firmware update failures.
    pub firmware_failures: Vec<FirmwareFailure>,
    /// Loss, duplication and reordering on the device's link.
    pub link: LinkProfile,
    /// Offline periods and spontaneous reboots.
    pub churn: ChurnProfile,
}

impl Default for BehaviourProfile {
    fn default() -> Self {
        Self {
            delay: DelayDistribution::Fixed(Duration::ZERO),
            failure_ratio: 0.0,
            no_reply_ratio: 0.0,
            reboot_downtime: Duration::from_secs(2),
            notification_period: Duration::from_secs(10),
            error_codes: vec![ResponseType::InternalServerError],
            sample_period: Duration::from_secs(5),
            firmware_failures: Vec::new(),
            link: LinkProfile::default(),
            churn: ChurnProfile::default(),
        }
    }
}

/// Why a behaviour profile is invalid. Messages name the field and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    /// A ratio outside `0..=1` (or not a number).
    #[error("behaviour profile field {field} is {value}: expected a ratio in 0..=1")]
    BadRatio {
        /// The field.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// `failure_ratio + no_reply_ratio` above 1.
    #[error(
        "behaviour profile failure_ratio + no_reply_ratio is {sum}: their sum must not exceed 1"
    )]
    RatioSum {
        /// The sum.
        sum: f64,
    },
    /// A delay distribution with invalid parameters.
    #[error("behaviour profile field delay is {value}: {reason}")]
    BadDelay {
        /// The distribution, as debug text.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// Any other field with an invalid value.
    #[error("behaviour profile field {field} is {value}: {reason}")]
    BadField {
        /// The field.
        field: &'static str,
        /// The value, as text.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

/// Field paths of the uplink impairment (loss, duplicate, reorder, reorder_delay).
const UPLINK_FIELDS: [&str; 4] = [
    "link.uplink.loss",
    "link.uplink.duplicate",
    "link.uplink.reorder",
    "link.uplink.reorder_delay",
];
/// Field paths of the downlink impairment.
const DOWNLINK_FIELDS: [&str; 4] = [
    "link.downlink.loss",
    "link.downlink.duplicate",
    "link.downlink.reorder",
    "link.downlink.reorder_delay",
];

impl ProfileError {
    /// The dotted path of the offending field within the profile (e.g.
    /// `link.uplink.reorder_delay`, `churn.offline_rate_per_hour`).
    pub fn field(&self) -> &'static str {
        match self {
            ProfileError::BadRatio { field, .. } | ProfileError::BadField { field, .. } => field,
            ProfileError::RatioSum { .. } => "no_reply_ratio",
            ProfileError::BadDelay { .. } => "delay",
        }
    }
}

fn check_ratio(field: &'static str, value: f64) -> Result<(), ProfileError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ProfileError::BadRatio { field, value })
    }
}

fn bad(field: &'static str, value: impl std::fmt::Debug, reason: &'static str) -> ProfileError {
    ProfileError::BadField {
        field,
        value: format!("{value:?}"),
        reason,
    }
}

impl BehaviourProfile {
    /// Checks ratios, codes and distribution parameters.
    pub fn validate(&self) -> Result<(), ProfileError> {
        check_ratio("failure_ratio", self.failure_ratio)?;
        check_ratio("no_reply_ratio", self.no_reply_ratio)?;
        let sum = self.failure_ratio + self.no_reply_ratio;
        if sum > 1.0 {
            return Err(ProfileError::RatioSum { sum });
        }
        if let Some(reason) = self.delay.problem() {
            return Err(ProfileError::BadDelay {
                value: format!("{:?}", self.delay),
                reason,
            });
        }
        if self.error_codes.is_empty() && self.failure_ratio > 0.0 {
            return Err(bad(
                "error_codes",
                &self.error_codes,
                "needs at least one code when failure_ratio is above 0",
            ));
        }
        if let Some(code) = self
            .error_codes
            .iter()
            .find(|code| !code.is_error() || **code == ResponseType::UnKnown)
        {
            return Err(bad("error_codes", code, "must be 4.xx or 5.xx codes"));
        }
        if self.sample_period < Duration::from_millis(100) {
            return Err(bad(
                "sample_period",
                self.sample_period,
                "must be at least 100 ms",
            ));
        }
        if self.notification_period.as_secs() > u64::from(u32::MAX) {
            return Err(bad(
                "notification_period",
                self.notification_period,
                "must be below 2^32 s",
            ));
        }
        let mut total = 0.0;
        for failure in &self.firmware_failures {
            check_ratio("firmware_failures.ratio", failure.ratio)?;
            if failure_stage(failure.result).is_none() {
                return Err(bad(
                    "firmware_failures.result",
                    failure.result,
                    "must be an Update Result from 2 to 9, or 11",
                ));
            }
            total += failure.ratio;
        }
        if total > 1.0 {
            return Err(bad(
                "firmware_failures.ratio",
                total,
                "the ratios must not sum above 1",
            ));
        }
        for (fields, link) in [
            (UPLINK_FIELDS, &self.link.uplink),
            (DOWNLINK_FIELDS, &self.link.downlink),
        ] {
            let [loss, duplicate, reorder, reorder_delay] = fields;
            check_ratio(loss, link.loss)?;
            check_ratio(duplicate, link.duplicate)?;
            check_ratio(reorder, link.reorder)?;
            if link.reorder > 0.0 && link.reorder_delay.is_zero() {
                return Err(bad(
                    reorder_delay,
                    link.reorder_delay,
                    "must be above zero when reorder is above zero",
                ));
            }
            if link.reorder_delay > MAX_DELAY {
                return Err(bad(
                    reorder_delay,
                    link.reorder_delay,
                    "must be at most 1 h",
                ));
            }
        }
        for (field, rate) in [
            (
                "churn.offline_rate_per_hour",
                self.churn.offline_rate_per_hour,
            ),
            (
                "churn.reboot_rate_per_hour",
                self.churn.reboot_rate_per_hour,
            ),
        ] {
            if !(rate.is_finite() && (0.0..=3600.0).contains(&rate)) {
                return Err(bad(
                    field,
                    rate,
                    "must be a rate between 0 and 3600 per hour",
                ));
            }
        }
        if let Some(reason) = self.churn.offline_duration.problem() {
            return Err(bad(
                "churn.offline_duration",
                &self.churn.offline_duration,
                reason,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
