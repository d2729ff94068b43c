//! Delay distributions: response delays, offline durations.

use std::time::Duration;

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp, LogNormal, Normal};

/// Upper bound on any sampled delay, whatever the distribution says (one hour).
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// A distribution of durations (response delays, offline periods).
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

impl DelayDistribution {
    /// Why the parameters are invalid, if they are.
    pub fn problem(&self) -> Option<&'static str> {
        match self {
            Self::Uniform { min, max } if min > max => Some("min must not exceed max"),
            Self::LogNormal { mu, sigma }
                if !mu.is_finite() || !sigma.is_finite() || *sigma < 0.0 =>
            {
                Some("mu must be finite and sigma finite and >= 0")
            }
            Self::Exponential { mean } if mean.is_zero() => Some("mean must be above zero"),
            _ => None,
        }
    }

    /// Draws one duration, clamped into `[0, MAX_DELAY]`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let seconds = match self {
            Self::Fixed(delay) => return (*delay).min(MAX_DELAY),
            Self::Uniform { min, max } => {
                if min >= max {
                    return (*min).min(MAX_DELAY);
                }
                let (low, high) = (min.as_secs_f64(), max.as_secs_f64());
                rng.random_range(low..=high)
            }
            Self::Normal { mean, std_dev } => {
                match Normal::new(mean.as_secs_f64(), std_dev.as_secs_f64()) {
                    Ok(normal) => normal.sample(rng),
                    Err(_) => mean.as_secs_f64(),
                }
            }
            Self::LogNormal { mu, sigma } => match LogNormal::new(*mu, *sigma) {
                Ok(log_normal) => log_normal.sample(rng),
                Err(_) => 0.0,
            },
            Self::Exponential { mean } => {
                let mean = mean.as_secs_f64();
                if mean <= 0.0 {
                    0.0
                } else {
                    match Exp::new(1.0 / mean) {
                        Ok(exp) => exp.sample(rng),
                        Err(_) => mean,
                    }
                }
            }
        };
        seconds_to_delay(seconds)
    }
}

/// Seconds as a duration in `[0, MAX_DELAY]` (NaN and negatives give zero).
pub fn seconds_to_delay(seconds: f64) -> Duration {
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

/// An exponential waiting time for events at `rate_per_hour` (`None` when the rate is zero
/// or not a positive number).
pub fn exponential_wait<R: Rng + ?Sized>(rng: &mut R, rate_per_hour: f64) -> Option<Duration> {
    if !(rate_per_hour.is_finite() && rate_per_hour > 0.0) {
        return None;
    }
    let exp = Exp::new(rate_per_hour / 3600.0).ok()?;
    let seconds: f64 = exp.sample(rng);
    Duration::try_from_secs_f64(seconds.max(0.001)).ok()
}
