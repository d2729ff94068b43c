//! Reports: `summary.json`, the HDR histogram log, the timeline and the console table.

pub mod aggregate;
mod files;
mod summary;
mod table;
mod thresholds;

pub use files::{
    HISTOGRAM_LOG, SUMMARY_FILE, TIMELINE_FILE, new_run_dir, row_histograms, run_id,
    write_histogram_log, write_summary, write_timeline,
};
pub use summary::{
    Breakdown, CompletionInfo, ErrorCount, PhaseSummary, Retries, Row, RunFacts, SCHEMA_VERSION,
    ScenarioInfo, Series, Settings, Summary, TargetInfo, Timeouts, build, phase_durations,
    target_mode,
};
pub use table::render_table;
pub use thresholds::{ThresholdResult, evaluate};

#[cfg(test)]
mod tests;
