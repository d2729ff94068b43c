//! `report.html`: one self-contained page (no external resources: inline CSS and inline SVG
//! plots drawn with plotters) with the latency over time per series, the percentile spectrum,
//! the throughput over time, the outcome breakdown, and timeout and retry behaviour.

use std::fmt::Write as _;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

use super::aggregate::Aggregate;
use super::junit::xml_escape;
use super::summary::{Row, Summary};
use super::table::render_table;
use crate::metrics::LatencyHistogram;
use crate::metrics::timeline::TimelineEntry;

/// File name of the HTML report.
pub const REPORT_FILE: &str = "report.html";

/// Most points drawn per line (longer timelines are down-sampled for display only).
pub const MAX_PLOT_POINTS: usize = 1500;

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 400;

/// What the report shows: the summary, every row's merged histograms, and the timeline.
#[derive(Debug)]
pub struct ReportInput<'a> {
    /// The summary.
    pub summary: &'a Summary,
    /// Each row (`phase/command/target`) with its merged histograms, in summary order.
    pub rows: Vec<(String, &'a Aggregate)>,
    /// Per-interval counters and latencies.
    pub timeline: &'a [TimelineEntry],
}

type Plot = Result<String, String>;
/// A named line: `(name, points, dashed)`.
type Line = (String, Vec<(f64, f64)>, bool);

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    COLORS[i % COLORS.len()]
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Keeps at most [`MAX_PLOT_POINTS`] points, taking the largest `y` of each bucket (so that
/// peaks stay visible).
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_PLOT_POINTS {
        return points;
    }
    let per = points.len().div_ceil(MAX_PLOT_POINTS);
    points
        .chunks(per)
        .filter_map(|c| {
            c.iter()
                .copied()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(_, y)| (c[0].0, y))
        })
        .collect()
}

/// The bottom of a log axis: a bit below the smallest positive value.
fn lower(min: f64) -> f64 {
    if min.is_finite() && min > 0.0 {
        min / 1.25
    } else {
        0.001
    }
}

fn upper(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// A log axis spanning whole decades around `[min, max]`, so that it always shows at least
/// two labelled powers of ten (plotters labels a log axis only at those).
fn decade_range(min: f64, max: f64) -> std::ops::Range<f64> {
    let low = 10f64.powf(lower(min).log10().floor());
    let high = 10f64.powf(upper(max).log10().ceil());
    low..high.max(low * 10.0)
}

/// Lines over time: `(name, points, dashed)`.
fn time_plot(title: &str, y_desc: &str, lines: &[Line]) -> Plot {
    let x_max = lines
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|q| q.0))
        .fold(0.0, f64::max);
    let y_max = lines
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|q| q.1))
        .fold(0.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..upper(x_max), 0f64..upper(y_max))
            .map_err(err)?;
        draw_time_lines(&mut chart, y_desc, lines)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Draws the mesh, the lines and the legend of a time plot, whatever the y axis scale.
fn draw_time_lines<'a, DB, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    y_desc: &str,
    lines: &[Line],
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc(y_desc)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for (i, (name, points, dashed)) in lines.iter().enumerate() {
        let c = if *dashed { BLACK } else { color(i) };
        let style = c.stroke_width(if *dashed { 1 } else { 2 });
        let series = chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(err)?;
        series
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Lines over time on a logarithmic y axis (latencies span decades).
fn time_plot_log(title: &str, y_desc: &str, lines: &[Line]) -> Plot {
    let x_max = lines
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|q| q.0))
        .fold(0.0, f64::max);
    let y_max = lines
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|q| q.1))
        .fold(0.0, f64::max);
    let y_min = lines
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|q| q.1))
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..upper(x_max), decade_range(y_min, y_max).log_scale())
            .map_err(err)?;
        draw_time_lines(&mut chart, y_desc, lines)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// `1/(1-q)` ↦ percentile text: 1 → 0%, 10 → 90%, 100 → 99%, 1000 → 99.9%.
