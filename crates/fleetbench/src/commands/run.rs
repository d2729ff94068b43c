//! `fleetbench run` and `fleetbench validate`.

use fleetbench_runner::{
    AbortSignal, RunOptions, Scenario, ScenarioError, TargetOverride, render_table,
};

use crate::cli::{RunArgs, ValidateArgs};
use crate::coap_url::resolve_coap_url;
use crate::exit_code;

/// Runs a scenario, prints the table, and maps the outcome to the exit code.
pub async fn run(args: RunArgs) -> u8 {
    let scenario = match load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let target = match target_override(&args).await {
        Ok(target) => target,
        Err(code) => return code,
    };
    let (progress, display) = if args.quiet {
        (None, None)
    } else {
        let (tx, handle) = crate::progress::spawn(scenario.total_duration());
        (Some(tx), Some(handle))
    };
    let options = RunOptions {
        out_dir: args.out.clone(),
        run_dir: args.run_dir.clone(),
        target,
        abort: Some(AbortSignal::on_ctrl_c()),
        progress,
        ..RunOptions::default()
    };
    let result = fleetbench_runner::run(scenario, options).await;
    if let Some(display) = display {
        // The sender went with the options: the display ends.
        let _ = display.await;
    }
    match &result {
        Ok(outcome) => {
            print!("{}", render_table(&outcome.summary));
            if let Some(dir) = &outcome.run_dir {
                println!("results written to {}", dir.display());
                super::history::record(&args.record, dir, "run");
            }
            if let Some(reason) = &outcome.summary.aborted {
                eprintln!("run aborted: {reason}");
            } else if !outcome.thresholds_passed {
                eprintln!("thresholds failed");
            }
        }
        Err(error) => eprintln!("error: {error}"),
    }
    match fleetbench_runner::exit_code(&result) {
        0 => exit_code::OK,
        2 => exit_code::INVALID_INPUT,
        99 => exit_code::THRESHOLDS_FAILED,
        _ => exit_code::ERROR,
    }
}

async fn target_override(args: &RunArgs) -> Result<Option<TargetOverride>, u8> {
    let (Some(url), Some(token), Some(server)) = (&args.target, &args.token, &args.lwm2m_server)
    else {
        return Ok(None);
    };
    let lwm2m_server = resolve_coap_url(server).await.map_err(|error| {
        eprintln!("error: --lwm2m-server: {error}");
        exit_code::INVALID_INPUT
    })?;
    Ok(Some(TargetOverride {
        url: url.clone(),
        token: token.clone(),
        lwm2m_server,
    }))
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
