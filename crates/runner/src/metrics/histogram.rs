//! HdrHistogram helpers: microsecond histograms from 1 µs to 1 h at 3 significant digits,
//! saturating records, and the statistics the reports print.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Lowest trackable value, µs.
pub const LOWEST_US: u64 = 1;
/// Highest trackable value, µs (one hour).
pub const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits.
pub const SIGFIG: u8 = 3;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram: 1 µs resolution at 3 significant digits, growing as values
    /// arrive (memory follows the largest value recorded, up to [`HIGHEST_US`]).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        // Constant parameters that hdrhistogram accepts (sigfig <= 5): this cannot fail,
        // whatever the input of the run.
        let h = Histogram::new(SIGFIG).expect("constant histogram parameters are valid");
        LatencyHistogram(h)
    }

    /// Wraps a decoded histogram (e.g. from an HDR log), made auto-resizing so that it can
    /// be added to.
    pub fn from_inner(mut h: Histogram<u64>) -> Self {
        h.auto(true);
        LatencyHistogram(h)
    }

    /// Records `d`, clamped into `[1 µs, 1 h]`.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(LOWEST_US, HIGHEST_US);
        // Auto-resizing: grows to hold the value (bounded by the clamp); cannot fail on
        // 64-bit targets, and a failure would only lose this one value.
        let _ = self.0.record(us);
    }

    /// Records `d` `count` times, clamped like [`LatencyHistogram::record`].
    pub fn record_n(&mut self, d: Duration, count: u64) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(LOWEST_US, HIGHEST_US);
        let _ = self.0.record_n(us, count);
    }

    /// Every recorded value (the highest equivalent value of its bucket) with its count.
    pub fn iter_recorded(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.0.iter_recorded().map(|v| {
            (
                Duration::from_micros(self.0.highest_equivalent(v.value_iterated_to())),
                v.count_at_value(),
            )
        })
    }

    /// Adds every count of `other` (the only correct way to merge percentiles).
    pub fn add(&mut self, other: &LatencyHistogram) {
        // Same bounds on both sides, so this cannot fail; counts saturate.
        let _ = self.0.add(&other.0);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying histogram (for serialization).
    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }

    /// Adds `other`, returning false when the histograms are not compatible (different
    /// precision or lowest value).
    pub fn try_add(&mut self, other: &Histogram<u64>) -> bool {
        self.0.add(other).is_ok()
    }

    /// Value at percentile `p` (0..=100), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        us_to_ms(self.0.value_at_quantile(p / 100.0))
    }

    /// The standard statistics, in milliseconds (`None` when empty).
    pub fn stats(&self) -> Option<Stats> {
        if self.0.is_empty() {
            return None;
        }
        Some(Stats {
            count: self.0.len(),
            min: us_to_ms(self.0.min()),
            mean: self.0.mean() / 1000.0,
            p50: self.percentile_ms(50.0),
            p90: self.percentile_ms(90.0),
            p95: self.percentile_ms(95.0),
            p99: self.percentile_ms(99.0),
            p99_9: self.percentile_ms(99.9),
            max: us_to_ms(self.0.max()),
            ci95: Some(PercentileBounds::of(&self.0)),
        })
    }
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// A histogram of small counts (attempts per command), exact up to 2048.
#[derive(Debug, Clone)]
pub struct CountHistogram(Histogram<u64>);

impl Default for CountHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl CountHistogram {
    /// An empty histogram.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        CountHistogram(Histogram::new(SIGFIG).expect("constant histogram parameters are valid"))
    }

    /// Wraps a decoded histogram.
    pub fn from_inner(mut h: Histogram<u64>) -> Self {
        h.auto(true);
        CountHistogram(h)
    }

    /// Records `n`, clamped into `[1, 1_000_000]`.
    pub fn record(&mut self, n: u64) {
        let _ = self.0.record(n.clamp(1, 1_000_000));
    }

    /// Adds every count of `other`.
    pub fn add(&mut self, other: &CountHistogram) {
        let _ = self.0.add(&other.0);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying histogram (for serialization).
    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }

    /// Count, mean, p50, p99 and max (`None` when empty).
    pub fn stats(&self) -> Option<CountStats> {
        if self.0.is_empty() {
            return None;
        }
        Some(CountStats {
            count: self.0.len(),
            mean: self.0.mean(),
            p50: self.0.value_at_quantile(0.5),
            p90: self.0.value_at_quantile(0.9),
            p99: self.0.value_at_quantile(0.99),
            max: self.0.max(),
        })
    }
}

/// Statistics of a [`CountHistogram`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CountStats {
    /// Values recorded.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

/// Statistics of one histogram, in milliseconds. Percentiles are HdrHistogram values
/// (highest equivalent value of the bucket), precise to 0.1%.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Values recorded.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    #[serde(default)]
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest value.
    pub max: f64,
    /// 95 % confidence bounds of each percentile above (distribution-free, from the
    /// histogram; see `results::intervals`). Absent in summaries older than schema 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<PercentileBounds>,
}

/// 95 % confidence bounds, ms, of the percentiles of a [`Stats`]; `None` on a side the
/// samples cannot bound (too few for that percentile).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentileBounds {
    /// Of p50.
    pub p50: Bounds,
    /// Of p90.
    pub p90: Bounds,
    /// Of p95.
    pub p95: Bounds,
    /// Of p99.
    pub p99: Bounds,
    /// Of p99.9.
    pub p99_9: Bounds,
}

