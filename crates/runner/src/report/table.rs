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

/// Appends `lines` as a fixed-width grid; the first `left` columns are left-aligned; with
/// `total_rule`, a rule precedes the last line.
fn grid(out: &mut String, lines: &[Vec<String>], left: usize, total_rule: bool) {
    let columns = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .map(|l| l.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (n, line) in lines.iter().enumerate() {
        if total_rule && n == lines.len() - 1 && n > 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "{}", rule.join("  "));
        }
        let padded: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < left {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    }
}

fn label(r: &Row) -> String {
    format!(
        "{}/{}/{}",
        r.phase.as_deref().unwrap_or("*"),
        r.command.as_deref().unwrap_or("*"),
        r.target.as_deref().unwrap_or("*")
    )
}

/// Timeouts and retries, for rows where anything failed, timed out or was retried.
fn retries_table(out: &mut String, summary: &Summary) {
    let rows: Vec<&Row> = summary
        .rows
        .iter()
        .filter(|r| r.counts.fail + r.counts.timeout + r.counts.retried > 0)
        .collect();
    if rows.is_empty() {
        return;
    }
    let secs = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}", v / 1000.0));
    let mut lines = vec![
        [
            "timeouts and retries",
            "timeout s",
            "attempt s",
            "fails",
            "timeouts",
            "to-timeout p50 s",
            "to-timeout max s",
            "to-fail p50 s",
            "attempts p50",
            "attempts max",
            "retried",
            "ok after retry",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in rows {
        let t = &r.timeouts;
        let a = r.retries.attempts;
        lines.push(vec![
            label(r),
            secs(t.configured_timeout_ms),
            secs(t.attempt_timeout_ms),
            r.counts.fail.to_string(),
            r.counts.timeout.to_string(),
            secs(t.time_to_timeout_ms.map(|s| s.p50)),
            secs(t.time_to_timeout_ms.map(|s| s.max)),
            secs(t.time_to_fail_ms.map(|s| s.p50)),
            a.map_or_else(|| "-".to_owned(), |a| a.p50.to_string()),
            a.map_or_else(|| "-".to_owned(), |a| a.max.to_string()),
            r.retries.retried.to_string(),
            r.retries.succeeded_after_retry.to_string(),
        ]);
    }
    let _ = writeln!(out);
    grid(out, &lines, 1, false);
}

/// Where the time went (p50 / p99 of each part), when the gateway reports timestamps.
fn breakdown_table(out: &mut String, summary: &Summary) {
    let known = |r: &Row| r.breakdown_ms.device.is_some() || r.breakdown_ms.accept.is_some();
    if !summary.rows.iter().any(known) {
        return;
    }
    let pair = |s: Option<crate::metrics::Stats>| {
        s.map_or_else(
            || "-".to_owned(),
            |s| format!("{} / {}", ms(Some(s.p50)), ms(Some(s.p99))),
        )
    };
    let mut lines = vec![
        [
            "latency breakdown (p50 / p99 ms)",
            "accept",
            "dispatch",
            "link_queue",
            "device",
            "report",
            "latency",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in summary.rows.iter().filter(|r| known(r)) {
        let b = &r.breakdown_ms;
        lines.push(vec![
            label(r),
            pair(b.accept),
            pair(b.dispatch),
            pair(b.link_queue),
            pair(b.device),
            pair(b.report),
            pair(r.latency_ms),
        ]);
    }
    let _ = writeln!(out);
    grid(out, &lines, 1, false);
}

/// One line on the generator's health: lag, CPU, connections, lost events, verdict.
pub fn generator_line(g: &crate::report::GeneratorHealth) -> String {
    let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}%"));
    let lag = g.lag_ms.map_or_else(
        || "-".to_owned(),
        |l| {
            format!(
                "{} / {} / {} / {}",
                ms(Some(l.p50)),
                ms(Some(l.p99)),
                ms(Some(l.p99_9)),
                ms(Some(l.max))
            )
        },
    );
    format!(
        "generator: lag p50/p99/p99.9/max {lag} ms; runner CPU {} of a core, generator thread {}; connections peak {} of {}; {} dropped for want of a connection; {} events lost: {}",
        pct(g.runner_cpu_percent),
        pct(g.generator_cpu_percent),
        g.peak_open_connections
            .map_or_else(|| "-".to_owned(), |p| p.to_string()),
        g.connections,
        g.dropped_no_connection,
        g.events_lost,
        g.verdict,
    )
}

/// One device class's applied reply delays, for the console.
pub fn fleet_delay_line(d: &crate::report::FleetDelays) -> String {
    format!(
        "fleet delays {}: applied p50/p99/max {} / {} / {} µs, error (applied − intended) p50/p99/max {} / {} / {} µs over {} replies",
        d.class,
        d.applied_us.p50,
        d.applied_us.p99,
        d.applied_us.max,
        d.error_us.p50,
        d.error_us.p99,
        d.error_us.max,
        d.applied_us.count,
    )
}

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
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} — scenario {} (seed {})",
        summary.run_id, summary.scenario.name, summary.scenario.seed
    );
    grid(&mut out, &lines, 3, true);
    retries_table(&mut out, summary);
    breakdown_table(&mut out, summary);
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
    if let Some(all) = t.all_commands_ms {
        let _ = writeln!(
            out,
            "all commands (failed, unfinished and dropped ones at their censoring time): p50 {} ms, p99 {} ms, max {} ms",
            ms(Some(all.p50)),
            ms(Some(all.p99)),
            ms(Some(all.max)),
        );
    }
    let _ = writeln!(out, "{}", generator_line(&summary.generator));
    for d in &summary.fleet_delays {
        let _ = writeln!(out, "{}", fleet_delay_line(d));
    }
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
