//! One module per subcommand. Each returns the process exit status.

mod compare;
mod fleet;
mod gateway;
pub mod history;
pub mod interleave;
mod merge;
mod run;

use fleetbench_runner::ExitStatus;

use crate::cli::Command;

/// Runs a subcommand; returns how the process ends.
pub async fn dispatch(command: Command) -> ExitStatus {
    match command {
        Command::Run(args) => run::run(args).await,
        Command::Validate(args) => run::validate(args),
        Command::Gateway(args) => gateway::run(args).await,
        Command::Fleet(args) => fleet::run(args).await,
        Command::Compare(args) => compare::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::History(args) => history::run(&args),
    }
}

/// Waits for Ctrl-C (or SIGTERM on Unix).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
