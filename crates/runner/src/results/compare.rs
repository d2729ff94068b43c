//! `fleetbench compare BASELINE CURRENT`: per series, the latency percentiles (with their 95 %
//! confidence intervals) and the rate of two runs, computed from their HDR histograms (added,
//! never averaged), with the change and one of three verdicts: pass, regression (the
//! intervals separate by more than the allowed change) or inconclusive (the data cannot tell).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::intervals::{Interval, percentile_interval};
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
    /// 95 % confidence intervals of p50, p90, p99, p99.9 (`None` when nothing completed).
    pub intervals: [Option<Interval>; 4],
}

/// The percentiles of [`STATS`] with intervals, as numbers (p50 → 50.0).
pub const PERCENTILES: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

/// What the comparison concludes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No regression beyond the bounds that the data supports, and the runs can be trusted.
    Pass,
    /// A regression the intervals support (or a rate drop), in trustworthy runs.
    Regression,
    /// The data cannot decide: too few samples, intervals too wide for the requested
    /// resolution, or a run whose generator fell behind.
    Inconclusive,
}

impl Verdict {
    /// `pass`, `regression` or `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Regression => "regression",
            Verdict::Inconclusive => "inconclusive",
        }
    }
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
    /// What regressed beyond the bounds (the intervals separate).
    pub regressions: Vec<String>,
    /// What looks worse beyond the bounds but that the intervals cannot confirm.
    pub inconclusive: Vec<String>,
    /// Whether the series was judged (enough completions in the baseline).
    pub judged: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Every series (the total last).
    pub series: Vec<SeriesComparison>,
    /// The bounds used.
    pub options: CompareOptions,
    /// Why the runs cannot be trusted (e.g. a generator that fell behind); filled by the
    /// caller from the runs' summaries (see [`super::health`]).
    pub untrusted: Vec<String>,
}

impl Comparison {
    /// Whether anything regressed beyond the bounds (whatever the runs' health).
    pub fn regressed(&self) -> bool {
        self.series.iter().any(|s| !s.regressions.is_empty())
    }

