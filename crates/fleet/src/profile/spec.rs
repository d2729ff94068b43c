//! The behaviour profile as a scenario file writes it: serde and JSON Schema shapes that
//! reject unknown keys and wrong shapes by construction, the value checks with field paths,
//! and the conversion into the [`BehaviourProfile`] the devices run. The runner embeds these
//! types in its scenario model instead of mirroring them.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::duration::{self, HumanDuration};
use super::{
    BehaviourProfile, ChurnProfile, DelayDistribution, FirmwareFailure, LinkImpairment, LinkProfile,
};
use crate::model::firmware::failure_stage;

/// One problem found in a spec: the dotted path of the field within it and what is wrong
/// (with the offending value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// Dotted path within the spec, e.g. `link.loss` or `firmware_failures[0].result`.
    pub field: String,
    /// What is wrong, naming the value.
    pub message: String,
}

/// A distribution of durations, tagged by `distribution`; each takes exactly its parameters.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(tag = "distribution", rename_all = "lowercase", deny_unknown_fields)]
pub enum DelaySpec {
    /// Always `value`.
    Fixed {
        /// The delay.
        #[serde(deserialize_with = "duration::deserialize")]
        #[schemars(with = "HumanDuration")]
        value: Duration,
    },
    /// Uniform in `[min, max]`.
    Uniform {
        /// Lower bound.
        #[serde(deserialize_with = "duration::deserialize")]
        #[schemars(with = "HumanDuration")]
        min: Duration,
        /// Upper bound (not below `min`).
        #[serde(deserialize_with = "duration::deserialize")]
        #[schemars(with = "HumanDuration")]
        max: Duration,
    },
    /// Normal, clamped at zero.
    Normal {
        /// Mean.
        #[serde(deserialize_with = "duration::deserialize")]
        #[schemars(with = "HumanDuration")]
        mean: Duration,
        /// Standard deviation.
        #[serde(deserialize_with = "duration::deserialize")]
        #[schemars(with = "HumanDuration")]
        std_dev: Duration,
    },
    /// Log-normal with the given median (`e^mu`) and shape `sigma`.
    LogNormal {
        /// Median, above zero.
        #[serde(deserialize_with = "duration::deserialize")]
        #[schemars(with = "HumanDuration")]
        median: Duration,
        /// Standard deviation of the underlying normal, in (0, 10].
        #[schemars(range(max = 10), extend("exclusiveMinimum" = 0))]
        sigma: f64,
    },
    /// Exponential with the given mean (above zero).
    Exponential {
        /// Mean.
        #[serde(deserialize_with = "duration::deserialize")]
        #[schemars(with = "HumanDuration")]
        mean: Duration,
    },
}

impl DelaySpec {
    /// The distribution the devices sample.
    pub fn to_distribution(&self) -> DelayDistribution {
        match *self {
            DelaySpec::Fixed { value } => DelayDistribution::Fixed(value),
            DelaySpec::Uniform { min, max } => DelayDistribution::Uniform { min, max },
            DelaySpec::Normal { mean, std_dev } => DelayDistribution::Normal { mean, std_dev },
            DelaySpec::LogNormal { median, sigma } => DelayDistribution::LogNormal {
                mu: median.as_secs_f64().ln(),
                sigma,
            },
            DelaySpec::Exponential { mean } => DelayDistribution::Exponential { mean },
        }
    }

    /// Problems of the parameters, with paths below `path`.
    fn check(&self, path: &str, out: &mut Vec<SpecProblem>) {
        let mut push = |field: &str, message: String| {
            out.push(SpecProblem {
                field: format!("{path}.{field}"),
                message,
            });
        };
        let zero = || "expected a duration greater than zero, got 0".to_owned();
        match *self {
            DelaySpec::Uniform { min, max } if min > max => push(
                "max",
                format!(
                    "max must not be below min, got min {} and max {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            ),
            DelaySpec::LogNormal { median, sigma } => {
                if !(sigma.is_finite() && sigma > 0.0 && sigma <= 10.0) {
                    push(
                        "sigma",
                        format!("expected a number in (0, 10], got {sigma}"),
                    );
                } else if median.is_zero() {
                    push("median", zero());
                }
            }
            DelaySpec::Exponential { mean } if mean.is_zero() => push("mean", zero()),
            _ => {}
        }
    }
}

/// Loss, duplication and reordering of a device's datagrams, the same in both directions.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSpec {
    /// Fraction (0..=1) of datagrams lost.
    #[schemars(range(min = 0, max = 1))]
    pub loss: f64,
    /// Fraction (0..=1) of datagrams delivered twice.
    #[schemars(range(min = 0, max = 1))]
    pub duplicate: f64,
    /// Fraction (0..=1) of datagrams held back so that later ones overtake them.
    #[schemars(range(min = 0, max = 1))]
    pub reorder: f64,
    /// A held-back datagram is delayed uniformly in `(0, reorder_delay]` (default 10 ms).
    #[serde(deserialize_with = "duration::deserialize")]
    #[schemars(with = "HumanDuration")]
    pub reorder_delay: Duration,
}

impl Default for LinkSpec {
    fn default() -> Self {
        LinkSpec {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
        }
    }
}

/// Devices dropping off the network and rebooting by themselves.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ChurnSpec {
    /// Offline periods per device and hour.
    #[schemars(range(min = 0))]
    pub offline_rate_per_hour: f64,
    /// Length of an offline period (default fixed 60 s).
    pub offline_duration: DelaySpec,
    /// Spontaneous reboots per device and hour.
    #[schemars(range(min = 0))]
    pub reboot_rate_per_hour: f64,
}

