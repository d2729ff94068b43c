//! Intended send times of the open load models, generated lazily.

use std::time::Duration;

use rand::distr::Distribution;
use rand_chacha::ChaCha8Rng;
use rand_distr::Exp;

use crate::scenario::{LoadModel, RampStage};

/// Offsets (from the phase start) of the intended sends of one open phase, in order.
#[derive(Debug, Clone)]
pub struct Arrivals {
    kind: Kind,
    duration: f64,
    index: u64,
}

#[derive(Debug, Clone)]
enum Kind {
    Constant {
        rate: f64,
    },
    Poisson {
        gaps: Exp<f64>,
        rng: Box<ChaCha8Rng>,
        t: f64,
    },
    Ramping {
        start_rate: f64,
        stages: Vec<RampStage>,
        stage: usize,
        stage_start: f64,
        mass_before: f64,
    },
    None,
}

impl Arrivals {
    /// The arrivals of `model` over `duration`; `rng` draws the Poisson gaps. Closed models
    /// have no arrivals.
    pub fn new(model: &LoadModel, duration: Duration, rng: ChaCha8Rng) -> Arrivals {
        let kind = match model {
            LoadModel::Constant { rate } => Kind::Constant { rate: *rate },
            LoadModel::Poisson { rate } => match Exp::new(*rate) {
                Ok(gaps) => Kind::Poisson {
                    gaps,
                    rng: Box::new(rng),
                    t: 0.0,
                },
                Err(_) => Kind::None,
            },
            LoadModel::Ramping { start_rate, stages } => Kind::Ramping {
                start_rate: *start_rate,
                stages: stages.clone(),
                stage: 0,
                stage_start: 0.0,
                mass_before: 0.0,
            },
            LoadModel::Closed { .. } => Kind::None,
        };
        Arrivals {
            kind,
            duration: duration.as_secs_f64(),
            index: 0,
        }
    }

