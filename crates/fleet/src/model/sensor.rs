//! Simulated sensor signals: deterministic functions of a seed and the time since start.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A temperature that drifts sinusoidally around a seeded base value, so that consecutive
/// reads differ but a run with the same seed and timing reads the same values.
#[derive(Debug, Clone, PartialEq)]
pub struct TemperatureSignal {
    base: f64,
    amplitude: f64,
    period_secs: f64,
    phase: f64,
    min_seen: f64,
    max_seen: f64,
}

impl TemperatureSignal {
    /// A signal whose parameters are drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let base = rng.random_range(15.0..25.0);
        let amplitude = rng.random_range(0.5..3.0);
        let period_secs = rng.random_range(60.0..600.0);
        let phase = rng.random_range(0.0..std::f64::consts::TAU);
        let mut signal = Self {
            base,
            amplitude,
            period_secs,
            phase,
            min_seen: f64::INFINITY,
            max_seen: f64::NEG_INFINITY,
        };
        signal.sample(Duration::ZERO);
        signal
    }

    /// The temperature (°C, two decimals) `elapsed` after the start; updates the extremes.
    pub fn sample(&mut self, elapsed: Duration) -> f64 {
        let angle = std::f64::consts::TAU * elapsed.as_secs_f64() / self.period_secs + self.phase;
        let value = ((self.base + self.amplitude * angle.sin()) * 100.0).round() / 100.0;
        self.min_seen = self.min_seen.min(value);
        self.max_seen = self.max_seen.max(value);
        value
    }

    /// The lowest value sampled so far.
    pub fn min_seen(&self) -> f64 {
        self.min_seen
    }

    /// The highest value sampled so far.
    pub fn max_seen(&self) -> f64 {
        self.max_seen
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varying() {
        let mut a = TemperatureSignal::new(5);
        let mut b = TemperatureSignal::new(5);
        let mut c = TemperatureSignal::new(6);
        let at = |s: &mut TemperatureSignal, secs| s.sample(Duration::from_secs(secs));
        assert_eq!(at(&mut a, 30), at(&mut b, 30));
        assert_ne!(at(&mut a, 30), at(&mut c, 30));
        let values: Vec<f64> = (0..10).map(|i| at(&mut a, i * 20)).collect();
        assert!(values.windows(2).any(|w| w[0] != w[1]));
        for v in &values {
            assert!((12.0..28.0).contains(v), "{v}");
            assert!(a.min_seen() <= *v && *v <= a.max_seen());
        }
    }
}
