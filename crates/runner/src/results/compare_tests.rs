//! The three verdicts of `compare`, on histograms built by hand with seeded samples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::distr::Distribution;
use rand_chacha::ChaCha8Rng;
use rand_distr::LogNormal;

use super::*;

/// One run's log: a single latency series of `n` log-normal samples around `median_ms`
/// over 10 s, seeded.
fn run(n: usize, median_ms: f64, seed: u64) -> Vec<HlogEntry> {
    let mut h = Histogram::<u64>::new(3).unwrap();
    h.auto(true);
    let d = LogNormal::new((median_ms * 1000.0).ln(), 0.3).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..n {
        h.record((d.sample(&mut rng) as u64).max(1)).unwrap();
    }
    vec![HlogEntry {
        tag: "latency:phase=steady;command=read;target=gateway;outcome=success".to_owned(),
        start: Duration::ZERO,
        length: Duration::from_secs(10),
        histogram: h,
    }]
}

fn options(max_regression: f64) -> CompareOptions {
    CompareOptions {
        max_regression,
        max_rate_drop: 0.5,
        min_count: 20,
        judged: [true, true, true, false],
    }
}

#[test]
fn same_distribution_other_seed_passes() {
    let c = compare(&run(2000, 10.0, 1), &run(2000, 10.0, 2), options(0.10));
    assert_eq!(c.verdict(), Verdict::Pass, "{}", render_comparison(&c));
    let text = render_comparison(&c);
    assert!(text.contains("verdict: pass"), "{text}");
    // The table shows intervals around the estimates.
    let p50 = c.series[0].baseline.unwrap().intervals[0].unwrap();
    assert!(p50.lower.unwrap() < p50.value && p50.value < p50.upper.unwrap());
    assert!(text.contains(&p50.display()), "{text}");
}

#[test]
fn a_shift_beyond_the_bound_with_separated_intervals_is_a_regression() {
    // +50 % everywhere, 2000 samples each: intervals of a few % separate far beyond +10 %.
    let c = compare(&run(2000, 10.0, 1), &run(2000, 15.0, 2), options(0.10));
    assert_eq!(
        c.verdict(),
        Verdict::Regression,
        "{}",
        render_comparison(&c)
    );
    let total = c.series.last().unwrap();
    assert!(
        total.regressions.iter().any(|r| r.starts_with("p50 ")),
        "{:?}",
        total.regressions
    );
    assert!(render_comparison(&c).contains("current lower bound"));
}

#[test]
fn a_shift_within_the_noise_of_few_samples_is_inconclusive() {
    // +25 % at 30 samples: the point estimates exceed +10 %, the intervals do not separate.
    let c = compare(&run(30, 10.0, 1), &run(30, 12.5, 2), options(0.10));
    assert_eq!(
        c.verdict(),
        Verdict::Inconclusive,
        "{}",
        render_comparison(&c)
    );
    assert!(!c.regressed());
    let text = render_comparison(&c);
    assert!(text.contains("INCONCLUSIVE TOTAL: p50"), "{text}");
    assert!(text.contains("verdict: inconclusive"), "{text}");
    // The same shift with 5000 samples each is resolved.
    let c = compare(&run(5000, 10.0, 1), &run(5000, 12.5, 2), options(0.10));
    assert_eq!(
        c.verdict(),
        Verdict::Regression,
        "{}",
        render_comparison(&c)
    );
}

#[test]
fn too_few_samples_to_judge_anything_is_inconclusive() {
    let c = compare(&run(10, 10.0, 1), &run(10, 50.0, 2), options(0.10));
    assert!(c.series.iter().all(|s| !s.judged));
    assert_eq!(c.verdict(), Verdict::Inconclusive);
    assert!(render_comparison(&c).contains("too few samples to judge"));
}

#[test]
fn an_untrusted_run_makes_even_a_clear_regression_inconclusive() {
    let mut c = compare(&run(2000, 10.0, 1), &run(2000, 30.0, 2), options(0.10));
    assert_eq!(c.verdict(), Verdict::Regression);
    c.untrusted
        .push("cur: the generator fell behind: scheduling lag p99 40 ms".to_owned());
    assert_eq!(c.verdict(), Verdict::Inconclusive);
    assert!(render_comparison(&c).contains("UNTRUSTED: cur: the generator fell behind"));
}
