//! `fleetbench compare BASELINE CURRENT`: per series, the latency percentiles and the rate of
//! two runs, computed from their HDR histograms (added, never averaged), with the change and
//! a verdict against the allowed regression.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::load::HlogEntry;
use super::tags::{ParsedTag, parse_tag};
use crate::metrics::LatencyHistogram;

/// What counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Largest allowed increase of p50, p90, p99 and p99.9, as a fraction (0.1 = +10 %).
    pub max_regression: f64,
    /// Largest allowed drop of the completion rate, as a fraction.
    pub max_rate_drop: f64,
    /// Series with fewer completions than this in the baseline are shown but not judged.
    pub min_count: u64,
    /// Which of p50, p90, p99, p99.9 are judged (indexes into [`STATS`]).
    pub judged: [bool; 4],
}

impl CompareOptions {
    /// Judges the percentiles named in `list` (`p50,p90,p99,p99.9`); the error names the
    /// unknown one.
    pub fn judged_from(list: &str) -> Result<[bool; 4], String> {
        let mut judged = [false; 4];
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let i = STATS[..4].iter().position(|s| *s == name).ok_or_else(|| {
                format!("unknown percentile {name:?}; expected p50, p90, p99 or p99.9")
            })?;
            judged[i] = true;
        }
        Ok(judged)
    }
}

/// The numbers of one series in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesNumbers {
    /// Completed commands.
    pub count: u64,
    /// Completed per second of phase time.
    pub rate: f64,
    /// Percentiles and max, ms: p50, p90, p99, p99.9, max.
    pub latency_ms: [f64; 5],
}

/// Names of [`SeriesNumbers::latency_ms`].
pub const STATS: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// One series of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesComparison {
    /// `phase/command/target`, or `TOTAL`.
    pub name: String,
    /// In the baseline.
    pub baseline: Option<SeriesNumbers>,
    /// In the current run.
    pub current: Option<SeriesNumbers>,
    /// What regressed beyond the bounds.
    pub regressions: Vec<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Every series (the total last).
    pub series: Vec<SeriesComparison>,
    /// The bounds used.
    pub options: CompareOptions,
}

impl Comparison {
    /// Whether anything regressed beyond the bounds.
    pub fn regressed(&self) -> bool {
        self.series.iter().any(|s| !s.regressions.is_empty())
    }
}

/// Latency histograms per series (every outcome added) and phase lengths, from a log.
fn series_of(log: &[HlogEntry]) -> (BTreeMap<String, (LatencyHistogram, Duration)>, Duration) {
    let mut series: BTreeMap<String, (LatencyHistogram, Duration)> = BTreeMap::new();
    let mut phases: BTreeMap<String, Duration> = BTreeMap::new();
    for e in log {
        let Some(ParsedTag {
            kind, row, detail, ..
        }) = parse_tag(&e.tag)
        else {
            continue;
        };
        if kind != "latency" || detail.is_none() {
            continue;
        }
        let name = format!("{}/{}/{}", row.phase, row.command, row.target);
        let entry = series
            .entry(name)
            .or_insert_with(|| (LatencyHistogram::new(), Duration::ZERO));
        entry.0.try_add(&e.histogram);
        entry.1 = entry.1.max(e.length);
        let phase = phases.entry(row.phase).or_default();
        *phase = (*phase).max(e.length);
    }
    (series, phases.values().sum())
}

fn numbers(h: &LatencyHistogram, over: Duration) -> SeriesNumbers {
    let stats = h.stats();
    SeriesNumbers {
        count: h.len(),
        rate: if over.is_zero() {
            0.0
        } else {
            h.len() as f64 / over.as_secs_f64()
        },
        latency_ms: match stats {
            Some(s) => [s.p50, s.p90, s.p99, s.p99_9, s.max],
            None => [0.0; 5],
        },
    }
}