fn percentile_label(x: f64) -> String {
    if x <= 1.0 {
        return "0%".to_owned();
    }
    let p = 100.0 * (1.0 - 1.0 / x);
    let digits = (x.log10().round() as i32 - 2).clamp(0, 6) as usize;
    format!("{p:.digits$}%")
}

struct PercentileAxis;

impl ValueFormatter<f64> for PercentileAxis {
    fn format(value: &f64) -> String {
        percentile_label(*value)
    }
}

/// The percentile spectrum of each histogram (HdrHistogram style: x = 1/(1-q) on a log
/// axis), with optional horizontal reference lines `(name, ms)`.
fn spectrum_plot(
    title: &str,
    lines: &[(String, &LatencyHistogram)],
    references: &[(String, f64)],
) -> Plot {
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (name, h) in lines {
        if h.is_empty() {
            continue;
        }
        let inner = h.inner();
        let mut points: Vec<(f64, f64)> = inner
            .iter_quantiles(2)
            .map(|v| {
                let q = v.quantile_iterated_to();
                let x = if q >= 1.0 { 1e7 } else { 1.0 / (1.0 - q) };
                (x.clamp(1.0, 1e7), v.value_iterated_to() as f64 / 1000.0)
            })
            .collect();
        // The last point is q = 1 (the max): put it one decade past the sample count.
        let cap = (inner.len() as f64 * 10.0).clamp(10.0, 1e7);
        for p in &mut points {
            p.0 = p.0.min(cap);
        }
        curves.push((name.clone(), thin(points)));
    }
    let x_max = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(10.0, f64::max);
    let y_max = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .chain(references.iter().map(|r| r.1))
        .fold(0.0, f64::max);
    let y_min = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .chain(references.iter().map(|r| r.1))
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (1f64..x_max).log_scale(),
                decade_range(y_min, y_max).log_scale(),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("ms")
            .x_label_formatter(&|x| PercentileAxis::format(x))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (i, (name, points)) in curves.iter().enumerate() {
            let style = color(i).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
        for (name, ms) in references {
            let style = RED.stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(
                    [(1.0, *ms), (x_max, *ms)],
                    6,
                    4,
                    style,
                ))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn figure(out: &mut String, plot: Plot, caption: &str) {
    match plot {
        Ok(svg) => {
            let _ = writeln!(
                out,
                "<figure>{svg}<figcaption>{}</figcaption></figure>",
                xml_escape(caption)
            );
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "<p class=\"warn\">plot not drawn: {}</p>",
                xml_escape(&e)
            );
        }
    }
}

/// Plotted at the middle of the interval.
fn end_of(e: &TimelineEntry) -> f64 {
    e.start_s + e.length_s / 2.0
}

/// Per second of the interval; the last, partial interval is measured against a full one
/// (a few completions in its last milliseconds are not a rate spike).
fn per_second(n: u64, e: &TimelineEntry, nominal: f64) -> f64 {
    let length = e.length_s.max(nominal);
    if length > 0.0 { n as f64 / length } else { 0.0 }
}

fn latency_over_time(input: &ReportInput<'_>) -> Plot {
    let mut lines: Vec<Line> = Vec::new();
    for (name, _) in &input.rows {
        let points: Vec<(f64, f64)> = input
            .timeline
            .iter()
            .filter_map(|e| {
                e.rows
                    .iter()
                    .find(|(r, _)| format!("{}/{}/{}", r.phase, r.command, r.target) == *name)
                    .map(|(_, s)| (end_of(e), s.p99))
            })
            .collect();
        if !points.is_empty() {
            lines.push((format!("{name} p99"), thin(points), false));
        }
    }
    let all: Vec<(f64, f64)> = input
        .timeline
        .iter()
        .filter_map(|e| e.latency_ms.map(|s| (end_of(e), s.p50)))
        .collect();
    lines.push(("all p50".to_owned(), thin(all), true));
    time_plot_log(
        "Latency over time (completion − intended send; log scale)",
        "ms",
        &lines,
    )
}

fn throughput(input: &ReportInput<'_>) -> Plot {
    let nominal = input
        .timeline
        .iter()
        .map(|e| e.length_s)
        .fold(0.0, f64::max);
    let series = |f: fn(&crate::metrics::Counts) -> u64| -> Vec<(f64, f64)> {
        thin(
            input
                .timeline
                .iter()
                .map(|e| (end_of(e), per_second(f(&e.counts), e, nominal)))
                .collect(),
        )
    };
    time_plot(
        "Throughput over time",
        "commands / s",
        &[
            ("sent/s".to_owned(), series(|c| c.sent), false),
            ("completed/s".to_owned(), series(|c| c.completed), false),
            (
                "failed + timed out/s".to_owned(),
                series(|c| c.fail + c.timeout),
                false,
            ),
            (
                "dropped + rejected + errors/s".to_owned(),
                series(|c| c.dropped + c.rejected + c.http_errors),
                false,
            ),
        ],
    )
}

fn outcome_table(out: &mut String, summary: &Summary) {
    type Part = (&'static str, &'static str, fn(&Row) -> u64);
    let parts: [Part; 7] = [
        ("success", "#2ca02c", |r| r.counts.success),
        ("fail", "#d62728", |r| r.counts.fail),
        ("timeout", "#ff7f0e", |r| r.counts.timeout),
        ("unfinished", "#9467bd", |r| r.counts.unfinished),
        ("rejected (429)", "#8c564b", |r| r.counts.rejected),
        ("HTTP errors", "#7f7f7f", |r| r.counts.http_errors),
        ("dropped", "#17becf", |r| r.counts.dropped),
    ];
    out.push_str("<table class=\"outcomes\"><tr><th>series</th><th>planned</th>");
    for (name, c, _) in &parts {
        let _ = write!(
            out,
            "<th><span class=\"key\" style=\"background:{c}\"></span>{name}</th>"
        );
    }
    out.push_str("<th class=\"barcol\">breakdown</th></tr>\n");
    let mut rows: Vec<(String, &Row)> = summary
        .rows
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}/{}",
                    r.phase.as_deref().unwrap_or("*"),
                    r.command.as_deref().unwrap_or("*"),
                    r.target.as_deref().unwrap_or("*")
                ),
                r,
            )
        })
        .collect();
    rows.push(("TOTAL".to_owned(), &summary.total));
    for (name, r) in rows {
        let total: u64 = parts.iter().map(|(_, _, f)| f(r)).sum();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td>",
            xml_escape(&name),
            r.counts.planned
        );
        for (_, _, f) in &parts {
            let _ = write!(out, "<td>{}</td>", f(r));
        }
        out.push_str("<td class=\"barcol\"><div class=\"bar\">");
        for (label, c, f) in &parts {
            let n = f(r);
            if n > 0 && total > 0 {
                let pct = 100.0 * n as f64 / total as f64;
                let _ = write!(
                    out,
                    "<span style=\"width:{pct:.3}%;background:{c}\" title=\"{label}: {n}\"></span>"
                );
            }
        }
        out.push_str("</div></td></tr>\n");
    }
    out.push_str("</table>\n");
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.3} s", v / 1000.0))
}

