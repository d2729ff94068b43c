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
//! let status: std::process::ExitCode = fleetbench_runner::exit_status(&result).into();
//! # let _ = status;
//! # Ok(())
//! # }
//! ```

pub mod abort;
pub mod api;
pub mod embedded;
pub mod exec;
pub mod exit_status;
pub mod fuzz_harness;
pub mod history;
pub mod live;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod shard_start;
pub mod virtual_time;

pub use abort::{AbortHandle, AbortSignal, abort_pair};
pub use exit_status::ExitStatus;
pub use report::{Summary, render_table};
pub use run::{RunError, RunOptions, RunOutcome, TargetOverride, exit_status, run};
pub use scenario::{Scenario, ScenarioError};