fn judge(
    base: Option<SeriesNumbers>,
    cur: Option<SeriesNumbers>,
    o: &CompareOptions,
) -> Vec<String> {
    let Some(b) = base.filter(|b| b.count >= o.min_count.max(1)) else {
        return Vec::new();
    };
    let Some(c) = cur else {
        return vec!["missing in the current run (nothing completed)".to_owned()];
    };
    let mut out = Vec::new();
    for (i, name) in STATS.iter().enumerate().take(4) {
        if !o.judged[i] {
            continue;
        }
        let (bv, cv) = (b.latency_ms[i], c.latency_ms[i]);
        if bv > 0.0 && (cv - bv) / bv > o.max_regression {
            out.push(format!(
                "{name} {bv:.3} → {cv:.3} ms ({:+.1} %, allowed +{:.1} %)",
                100.0 * (cv - bv) / bv,
                100.0 * o.max_regression
            ));
        }
    }
    if b.rate > 0.0 && (b.rate - c.rate) / b.rate > o.max_rate_drop {
        out.push(format!(
            "rate {:.2} → {:.2}/s ({:+.1} %, allowed −{:.1} %)",
            b.rate,
            c.rate,
            100.0 * (c.rate - b.rate) / b.rate,
            100.0 * o.max_rate_drop
        ));
    }
    out
}

/// Compares two runs' logs.
pub fn compare(
    baseline: &[HlogEntry],
    current: &[HlogEntry],
    options: CompareOptions,
) -> Comparison {
    let (base, base_len) = series_of(baseline);
    let (cur, cur_len) = series_of(current);
    let mut names: Vec<&String> = base.keys().chain(cur.keys()).collect();
    names.sort();
    names.dedup();
    let mut series = Vec::new();
    let mut base_total = LatencyHistogram::new();
    let mut cur_total = LatencyHistogram::new();
    for name in names {
        let b = base.get(name).map(|(h, len)| {
            base_total.add(h);
            numbers(h, *len)
        });
        let c = cur.get(name).map(|(h, len)| {
            cur_total.add(h);
            numbers(h, *len)
        });
        series.push(SeriesComparison {
            name: name.clone(),
            regressions: judge(b, c, &options),
            baseline: b,
            current: c,
        });
    }
    let b = (!base_total.is_empty()).then(|| numbers(&base_total, base_len));
    let c = (!cur_total.is_empty()).then(|| numbers(&cur_total, cur_len));
    series.push(SeriesComparison {
        name: "TOTAL".to_owned(),
        regressions: judge(b, c, &options),
        baseline: b,
        current: c,
    });
    Comparison { series, options }
}

fn change(b: f64, c: f64) -> String {
    if b > 0.0 {
        format!("{:+.1}%", 100.0 * (c - b) / b)
    } else {
        "-".to_owned()
    }
}

/// The comparison as a table: per series and statistic, baseline, current and change.
pub fn render_comparison(c: &Comparison) -> String {
    let mut lines: Vec<Vec<String>> = vec![
        ["series", "stat", "baseline", "current", "change"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for s in &c.series {
        let rows: Vec<(String, Option<f64>, Option<f64>)> = STATS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    format!("{name} ms"),
                    s.baseline.map(|n| n.latency_ms[i]),
                    s.current.map(|n| n.latency_ms[i]),
                )
            })
            .chain([
                (
                    "rate/s".to_owned(),
                    s.baseline.map(|n| n.rate),
                    s.current.map(|n| n.rate),
                ),
                (
                    "count".to_owned(),
                    s.baseline.map(|n| n.count as f64),
                    s.current.map(|n| n.count as f64),
                ),
            ])
            .collect();
        for (i, (stat, b, cur)) in rows.into_iter().enumerate() {
            let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            lines.push(vec![
                if i == 0 {
                    s.name.clone()
                } else {
                    String::new()
                },
                stat,
                fmt(b),
                fmt(cur),
                match (b, cur) {
                    (Some(b), Some(c)) => change(b, c),
                    _ => "-".to_owned(),
                },
            ]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}",
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
    }
    let o = &c.options;
    let judged: Vec<&str> = STATS[..4]
        .iter()
        .zip(o.judged)
        .filter_map(|(s, j)| j.then_some(*s))
        .collect();
    let _ = writeln!(
        out,
        "allowed: latency {} +{:.1} %, rate −{:.1} %; series with fewer than {} completions in the baseline are not judged",
        judged.join("/"),
        100.0 * o.max_regression,
        100.0 * o.max_rate_drop,
        o.min_count
    );
    let mut any = false;
    for s in &c.series {
        for r in &s.regressions {
            any = true;
            let _ = writeln!(out, "REGRESSION {}: {r}", s.name);
        }
    }
    if !any {
        out.push_str("no regression\n");
    }
    out
}
