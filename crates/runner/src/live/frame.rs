//! One dashboard update (a JSON object sent as one server-sent event), built once a second
//! from the interval the timeline just closed and one short read of the recorder.

use std::time::Duration;

use serde::Serialize;

use super::cpu::CpuUse;
use super::{LiveRun, Verdict};
use crate::metrics::Counts;
use crate::metrics::timeline::Progress;
use crate::plan::PlannedPhase;
use crate::scenario::LoadModel;

/// Most updates kept for a page opened late (one an interval: an hour at 1 s).
pub const MAX_FRAMES: usize = 3600;

/// A phase on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSpan {
    /// Name.
    pub name: String,
    /// Start, seconds from the run start.
    pub start_s: f64,
    /// Planned length, seconds.
    pub duration_s: f64,
}

/// Latency percentiles of one row in one interval, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowLatency {
    /// `phase / command / target`.
    pub name: String,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Completions in the interval.
    pub count: u64,
}

/// A threshold and how it stands now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdState {
    /// As written in the scenario.
    pub expr: String,
    /// Measured so far (`None` without data).
    pub value: Option<f64>,
    /// Whether it holds on the data so far.
    pub holds: Option<bool>,
}

/// One update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frame {
    /// Seconds since the load started (end of the interval).
    pub t_s: f64,
    /// The phase running now (empty after the plan).
    pub phase: String,
    /// Every phase, for the timeline.
    pub phases: Vec<PhaseSpan>,
    /// Counters of the interval that just ended.
    pub interval: Counts,
    /// Length of that interval, seconds.
    pub interval_s: f64,
    /// Counters since the start.
    pub totals: Counts,
    /// Sent, not yet settled.
    pub in_flight: u64,
    /// HTTP connections open.
    pub open_connections: Option<usize>,
    /// The plan's rate now, commands per second.
    pub intended_rate: f64,
    /// CPU use of the runner and of its generator thread.
    pub cpu: Option<CpuUse>,
    /// 99th percentile of the scheduling lag so far (worst row), milliseconds.
    pub lag_p99_ms: Option<f64>,
    /// Most scheduling lag so far, milliseconds.
    pub lag_max_ms: Option<f64>,
    /// Latency of the interval, all rows.
    pub latency: Option<RowLatency>,
    /// Latency of the interval per row.
    pub rows: Vec<RowLatency>,
    /// Thresholds on the data so far.
    pub thresholds: Vec<ThresholdState>,
    /// Set once the run ended.
    pub verdict: Option<Verdict>,
}

impl Frame {
    /// The last update: the run's verdict.
    pub fn done(verdict: Verdict) -> Frame {
        Frame {
            t_s: 0.0,
            phase: String::new(),
            phases: Vec::new(),
            interval: Counts::default(),
            interval_s: 0.0,
            totals: Counts::default(),
            in_flight: 0,
            open_connections: None,
            intended_rate: 0.0,
            cpu: None,
            lag_p99_ms: None,
            lag_max_ms: None,
            latency: None,
            rows: Vec::new(),
            thresholds: Vec::new(),
            verdict: Some(verdict),
        }
    }
}

/// The plan's intended rate `elapsed` after the start (commands per second).
pub fn intended_rate(phases: &[PlannedPhase], elapsed: Duration) -> f64 {
    let Some(p) = phases
        .iter()
        .find(|p| elapsed >= p.start && elapsed < p.start + p.duration)
    else {
        return 0.0;
    };
    let t = (elapsed - p.start).as_secs_f64();
    match &p.load {
        LoadModel::Constant { rate } | LoadModel::Poisson { rate } => *rate,
        LoadModel::Ramping { start_rate, stages } => {
            let mut from = *start_rate;
            let mut at = 0.0;
            for s in stages {
                let d = s.duration.as_secs_f64();
                if t < at + d && d > 0.0 {
                    return from + (s.target_rate - from) * (t - at) / d;
                }
                at += d;
                from = s.target_rate;
            }
            from
        }
        LoadModel::Closed { .. } => 0.0,
    }
}

fn current_phase(phases: &[PlannedPhase], elapsed: Duration) -> String {
    phases
        .iter()
        .find(|p| elapsed >= p.start && elapsed < p.start + p.duration)
        .map(|p| p.name.clone())
        .unwrap_or_default()
}

/// Builds the update of the interval `p` closed.
pub fn build(run: &LiveRun, p: &Progress, cpu: CpuUse) -> Frame {
    let (lag, thresholds) = run.recorder.with_metrics(|m| {
        let mut lag_p99 = None::<f64>;
        let mut lag_max = None::<f64>;
        for s in m.series.values() {
            if let Some(stats) = s.sched_lag.stats() {
                lag_p99 = Some(lag_p99.map_or(stats.p99, |v| v.max(stats.p99)));
                lag_max = Some(lag_max.map_or(stats.max, |v| v.max(stats.max)));
            }
        }
        let thresholds: Vec<ThresholdState> = run
            .thresholds
            .iter()
            .map(|t| {
                let value = crate::report::measure(t, &run.scenario, m, &[]);
                ThresholdState {
                    expr: t.expr.clone(),
                    value,
                    holds: value.map(|v| t.op.holds(v, t.bound)),
                }
            })
            .collect();
        ((lag_p99, lag_max), thresholds)
    });
    let latency = |name: String, s: &crate::metrics::Stats| RowLatency {
        name,
        p50: s.p50,
        p90: s.p90,
        p99: s.p99,
        count: s.count,
    };
    let (interval, interval_s, overall, rows) = match &p.interval {
        Some(e) => (
            e.counts,
            e.length_s,
            e.latency_ms.as_ref().map(|s| latency("all".to_owned(), s)),
            e.rows
                .iter()
                .map(|(row, s)| {
                    latency(
                        format!("{} / {} / {}", row.phase, row.command, row.target),
                        s,
                    )
                })
                .collect(),
        ),
        None => (Counts::default(), 0.0, None, Vec::new()),
    };
    Frame {
        t_s: p.elapsed.as_secs_f64(),
        phase: current_phase(
            &run.phases,
            p.elapsed.saturating_sub(Duration::from_millis(1)),
        ),
        phases: run
            .phases
            .iter()
            .map(|ph| PhaseSpan {
                name: ph.name.clone(),
                start_s: ph.start.as_secs_f64(),
                duration_s: ph.duration.as_secs_f64(),
            })
            .collect(),
        interval,
        interval_s,
        totals: p.totals,
        in_flight: p.in_flight,
        open_connections: run
            .pool
            .as_ref()
            .map(|s| s.open.load(std::sync::atomic::Ordering::Relaxed)),
        intended_rate: intended_rate(
            &run.phases,
            p.elapsed.saturating_sub(Duration::from_millis(1)),
        ),
        cpu: Some(cpu),
        lag_p99_ms: lag.0,
        lag_max_ms: lag.1,
        latency: overall,
        rows,
        thresholds,
        verdict: None,
    }
}