fn timeouts_section(out: &mut String, input: &ReportInput<'_>) {
    let summary = input.summary;
    out.push_str("<table><tr><th>series</th><th>timeout</th><th>attempt timeout</th><th>max retries</th><th>fails</th><th>timeouts</th><th>time to timeout p50 / max</th><th>time to fail p50 / max</th><th>attempts p50 / p99 / max</th><th>retried</th><th>ok after retry</th></tr>\n");
    for r in &summary.rows {
        let t = &r.timeouts;
        let pm = |s: Option<crate::metrics::Stats>| {
            s.map_or_else(
                || "–".to_owned(),
                |s| format!("{} / {}", secs(Some(s.p50)), secs(Some(s.max))),
            )
        };
        let attempts = r.retries.attempts.map_or_else(
            || "–".to_owned(),
            |a| format!("{} / {} / {}", a.p50, a.p99, a.max),
        );
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{attempts}</td><td>{}</td><td>{}</td></tr>",
            xml_escape(&format!(
                "{}/{}/{}",
                r.phase.as_deref().unwrap_or("*"),
                r.command.as_deref().unwrap_or("*"),
                r.target.as_deref().unwrap_or("*")
            )),
            secs(t.configured_timeout_ms),
            secs(t.attempt_timeout_ms),
            t.max_retries
                .map_or_else(|| "–".to_owned(), |m| m.to_string()),
            r.counts.fail,
            r.counts.timeout,
            pm(t.time_to_timeout_ms),
            pm(t.time_to_fail_ms),
            r.retries.retried,
            r.retries.succeeded_after_retry,
        );
    }
    out.push_str("</table>\n");
    // Spectrum of the time to fail or time out, against the configured timeouts.
    let mut failing: Vec<(String, LatencyHistogram)> = Vec::new();
    let mut references: Vec<(String, f64)> = Vec::new();
    for ((name, agg), row) in input.rows.iter().zip(&summary.rows) {
        let mut h = LatencyHistogram::new();
        for (outcome, hist) in &agg.outcomes {
            if *outcome != crate::metrics::Outcome::Success {
                h.add(&hist.service_time);
            }
        }
        if h.is_empty() {
            continue;
        }
        failing.push((format!("{name} (fail + timeout)"), h));
        if let Some(t) = row.timeouts.configured_timeout_ms
            && !references.iter().any(|(_, v)| *v == t)
        {
            references.push((format!("timeout {:.0} s", t / 1000.0), t));
        }
        if let Some(t) = row.timeouts.attempt_timeout_ms
            && !references.iter().any(|(_, v)| *v == t)
        {
            references.push((format!("attempt timeout {:.0} s", t / 1000.0), t));
        }
    }
    if failing.is_empty() {
        out.push_str("<p>No command failed or timed out.</p>\n");
    } else {
        let lines: Vec<(String, &LatencyHistogram)> =
            failing.iter().map(|(n, h)| (n.clone(), h)).collect();
        figure(
            out,
            spectrum_plot(
                "Time to fail / time out (service time)",
                &lines,
                &references,
            ),
            "Percentile spectrum of the time from send to a failed or timed-out completion; dashed: the configured timeouts.",
        );
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}\
pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}\
td:first-child,th:first-child{text-align:left}.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}\
.warn{color:#b26a00}.bar{display:flex;width:320px;height:14px;background:#eee}.bar span{display:block;height:14px}\
.barcol{width:330px}.key{display:inline-block;width:10px;height:10px;margin-right:4px}\
figure{margin:12px 0}figcaption{font-size:12px;color:#555}";

/// The whole page.
pub fn render_html(input: &ReportInput<'_>) -> String {
    let s = input.summary;
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fleetbench {}</title><style>{STYLE}</style></head><body>\n",
        xml_escape(&s.run_id)
    );
    let verdict = if s.thresholds_passed {
        "<span class=\"pass\">PASSED</span>"
    } else {
        "<span class=\"fail\">FAILED</span>"
    };
    let _ = writeln!(
        out,
        "<h1>fleetbench run {} — {verdict}</h1>\n<p>scenario <b>{}</b> ({}; seed {}; {} devices, {} sub-devices), target {} <code>{}</code>, {} → {}. Completion: {}. Latency = completion − intended send time.</p>",
        xml_escape(&s.run_id),
        xml_escape(&s.scenario.name),
        xml_escape(&s.scenario.origin),
        s.scenario.seed,
        s.scenario.devices,
        s.scenario.sub_devices,
        xml_escape(&s.target.mode),
        xml_escape(&s.target.url),
        xml_escape(&s.started_at),
        xml_escape(&s.finished_at),
        xml_escape(&s.completion.used),
    );
    if let Some(reason) = &s.aborted {
        let _ = writeln!(out, "<p class=\"fail\">Aborted: {}</p>", xml_escape(reason));
    }
    if !s.thresholds.is_empty() {
        out.push_str("<h2>Thresholds</h2><table><tr><th>threshold</th><th>measured</th><th>result</th></tr>\n");
        for t in &s.thresholds {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td></tr>",
                xml_escape(&t.expr),
                t.value
                    .map_or_else(|| "no data".to_owned(), |v| format!("{v:.3}")),
                if t.passed { "pass" } else { "fail" },
                if t.passed { "pass" } else { "FAIL" },
            );
        }
        out.push_str("</table>\n");
    }
    let _ = writeln!(
        out,
        "<h2>Generator health</h2>\n<p class=\"{}\">{}</p>",
        if s.generator.kept_up { "pass" } else { "warn" },
        xml_escape(&super::table::generator_line(&s.generator)),
    );
    for w in &s.warnings {
        let _ = writeln!(out, "<p class=\"warn\">warning: {}</p>", xml_escape(w));
    }
    out.push_str("<h2>Summary</h2>\n<pre>");
    out.push_str(&xml_escape(&render_table(s)));
    out.push_str("</pre>\n<h2>Latency over time</h2>\n");
    out.push_str("<div id=\"fc-latency\"></div>\n<noscript>");
    figure(
        &mut out,
        latency_over_time(input),
        "p99 per series of the commands completed in each interval; dashed: p50 of all series.",
    );
    out.push_str("</noscript>\n");
    out.push_str("<h2>Percentile spectrum</h2>\n");
    let merged: Vec<(String, LatencyHistogram)> = input
        .rows
        .iter()
        .map(|(n, agg)| (n.clone(), agg.all_outcomes().latency))
        .collect();
    let lines: Vec<(String, &LatencyHistogram)> =
        merged.iter().map(|(n, h)| (n.clone(), h)).collect();
    figure(
        &mut out,
        spectrum_plot(
            "Latency by percentile (every outcome; log scales)",
            &lines,
            &[],
        ),
        "HdrHistogram percentile spectrum per series: x = 1/(1−q) on a log scale.",
    );
    out.push_str("<h2>Throughput</h2>\n");
    out.push_str("<div id=\"fc-throughput\"></div>\n<noscript>");
    figure(
        &mut out,
        throughput(input),
        "Sends counted when sent, completions when completed.",
    );
    out.push_str("</noscript>\n");
    out.push_str("<h2>Outcomes</h2>\n");
    outcome_table(&mut out, s);
    out.push_str("<h2>Timeouts and retries</h2>\n");
    timeouts_section(&mut out, input);
    if !s.errors.is_empty() {
        out.push_str("<h2>Errors</h2><table><tr><th>message</th><th>count</th></tr>\n");
        for e in &s.errors {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                xml_escape(&e.message),
                e.count
            );
        }
        out.push_str("</table>\n");
    }
    interactive_script(&mut out, input.timeline);
    out.push_str("</body></html>\n");
    out
}