impl Default for ChurnSpec {
    fn default() -> Self {
        ChurnSpec {
            offline_rate_per_hour: 0.0,
            offline_duration: DelaySpec::Fixed {
                value: Duration::from_secs(60),
            },
            reboot_rate_per_hour: 0.0,
        }
    }
}

/// How a class of devices behaves, as a scenario writes it; every key is optional.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileSpec {
    /// Response delay distribution (default fixed 0).
    pub delay: DelaySpec,
    /// Fraction (0..=1) of requests answered with an error.
    #[schemars(range(min = 0, max = 1))]
    pub failure_ratio: f64,
    /// Fraction (0..=1) of requests never answered; with `failure_ratio` at most 1.
    #[schemars(range(min = 0, max = 1))]
    pub no_reply_ratio: f64,
    /// Silence after a reboot or firmware update before registering again (default 2 s).
    #[serde(deserialize_with = "duration::deserialize")]
    #[schemars(with = "HumanDuration")]
    pub reboot_downtime: Duration,
    /// Default maximum period of observations without `pmax` (default 10 s).
    #[serde(deserialize_with = "duration::deserialize")]
    #[schemars(with = "HumanDuration")]
    pub notification_period: Duration,
    /// How often simulated sensors take a new reading (default 5 s).
    #[serde(deserialize_with = "duration::deserialize")]
    #[schemars(with = "HumanDuration")]
    pub sample_period: Duration,
    /// Injected firmware update failures.
    pub firmware_failures: Vec<FirmwareFailure>,
    /// Datagram impairment of the link.
    pub link: LinkSpec,
    /// Offline periods and spontaneous reboots.
    pub churn: ChurnSpec,
}

impl Default for ProfileSpec {
    fn default() -> Self {
        ProfileSpec {
            delay: DelaySpec::Fixed {
                value: Duration::ZERO,
            },
            failure_ratio: 0.0,
            no_reply_ratio: 0.0,
            reboot_downtime: Duration::from_secs(2),
            notification_period: Duration::from_secs(10),
            sample_period: Duration::from_secs(5),
            firmware_failures: Vec::new(),
            link: LinkSpec::default(),
            churn: ChurnSpec::default(),
        }
    }
}

impl ProfileSpec {
    /// The profile the devices run (error codes and link directions at their defaults;
    /// the link impairment applies both ways).
    pub fn to_behaviour(&self) -> BehaviourProfile {
        let impairment = LinkImpairment {
            loss: self.link.loss,
            duplicate: self.link.duplicate,
            reorder: self.link.reorder,
            reorder_delay: self.link.reorder_delay,
        };
        BehaviourProfile {
            delay: self.delay.to_distribution(),
            failure_ratio: self.failure_ratio,
            no_reply_ratio: self.no_reply_ratio,
            reboot_downtime: self.reboot_downtime,
            notification_period: self.notification_period,
            sample_period: self.sample_period,
            firmware_failures: self.firmware_failures.clone(),
            link: LinkProfile {
                uplink: impairment.clone(),
                downlink: impairment,
            },
            churn: ChurnProfile {
                offline_rate_per_hour: self.churn.offline_rate_per_hour,
                offline_duration: self.churn.offline_duration.to_distribution(),
                reboot_rate_per_hour: self.churn.reboot_rate_per_hour,
            },
            ..BehaviourProfile::default()
        }
    }

    /// Every problem of the values, with field paths within the spec. Limits that concern
    /// the running devices (sample period, notification period, link delays, churn rates)
    /// are checked by [`BehaviourProfile::validate`] on [`ProfileSpec::to_behaviour`].
    pub fn problems(&self) -> Vec<SpecProblem> {
        let mut out = Vec::new();
        let mut push = |field: String, message: String| out.push(SpecProblem { field, message });
        let ratio = |v: f64| {
            (!(v.is_finite() && (0.0..=1.0).contains(&v)))
                .then(|| format!("expected a ratio between 0 and 1, got {v}"))
        };
        for (field, value) in [
            ("failure_ratio", self.failure_ratio),
            ("no_reply_ratio", self.no_reply_ratio),
            ("link.loss", self.link.loss),
            ("link.duplicate", self.link.duplicate),
            ("link.reorder", self.link.reorder),
        ] {
            if let Some(message) = ratio(value) {
                push(field.to_owned(), message);
            }
        }
        let (fr, nr) = (self.failure_ratio, self.no_reply_ratio);
        if ratio(fr).is_none() && ratio(nr).is_none() && fr + nr > 1.0 {
            push(
                "no_reply_ratio".to_owned(),
                format!("failure_ratio + no_reply_ratio must not exceed 1, got {fr} + {nr}"),
            );
        }
        if self.sample_period.is_zero() {
            push(
                "sample_period".to_owned(),
                "expected a duration greater than zero, got 0".to_owned(),
            );
        }
        for (i, failure) in self.firmware_failures.iter().enumerate() {
            if failure_stage(failure.result).is_none() {
                push(
                    format!("firmware_failures[{i}].result"),
                    format!(
                        "expected an Update Result of 2..=9 or 11, got {}",
                        failure.result
                    ),
                );
            }
            if let Some(message) = ratio(failure.ratio) {
                push(format!("firmware_failures[{i}].ratio"), message);
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
            if !(rate.is_finite() && rate >= 0.0) {
                push(
                    field.to_owned(),
                    format!("expected a non-negative rate per hour, got {rate}"),
                );
            }
        }
        self.delay.check("delay", &mut out);
        self.churn
            .offline_duration
            .check("churn.offline_duration", &mut out);
        out
    }
}