/// The lower and upper 95 % confidence bound of one percentile, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Lower bound (`None`: unbounded below).
    pub lower: Option<f64>,
    /// Upper bound (`None`: unbounded above, too few samples).
    pub upper: Option<f64>,
}

impl PercentileBounds {
    /// The bounds of every reported percentile of `h` (µs histogram), with
    /// [`rank_interval`](crate::results::intervals::rank_interval) and one pass over the
    /// histogram (the same values as `results::percentile_interval`).
    pub fn of(h: &Histogram<u64>) -> PercentileBounds {
        use crate::results::intervals::rank_interval;
        const PERCENTILES: [f64; 5] = [50.0, 90.0, 95.0, 99.0, 99.9];
        let n = h.len();
        // (rank, percentile index, upper side?) for every bound the samples can give.
        let mut wanted: Vec<(u64, usize, bool)> = Vec::with_capacity(10);
        for (i, p) in PERCENTILES.iter().enumerate() {
            let ranks = rank_interval(n, p / 100.0);
            wanted.extend(
                ranks
                    .lower
                    .filter(|r| *r >= 1 && *r <= n)
                    .map(|r| (r, i, false)),
            );
            wanted.extend(
                ranks
                    .upper
                    .filter(|r| *r >= 1 && *r <= n)
                    .map(|r| (r, i, true)),
            );
        }
        wanted.sort_unstable_by_key(|w| w.0);
        let mut bounds = [Bounds::default(); 5];
        let mut next = wanted.iter().peekable();
        let mut seen = 0u64;
        for v in h.iter_recorded() {
            seen = seen.saturating_add(v.count_at_value());
            while let Some(&&(rank, i, upper)) = next.peek() {
                if rank > seen {
                    break;
                }
                let x = v.value_iterated_to();
                if upper {
                    bounds[i].upper = Some(us_to_ms(h.highest_equivalent(x)));
                } else {
                    bounds[i].lower = Some(us_to_ms(h.lowest_equivalent(x)));
                }
                next.next();
            }
            if next.peek().is_none() {
                break;
            }
        }
        let [p50, p90, p95, p99, p99_9] = bounds;
        PercentileBounds {
            p50,
            p90,
            p95,
            p99,
            p99_9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_bounds_agree_with_the_interval_module() {
        let mut h = LatencyHistogram::new();
        for us in 1..=5_000u64 {
            h.record(Duration::from_micros(us * 7 % 9_973 + 100));
        }
        let b = h.stats().and_then(|s| s.ci95).expect("bounds");
        for (p, got) in [(50.0, b.p50), (90.0, b.p90), (99.0, b.p99), (99.9, b.p99_9)] {
            let want = crate::results::percentile_interval(h.inner(), p).expect("interval");
            assert_eq!((got.lower, got.upper), (want.lower, want.upper), "p{p}");
            assert!(got.lower.is_some_and(|l| l <= want.value), "p{p}");
            assert!(got.upper.is_some_and(|u| u >= want.value), "p{p}");
        }
        let mut few = LatencyHistogram::new();
        for us in 1..=10u64 {
            few.record(Duration::from_micros(us * 100));
        }
        let b = few.stats().and_then(|s| s.ci95).expect("bounds");
        assert_eq!(b.p99.upper, None, "ten samples cannot bound p99 above");
    }

    #[test]
    fn records_clamp_and_report_milliseconds() {
        let mut h = LatencyHistogram::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        h.record(Duration::ZERO); // clamps to 1 µs
        h.record(Duration::from_secs(10 * 3600)); // saturates at 1 h
        let s = h.stats().unwrap();
        assert_eq!(s.count, 1002);
        assert_eq!(s.min, 0.001);
        assert!(
            (s.max - 3_600_000.0).abs() / 3_600_000.0 < 0.001,
            "{}",
            s.max
        );
        // 3 significant digits: within 0.1%.
        assert!((s.p50 - 500.0).abs() <= 0.5 + 1.0, "{}", s.p50);
        assert!((s.p99 - 990.0).abs() <= 1.0 + 1.0, "{}", s.p99);
    }

    #[test]
    fn merging_adds_counts_instead_of_averaging_percentiles() {
        // Two shards: one fast (1 ms), one slow (100 ms). The merged p99 is the slow value,
        // while the average of the per-shard p50s would be meaningless (50.5 ms).
        let mut fast = LatencyHistogram::new();
        let mut slow = LatencyHistogram::new();
        for _ in 0..900 {
            fast.record(Duration::from_millis(1));
        }
        for _ in 0..100 {
            slow.record(Duration::from_millis(100));
        }
        let mut all = LatencyHistogram::new();
        all.add(&fast);
        all.add(&slow);
        let s = all.stats().unwrap();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 1.0).abs() < 0.01);
        assert!((s.p90 - 1.0).abs() < 0.01);
        assert!((s.p99 - 100.0).abs() < 0.1);
        assert!((s.mean - 10.9).abs() < 0.01, "{}", s.mean);
    }

    #[test]
    fn empty_histogram_has_no_stats() {
        assert!(LatencyHistogram::new().stats().is_none());
    }
}