    /// The verdict: inconclusive when a run cannot be trusted, when nothing could be judged,
    /// or when something looks worse but the intervals overlap; otherwise regression or pass.
    pub fn verdict(&self) -> Verdict {
        if !self.untrusted.is_empty() || !self.series.iter().any(|s| s.judged) {
            Verdict::Inconclusive
        } else if self.regressed() {
            Verdict::Regression
        } else if self.series.iter().any(|s| !s.inconclusive.is_empty()) {
            Verdict::Inconclusive
        } else {
            Verdict::Pass
        }
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

/// The numbers (with intervals) of every latency series of a log, by `phase/command/target`
/// name, then `TOTAL` (every series added).
pub fn series_numbers(log: &[HlogEntry]) -> Vec<(String, SeriesNumbers)> {
    let (series, length) = series_of(log);
    let mut total = LatencyHistogram::new();
    let mut out = Vec::new();
    for (name, (h, len)) in &series {
        total.add(h);
        out.push((name.clone(), numbers(h, *len)));
    }
    if !total.is_empty() {
        out.push(("TOTAL".to_owned(), numbers(&total, length)));
    }
    out
}

/// Every latency series of a log added into one histogram (the `TOTAL` of [`compare`]),
/// with its numbers over the summed phase lengths; `None` when nothing completed.
pub fn total_numbers(log: &[HlogEntry]) -> Option<SeriesNumbers> {
    let (series, length) = series_of(log);
    let mut total = LatencyHistogram::new();
    for (h, _) in series.values() {
        total.add(h);
    }
    (!total.is_empty()).then(|| numbers(&total, length))
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
        intervals: PERCENTILES.map(|p| percentile_interval(h.inner(), p)),
    }
}

/// What [`judge`] found in one series.
#[derive(Debug, Default)]
struct Judgement {
    regressions: Vec<String>,
    inconclusive: Vec<String>,
    judged: bool,
}

/// One percentile: a regression only when the current lower bound is above the baseline's
/// upper bound times (1 + allowed change); inconclusive when the point estimates exceed the
/// allowed change but the intervals do not separate that far.
fn judge_percentile(
    name: &str,
    b: &SeriesNumbers,
    c: &SeriesNumbers,
    i: usize,
    o: &CompareOptions,
    out: &mut Judgement,
) {
    let (bv, cv) = (b.latency_ms[i], c.latency_ms[i]);
    let allowed = 100.0 * o.max_regression;
    let change = if bv > 0.0 {
        100.0 * (cv - bv) / bv
    } else {
        0.0
    };
    let b_upper = b.intervals[i].and_then(|iv| iv.upper);
    let c_lower = c.intervals[i].and_then(|iv| iv.lower);
    let point_worse = bv > 0.0 && (cv - bv) / bv > o.max_regression;
    match (b_upper, c_lower) {
        (Some(bu), Some(cl)) if cl > bu * (1.0 + o.max_regression) => {
            out.regressions.push(format!(
                "{name} {bv:.3} → {cv:.3} ms ({change:+.1} %, allowed +{allowed:.1} %): current lower bound {cl:.3} > baseline upper bound {bu:.3} × {:.3}",
                1.0 + o.max_regression
            ));
        }
        _ if point_worse => {
            let why = match (b_upper, c_lower) {
                (None, _) => format!(
                    "the baseline's {} samples give {name} no upper bound",
                    b.count
                ),
                (_, None) => format!(
                    "the current run's {} samples give {name} no lower bound",
                    c.count
                ),
                (Some(bu), Some(cl)) => format!(
                    "intervals overlap at this resolution: current lower bound {cl:.3} ≤ baseline upper bound {bu:.3} × {:.3}",
                    1.0 + o.max_regression
                ),
            };
            out.inconclusive.push(format!(
                "{name} {bv:.3} → {cv:.3} ms ({change:+.1} %, allowed +{allowed:.1} %), but {why}"
            ));
        }
        _ => {}
    }
}

fn judge(base: Option<SeriesNumbers>, cur: Option<SeriesNumbers>, o: &CompareOptions) -> Judgement {
    let mut out = Judgement::default();
    let Some(b) = base.filter(|b| b.count >= o.min_count.max(1)) else {
        return out;
    };
    out.judged = true;
    let Some(c) = cur else {
        out.regressions
            .push("missing in the current run (nothing completed)".to_owned());
        return out;
    };
    for (i, name) in STATS.iter().enumerate().take(4) {
        if o.judged[i] {
            judge_percentile(name, &b, &c, i, o, &mut out);
        }
    }
    if b.rate > 0.0 && (b.rate - c.rate) / b.rate > o.max_rate_drop {
        out.regressions.push(format!(
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
        let j = judge(b, c, &options);
        series.push(SeriesComparison {
            name: name.clone(),
            regressions: j.regressions,
            inconclusive: j.inconclusive,
            judged: j.judged,
            baseline: b,
            current: c,
        });
    }
    let b = (!base_total.is_empty()).then(|| numbers(&base_total, base_len));
    let c = (!cur_total.is_empty()).then(|| numbers(&cur_total, cur_len));
    let j = judge(b, c, &options);
    series.push(SeriesComparison {
        name: "TOTAL".to_owned(),
        regressions: j.regressions,
        inconclusive: j.inconclusive,
        judged: j.judged,
        baseline: b,
        current: c,
    });
    Comparison {
        series,
        options,
        untrusted: Vec::new(),
    }
}

fn change(b: f64, c: f64) -> String {
    if b > 0.0 {
        format!("{:+.1}%", 100.0 * (c - b) / b)
    } else {
        "-".to_owned()
    }
}

/// One line of the table: statistic, baseline and current values, and their interval texts.
type TableRow = (String, Option<f64>, Option<f64>, [Option<String>; 2]);

/// The comparison as a table: per series and statistic, baseline, current and change.
pub fn render_comparison(c: &Comparison) -> String {
    let mut lines: Vec<Vec<String>> = vec![
        ["series", "stat", "baseline", "current", "change"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for s in &c.series {
        let cell = |n: Option<SeriesNumbers>, i: usize| {
            n.and_then(|n| n.intervals.get(i).copied().flatten())
                .map(|iv| iv.display())
        };
        let rows: Vec<TableRow> = STATS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    format!("{name} ms"),
                    s.baseline.map(|n| n.latency_ms[i]),
                    s.current.map(|n| n.latency_ms[i]),
                    [cell(s.baseline, i), cell(s.current, i)],
                )
            })
            .chain([
                (
                    "rate/s".to_owned(),
                    s.baseline.map(|n| n.rate),
                    s.current.map(|n| n.rate),
                    [None, None],
                ),
                (
                    "count".to_owned(),
                    s.baseline.map(|n| n.count as f64),
                    s.current.map(|n| n.count as f64),
                    [None, None],
                ),
            ])
            .collect();
        for (i, (stat, b, cur, [b_iv, c_iv])) in rows.into_iter().enumerate() {
            let fmt = |v: Option<f64>, iv: Option<String>| {
                iv.unwrap_or_else(|| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}")))
            };
            lines.push(vec![
                if i == 0 {
                    s.name.clone()
                } else {
                    String::new()
                },
                stat,
                fmt(b, b_iv),
                fmt(cur, c_iv),
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
        "percentiles with 95 % confidence intervals [lower, upper]; a regression needs current lower > baseline upper × (1 + allowed)\nallowed: latency {} +{:.1} %, rate −{:.1} %; series with fewer than {} completions in the baseline are not judged",
        judged.join("/"),
        100.0 * o.max_regression,
        100.0 * o.max_rate_drop,
        o.min_count
    );
    for s in &c.series {
        for r in &s.regressions {
            let _ = writeln!(out, "REGRESSION {}: {r}", s.name);
        }
        for r in &s.inconclusive {
            let _ = writeln!(out, "INCONCLUSIVE {}: {r}", s.name);
        }
    }
    for r in &c.untrusted {
        let _ = writeln!(out, "UNTRUSTED: {r}");
    }
    if !c.series.iter().any(|s| s.judged) {
        let _ = writeln!(
            out,
            "INCONCLUSIVE: no series has {} completions in the baseline: too few samples to judge",
            o.min_count.max(1)
        );
    }
    let _ = writeln!(out, "verdict: {}", c.verdict().as_str());
    out
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
