//! fleetbench-runner: reads a scenario, starts the fleet (and by default the embedded mock
//! gateway), fires gateway commands over HTTP on an open-model schedule, detects completion,
//! records latencies in HdrHistograms and writes results.

pub mod abort;
pub mod api;
pub mod exec;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod scenario;

pub use scenario::{Scenario, ScenarioError};
