//! Aborting a run from outside (Ctrl-C, a supervisor): the runner stops scheduling, cancels
//! in-flight commands (counted `unfinished`) and still writes what it measured.

use tokio::sync::watch;

/// Triggers an abort.
#[derive(Debug, Clone)]
pub struct AbortHandle(watch::Sender<Option<String>>);

/// Observes an abort.
#[derive(Debug, Clone)]
pub struct AbortSignal(watch::Receiver<Option<String>>);

/// A connected handle and signal.
pub fn abort_pair() -> (AbortHandle, AbortSignal) {
    let (tx, rx) = watch::channel(None);
    (AbortHandle(tx), AbortSignal(rx))
}

impl AbortHandle {
    /// Asks the run to stop, with a reason for the summary.
    pub fn abort(&self, reason: impl Into<String>) {
        let reason = reason.into();
        self.0.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }
}

impl AbortSignal {
    /// A signal that never fires.
    pub fn never() -> AbortSignal {
        let (_, signal) = abort_pair();
        signal
    }

    /// A signal that fires on Ctrl-C (SIGINT). Must be called inside a tokio runtime.
    pub fn on_ctrl_c() -> AbortSignal {
        let (handle, signal) = abort_pair();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                handle.abort("interrupted (Ctrl-C)");
            }
        });
        signal
    }

    /// The reason, if the run was aborted.
    pub fn reason(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Waits until the run is aborted (forever if it never is); returns the reason.
    pub async fn aborted(&mut self) -> String {
        loop {
            if let Some(reason) = self.0.borrow_and_update().clone() {
                return reason;
            }
            if self.0.changed().await.is_err() {
                // Every handle is gone: no abort can come any more.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn abort_reaches_every_clone_with_the_first_reason() {
        let (handle, signal) = abort_pair();
        let mut a = signal.clone();
        assert_eq!(signal.reason(), None);
        handle.abort("first");
        handle.abort("second");
        assert_eq!(a.aborted().await, "first");
        assert_eq!(signal.reason().as_deref(), Some("first"));
    }

    #[tokio::test(start_paused = true)]
    async fn never_never_fires() {
        let mut s = AbortSignal::never();
        let r = tokio::time::timeout(std::time::Duration::from_secs(3600), s.aborted()).await;
        assert!(r.is_err());
    }
}
