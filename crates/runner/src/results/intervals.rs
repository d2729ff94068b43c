//! Distribution-free 95 % confidence intervals on percentiles, from a histogram alone.
//!
//! For the p-quantile ξ of a continuous distribution and n independent samples with order
//! statistics x₍₁₎ ≤ … ≤ x₍ₙ₎, the number B of samples below ξ is binomial(n, p), so
//! P(x₍ₗ₎ ≤ ξ ≤ x₍ᵤ₎) = P(l ≤ B < u). We take l as the largest rank with P(B < l) ≤ 2.5 % and
//! u as the smallest rank with P(B ≥ u) ≤ 2.5 % (equal tails, coverage ≥ 95 %): from the exact
//! binomial distribution up to [`EXACT_UP_TO`] samples, from its normal approximation (with
//! continuity correction) beyond. A rank below 1 means the interval is unbounded below, a
//! rank above n unbounded above (too few samples for that percentile: with n = 10 the upper
//! bound of p99 does not exist).
//!
//! The histogram knows each order statistic only to its bucket, so the interval is widened
//! to the bucket edges: the lowest value of x₍ₗ₎'s bucket and the highest of x₍ᵤ₎'s.
//! `docs/ci-gate.md` has a worked example.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Sample counts up to this use the exact binomial distribution; larger ones its normal
/// approximation.
pub const EXACT_UP_TO: u64 = 2_000;

/// z of the two-sided 95 % normal interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// Each tail's probability.
const TAIL: f64 = 0.025;

/// Ranks (1-based, into the sorted samples) of a percentile's confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankInterval {
    /// Rank of the lower bound; `None` when unbounded below.
    pub lower: Option<u64>,
    /// Rank of the upper bound; `None` when unbounded above.
    pub upper: Option<u64>,
}

/// A percentile with its 95 % confidence interval, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The point estimate (the HdrHistogram percentile).
    pub value: f64,
    /// Lower bound; `None` when the samples cannot bound it (too few).
    pub lower: Option<f64>,
    /// Upper bound; `None` when the samples cannot bound it (too few for this percentile).
    pub upper: Option<f64>,
    /// Samples it was computed from.
    pub count: u64,
}

impl Interval {
    /// The interval in words: `12.3 [11.9, 12.8]`, `∞` for a missing upper bound.
    pub fn display(&self) -> String {
        let lower = self
            .lower
            .map_or_else(|| "0".to_owned(), |v| format!("{v:.3}"));
        let upper = self
            .upper
            .map_or_else(|| "∞".to_owned(), |v| format!("{v:.3}"));
        format!("{:.3} [{lower}, {upper}]", self.value)
    }

    /// Upper bound over value, minus one (how far the upper bound reaches above the
    /// estimate); `None` when unbounded or the value is zero.
    pub fn relative_half_width(&self) -> Option<f64> {
        let upper = self.upper?;
        (self.value > 0.0).then(|| upper / self.value - 1.0)
    }
}

/// ln of the binomial(n, p) probability mass at every k in 0..=n, without overflow or
/// underflow (log space, by the ratio of successive terms).
fn binomial_log_pmf(n: u64, p: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0) + 1);
    let (ln_p, ln_q) = (p.ln(), (1.0 - p).ln());
    let mut current = n as f64 * ln_q;
    out.push(current);
    for k in 0..n {
        current += ((n - k) as f64).ln() - ((k + 1) as f64).ln() + ln_p - ln_q;
        out.push(current);
    }
    out
}

/// The exact ranks for `n` samples and quantile `p` (0 < p < 1).
fn exact_ranks(n: u64, p: f64) -> RankInterval {
    let log_pmf = binomial_log_pmf(n, p);
    let max = log_pmf.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_pmf.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    // cdf[k] = P(B ≤ k).
    let mut cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cdf.push(acc);
    }
    // Largest l ≥ 1 with P(B ≤ l − 1) ≤ TAIL.
    let lower = (1..=n)
        .take_while(|&l| cdf[(l - 1) as usize] <= TAIL)
        .last();
    // Smallest u ≤ n with P(B ≥ u) = 1 − P(B ≤ u − 1) ≤ TAIL.
    let upper = (1..=n).find(|&u| 1.0 - cdf[(u - 1) as usize] <= TAIL);
    RankInterval { lower, upper }
}

/// The normal-approximation ranks for `n` samples and quantile `p`.
fn normal_ranks(n: u64, p: f64) -> RankInterval {
    let mean = n as f64 * p;
    let sd = (mean * (1.0 - p)).sqrt();
    // P(B ≤ l − 1) ≤ TAIL  ⇔  l − 1 + ½ ≤ np − z·sd.
    let lower = (mean - Z_95 * sd + 0.5).floor();
    // P(B ≥ u) ≤ TAIL  ⇔  u − ½ ≥ np + z·sd.
    let upper = (mean + Z_95 * sd + 0.5).ceil();
    RankInterval {
        lower: (lower >= 1.0).then_some(lower as u64),
        upper: (upper <= n as f64).then_some(upper as u64),
    }
}

/// Ranks of the 95 % confidence interval of the `p`-quantile (0 < p < 1) of `n` samples.
/// Exact binomial up to [`EXACT_UP_TO`] samples, normal approximation beyond.
pub fn rank_interval(n: u64, p: f64) -> RankInterval {
    if n == 0 || !(p > 0.0 && p < 1.0) {
        return RankInterval {
            lower: None,
            upper: None,
        };
    }
    if n <= EXACT_UP_TO {
        exact_ranks(n, p)
    } else {
        normal_ranks(n, p)
    }
}

/// Which bucket edge of an order statistic to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The lowest value of its bucket.
    Lowest,
    /// The highest value of its bucket.
    Highest,
}

/// The `rank`-th smallest recorded value (1-based), at the given edge of its bucket; `None`
/// when the histogram holds fewer values.
pub fn value_at_rank(h: &Histogram<u64>, rank: u64, edge: Edge) -> Option<u64> {
    if rank == 0 || rank > h.len() {
        return None;
    }
    let mut seen = 0u64;
    for v in h.iter_recorded() {
        seen = seen.saturating_add(v.count_at_value());
        if seen >= rank {
            let x = v.value_iterated_to();
            return Some(match edge {
                Edge::Lowest => h.lowest_equivalent(x),
                Edge::Highest => h.highest_equivalent(x),
            });
        }
    }
    None
}

/// The `percentile` (0 < percentile < 100, e.g. 99.9) of a microsecond histogram with its
/// 95 % confidence interval, in milliseconds. `None` for an empty histogram or a
/// percentile outside (0, 100).
pub fn percentile_interval(h: &Histogram<u64>, percentile: f64) -> Option<Interval> {
    if h.is_empty() || !(percentile > 0.0 && percentile < 100.0) {
        return None;
    }
    let n = h.len();
    let ranks = rank_interval(n, percentile / 100.0);
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Interval {
        value: ms(h.value_at_quantile(percentile / 100.0)),
        lower: ranks
            .lower
            .and_then(|r| value_at_rank(h, r, Edge::Lowest))
            .map(ms),
        upper: ranks
            .upper
            .and_then(|r| value_at_rank(h, r, Edge::Highest))
            .map(ms),
        count: n,
    })
}

#[cfg(test)]
#[path = "intervals_tests.rs"]
mod tests;
