//! The delay distributions have the configured *shape*, not only the configured mean: a
//! Kolmogorov-Smirnov test of 20,000 seeded draws against each theoretical CDF, written here
//! independently of the sampling code, and exact checks of the fixed and degenerate cases.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::time::Duration;

use fleetbench_fleet::DelayDistribution;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const DRAWS: usize = 20_000;
/// The KS critical value at alpha = 0.001 is 1.95 / sqrt(n): a correct sampler fails about
/// once in a thousand seeds (the seed is fixed, so never in practice), a wrong shape always.
const CRITICAL: f64 = 1.95;

/// The error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let sign = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp())
}

fn normal_cdf(x: f64, mean: f64, sd: f64) -> f64 {
    0.5 * (1.0 + erf((x - mean) / (sd * std::f64::consts::SQRT_2)))
}

/// The largest distance between the empirical CDF of `samples` and `cdf`.
fn ks_distance(mut samples: Vec<f64>, cdf: impl Fn(f64) -> f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len() as f64;
    samples
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let f = cdf(*x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

fn draws(distribution: &DelayDistribution, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..DRAWS)
        .map(|_| distribution.sample(&mut rng).as_secs_f64())
        .collect()
}

fn assert_shape(name: &str, distribution: DelayDistribution, cdf: impl Fn(f64) -> f64) {
    let d = ks_distance(draws(&distribution, 42), cdf);
    let bound = CRITICAL / (DRAWS as f64).sqrt();
    assert!(d < bound, "{name}: KS distance {d:.4} >= {bound:.4}");
}

#[test]
fn uniform_draws_are_uniform_over_the_range() {
    assert_shape(
        "uniform 10..30 ms",
        DelayDistribution::Uniform {
            min: Duration::from_millis(10),
            max: Duration::from_millis(30),
        },
        |x| ((x - 0.010) / 0.020).clamp(0.0, 1.0),
    );
}

#[test]
fn normal_draws_follow_the_bell() {
    assert_shape(
        "normal 200 ms +- 50 ms",
        DelayDistribution::Normal {
            mean: Duration::from_millis(200),
            std_dev: Duration::from_millis(50),
        },
        |x| normal_cdf(x, 0.200, 0.050),
    );
}

#[test]
fn log_normal_draws_have_a_normal_logarithm() {
    let (mu, sigma) = ((0.05f64).ln(), 0.8);
    assert_shape(
        "log-normal median 50 ms, sigma 0.8",
        DelayDistribution::LogNormal { mu, sigma },
        |x| {
            if x <= 0.0 {
                0.0
            } else {
                normal_cdf(x.ln(), mu, sigma)
            }
        },
    );
}

#[test]
fn exponential_draws_are_memoryless_with_the_mean() {
    assert_shape(
        "exponential mean 100 ms",
        DelayDistribution::Exponential {
            mean: Duration::from_millis(100),
        },
        |x| 1.0 - (-x / 0.100).exp(),
    );
}

#[test]
fn the_test_rejects_a_wrong_shape() {
    // Uniform draws with the exponential's mean must not pass as exponential.
    let uniform = draws(
        &DelayDistribution::Uniform {
            min: Duration::ZERO,
            max: Duration::from_millis(200),
        },
        42,
    );
    let d = ks_distance(uniform, |x| 1.0 - (-x / 0.100).exp());
    assert!(d > CRITICAL / (DRAWS as f64).sqrt(), "KS distance {d}");
}

#[test]
fn fixed_and_degenerate_distributions_are_exact() {
    let fixed = draws(&DelayDistribution::Fixed(Duration::from_millis(50)), 1);
    assert!(fixed.iter().all(|x| *x == 0.050));
    let point = draws(
        &DelayDistribution::Uniform {
            min: Duration::from_millis(7),
            max: Duration::from_millis(7),
        },
        1,
    );
    assert!(point.iter().all(|x| *x == 0.007));
    let no_spread = draws(
        &DelayDistribution::Normal {
            mean: Duration::from_millis(20),
            std_dev: Duration::ZERO,
        },
        1,
    );
    assert!(no_spread.iter().all(|x| (x - 0.020).abs() < 1e-6));
}
