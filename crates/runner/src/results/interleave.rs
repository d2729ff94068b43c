//! The verdict of an interleaved comparison: A and B ran alternately, k short rounds each;
//! per round one number per percentile (of every series added). B is judged against A with
//! the Mann-Whitney test on those per-round numbers plus a fixed floor, and A against
//! itself (its even rounds against its odd rounds) measures the noise of the machine.

use std::fmt::Write as _;

use super::compare::{STATS, Verdict};
use super::rank_test::mann_whitney;

/// The numbers of one round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundNumbers {
    /// p50, p90, p99, p99.9 of every latency series added, ms.
    pub latency_ms: [f64; 4],
    /// Completions per second of phase time.
    pub rate: f64,
    /// Completions.
    pub count: u64,
    /// Whether the round's thresholds held (`None` when unknown).
    pub thresholds_passed: Option<bool>,
}

/// The bounds of an interleaved comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InterleaveOptions {
    /// The fixed floor: B's median must exceed A's by more than this fraction.
    pub max_regression: f64,
    /// Largest allowed drop of B's median rate against A's, as a fraction.
    pub max_rate_drop: f64,
    /// Which of p50, p90, p99, p99.9 are judged.
    pub judged: [bool; 4],
    /// Significance level of the one-sided Mann-Whitney test (e.g. 0.01).
    pub alpha: f64,
    /// Fewest trusted rounds per side for a verdict.
    pub min_rounds: usize,
}

/// The judgement of one statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct StatJudgement {
    /// `p50`, ..., or `rate`.
    pub name: String,
    /// Median over A's rounds.
    pub a_median: f64,
    /// Median over B's rounds.
    pub b_median: f64,
    /// B's median over A's, minus one (for the rate: A's over B's, minus one: the drop).
    pub change: f64,
    /// A's even rounds against its odd rounds: the relative difference of their medians.
    pub noise: f64,
    /// One-sided Mann-Whitney p-value of "B is worse than A".
    pub p_value: f64,
    /// This statistic's verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
}

/// The whole interleaved verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct InterleaveResult {
    /// One entry per judged statistic (and the rate).
    pub stats: Vec<StatJudgement>,
    /// Verdict-level notes (too few rounds, failed thresholds).
    pub notes: Vec<String>,
    /// The overall verdict: a regression if any statistic regressed, else inconclusive if
    /// any is or a note says so, else pass.
    pub verdict: Verdict,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn relative(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den - 1.0 } else { 0.0 }
}

/// Judges one statistic where larger is worse (`worse_is_larger`) or smaller is worse.
fn judge_stat(
    name: &str,
    a: &[f64],
    b: &[f64],
    floor: f64,
    o: &InterleaveOptions,
    worse_is_larger: bool,
) -> StatJudgement {
    let (a_med, b_med) = (median(a), median(b));
    let change = if worse_is_larger {
        relative(b_med, a_med)
    } else {
        relative(a_med, b_med)
    };
    let even: Vec<f64> = a.iter().step_by(2).copied().collect();
    let odd: Vec<f64> = a.iter().skip(1).step_by(2).copied().collect();
    let noise = relative(median(&even), median(&odd)).abs();
    let test = if worse_is_larger {
        mann_whitney(a, b)
    } else {
        mann_whitney(b, a)
    };
    let p_value = test.map_or(1.0, |t| t.p_greater);
    let control_p = mann_whitney(&even, &odd).map_or(1.0, |t| t.p_two_sided);
    let pct = |x: f64| 100.0 * x;
    let (verdict, reason) = if p_value < o.alpha && change > floor && change > noise {
        (
            Verdict::Regression,
            format!(
                "{:+.1} % (allowed {:.1} %, A/A noise {:.1} %), Mann-Whitney p = {p_value:.2e} < {}",
                pct(change),
                pct(floor),
                pct(noise),
                o.alpha
            ),
        )
    } else if change > floor {
        (
            Verdict::Inconclusive,
            format!(
                "{:+.1} % exceeds the allowed {:.1} % but is not supported (Mann-Whitney p = {p_value:.3}, A/A noise {:.1} %)",
                pct(change),
                pct(floor),
                pct(noise)
            ),
        )
    } else if noise > floor || control_p < o.alpha {
        (
            Verdict::Inconclusive,
            format!(
                "the control moved: A against itself differs by {:.1} % (p = {control_p:.3}), more than the {:.1} % resolution asked",
                pct(noise),
                pct(floor)
            ),
        )
    } else {
        (
            Verdict::Pass,
            format!(
                "{:+.1} % within {:.1} % (A/A noise {:.1} %, p = {p_value:.3})",
                pct(change),
                pct(floor),
                pct(noise)
            ),
        )
    };
    StatJudgement {
        name: name.to_owned(),
        a_median: a_med,
        b_median: b_med,
        change,
        noise,
        p_value,
        verdict,
        reason,
    }
}

