//! `fleetbench run` and `fleetbench validate`.

use fleetbench_runner::{Scenario, ScenarioError};

use crate::cli::{RunArgs, ValidateArgs};
use crate::exit_code;

/// Runs a scenario.
pub async fn run(args: RunArgs) -> u8 {
    let _scenario = match load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    eprintln!("error: the runner is not wired yet");
    exit_code::ERROR
}

/// Validates a scenario file: prints every problem and exits 2, or says it is valid.
pub fn validate(args: ValidateArgs) -> u8 {
    match load(&args.scenario) {
        Ok(_) => {
            println!("{}: valid", args.scenario.display());
            exit_code::OK
        }
        Err(code) => code,
    }
}

fn load(path: &std::path::Path) -> Result<Scenario, u8> {
    Scenario::from_file(path).map_err(|error| {
        match &error {
            ScenarioError::Invalid { diagnostics, .. } => {
                eprintln!("{error}");
                eprintln!("{} error(s) in {}", diagnostics.len(), path.display());
            }
            ScenarioError::Io { .. } => eprintln!("error: {error}"),
        }
        exit_code::INVALID_INPUT
    })
}
