//! Reports: `summary.json`, the HDR histogram log, the timeline and the console table.

pub mod aggregate;
mod files;
mod html;
mod junit;
mod shard_facts;
mod summary;
mod table;
mod thresholds;

pub use files::{
    HISTOGRAM_LOG, SCENARIO_FILE, SUMMARY_FILE, TIMELINE_FILE, hlog_header, new_run_dir,
    row_histograms, run_id, write_histogram_log, write_summary, write_text, write_timeline,
};
pub use html::{REPORT_FILE, ReportInput, render_html};
pub use junit::{JUNIT_FILE, render_junit, xml_escape};
pub use shard_facts::{ShardFacts, scenario_hash};
pub use summary::{
    Breakdown, CompletionInfo, DelayStats, ErrorCount, FleetDelays, GENERATOR_LAG_LIMIT_MS,
    GeneratorFacts, GeneratorHealth, LINK_QUEUE_WARNING_MS, OLDEST_READABLE_SCHEMA, PhaseSummary,
    Retries, Row, RunFacts, SCHEMA_VERSION, ScenarioInfo, Series, Settings, Summary, TargetInfo,
    Timeouts, build, phase_durations, target_mode,
};
pub use table::render_table;
pub use thresholds::{ThresholdResult, evaluate, measure};

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

/// The HTML report of a run: rows labelled `phase/command/target` in summary order.
pub fn html_report(
    summary: &Summary,
    rows: &BTreeMap<aggregate::RowKey, aggregate::Aggregate>,
    scenario: &crate::scenario::Scenario,
    timeline: &[crate::metrics::timeline::TimelineEntry],
) -> String {
    let rows = rows
        .iter()
        .map(|((phase, label, target), agg)| {
            let phase = scenario.phases.get(*phase).map_or("", |p| p.name.as_str());
            (format!("{phase}/{label}/{}", target.as_str()), agg)
        })
        .collect();
    render_html(&ReportInput {
        summary,
        rows,
        timeline,
    })
}
