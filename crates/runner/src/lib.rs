//! fleetbench-runner: reads a scenario, starts the fleet (and by default the embedded mock
//! gateway), fires gateway commands over HTTP on an open-model schedule, detects completion,
//! records latencies in HdrHistograms and writes results.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use fleetbench_runner::{AbortSignal, RunOptions, Scenario, render_table, run};
//! let scenario = Scenario::from_file("scenarios/smoke.toml")?;
//! let options = RunOptions { abort: Some(AbortSignal::on_ctrl_c()), ..RunOptions::default() };
//! let result = run(scenario, options).await;
//! if let Ok(outcome) = &result {
//!     print!("{}", render_table(&outcome.summary));
//! }
//! std::process::exit(fleetbench_runner::exit_code(&result));
//! # }
//! ```

pub mod abort;
pub mod api;
pub mod embedded;
pub mod exec;
pub mod history;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;

pub use abort::{AbortHandle, AbortSignal, abort_pair};
pub use report::{Summary, render_table};
pub use run::{
    EXIT_ERROR, EXIT_INVALID_INPUT, EXIT_OK, EXIT_THRESHOLDS_FAILED, RunError, RunOptions,
    RunOutcome, TargetOverride, exit_code, run,
};
pub use scenario::{Scenario, ScenarioError};
