//! Reports: `summary.json`, the HDR histogram log and the console table.

pub mod aggregate;
mod files;
mod summary;
mod table;
mod thresholds;

pub use files::{
    HISTOGRAM_LOG, SUMMARY_FILE, new_run_dir, run_id, write_histogram_log, write_summary,
};
pub use summary::{
    ErrorCount, PhaseSummary, Row, RunFacts, SCHEMA_VERSION, ScenarioInfo, Series, Settings,
    Summary, TargetInfo, build, phase_durations, target_mode,
};
pub use table::render_table;
pub use thresholds::{ThresholdResult, evaluate};

#[cfg(test)]
mod tests;
