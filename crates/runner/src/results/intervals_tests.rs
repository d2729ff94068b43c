//! The interval method against brute force: exact order statistics of seeded samples, the
//! binomial tables, and the coverage of known distributions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::distr::Distribution;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp, LogNormal};

use super::*;

fn histogram() -> Histogram<u64> {
    let mut h = Histogram::new(3).unwrap();
    h.auto(true);
    h
}

/// `n` samples in µs (≥ 1) from a log-normal around 5 ms, seeded.
fn samples(n: usize, seed: u64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = LogNormal::new(8.5, 0.6).unwrap();
    (0..n).map(|_| (d.sample(&mut rng) as u64).max(1)).collect()
}

/// Brute-force binomial cdf P(B ≤ k) by summing the pmf in f64 (fine for small n).
fn brute_cdf(n: u64, p: f64, k: u64) -> f64 {
    let mut sum = 0.0;
    for i in 0..=k {
        let mut c = 1.0f64;
        for j in 0..i {
            c = c * (n - j) as f64 / (j + 1) as f64;
        }
        sum += c * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32);
    }
    sum
}

#[test]
fn median_of_ten_is_the_textbook_second_to_ninth() {
    // P(B ≤ 1) = 11/1024 ≤ 2.5 % < P(B ≤ 2) = 56/1024: ranks 2 and 9 (coverage 97.9 %).
    assert_eq!(
        rank_interval(10, 0.5),
        RankInterval {
            lower: Some(2),
            upper: Some(9)
        }
    );
}

#[test]
fn exact_ranks_match_the_brute_force_binomial_definition() {
    for n in [1u64, 2, 5, 9, 15, 19, 20, 50, 120] {
        for p in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let r = rank_interval(n, p);
            // Lower: the largest l with P(B ≤ l − 1) ≤ 2.5 %.
            let want_lower = (1..=n).filter(|&l| brute_cdf(n, p, l - 1) <= TAIL).max();
            // Upper: the smallest u with P(B ≥ u) ≤ 2.5 %.
            let want_upper = (1..=n).find(|&u| 1.0 - brute_cdf(n, p, u - 1) <= TAIL + 1e-12);
            assert_eq!(r.lower, want_lower, "lower rank, n={n} p={p}");
            assert_eq!(r.upper, want_upper, "upper rank, n={n} p={p}");
            if let (Some(l), Some(u)) = (r.lower, r.upper) {
                let coverage = brute_cdf(n, p, u - 1) - brute_cdf(n, p, l - 1);
                assert!(coverage >= 0.95 - 1e-9, "coverage {coverage} n={n} p={p}");
            }
        }
    }
}

#[test]
fn small_counts_leave_the_tail_unbounded_above() {
    // 19 samples cannot bound p99 from above (P(all 19 below p99) = 0.99^19 = 83 %).
    let r = rank_interval(19, 0.99);
    assert_eq!(r.upper, None);
    let mut h = histogram();
    for v in samples(19, 7) {
        h.record(v).unwrap();
    }
    let i = percentile_interval(&h, 99.0).unwrap();
    assert_eq!(i.upper, None);
    assert!(i.display().contains('∞'), "{}", i.display());
    // The median of 19 is bounded on both sides.
    let m = percentile_interval(&h, 50.0).unwrap();
    assert!(m.lower.is_some() && m.upper.is_some());
}

#[test]
fn normal_approximation_agrees_with_the_exact_ranks_where_both_apply() {
    for (n, p) in [
        (2_000u64, 0.5),
        (2_000, 0.9),
        (2_000, 0.99),
        (20_000, 0.99),
        (50_000, 0.999),
    ] {
        let exact = exact_ranks(n, p);
        let normal = normal_ranks(n, p);
        let (el, eu) = (exact.lower.unwrap() as i64, exact.upper.unwrap() as i64);
        let (nl, nu) = (normal.lower.unwrap() as i64, normal.upper.unwrap() as i64);
        // Skew of the binomial in the tail: allow a few ranks, relative to the width.
        let slack = 1 + (eu - el) / 20;
        assert!((el - nl).abs() <= slack, "lower n={n} p={p}: {el} vs {nl}");
        assert!((eu - nu).abs() <= slack, "upper n={n} p={p}: {eu} vs {nu}");
    }
}

