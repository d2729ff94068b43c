//! Behaviour profiles: how long a simulated device takes to answer, and how often it fails or
//! stays silent. Every draw comes from a per-device seeded generator ([`Behaviour`]).

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal};

/// How long a simulated device takes to answer a request.
#[derive(Debug, Clone, PartialEq)]
pub enum DelayDistribution {
    /// Always the same delay.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
    /// Normal with the given mean and standard deviation, clamped at zero.
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        std_dev: Duration,
    },
    /// Log-normal: the delay in seconds is `exp(N(mu, sigma))`.
    LogNormal {
        /// Mean of the underlying normal (of ln(seconds)).
        mu: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean delay.
        mean: Duration,
    },
}

/// Upper bound on any sampled delay, whatever the distribution says (one hour).
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// How a class of devices behaves. Every random draw is seeded from
/// [`crate::FleetConfig::seed`].
#[derive(Debug, Clone, PartialEq)]
pub struct BehaviourProfile {
    /// Response delay added before answering a server request.
    pub delay: DelayDistribution,
    /// Fraction (0..=1) of requests answered with an error (5.00) instead of success.
    pub failure_ratio: f64,
    /// Fraction (0..=1) of requests dropped without any answer (not even an ACK).
    pub no_reply_ratio: f64,
    /// How long a device stays silent after an Execute on `/3/0/4` (Reboot) before it
    /// registers again.
    pub reboot_downtime: Duration,
    /// Period of Observe notifications when the observed path has no `pmax` attribute.
    pub notification_period: Duration,
}

impl Default for BehaviourProfile {
    fn default() -> Self {
        Self {
            delay: DelayDistribution::Fixed(Duration::ZERO),
            failure_ratio: 0.0,
            no_reply_ratio: 0.0,
            reboot_downtime: Duration::from_secs(2),
            notification_period: Duration::from_secs(10),
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
}

impl BehaviourProfile {
    /// Checks ratios and distribution parameters.
    pub fn validate(&self) -> Result<(), ProfileError> {
        for (field, value) in [
            ("failure_ratio", self.failure_ratio),
            ("no_reply_ratio", self.no_reply_ratio),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(ProfileError::BadRatio { field, value });
            }
        }
        let sum = self.failure_ratio + self.no_reply_ratio;
        if sum > 1.0 {
            return Err(ProfileError::RatioSum { sum });
        }
        let bad = |reason| ProfileError::BadDelay {
            value: format!("{:?}", self.delay),
            reason,
        };
        match &self.delay {
            DelayDistribution::Fixed(_) => {}
            DelayDistribution::Uniform { min, max } if min > max => {
                return Err(bad("min must not exceed max"));
            }
            DelayDistribution::Uniform { .. } | DelayDistribution::Normal { .. } => {}
            DelayDistribution::LogNormal { mu, sigma } => {
                if !mu.is_finite() || !sigma.is_finite() || *sigma < 0.0 {
                    return Err(bad("mu must be finite and sigma finite and >= 0"));
                }
            }
            DelayDistribution::Exponential { mean } if mean.is_zero() => {
                return Err(bad("mean must be above zero"));
            }
            DelayDistribution::Exponential { .. } => {}
        }
        Ok(())
    }
}

/// What a device does with one incoming request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Drop the request: no ACK, no response.
    NoReply,
    /// Answer 5.00 Internal Server Error after `delay`.
    Fail {
        /// Delay before the answer.
        delay: Duration,
    },
    /// Handle the request normally and answer after `delay`.
    Answer {
        /// Delay before the answer.
        delay: Duration,
    },
}

/// A seeded sampler of a [`BehaviourProfile`] for one device.
#[derive(Debug, Clone)]
pub struct Behaviour {
    profile: BehaviourProfile,
    rng: ChaCha8Rng,
}

