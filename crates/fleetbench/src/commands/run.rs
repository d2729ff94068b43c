//! `fleetbench run` and `fleetbench validate`.

use fleetbench_runner::plan::Shard;
use fleetbench_runner::scenario::Target;
use fleetbench_runner::{
    RunError, RunOptions, RunOutcome, Scenario, ScenarioError, TargetOverride, render_table,
};

use crate::cli::{RunArgs, ValidateArgs};
use crate::coap_url::resolve_coap_url;
use fleetbench_runner::ExitStatus;

/// Runs a scenario, prints the table, and maps the outcome to the exit code.
pub async fn run(args: RunArgs) -> ExitStatus {
    let scenario = match load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let target = match target_override(&args).await {
        Ok(target) => target,
        Err(code) => return code,
    };
    let shard = match args.shard.as_deref().map(Shard::from_arg).transpose() {
        Ok(shard) => shard.unwrap_or(Shard::WHOLE),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::InvalidInput;
        }
    };
    if !shard.is_whole() && target.is_none() && matches!(scenario.target, Target::Embedded) {
        eprintln!(
            "error: --shard {shard}: shards must share one gateway; give --target, --token and --lwm2m-server (or an external target in the scenario)"
        );
        return ExitStatus::InvalidInput;
    }
    let live = if args.metrics_addr.is_some() || args.dashboard.is_some() {
        let config = fleetbench_runner::live::LiveConfig {
            metrics_addr: args.metrics_addr,
            dashboard_addr: args.dashboard,
        };
        match fleetbench_runner::live::LiveServers::bind(&config).await {
            Ok(servers) => {
                if let Some(a) = servers.metrics_addr {
                    eprintln!("metrics: http://{a}/metrics");
                }
                if let Some(a) = servers.dashboard_addr {
                    eprintln!("dashboard: http://{a}/");
                }
                Some(servers)
            }
            Err(error) => {
                eprintln!("error: {error}");
                return ExitStatus::InvalidInput;
            }
        }
    } else {
        None
    };
    let (progress, display) = if args.quiet {
        (None, None)
    } else {
        let (tx, handle) = crate::progress::spawn(scenario.total_duration());
        (Some(tx), Some(handle))
    };
    let (abort, received) = crate::signals::abort_on_termination();
    let mut linger_abort = abort.clone();
    let options = RunOptions {
        out_dir: args.out.clone(),
        run_dir: args.run_dir.clone(),
        target,
        abort: Some(abort),
        progress,
        shard,
        start_at: args.start_at,
        fleet_bind: args.fleet_bind.clone(),
        live: live.as_ref().map(|s| s.state()),
        virtual_time: args.virtual_time,
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
    if let Some(servers) = live {
        // A signal (Ctrl-C, SIGTERM) ends the linger early.
        tokio::select! {
            () = servers.stop_after(args.linger) => {}
            _ = linger_abort.aborted() => {}
        }
    }
    match received.status() {
        Some(signal) if aborted(&result) => signal,
        _ => fleetbench_runner::exit_status(&result),
    }
}

/// Whether the run was cut short from outside (not by an `abort_on_fail` threshold).
fn aborted(result: &Result<RunOutcome, RunError>) -> bool {
    match result {
        Ok(outcome) => {
            outcome.summary.aborted.is_some()
                && !outcome.summary.thresholds.iter().any(|t| t.aborted_run)
        }
        Err(RunError::Aborted(_)) => true,
        Err(_) => false,
    }
}

async fn target_override(args: &RunArgs) -> Result<Option<TargetOverride>, ExitStatus> {
    let (Some(url), Some(token), Some(server)) = (&args.target, &args.token, &args.lwm2m_server)
    else {
        return Ok(None);
    };
    let lwm2m_server = resolve_coap_url(server).await.map_err(|error| {
        eprintln!("error: --lwm2m-server: {error}");
        ExitStatus::InvalidInput
    })?;
    Ok(Some(TargetOverride {
        url: url.clone(),
        token: token.clone(),
        lwm2m_server,
    }))
}

/// Validates a scenario file: prints every problem and exits 2, or says it is valid.
pub fn validate(args: ValidateArgs) -> ExitStatus {
    match load(&args.scenario) {
        Ok(_) => {
            println!("{}: valid", args.scenario.display());
            ExitStatus::Passed
        }
        Err(code) => code,
    }
}

fn load(path: &std::path::Path) -> Result<Scenario, ExitStatus> {
    Scenario::from_file(path).map_err(|error| {
        match &error {
            ScenarioError::Invalid { diagnostics, .. } => {
                eprintln!("{error}");
                eprintln!("{} error(s) in {}", diagnostics.len(), path.display());
            }
            ScenarioError::Io { .. } => eprintln!("error: {error}"),
        }
        ExitStatus::InvalidInput
    })
}
