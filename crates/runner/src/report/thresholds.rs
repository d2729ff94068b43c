//! Threshold evaluation on merged histograms and summed counters.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::aggregate::{self, per_second, ratio};
use crate::metrics::{LatencyHistogram, Metrics};
use crate::scenario::{CountMetric, Metric, Scenario, Stat, Threshold, TimeMetric};

/// A threshold with its measured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as written.
    pub expr: String,
    /// The measured value (ms for time metrics); `None` when there was no data.
    pub value: Option<f64>,
    /// Whether it held (`false` without data).
    pub passed: bool,
    /// This threshold (`abort_on_fail`) stopped the run early.
    #[serde(default)]
    pub aborted_run: bool,
}

/// Evaluates every threshold of `scenario`; `durations` are the actual phase lengths.
pub fn evaluate(
    scenario: &Scenario,
    metrics: &Metrics,
    durations: &[Duration],
) -> Vec<ThresholdResult> {
    scenario
        .thresholds
        .iter()
        .map(|t| evaluate_one(t, scenario, metrics, durations))
        .collect()
}

fn stat_of(h: &LatencyHistogram, stat: Stat) -> Option<f64> {
    let s = h.stats()?;
    Some(match stat {
        Stat::Percentile(p) => h.percentile_ms(p),
        Stat::Max => s.max,
        Stat::Min => s.min,
        Stat::Mean => s.mean,
    })
}

/// The measured value of one rule (`None` without data).
pub fn measure(
    t: &Threshold,
    scenario: &Scenario,
    metrics: &Metrics,
    durations: &[Duration],
) -> Option<f64> {
    evaluate_one(t, scenario, metrics, durations).value
}

fn evaluate_one(
    t: &Threshold,
    scenario: &Scenario,
    metrics: &Metrics,
    durations: &[Duration],
) -> ThresholdResult {
    let f = &t.filter;
    let agg = aggregate::select(metrics, scenario, |phase, label, target| {
        f.phase.as_deref().is_none_or(|p| p == phase)
            && f.command.as_deref().is_none_or(|c| c == label)
            && f.target.as_deref().is_none_or(|k| k == target.as_str())
    });
    let over: Duration = scenario
        .phases
        .iter()
        .zip(durations)
        .filter(|(p, _)| f.phase.as_deref().is_none_or(|name| name == p.name))
        .map(|(_, d)| *d)
        .sum();
    let c = agg.counts;
    let value = match t.metric {
        Metric::Time(which, stat) => {
            if which == TimeMetric::SchedLag {
                stat_of(&agg.sched_lag, stat)
            } else {
                let all = agg.all_outcomes();
                let h = match which {
                    TimeMetric::Latency => &all.latency,
                    TimeMetric::ServiceTime => &all.service_time,
                    _ => &all.gateway_time,
                };
                stat_of(h, stat)
            }
        }
        Metric::Count(m) => match m {
            CountMetric::Planned => Some(c.planned as f64),
            CountMetric::Sent => Some(c.sent as f64),
            CountMetric::Dropped => Some(c.dropped as f64),
            CountMetric::Completed => Some(c.completed as f64),
            CountMetric::Success => Some(c.success as f64),
            CountMetric::Fails => Some(c.fail as f64),
            CountMetric::Timeouts => Some(c.timeout as f64),
            CountMetric::Unfinished => Some(c.unfinished as f64),
            CountMetric::Rejected => Some(c.rejected as f64),
            CountMetric::HttpErrors => Some(c.http_errors as f64),
            CountMetric::SuccessRate => ratio(c.success, c.sent),
            CountMetric::FailRate => ratio(c.fail, c.sent),
            CountMetric::TimeoutRate => ratio(c.timeout, c.sent),
            CountMetric::ErrorRate => ratio(c.rejected + c.http_errors + c.unfinished, c.sent),
            CountMetric::DropRate => ratio(c.dropped, c.planned),
            CountMetric::AchievedRate => Some(per_second(c.sent, over)),
            CountMetric::PollsPerCommand => ratio(c.poll_requests, c.sent),
        },
    };
    ThresholdResult {
        expr: t.expr.clone(),
        value,
        passed: value.is_some_and(|v| t.op.holds(v, t.bound)),
        aborted_run: false,
    }
}