impl Behaviour {
    /// A sampler for `profile` seeded with `seed` (derive it per device).
    /// Invalid ratios are clamped into `0..=1`; call [`BehaviourProfile::validate`] first.
    pub fn new(profile: BehaviourProfile, seed: u64) -> Self {
        Self {
            profile,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The profile.
    pub fn profile(&self) -> &BehaviourProfile {
        &self.profile
    }

    /// Decides the fate of one request.
    pub fn decide(&mut self) -> Disposition {
        let draw: f64 = self.rng.random();
        let no_reply = clamp_ratio(self.profile.no_reply_ratio);
        let failure = clamp_ratio(self.profile.failure_ratio);
        if draw < no_reply {
            return Disposition::NoReply;
        }
        let delay = self.sample_delay();
        if draw < no_reply + failure {
            Disposition::Fail { delay }
        } else {
            Disposition::Answer { delay }
        }
    }

    /// Draws one response delay, clamped into `[0, MAX_DELAY]`.
    pub fn sample_delay(&mut self) -> Duration {
        let seconds = match &self.profile.delay {
            DelayDistribution::Fixed(delay) => return (*delay).min(MAX_DELAY),
            DelayDistribution::Uniform { min, max } => {
                if min >= max {
                    return (*min).min(MAX_DELAY);
                }
                let (low, high) = (min.as_secs_f64(), max.as_secs_f64());
                self.rng.random_range(low..=high)
            }
            DelayDistribution::Normal { mean, std_dev } => {
                match Normal::new(mean.as_secs_f64(), std_dev.as_secs_f64()) {
                    Ok(normal) => normal.sample(&mut self.rng),
                    Err(_) => mean.as_secs_f64(),
                }
            }
            DelayDistribution::LogNormal { mu, sigma } => match LogNormal::new(*mu, *sigma) {
                Ok(log_normal) => log_normal.sample(&mut self.rng),
                Err(_) => 0.0,
            },
            DelayDistribution::Exponential { mean } => {
                let mean = mean.as_secs_f64();
                if mean <= 0.0 {
                    0.0
                } else {
                    match Exp::new(1.0 / mean) {
                        Ok(exp) => exp.sample(&mut self.rng),
                        Err(_) => mean,
                    }
                }
            }
        };
        seconds_to_delay(seconds)
    }
}

fn clamp_ratio(ratio: f64) -> f64 {
    if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    }
}

fn seconds_to_delay(seconds: f64) -> Duration {
    if !seconds.is_finite() || seconds <= 0.0 {
        return if seconds == f64::INFINITY {
            MAX_DELAY
        } else {
            Duration::ZERO
        };
    }
    Duration::try_from_secs_f64(seconds)
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn profile(delay: DelayDistribution) -> BehaviourProfile {
        BehaviourProfile {
            delay,
            ..BehaviourProfile::default()
        }
    }

    #[test]
    fn validation_names_field_and_value() {
        let mut bad = BehaviourProfile {
            failure_ratio: 1.5,
            ..BehaviourProfile::default()
        };
        let err = bad.validate().unwrap_err();
        assert!(err.to_string().contains("failure_ratio") && err.to_string().contains("1.5"));
        bad.failure_ratio = 0.7;
        bad.no_reply_ratio = 0.6;
        assert!(matches!(bad.validate(), Err(ProfileError::RatioSum { .. })));
        bad.no_reply_ratio = f64::NAN;
        assert!(matches!(
            bad.validate(),
            Err(ProfileError::BadRatio {
                field: "no_reply_ratio",
                ..
            })
        ));
        let uniform = profile(DelayDistribution::Uniform {
            min: Duration::from_secs(2),
            max: Duration::from_secs(1),
        });
        assert!(uniform.validate().unwrap_err().to_string().contains("min"));
        let exp = profile(DelayDistribution::Exponential {
            mean: Duration::ZERO,
        });
        assert!(exp.validate().is_err());
        let log_normal = profile(DelayDistribution::LogNormal {
            mu: 0.0,
            sigma: -1.0,
        });
        assert!(log_normal.validate().is_err());
        assert!(BehaviourProfile::default().validate().is_ok());
    }

    #[test]
    fn same_seed_same_draws_different_seed_different_draws() {
        let p = profile(DelayDistribution::Uniform {
            min: Duration::from_millis(10),
            max: Duration::from_millis(500),
        });
        let draws = |seed| {
            let mut b = Behaviour::new(p.clone(), seed);
            (0..20).map(|_| b.sample_delay()).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        for delay in draws(9) {
            assert!(delay >= Duration::from_millis(10) && delay <= Duration::from_millis(500));
        }
    }

    #[test]
    fn distributions_have_roughly_the_configured_mean() {
        let cases = [
            (
                DelayDistribution::Fixed(Duration::from_millis(250)),
                0.25,
                0.0001,
            ),
            (
                DelayDistribution::Normal {
                    mean: Duration::from_millis(500),
                    std_dev: Duration::from_millis(50),
                },
                0.5,
                0.01,
            ),
            (
                DelayDistribution::Exponential {
                    mean: Duration::from_millis(200),
                },
                0.2,
                0.02,
            ),
            // exp(mu + sigma^2 / 2) = exp(-2 + 0.125) ~= 0.1534
            (
                DelayDistribution::LogNormal {
                    mu: -2.0,
                    sigma: 0.5,
                },
                0.1534,
                0.01,
            ),
        ];
        for (delay, mean, tolerance) in cases {
            let mut b = Behaviour::new(profile(delay.clone()), 3);
            let n = 20_000;
            let sum: f64 = (0..n).map(|_| b.sample_delay().as_secs_f64()).sum();
            let got = sum / f64::from(n);
            assert!(
                (got - mean).abs() < tolerance,
                "{delay:?}: mean {got}, want {mean}"
            );
        }
    }

    #[test]
    fn normal_never_goes_negative() {
        let mut b = Behaviour::new(
            profile(DelayDistribution::Normal {
                mean: Duration::ZERO,
                std_dev: Duration::from_secs(1),
            }),
            1,
        );
        let zeros = (0..1000)
            .filter(|_| b.sample_delay() == Duration::ZERO)
            .count();
        assert!(zeros > 300 && zeros < 700, "{zeros} clamped draws");
    }

    #[test]
    fn ratios_are_respected() {
        let p = BehaviourProfile {
            failure_ratio: 0.2,
            no_reply_ratio: 0.1,
            ..BehaviourProfile::default()
        };
        let mut b = Behaviour::new(p, 11);
        let (mut drops, mut fails, mut answers) = (0, 0, 0);
        for _ in 0..10_000 {
            match b.decide() {
                Disposition::NoReply => drops += 1,
                Disposition::Fail { .. } => fails += 1,
                Disposition::Answer { .. } => answers += 1,
            }
        }
        assert!((800..1200).contains(&drops), "{drops}");
        assert!((1700..2300).contains(&fails), "{fails}");
        assert!((6500..7500).contains(&answers), "{answers}");
        let mut always = Behaviour::new(BehaviourProfile::default(), 1);
        assert!((0..100).all(|_| always.decide()
            == Disposition::Answer {
                delay: Duration::ZERO
            }));
    }
}