#[test]
fn histogram_bounds_bracket_the_exact_order_statistics() {
    for (n, seed) in [
        (5usize, 1u64),
        (15, 2),
        (19, 3),
        (100, 4),
        (1_000, 5),
        (30_000, 6),
    ] {
        let xs = samples(n, seed);
        let mut sorted = xs.clone();
        sorted.sort_unstable();
        let mut h = histogram();
        for &v in &xs {
            h.record(v).unwrap();
        }
        for pct in [50.0, 90.0, 99.0, 99.9] {
            let i = percentile_interval(&h, pct).unwrap();
            let r = rank_interval(n as u64, pct / 100.0);
            match r.lower {
                Some(l) => {
                    let exact = sorted[(l - 1) as usize] as f64 / 1000.0;
                    let got = i.lower.unwrap();
                    assert!(got <= exact, "n={n} p{pct}: lower {got} > x({l}) {exact}");
                    assert!(got >= exact * 0.999, "n={n} p{pct}: lower {got} vs {exact}");
                }
                None => assert_eq!(i.lower, None),
            }
            match r.upper {
                Some(u) => {
                    let exact = sorted[(u - 1) as usize] as f64 / 1000.0;
                    let got = i.upper.unwrap();
                    assert!(got >= exact, "n={n} p{pct}: upper {got} < x({u}) {exact}");
                    assert!(got <= exact * 1.001, "n={n} p{pct}: upper {got} vs {exact}");
                }
                None => assert_eq!(i.upper, None),
            }
            if let (Some(lo), Some(hi)) = (i.lower, i.upper) {
                assert!(
                    lo <= i.value && i.value <= hi,
                    "n={n} p{pct}: {}",
                    i.display()
                );
            }
        }
    }
}

/// Fraction of `trials` seeded experiments of `n` exponential samples (mean 10 ms) whose
/// interval holds the true `pct` percentile.
fn coverage(n: usize, pct: f64, trials: u64) -> f64 {
    let mean_us = 10_000.0;
    let truth_ms = -(1.0 - pct / 100.0f64).ln() * mean_us / 1000.0;
    let d = Exp::new(1.0 / mean_us).unwrap();
    let mut held = 0;
    for t in 0..trials {
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + t);
        let mut h = histogram();
        for _ in 0..n {
            h.record((d.sample(&mut rng) as u64).max(1)).unwrap();
        }
        let i = percentile_interval(&h, pct).unwrap();
        let lo = i.lower.unwrap_or(0.0);
        let hi = i.upper.unwrap_or(f64::INFINITY);
        if lo <= truth_ms && truth_ms <= hi {
            held += 1;
        }
    }
    f64::from(held) / trials as f64
}

#[test]
fn intervals_cover_the_true_percentile_about_95_percent_of_the_time() {
    // Binomial sampling error of 1000 trials at 95 %: sd 0.7 %; the method is conservative
    // (discrete ranks), so coverage sits between 95 % and about 98 %.
    for (n, pct, trials) in [
        (15usize, 50.0, 1000u64),
        (400, 90.0, 1000),
        (3_000, 99.0, 400),
    ] {
        let c = coverage(n, pct, trials);
        assert!((0.93..=0.995).contains(&c), "n={n} p{pct}: coverage {c}");
    }
}

#[test]
fn the_far_tail_p99_9_is_covered_with_many_samples() {
    // Normal-approximation regime (n > EXACT_UP_TO): p99.9 of 20 000 samples.
    let c = coverage(20_000, 99.9, 200);
    assert!((0.92..=1.0).contains(&c), "coverage {c}");
}

#[test]
fn rank_lookup_walks_buckets_and_rejects_ranks_out_of_range() {
    let mut h = histogram();
    for v in [10u64, 20, 20, 30] {
        h.record(v).unwrap();
    }
    assert_eq!(value_at_rank(&h, 1, Edge::Lowest), Some(10));
    assert_eq!(value_at_rank(&h, 2, Edge::Highest), Some(20));
    assert_eq!(value_at_rank(&h, 3, Edge::Highest), Some(20));
    assert_eq!(value_at_rank(&h, 4, Edge::Highest), Some(30));
    assert_eq!(value_at_rank(&h, 0, Edge::Lowest), None);
    assert_eq!(value_at_rank(&h, 5, Edge::Lowest), None);
    assert!(percentile_interval(&histogram(), 50.0).is_none());
    assert!(percentile_interval(&h, 100.0).is_none());
}
