//! SIGINT (Ctrl-C) and SIGTERM (what `timeout`, container runtimes and systemd send) end a
//! run the same way: the runner stops scheduling, writes every output marked aborted, and
//! the process exits 130 (SIGINT) or 143 (SIGTERM).

use std::sync::{Arc, OnceLock};

use fleetbench_runner::{AbortSignal, ExitStatus, abort_pair};

/// Which termination signal arrived, if any.
#[derive(Debug, Clone, Default)]
pub struct ReceivedSignal(Arc<OnceLock<ExitStatus>>);

impl ReceivedSignal {
    /// [`ExitStatus::Interrupted`] or [`ExitStatus::Terminated`] once a signal arrived.
    pub fn status(&self) -> Option<ExitStatus> {
        self.0.get().copied()
    }
}

/// An abort signal that fires on SIGINT or SIGTERM, and the record of which one arrived.
/// Must be called inside a tokio runtime.
pub fn abort_on_termination() -> (AbortSignal, ReceivedSignal) {
    let (handle, signal) = abort_pair();
    let received = ReceivedSignal::default();
    let record = received.clone();
    tokio::spawn(async move {
        let status = termination().await;
        let _ = record.0.set(status);
        handle.abort(match status {
            ExitStatus::Terminated => "terminated (SIGTERM)",
            _ => "interrupted (SIGINT, Ctrl-C)",
        });
    });
    (signal, received)
}

/// Waits for SIGINT or SIGTERM; says which.
async fn termination() -> ExitStatus {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = tokio::signal::ctrl_c() => ExitStatus::Interrupted,
                _ = terminate.recv() => ExitStatus::Terminated,
            },
            Err(error) => {
                tracing::warn!("cannot handle SIGTERM ({error}); only Ctrl-C stops a run cleanly");
                interrupt().await
            }
        }
    }
    #[cfg(not(unix))]
    {
        interrupt().await
    }
}

async fn interrupt() -> ExitStatus {
    if tokio::signal::ctrl_c().await.is_err() {
        // No handler could be installed: never fire.
        std::future::pending::<()>().await;
    }
    ExitStatus::Interrupted
}
