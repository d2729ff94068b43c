//! Simulated sensor signals: deterministic functions of a seed and a sample number.
//!
//! A sensor takes a new reading every sample period; between two samples its value does not
//! change, so an observation only has something to evaluate at sample boundaries. A reading
//! is a sinusoid around a seeded base (seeded amplitude, period and phase) plus a small
//! seeded noise per sample, rounded to two decimals.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::seeds;

/// Most samples [`Sensor::advance`] walks to update the measured extremes; a longer gap
/// only considers its last `MAX_CATCH_UP` samples (which cover many signal periods).
pub const MAX_CATCH_UP: u64 = 2048;

/// What a signal measures: its plausible range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// Degrees Celsius around 15..25.
    Temperature,
    /// Relative humidity (%RH) around 35..65.
    Humidity,
    /// Radio signal strength (dBm) around -95..-60.
    SignalStrength,
}

/// A seeded signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    seed: u64,
    base: f64,
    amplitude: f64,
    period_secs: f64,
    phase: f64,
    noise: f64,
    min: f64,
    max: f64,
}

impl Signal {
    /// A signal of `kind` whose parameters are drawn from `seed`.
    pub fn new(kind: SignalKind, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (base, amplitude, noise, min, max) = match kind {
            SignalKind::Temperature => (
                rng.random_range(15.0..25.0),
                rng.random_range(0.5..3.0),
                0.1,
                -40.0,
                85.0,
            ),
            SignalKind::Humidity => (
                rng.random_range(35.0..65.0),
                rng.random_range(3.0..10.0),
                0.5,
                0.0,
                100.0,
            ),
            SignalKind::SignalStrength => (
                rng.random_range(-95.0..-60.0),
                rng.random_range(2.0..8.0),
                1.0,
                -140.0,
                -30.0,
            ),
        };
        Self {
            seed,
            base,
            amplitude,
            period_secs: rng.random_range(60.0..600.0),
            phase: rng.random_range(0.0..std::f64::consts::TAU),
            noise,
            min,
            max,
        }
    }

    /// The reading of sample number `sample` taken every `period`.
    pub fn sample(&self, sample: u64, period: Duration) -> f64 {
        let seconds = sample as f64 * period.as_secs_f64();
        let angle = std::f64::consts::TAU * seconds / self.period_secs + self.phase;
        // Uniform in [-1, 1), from the seed and the sample number alone.
        let jitter = (seeds::derive(self.seed, seeds::Purpose::Model, sample) >> 11) as f64
            / (1u64 << 52) as f64
            - 1.0;
        let value = self.base + self.amplitude * angle.sin() + self.noise * jitter;
        (value.clamp(self.min, self.max) * 100.0).round() / 100.0
    }
}

/// A signal plus the extremes it reached (IPSO Min/Max Measured Value).
#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    signal: Signal,
    last_sample: Option<u64>,
    value: f64,
    min: f64,
    max: f64,
}

impl Sensor {
    /// A sensor that has taken sample 0.
    pub fn new(signal: Signal, period: Duration) -> Self {
        let value = signal.sample(0, period);
        Self {
            signal,
            last_sample: Some(0),
            value,
            min: value,
            max: value,
        }
    }

    /// Takes every sample up to `sample` (the extremes follow) and returns the current value.
    pub fn advance(&mut self, sample: u64, period: Duration) -> f64 {
        let first = match self.last_sample {
            Some(last) if last >= sample => return self.value,
            Some(last) => (last + 1).max(sample.saturating_sub(MAX_CATCH_UP - 1)),
            None => sample.saturating_sub(MAX_CATCH_UP - 1),
        };
        for n in first..=sample {
            let value = self.signal.sample(n, period);
            self.min = self.min.min(value);
            self.max = self.max.max(value);
            self.value = value;
        }
        self.last_sample = Some(sample);
        self.value
    }

    /// The current value.
    pub fn value(&self) -> f64 {
        self.value
    }

    /// The lowest value measured since the start (or the last reset).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// The highest value measured since the start (or the last reset).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Reset Min and Max Measured Values (IPSO resource 5605): both become the current value.
    pub fn reset_extremes(&mut self) {
        self.min = self.value;
        self.max = self.value;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_secs(5);

    #[test]
    fn deterministic_and_varying() {
        let a = Signal::new(SignalKind::Temperature, 5);
        let b = Signal::new(SignalKind::Temperature, 5);
        let c = Signal::new(SignalKind::Temperature, 6);
        assert_eq!(a.sample(7, PERIOD), b.sample(7, PERIOD));
        assert_ne!(a.sample(7, PERIOD), c.sample(7, PERIOD));
        let values: Vec<f64> = (0..20).map(|n| a.sample(n, PERIOD)).collect();
        assert!(values.windows(2).any(|w| w[0] != w[1]));
        for v in &values {
            assert!((11.0..29.0).contains(v), "{v}");
        }
        let humidity = Signal::new(SignalKind::Humidity, 5).sample(3, PERIOD);
        assert!((0.0..=100.0).contains(&humidity), "{humidity}");
        let rssi = Signal::new(SignalKind::SignalStrength, 5).sample(3, PERIOD);
        assert!((-140.0..=-30.0).contains(&rssi), "{rssi}");
    }

    #[test]
    fn extremes_cover_every_sample_and_reset() {
        let signal = Signal::new(SignalKind::Temperature, 9);
        let mut sensor = Sensor::new(signal.clone(), PERIOD);
        let current = sensor.advance(100, PERIOD);
        assert_eq!(current, signal.sample(100, PERIOD));
        let all: Vec<f64> = (0..=100).map(|n| signal.sample(n, PERIOD)).collect();
        let min = all.iter().copied().fold(f64::INFINITY, f64::min);
        let max = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((sensor.min(), sensor.max()), (min, max));
        // Going back in time changes nothing.
        assert_eq!(sensor.advance(50, PERIOD), current);
        sensor.reset_extremes();
        assert_eq!((sensor.min(), sensor.max()), (current, current));
        // A huge gap is walked only over its last MAX_CATCH_UP samples.
        sensor.advance(10_000_000, PERIOD);
        assert!(sensor.min() <= sensor.value() && sensor.value() <= sensor.max());
    }
}
