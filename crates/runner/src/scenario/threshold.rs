//! Threshold expressions: `latency.p99 < "250ms"`, `success_rate > 0.99`,
//! `latency.p99{command=lwm2m_request:read,phase=steady} < 100ms`, `dropped == 0`.

use std::fmt;

/// A parsed threshold rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as written.
    pub expr: String,
    /// What is measured.
    pub metric: Metric,
    /// Which series it is measured over (all when empty).
    pub filter: SeriesFilter,
    /// The comparison.
    pub op: CompareOp,
    /// The bound; milliseconds for time metrics.
    pub bound: f64,
    /// Stop the run as soon as this rule can no longer pass (counters with an upper bound,
    /// `max` with an upper bound).
    pub abort_on_fail: bool,
}

impl Threshold {
    /// Whether the rule can be decided before the run ends: its value only grows (a counter,
    /// or a `max`), and it fails once it is above the bound.
    pub fn decidable_early(&self) -> bool {
        let upper = matches!(self.op, CompareOp::Lt | CompareOp::Le | CompareOp::Eq);
        let grows = match self.metric {
            Metric::Time(_, Stat::Max) => true,
            Metric::Time(..) => false,
            Metric::Count(c) => matches!(
                c,
                CountMetric::Planned
                    | CountMetric::Sent
                    | CountMetric::Dropped
                    | CountMetric::Completed
                    | CountMetric::Success
                    | CountMetric::Fails
                    | CountMetric::Timeouts
                    | CountMetric::Unfinished
                    | CountMetric::Rejected
                    | CountMetric::HttpErrors
            ),
        };
        upper && grows
    }

    /// During the run: `value` (so far) already makes the rule fail for good.
    pub fn failed_for_good(&self, value: f64) -> bool {
        self.decidable_early()
            && match self.op {
                CompareOp::Eq => value > self.bound,
                _ => !self.op.holds(value, self.bound),
            }
    }
}

/// A statistic of a latency histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// A percentile in (0, 100].
    Percentile(f64),
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
    /// Arithmetic mean.
    Mean,
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stat::Percentile(p) => write!(f, "p{p}"),
            Stat::Max => f.write_str("max"),
            Stat::Min => f.write_str("min"),
            Stat::Mean => f.write_str("mean"),
        }
    }
}

/// Which histogram a time metric reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeMetric {
    /// Completion − intended send time (what users experience).
    Latency,
    /// Completion − actual send time.
    ServiceTime,
    /// Actual − intended send time.
    SchedLag,
    /// Gateway-reported completion − gateway-reported creation.
    GatewayTime,
}

/// A counter, or a ratio of counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMetric {
    /// Commands due by the plan.
    Planned,
    /// Commands sent.
    Sent,
    /// Commands not sent because the in-flight bound was hit.
    Dropped,
    /// Commands that reached a terminal status.
    Completed,
    /// Terminal with every status `success`.
    Success,
    /// Terminal with a `fail` other than a timeout.
    Fails,
    /// Terminal with a `fail` whose message says timeout.
    Timeouts,
    /// Sent and accepted but not terminal when the runner gave up.
    Unfinished,
    /// Create answered 429.
    Rejected,
    /// Transport errors and non-2xx answers other than 429.
    HttpErrors,
    /// success / sent.
    SuccessRate,
    /// fails / sent.
    FailRate,
    /// timeouts / sent.
    TimeoutRate,
    /// (rejected + http_errors + unfinished) / sent.
    ErrorRate,
    /// dropped / planned.
    DropRate,
    /// sent per second of phase time.
    AchievedRate,
    /// poll requests per sent command.
    PollsPerCommand,
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A statistic of a time histogram.
    Time(TimeMetric, Stat),
    /// A counter or ratio.
    Count(CountMetric),
}

/// Restricts a threshold to some series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesFilter {
    /// Phase name.
    pub phase: Option<String>,
    /// Command label, e.g. `lwm2m_request:read`.
    pub command: Option<String>,
    /// `gateway` or `sub_device`.
    pub target: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CompareOp {
    /// Whether `value op bound` holds.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            CompareOp::Lt => value < bound,
            CompareOp::Le => value <= bound,
            CompareOp::Gt => value > bound,
            CompareOp::Ge => value >= bound,
            CompareOp::Eq => value == bound,
            CompareOp::Ne => value != bound,
        }
    }
}

const OPERATORS: [(&str, CompareOp); 6] = [
    ("<=", CompareOp::Le),
    (">=", CompareOp::Ge),
    ("==", CompareOp::Eq),
    ("!=", CompareOp::Ne),
    ("<", CompareOp::Lt),
    (">", CompareOp::Gt),
];

