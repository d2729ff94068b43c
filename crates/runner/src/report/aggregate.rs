//! Merging series: counters are summed and histograms added, never percentiles averaged.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::metrics::{
    Counts, LatencyHistogram, Metrics, Outcome, OutcomeHistograms, SeriesKey, SeriesMetrics,
};
use crate::plan::TargetKind;
use crate::scenario::Scenario;

/// The merge of some series.
#[derive(Debug, Clone, Default)]
pub struct Aggregate {
    /// Summed counters.
    pub counts: Counts,
    /// Merged scheduling lag.
    pub sched_lag: LatencyHistogram,
    /// Merged histograms per outcome.
    pub outcomes: BTreeMap<Outcome, OutcomeHistograms>,
    /// Merged attempt durations by attempt outcome.
    pub attempt_time: BTreeMap<Outcome, LatencyHistogram>,
    /// Merged all-commands latency (no survivor bias).
    pub all_commands: LatencyHistogram,
}

impl Aggregate {
    /// Every outcome merged.
    pub fn all_outcomes(&self) -> OutcomeHistograms {
        let mut all = OutcomeHistograms::default();
        for h in self.outcomes.values() {
            all.add(h);
        }
        all
    }

    /// Adds one series.
    pub fn add_series(&mut self, s: &SeriesMetrics) {
        self.counts.add(&s.counts);
        self.sched_lag.add(&s.sched_lag);
        self.all_commands.add(&s.all_commands);
        for (o, h) in &s.outcomes {
            self.outcomes.entry(*o).or_default().add(h);
        }
        for (o, h) in &s.attempt_time {
            self.attempt_time.entry(*o).or_default().add(h);
        }
    }
}

/// Identity of a reported row: phase index, command label, target kind.
pub type RowKey = (usize, String, TargetKind);

/// Merges the series of `metrics` by row (labels that repeat across commands merge).
pub fn by_row(metrics: &Metrics, scenario: &Scenario) -> BTreeMap<RowKey, Aggregate> {
    let mut rows: BTreeMap<RowKey, Aggregate> = BTreeMap::new();
    for (key, s) in &metrics.series {
        let label = label_of(scenario, key);
        rows.entry((key.phase, label, key.target))
            .or_default()
            .add_series(s);
    }
    rows
}

/// Merges every series that `keep(phase name, label, target)` accepts.
pub fn select(
    metrics: &Metrics,
    scenario: &Scenario,
    keep: impl Fn(&str, &str, TargetKind) -> bool,
) -> Aggregate {
    let mut agg = Aggregate::default();
    for (key, s) in &metrics.series {
        let phase = scenario
            .phases
            .get(key.phase)
            .map_or("", |p| p.name.as_str());
        if keep(phase, &label_of(scenario, key), key.target) {
            agg.add_series(s);
        }
    }
    agg
}

/// The label of a series' command.
pub fn label_of(scenario: &Scenario, key: &SeriesKey) -> String {
    scenario
        .commands
        .get(key.command)
        .map_or_else(|| format!("command{}", key.command), |c| c.label.clone())
}

/// Commands per second, 0 for an empty duration.
pub fn per_second(count: u64, over: Duration) -> f64 {
    if over.is_zero() {
        0.0
    } else {
        count as f64 / over.as_secs_f64()
    }
}

/// `num / den`, `None` when `den` is 0.
pub fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}