    /// Expected number of arrivals (exact for constant and ramping models).
    pub fn expected_count(model: &LoadModel, duration: Duration) -> f64 {
        let d = duration.as_secs_f64();
        match model {
            LoadModel::Constant { rate } => (d * rate).ceil(),
            LoadModel::Poisson { rate } => d * rate,
            LoadModel::Ramping { start_rate, stages } => {
                let mut r0 = *start_rate;
                let mut mass = 0.0;
                for s in stages {
                    mass += 0.5 * (r0 + s.target_rate) * s.duration.as_secs_f64();
                    r0 = s.target_rate;
                }
                mass.ceil()
            }
            LoadModel::Closed { .. } => 0.0,
        }
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let t = match &mut self.kind {
            Kind::Constant { rate } => self.index as f64 / *rate,
            Kind::Poisson { gaps, rng, t } => {
                *t += gaps.sample(rng.as_mut());
                *t
            }
            Kind::Ramping {
                start_rate,
                stages,
                stage,
                stage_start,
                mass_before,
            } => {
                // The k-th arrival is where the integrated rate reaches k.
                let k = self.index as f64;
                loop {
                    let s = stages.get(*stage)?;
                    let r0 = if *stage == 0 {
                        *start_rate
                    } else {
                        stages[*stage - 1].target_rate
                    };
                    let r1 = s.target_rate;
                    let len = s.duration.as_secs_f64();
                    let mass = 0.5 * (r0 + r1) * len;
                    if k < *mass_before + mass {
                        let delta = k - *mass_before;
                        let slope = (r1 - r0) / len;
                        let within = if delta <= 0.0 {
                            0.0
                        } else {
                            // Root of r0·t + slope·t²/2 = delta, in a cancellation-free form.
                            let disc = (r0 * r0 + 2.0 * slope * delta).max(0.0);
                            2.0 * delta / (r0 + disc.sqrt())
                        };
                        break *stage_start + within.clamp(0.0, len);
                    }
                    *mass_before += mass;
                    *stage_start += len;
                    *stage += 1;
                }
            }
            Kind::None => return None,
        };
        if !t.is_finite() || t >= self.duration {
            return None;
        }
        let at = Duration::try_from_secs_f64(t).ok()?;
        self.index += 1;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rng::{Purpose, stream};

    fn rng() -> ChaCha8Rng {
        stream(1, Purpose::Arrivals, &[0])
    }

    #[test]
    fn constant_rate_is_evenly_spaced_and_exact() {
        let a: Vec<Duration> = Arrivals::new(
            &LoadModel::Constant { rate: 500.0 },
            Duration::from_secs(10),
            rng(),
        )
        .collect();
        assert_eq!(a.len(), 5000);
        assert_eq!(a[0], Duration::ZERO);
        assert_eq!(a[1], Duration::from_millis(2));
        assert_eq!(a[4999], Duration::from_micros(9_998_000));
    }

    #[test]
    fn poisson_count_and_gaps_match_the_rate() {
        let rate = 1000.0;
        let a: Vec<Duration> = Arrivals::new(
            &LoadModel::Poisson { rate },
            Duration::from_secs(100),
            rng(),
        )
        .collect();
        // Count ~ Poisson(100_000): sd ~ 316; allow 4 sd.
        assert!((a.len() as f64 - 100_000.0).abs() < 1_300.0, "{}", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // Exponential gaps: the fraction of gaps above the mean is e^-1.
        let mean = 1.0 / rate;
        let above = a
            .windows(2)
            .filter(|w| (w[1] - w[0]).as_secs_f64() > mean)
            .count() as f64;
        let frac = above / (a.len() - 1) as f64;
        assert!((frac - (-1.0f64).exp()).abs() < 0.01, "{frac}");
    }

    #[test]
    fn ramp_integrates_the_piecewise_linear_rate() {
        let model = LoadModel::Ramping {
            start_rate: 0.0,
            stages: vec![
                RampStage {
                    duration: Duration::from_secs(10),
                    target_rate: 100.0,
                },
                RampStage {
                    duration: Duration::from_secs(5),
                    target_rate: 100.0,
                },
                RampStage {
                    duration: Duration::from_secs(10),
                    target_rate: 0.0,
                },
            ],
        };
        let a: Vec<Duration> = Arrivals::new(&model, Duration::from_secs(25), rng()).collect();
        // Masses: 500 + 500 + 500.
        assert!((a.len() as i64 - 1500).abs() <= 1, "{}", a.len());
        assert_eq!(
            Arrivals::expected_count(&model, Duration::from_secs(25)),
            1500.0
        );
        // Λ(5 s) = 0.5 · 50/s · 5 s = 125 in the first 5 s.
        let first = a.iter().filter(|t| **t < Duration::from_secs(5)).count() as i64;
        assert!((first - 125).abs() <= 1, "{first}");
        // Flat stage: 100/s exactly, spaced 10 ms.
        let flat: Vec<_> = a
            .iter()
            .filter(|t| **t >= Duration::from_secs(11) && **t < Duration::from_secs(14))
            .collect();
        assert!((flat.len() as i64 - 300).abs() <= 1, "{}", flat.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // The instantaneous rate near t = 2 s is 20/s: gaps near 50 ms.
        let near: Vec<_> = a
            .windows(2)
            .filter(|w| w[0] >= Duration::from_secs(2) && w[0] < Duration::from_millis(2100))
            .collect();
        for w in near {
            let gap = (w[1] - w[0]).as_secs_f64();
            assert!((gap - 0.05).abs() < 0.005, "{gap}");
        }
    }

    #[test]
    fn closed_model_has_no_arrivals() {
        let model = LoadModel::Closed {
            concurrency: 2,
            think_time: Duration::ZERO,
        };
        assert_eq!(
            Arrivals::new(&model, Duration::from_secs(1), rng()).count(),
            0
        );
    }
}