/// Parses one threshold expression; the error explains what is wrong with it.
pub fn parse_threshold(expr: &str) -> Result<Threshold, String> {
    let (left, op, right) = split_operator(expr)?;
    let (metric_text, filter_text) = match left.find('{') {
        Some(open) => {
            let close = left
                .rfind('}')
                .filter(|c| *c > open && left[c + 1..].trim().is_empty())
                .ok_or_else(|| format!("unclosed `{{` in `{left}`"))?;
            (left[..open].trim(), Some(&left[open + 1..close]))
        }
        None => (left.trim(), None),
    };
    let metric = parse_metric(metric_text)?;
    let filter = match filter_text {
        Some(text) => parse_filter(text)?,
        None => SeriesFilter::default(),
    };
    let bound = parse_bound(&metric, right.trim())?;
    Ok(Threshold {
        expr: expr.trim().to_owned(),
        metric,
        filter,
        op,
        bound,
        abort_on_fail: false,
    })
}

fn split_operator(expr: &str) -> Result<(&str, CompareOp, &str), String> {
    let mut depth = 0usize;
    for (i, c) in expr.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => {
                for (text, op) in OPERATORS {
                    if expr[i..].starts_with(text) {
                        return Ok((&expr[..i], op, &expr[i + text.len()..]));
                    }
                }
            }
            _ => {}
        }
    }
    Err(format!(
        "no comparison operator (<, <=, >, >=, ==, !=) in `{expr}`"
    ))
}

fn parse_metric(text: &str) -> Result<Metric, String> {
    let (name, stat) = match text.split_once('.') {
        Some((name, stat)) => (name.trim(), Some(stat.trim())),
        None => (text.trim(), None),
    };
    let time = match name {
        "latency" => Some(TimeMetric::Latency),
        "service_time" => Some(TimeMetric::ServiceTime),
        "sched_lag" => Some(TimeMetric::SchedLag),
        "gateway_time" => Some(TimeMetric::GatewayTime),
        _ => None,
    };
    if let Some(time) = time {
        let stat = stat.ok_or_else(|| {
            format!("`{name}` needs a statistic, e.g. `{name}.p99`, `{name}.max`, `{name}.mean`")
        })?;
        return Ok(Metric::Time(time, parse_stat(stat)?));
    }
    if let Some(stat) = stat {
        return Err(format!("`{name}` takes no statistic, got `.{stat}`"));
    }
    let count = match name {
        "planned" => CountMetric::Planned,
        "sent" => CountMetric::Sent,
        "dropped" => CountMetric::Dropped,
        "completed" => CountMetric::Completed,
        "success" => CountMetric::Success,
        "fails" => CountMetric::Fails,
        "timeouts" => CountMetric::Timeouts,
        "unfinished" => CountMetric::Unfinished,
        "rejected" => CountMetric::Rejected,
        "http_errors" => CountMetric::HttpErrors,
        "success_rate" => CountMetric::SuccessRate,
        "fail_rate" => CountMetric::FailRate,
        "timeout_rate" => CountMetric::TimeoutRate,
        "error_rate" => CountMetric::ErrorRate,
        "drop_rate" => CountMetric::DropRate,
        "achieved_rate" => CountMetric::AchievedRate,
        "polls_per_command" => CountMetric::PollsPerCommand,
        other => {
            return Err(format!(
                "unknown metric `{other}`; expected latency.<stat>, service_time.<stat>, \
                 sched_lag.<stat>, gateway_time.<stat>, success_rate, fail_rate, timeout_rate, \
                 error_rate, drop_rate, achieved_rate, polls_per_command, planned, sent, dropped, \
                 completed, success, fails, timeouts, unfinished, rejected or http_errors"
            ));
        }
    };
    Ok(Metric::Count(count))
}

fn parse_stat(text: &str) -> Result<Stat, String> {
    match text {
        "max" => return Ok(Stat::Max),
        "min" => return Ok(Stat::Min),
        "mean" | "avg" => return Ok(Stat::Mean),
        _ => {}
    }
    let number = text.strip_prefix('p').ok_or_else(|| {
        format!("unknown statistic `{text}`; expected pNN (e.g. p99.9), max, min or mean")
    })?;
    let p: f64 = number.parse().map_err(|_| {
        format!("unknown statistic `{text}`; expected pNN (e.g. p99.9), max, min or mean")
    })?;
    if !(p > 0.0 && p <= 100.0) {
        return Err(format!("percentile must be in (0, 100], got {p}"));
    }
    Ok(Stat::Percentile(p))
}

