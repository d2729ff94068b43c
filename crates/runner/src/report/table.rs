//! The console table: the same numbers as `summary.json`, for people.

use std::fmt::Write as _;

use super::summary::{Row, Summary};

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn cells(r: &Row, phase: &str, command: &str, target: &str) -> Vec<String> {
    let l = r.latency_ms.as_ref();
    vec![
        phase.to_owned(),
        command.to_owned(),
        target.to_owned(),
        r.counts.sent.to_string(),
        format!("{:.1}", r.achieved_rate),
        ms(l.map(|s| s.p50)),
        ms(l.map(|s| s.p90)),
        ms(l.map(|s| s.p99)),
        ms(l.map(|s| s.p99_9)),
        ms(l.map(|s| s.max)),
        r.counts.fail.to_string(),
        r.counts.timeout.to_string(),
        r.counts.dropped.to_string(),
        (r.counts.http_errors + r.counts.rejected + r.counts.unfinished).to_string(),
    ]
}

const HEADER: [&str; 14] = [
    "phase", "command", "target", "sent", "rate/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
    "max ms", "fails", "timeouts", "dropped", "errors",
];

/// Renders the summary as a fixed-width table (latency = completion − intended send time),
/// followed by phase notes, errors and thresholds.
pub fn render_table(summary: &Summary) -> String {
    let mut lines: Vec<Vec<String>> = vec![HEADER.iter().map(|h| (*h).to_owned()).collect()];
    for r in &summary.rows {
        lines.push(cells(
            r,
            r.phase.as_deref().unwrap_or("*"),
            r.command.as_deref().unwrap_or("*"),
            r.target.as_deref().unwrap_or("*"),
        ));
    }
    lines.push(cells(&summary.total, "TOTAL", "*", "*"));
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} — scenario {} (seed {})",
        summary.run_id, summary.scenario.name, summary.scenario.seed
    );
    for (n, line) in lines.iter().enumerate() {
        if n == lines.len() - 1 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "{}", rule.join("  "));
        }
        let padded: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 3 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    }
    let t = &summary.total;
    let polls = t
        .polls_per_command
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}"));
    let detection = if summary.completion.used == "events" {
        format!(
            "completion from the event stream ({} events, {} of {} completions seen by event, {polls} polls/command)",
            summary.completion.events_received, t.counts.completed_via_event, t.counts.completed
        )
    } else {
        format!(
            "completion by polling every {} ms ({polls} polls/command)",
            summary.settings.poll_interval_ms
        )
    };
    let _ = writeln!(
        out,
        "latency from the intended send time; {detection}; sched lag p99 {} ms; {} planned, {} sent, {} completed, {} unfinished, {} rejected (429), {} HTTP errors",
        ms(t.sched_lag_ms.as_ref().map(|s| s.p99)),
        t.counts.planned,
        t.counts.sent,
        t.counts.completed,
        t.counts.unfinished,
        t.counts.rejected,
        t.counts.http_errors,
    );
    if let Some(note) = &summary.completion.note {
        let _ = writeln!(out, "note: {note}");
    }
    for w in &summary.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if let Some(reason) = &summary.aborted {
        let _ = writeln!(
            out,
            "ABORTED: {reason} (numbers cover what was measured until then)"
        );
    }
    for e in &summary.errors {
        let _ = writeln!(out, "error ×{}: {}", e.count, e.message);
    }
    for t in &summary.thresholds {
        let value = t
            .value
            .map_or_else(|| "no data".to_owned(), |v| format!("{v:.3}"));
        let _ = writeln!(
            out,
            "threshold {}: {} (measured {value})",
            if t.passed { "PASS" } else { "FAIL" },
            t.expr
        );
    }
    out
}