/// Judges B's trusted rounds against A's.
pub fn judge_interleaved(
    a: &[RoundNumbers],
    b: &[RoundNumbers],
    o: &InterleaveOptions,
) -> InterleaveResult {
    let mut notes = Vec::new();
    let mut stats = Vec::new();
    if a.len() < o.min_rounds.max(2) || b.len() < o.min_rounds.max(2) {
        notes.push(format!(
            "too few trusted rounds to decide: A {}, B {} (need {} each)",
            a.len(),
            b.len(),
            o.min_rounds.max(2)
        ));
        return InterleaveResult {
            stats,
            notes,
            verdict: Verdict::Inconclusive,
        };
    }
    for (i, name) in STATS.iter().enumerate().take(4) {
        if o.judged[i] {
            let pick = |rounds: &[RoundNumbers]| {
                rounds.iter().map(|r| r.latency_ms[i]).collect::<Vec<_>>()
            };
            stats.push(judge_stat(
                name,
                &pick(a),
                &pick(b),
                o.max_regression,
                o,
                true,
            ));
        }
    }
    let rates = |rounds: &[RoundNumbers]| rounds.iter().map(|r| r.rate).collect::<Vec<_>>();
    stats.push(judge_stat(
        "rate",
        &rates(a),
        &rates(b),
        o.max_rate_drop,
        o,
        false,
    ));
    let failed = |rounds: &[RoundNumbers]| {
        rounds
            .iter()
            .filter(|r| r.thresholds_passed == Some(false))
            .count()
    };
    let (a_failed, b_failed) = (failed(a), failed(b));
    let mut verdict = if stats.iter().any(|s| s.verdict == Verdict::Regression) {
        Verdict::Regression
    } else if stats.iter().any(|s| s.verdict == Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    };
    if a_failed > 0 {
        notes.push(format!(
            "the control A failed its thresholds in {a_failed} of {} rounds",
            a.len()
        ));
        if verdict == Verdict::Pass {
            verdict = Verdict::Inconclusive;
        }
    } else if b_failed > 0 {
        notes.push(format!(
            "B failed its thresholds in {b_failed} of {} rounds (A in none)",
            b.len()
        ));
        verdict = Verdict::Regression;
    }
    InterleaveResult {
        stats,
        notes,
        verdict,
    }
}

/// The result as text: one line per statistic, the notes, and the verdict.
pub fn render_interleaved(r: &InterleaveResult, a_rounds: usize, b_rounds: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "interleaved rounds: A {a_rounds}, B {b_rounds}; per-round statistics of every series added"
    );
    let _ = writeln!(
        out,
        "{:<6}  {:>12}  {:>12}  {:>8}  {:>9}  {:>9}  verdict",
        "stat", "A median", "B median", "change", "A/A noise", "p(B>A)"
    );
    for s in &r.stats {
        let _ = writeln!(
            out,
            "{:<6}  {:>12.3}  {:>12.3}  {:>+7.1}%  {:>8.1}%  {:>9.2e}  {}: {}",
            s.name,
            s.a_median,
            s.b_median,
            100.0 * s.change,
            100.0 * s.noise,
            s.p_value,
            s.verdict.as_str(),
            s.reason
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let _ = writeln!(out, "verdict: {}", r.verdict.as_str());
    out
}

#[cfg(test)]
#[path = "interleave_tests.rs"]
mod tests;