fn parse_filter(text: &str) -> Result<SeriesFilter, String> {
    let mut filter = SeriesFilter::default();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("filter `{part}` must look like key=value"))?;
        let value = unquote(value.trim()).to_owned();
        if value.is_empty() {
            return Err(format!("filter `{part}` has an empty value"));
        }
        let slot = match key.trim() {
            "phase" => &mut filter.phase,
            "command" => &mut filter.command,
            "target" => {
                if value != "gateway" && value != "sub_device" {
                    return Err(format!(
                        "filter target must be gateway or sub_device, got `{value}`"
                    ));
                }
                &mut filter.target
            }
            other => {
                return Err(format!(
                    "unknown filter key `{other}`; expected phase, command or target"
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("filter key `{}` given twice", key.trim()));
        }
        *slot = Some(value);
    }
    Ok(filter)
}

fn unquote(text: &str) -> &str {
    let t = text.trim();
    for q in ['"', '\''] {
        if let Some(inner) = t.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    t
}

fn parse_bound(metric: &Metric, text: &str) -> Result<f64, String> {
    let text = unquote(text);
    if text.is_empty() {
        return Err("missing value after the operator".to_owned());
    }
    match metric {
        Metric::Time(..) => {
            let d = humantime::parse_duration(text).map_err(|e| {
                format!("expected a duration like \"250ms\" after the operator, got `{text}` ({e})")
            })?;
            Ok(d.as_secs_f64() * 1000.0)
        }
        Metric::Count(_) => {
            let v: f64 = text
                .parse()
                .map_err(|_| format!("expected a number after the operator, got `{text}`"))?;
            if !v.is_finite() {
                return Err(format!("expected a finite number, got `{text}`"));
            }
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_percentile_with_quoted_duration() {
        let t = parse_threshold(r#"latency.p99 < "250ms""#).unwrap();
        assert_eq!(
            t.metric,
            Metric::Time(TimeMetric::Latency, Stat::Percentile(99.0))
        );
        assert_eq!(t.op, CompareOp::Lt);
        assert_eq!(t.bound, 250.0);
        assert_eq!(t.filter, SeriesFilter::default());
    }

    #[test]
    fn parses_fractional_percentile_and_filters() {
        let t =
            parse_threshold("service_time.p99.9{command=lwm2m_request:read, target=gateway} <= 1s")
                .unwrap();
        assert_eq!(
            t.metric,
            Metric::Time(TimeMetric::ServiceTime, Stat::Percentile(99.9))
        );
        assert_eq!(t.filter.command.as_deref(), Some("lwm2m_request:read"));
        assert_eq!(t.filter.target.as_deref(), Some("gateway"));
        assert_eq!(t.op, CompareOp::Le);
        assert_eq!(t.bound, 1000.0);
    }

    #[test]
    fn parses_rates_and_counters() {
        let t = parse_threshold("success_rate > 0.99").unwrap();
        assert_eq!(t.metric, Metric::Count(CountMetric::SuccessRate));
        assert_eq!(t.bound, 0.99);
        let t = parse_threshold("dropped == 0").unwrap();
        assert_eq!(t.metric, Metric::Count(CountMetric::Dropped));
        assert_eq!(t.op, CompareOp::Eq);
    }

    #[test]
    fn rejects_bad_expressions_with_reasons() {
        let cases = [
            ("latency.p99 250ms", "no comparison operator"),
            ("latency < 250ms", "needs a statistic"),
            ("latency.p101 < 1s", "percentile must be in"),
            ("latency.q5 < 1s", "unknown statistic"),
            ("latency.p99 < 0.25", "expected a duration"),
            ("success_rate > fast", "expected a number"),
            ("speed > 3", "unknown metric `speed`"),
            ("dropped.max == 0", "takes no statistic"),
            ("latency.p99{colour=red} < 1s", "unknown filter key"),
            ("latency.p99{target=cloud} < 1s", "gateway or sub_device"),
            ("lätency.p99 ≤ 1s", "no comparison operator"),
            ("latency.p99 < 1s{", "expected a duration"),
            ("é{phase=x < 1s", "no comparison operator"),
        ];
        for (expr, want) in cases {
            let err = parse_threshold(expr).unwrap_err();
            assert!(err.contains(want), "{expr}: {err}");
        }
    }

    #[test]
    fn operators_compare() {
        assert!(CompareOp::Lt.holds(1.0, 2.0));
        assert!(!CompareOp::Lt.holds(2.0, 2.0));
        assert!(CompareOp::Le.holds(2.0, 2.0));
        assert!(CompareOp::Gt.holds(3.0, 2.0));
        assert!(CompareOp::Ge.holds(2.0, 2.0));
        assert!(CompareOp::Eq.holds(0.0, 0.0));
        assert!(CompareOp::Ne.holds(1.0, 0.0));
    }
}