/// Inlines the chart script (the dashboard's, so the report stays one offline file) with
/// the timeline as JSON: hover read-outs, series toggles, legends beside the plots, and
/// sortable tables. Without script the plotters figures in `<noscript>` show instead.
fn interactive_script(out: &mut String, timeline: &[TimelineEntry]) {
    let data: Vec<serde_json::Value> = timeline
        .iter()
        .map(|e| {
            let t = e.start_s + e.length_s;
            let per_s = |n: u64| if e.length_s > 0.0 { n as f64 / e.length_s } else { 0.0 };
            serde_json::json!({
                "t": t,
                "sent": per_s(e.counts.sent),
                "completed": per_s(e.counts.completed),
                "p50": e.latency_ms.as_ref().map(|s| s.p50),
                "p99": e.latency_ms.as_ref().map(|s| s.p99),
                "rows": e.rows.iter().map(|(r, s)| (format!("{} / {} / {}", r.phase, r.command, r.target), s.p99)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let json = serde_json::to_string(&data)
        .unwrap_or_else(|_| "[]".to_owned())
        .replace("</", "<\\/");
    out.push_str("<style>");
    out.push_str(CHART_STYLE);
    out.push_str("</style>\n<script>");
    out.push_str(&crate::live::CHART_JS.replace("</", "<\\/"));
    out.push_str("</script>\n<script>\nvar FC_TIMELINE = ");
    out.push_str(&json);
    out.push_str(";\n");
    out.push_str(REPORT_SCRIPT);
    out.push_str("</script>\n");
}

const CHART_STYLE: &str = ".fc-chart{margin:0 0 1em;border:1px solid #ddd;padding:.4em}.fc-chart figcaption{font-weight:bold}\
.fc-body{display:flex;gap:.5em;align-items:flex-start}.fc-plot{position:relative;flex:1 1 auto;min-width:0}\
.fc-svg{width:100%;height:auto;display:block}.fc-legend{list-style:none;margin:0;padding:0;flex:0 0 16em;max-height:260px;overflow-y:auto;font-size:12px}\
.fc-toggle{border:0;background:none;cursor:pointer;text-align:left;padding:1px 2px;font:inherit}.fc-toggle.fc-off{opacity:.35;text-decoration:line-through}\
.fc-swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}\
.fc-grid{stroke:#eee}.fc-axis{stroke:#888}.fc-tick,.fc-label{font-size:10px;fill:#555}.fc-rule{stroke:#999;stroke-dasharray:3 3}\
.fc-readout{display:none;position:absolute;top:4px;background:#fff;border:1px solid #bbb;padding:3px 6px;font-size:12px;pointer-events:none;white-space:nowrap}\
th.fc-sort{cursor:pointer}th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}";

const REPORT_SCRIPT: &str = r##"(function () {
  var C = FleetChart.LineChart, tl = FC_TIMELINE, rows = {};
  tl.forEach(function (e) { e.rows.forEach(function (r) { (rows[r[0]] = rows[r[0]] || []).push([e.t, r[1]]); }); });
  var lat = new C(document.getElementById("fc-latency"), {title: "Latency p99 per series and p50 of all (ms, per interval; log scale)", xLabel: "s", yLabel: "ms", logY: true, width: 900, height: 320});
  var series = Object.keys(rows).sort().map(function (n) { return {name: n + " p99", points: rows[n]}; });
  series.push({name: "all p50", points: tl.map(function (e) { return [e.t, e.p50]; }), color: "#000"});
  lat.setSeries(series);
  var tp = new C(document.getElementById("fc-throughput"), {title: "Throughput (commands/s)", xLabel: "s", yLabel: "/s", width: 900, height: 260});
  tp.setSeries([{name: "sent", points: tl.map(function (e) { return [e.t, e.sent]; })},
                {name: "completed", points: tl.map(function (e) { return [e.t, e.completed]; })}]);
  document.querySelectorAll("table").forEach(function (t) { if (t.querySelector("th")) t.classList.add("fc-sortable"); });
  FleetChart.sortableTables(document);
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_follow_the_log_axis() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(10000.0), "99.99%");
    }

    #[test]
    fn log_axes_span_whole_decades_around_the_data() {
        assert_eq!(decade_range(20.0, 57.0), 10.0..100.0);
        assert_eq!(decade_range(0.3, 2500.0), 0.1..10_000.0);
        // Exactly a power of ten still gets a decade above it.
        let range = decade_range(100.0, 100.0);
        assert!(range.start <= 100.0 && range.end >= 1000.0, "{range:?}");
        // No positive values: a sane default, never NaN.
        let empty = decade_range(f64::INFINITY, 0.0);
        assert!(empty.start > 0.0 && empty.end > empty.start, "{empty:?}");
    }

    #[test]
    fn thinning_keeps_peaks_and_bounds_points() {
        let mut points: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        points[5_000].1 = 99.0;
        let thinned = thin(points);
        assert!(thinned.len() <= MAX_PLOT_POINTS);
        assert!(thinned.iter().any(|p| p.1 == 99.0));
    }
}
