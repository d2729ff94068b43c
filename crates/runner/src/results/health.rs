//! Whether a finished run can be trusted as a measurement of the target: read from its
//! `summary.json` as plain JSON, so that summaries with or without the `generator` health
//! block (and of any schema version) can be judged.

use std::path::Path;

use serde_json::Value;

use crate::report::SUMMARY_FILE;

/// Median scheduling lag above which a summary without a `generator` block counts as a
/// generator that fell behind, ms. The median, not the p99: on a shared machine single
/// sends are late by a scheduler slice; a generator that falls behind is late for most.
pub const LAG_LIMIT_MS: f64 = 5.0;

/// Achieved/intended send rate below which a phase that ran to its end fell behind.
pub const RATE_LIMIT_RATIO: f64 = 0.95;

/// Reasons why the run described by `summary` (a parsed `summary.json`) does not measure
/// the target: an aborted run, a median scheduling lag above [`LAG_LIMIT_MS`], commands
/// dropped by the generator, or an open phase that sent below [`RATE_LIMIT_RATIO`] of its
/// intended rate. The stricter `generator.kept_up` (lag p99 <= 1 ms) is not a reason.
/// Empty when the run looks trustworthy (or nothing is known).
pub fn untrusted_reasons(summary: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(reason) = summary.get("aborted").and_then(Value::as_str) {
        out.push(format!("the run was aborted: {reason}"));
    }
    // The `generator` block's `kept_up` verdict is the instrument's claim about its own
    // precision (lag p99 <= 1 ms): reported, but it does not void a comparison. What voids
    // one is a generator that did not apply the load as planned: drops, a late median, a
    // send rate below plan (below), whether or not the block is there.
    let total = summary.get("total");
    let lag_p50 = total
        .and_then(|t| t.get("sched_lag_ms"))
        .and_then(|l| l.get("p50"))
        .and_then(Value::as_f64);
    if let Some(lag) = lag_p50.filter(|l| *l > LAG_LIMIT_MS) {
        out.push(format!(
            "the generator fell behind: median scheduling lag {lag:.3} ms > {LAG_LIMIT_MS} ms"
        ));
    }
    let dropped = total
        .and_then(|t| t.get("counts"))
        .and_then(|c| c.get("dropped"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if dropped > 0 {
        out.push(format!(
            "the generator fell behind: {dropped} commands dropped at the in-flight bound"
        ));
    }
    for phase in summary
        .get("phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let num = |v: Option<&Value>| v.and_then(Value::as_f64);
        let (Some(intended), Some(achieved), Some(planned), Some(actual)) = (
            num(phase.get("intended_rate")),
            num(phase.get("row").and_then(|r| r.get("achieved_rate"))),
            num(phase.get("planned_duration_s")),
            num(phase.get("actual_duration_s")),
        ) else {
            continue;
        };
        if actual >= planned * 0.999 && intended > 0.0 && achieved < intended * RATE_LIMIT_RATIO {
            let name = phase.get("name").and_then(Value::as_str).unwrap_or("?");
            out.push(format!(
                "the generator fell behind: phase {name} sent {achieved:.1}/s of the intended {intended:.1}/s"
            ));
        }
    }
    out
}

/// [`untrusted_reasons`] of a run directory's `summary.json`, each prefixed with the
/// directory; nothing when the path is a bare `.hlog` or has no summary. An unreadable
/// summary is itself a reason.
pub fn run_untrusted_reasons(run: &Path) -> Vec<String> {
    let path = run.join(SUMMARY_FILE);
    if !run.is_dir() || !path.is_file() {
        return Vec::new();
    }
    let parsed = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()));
    match parsed {
        Ok(summary) => untrusted_reasons(&summary)
            .into_iter()
            .map(|r| format!("{}: {r}", run.display()))
            .collect(),
        Err(e) => vec![format!("{}: unreadable: {e}", path.display())],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_strict_generator_verdict_alone_does_not_void_a_run_but_drops_do() {
        let jittery = json!({"aborted": null, "generator": {"kept_up": false, "verdict": "lag p99 3 ms"},
                             "total": {"sched_lag_ms": {"p50": 0.4, "p99": 3.0}, "counts": {"dropped": 0}}});
        assert!(untrusted_reasons(&jittery).is_empty());
        let dropping = json!({"generator": {"kept_up": false, "verdict": "44 commands found no free connection"},
                              "total": {"sched_lag_ms": {"p50": 0.4}, "counts": {"dropped": 44}}});
        assert_eq!(
            untrusted_reasons(&dropping),
            ["the generator fell behind: 44 commands dropped at the in-flight bound"]
        );
    }

    #[test]
    fn without_the_block_lag_and_drops_decide_and_absence_is_tolerated() {
        let lagging = json!({"total": {"sched_lag_ms": {"p50": 12.5, "p99": 40.0}, "counts": {"dropped": 3}},
                             "phases": [{"name": "steady", "intended_rate": 100.0, "planned_duration_s": 8.0,
                                         "actual_duration_s": 8.0, "row": {"achieved_rate": 80.0}}]});
        let reasons = untrusted_reasons(&lagging);
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(
            reasons[0].contains("median scheduling lag 12.500 ms"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("3 commands dropped"), "{reasons:?}");
        assert!(
            reasons[2].contains("sent 80.0/s of the intended 100.0/s"),
            "{reasons:?}"
        );
        // Jitter (a late p99, a median on time) is not falling behind.
        let jitter =
            json!({"total": {"sched_lag_ms": {"p50": 1.6, "p99": 11.0}, "counts": {"dropped": 0}}});
        assert!(untrusted_reasons(&jitter).is_empty());
        assert!(untrusted_reasons(&json!({})).is_empty());
        let aborted = json!({"aborted": "interrupted (Ctrl-C)"});
        assert_eq!(
            untrusted_reasons(&aborted),
            ["the run was aborted: interrupted (Ctrl-C)"]
        );
    }
}
