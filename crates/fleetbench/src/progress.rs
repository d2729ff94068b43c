//! Live progress of `fleetbench run`: a bar on a terminal (indicatif), plain periodic lines
//! otherwise (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use fleetbench_runner::metrics::timeline::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One line of progress.
pub fn describe(p: &Progress) -> String {
    let t = &p.totals;
    format!(
        "{:>6.1}s  sent {} ({:.1}/s)  in flight {}  done {}  p99 {}  fails {}  timeouts {}  dropped {}  errors {}",
        p.elapsed.as_secs_f64(),
        t.sent,
        p.rate,
        p.in_flight,
        t.completed,
        p.p99_ms
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms")),
        t.fail,
        t.timeout,
        t.dropped,
        t.rejected + t.http_errors + t.unfinished,
    )
}

/// Shows progress until the sender is dropped; `total` is the planned load duration.
pub fn spawn(total: Duration) -> (watch::Sender<Progress>, JoinHandle<()>) {
    let (tx, mut rx) = watch::channel(Progress::default());
    let handle = tokio::spawn(async move {
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new(total.as_millis().try_into().unwrap_or(u64::MAX));
            bar.set_style(
                ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            while rx.changed().await.is_ok() {
                let p = rx.borrow_and_update().clone();
                bar.set_position(p.elapsed.as_millis().try_into().unwrap_or(u64::MAX));
                bar.set_message(describe(&p));
            }
            bar.finish_and_clear();
        } else {
            while rx.changed().await.is_ok() {
                let p = rx.borrow_and_update().clone();
                println!("progress {}", describe(&p));
            }
        }
    });
    (tx, handle)
}
