//! Live view of a run: a Prometheus `/metrics` exporter and a one-page dashboard pushed
//! by server-sent events. Both read the recorder once per scrape or once a second (never
//! per command), so they add no cost to the command path.
//!
//! The servers are bound by [`LiveServers::bind`] before the run (a bad or busy address is
//! reported before any load), the run attaches its recorder through [`LiveState::attach`]
//! and reports its verdict through [`LiveState::finish`].

mod cpu;
mod dashboard;
mod exporter;
mod frame;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::pool::PoolStats;
use crate::exec::EventHub;
use crate::metrics::Recorder;
use crate::metrics::timeline::{Progress, SeriesNames};
use crate::plan::PlannedPhase;
use crate::scenario::Threshold;

pub use dashboard::CHART_JS;
pub use exporter::{MAX_LABELLED_ROWS, OTHER_LABEL, encode_metrics};
pub use frame::{Frame, MAX_FRAMES};

/// Where to serve the live views.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveConfig {
    /// `/metrics` (Prometheus text format).
    pub metrics_addr: Option<SocketAddr>,
    /// The dashboard (`/`, `/events`, `/report.html`).
    pub dashboard_addr: Option<SocketAddr>,
}

/// A live server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{option} {addr}: cannot listen: {source}")]
pub struct LiveError {
    /// The option that named the address (`--metrics-addr`, `--dashboard`).
    pub option: &'static str,
    /// The address.
    pub addr: SocketAddr,
    /// The OS error (address in use, not available, permission denied).
    pub source: std::io::Error,
}

/// What a running scenario shares with the live views.
#[derive(Debug, Clone)]
pub struct LiveRun {
    /// The run's recorder.
    pub recorder: Recorder,
    /// Phase names and command labels.
    pub names: SeriesNames,
    /// The planned phases (timeline and intended rate).
    pub phases: Vec<PlannedPhase>,
    /// The scenario's thresholds, evaluated live.
    pub thresholds: Vec<Threshold>,
    /// The scenario, to evaluate thresholds.
    pub scenario: crate::Scenario,
    /// When the load starts.
    pub start: Instant,
    /// The HTTP pool's counters.
    pub pool: Option<Arc<PoolStats>>,
    /// The event stream, when completion uses it.
    pub events: Option<Arc<EventHub>>,
}

/// How the run ended, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// `passed`, `failed`, `aborted` or `error`.
    pub status: String,
    /// A sentence for people.
    pub detail: String,
    /// Whether `/report.html` can be served.
    pub report: bool,
}

/// The state the servers read. Cheap to share.
#[derive(Debug)]
pub struct LiveState {
    run: Mutex<Option<LiveRun>>,
    frames: Mutex<VecDeque<Arc<str>>>,
    updates: broadcast::Sender<Arc<str>>,
    verdict: Mutex<Option<Verdict>>,
    report: Mutex<Option<PathBuf>>,
    cpu: Mutex<cpu::CpuSampler>,
    sampler: Mutex<Option<JoinHandle<()>>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LiveState {
    fn new() -> Arc<LiveState> {
        Arc::new(LiveState {
            run: Mutex::new(None),
            frames: Mutex::new(VecDeque::new()),
            updates: broadcast::channel(16).0,
            verdict: Mutex::new(None),
            report: Mutex::new(None),
            cpu: Mutex::new(cpu::CpuSampler::default()),
            sampler: Mutex::new(None),
        })
    }

    /// Starts showing `run`; `progress` delivers the run's intervals (one a second), each
    /// of which becomes one dashboard update.
    pub fn attach(self: &Arc<Self>, run: LiveRun, mut progress: watch::Receiver<Progress>) {
        *locked(&self.run) = Some(run);
        let state = Arc::clone(self);
        let task = tokio::spawn(async move {
            while progress.changed().await.is_ok() {
                let p = progress.borrow_and_update().clone();
                state.publish_progress(&p);
            }
        });
        if let Some(old) = locked(&self.sampler).replace(task) {
            old.abort();
        }
    }

    fn publish_progress(&self, p: &Progress) {
        let run = locked(&self.run).clone();
        let Some(run) = run else { return };
        let cpu = locked(&self.cpu).sample();
        let frame = frame::build(&run, p, cpu);
        self.publish(&frame);
    }

    fn publish(&self, frame: &Frame) {
        let Ok(json) = serde_json::to_string(frame) else {
            return;
        };
        let json: Arc<str> = json.into();
        {
            let mut frames = locked(&self.frames);
            if frames.len() >= MAX_FRAMES {
                frames.pop_front();
            }
            frames.push_back(Arc::clone(&json));
        }
        let _ = self.updates.send(json);
    }

    /// The run ended: shows `verdict`, and serves `report` (report.html) when given.
    pub fn finish(&self, verdict: Verdict, report: Option<PathBuf>) {
        if let Some(task) = locked(&self.sampler).take() {
            task.abort();
        }
        *locked(&self.report) = report;
        *locked(&self.verdict) = Some(verdict.clone());
        self.publish(&Frame::done(verdict));
    }

    /// The updates kept so far (oldest first) and a receiver of the next ones.
    fn subscribe(&self) -> (Vec<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let frames = locked(&self.frames);
        let rx = self.updates.subscribe();
        (frames.iter().cloned().collect(), rx)
    }

    fn attached(&self) -> Option<LiveRun> {
        locked(&self.run).clone()
    }

    fn generator_cpu_percent(&self) -> Option<f64> {
        locked(&self.cpu).last().and_then(|c| c.generator_percent)
    }

    fn report_path(&self) -> Option<PathBuf> {
        locked(&self.report).clone()
    }
}

/// The bound live servers.
#[derive(Debug)]
pub struct LiveServers {
    state: Arc<LiveState>,
    tasks: Vec<JoinHandle<()>>,
    /// The addresses actually bound (`--metrics-addr`, `--dashboard`), port 0 resolved.
    pub metrics_addr: Option<SocketAddr>,
    /// The dashboard's bound address.
    pub dashboard_addr: Option<SocketAddr>,
}

impl LiveServers {
    /// Binds every configured address and starts serving. Fails, naming the option and
    /// the address, when one cannot be bound.
    pub async fn bind(config: &LiveConfig) -> Result<LiveServers, LiveError> {
        let state = LiveState::new();
        let listen = |option: &'static str, addr: SocketAddr| async move {
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| LiveError {
                    option,
                    addr,
                    source,
                })
        };
        let metrics = match config.metrics_addr {
            Some(a) => Some(listen("--metrics-addr", a).await?),
            None => None,
        };
        let dashboard = match config.dashboard_addr {
            Some(a) => Some(listen("--dashboard", a).await?),
            None => None,
        };
        let mut servers = LiveServers {
            state: Arc::clone(&state),
            tasks: Vec::new(),
            metrics_addr: metrics.as_ref().and_then(|l| l.local_addr().ok()),
            dashboard_addr: dashboard.as_ref().and_then(|l| l.local_addr().ok()),
        };
        if let Some(l) = metrics {
            let app = exporter::router(Arc::clone(&state));
            servers.tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::warn!("the metrics server stopped: {e}");
                }
            }));
        }
        if let Some(l) = dashboard {
            let app = dashboard::router(Arc::clone(&state));
            servers.tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::warn!("the dashboard server stopped: {e}");
                }
            }));
        }
        Ok(servers)
    }

    /// The state a run attaches to.
    pub fn state(&self) -> Arc<LiveState> {
        Arc::clone(&self.state)
    }

    /// Keeps serving for `linger` (so a last scrape sees the final values), then stops.
    pub async fn stop_after(self, linger: Duration) {
        if !linger.is_zero() && !self.tasks.is_empty() {
            tokio::time::sleep(linger).await;
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests;

/// The dashboard's verdict for a run result, and its report.html when it was written.
pub fn verdict_of(
    result: &Result<crate::RunOutcome, crate::RunError>,
) -> (Verdict, Option<PathBuf>) {
    match result {
        Ok(outcome) => {
            let report = outcome
                .run_dir
                .as_ref()
                .map(|d| d.join(crate::report::REPORT_FILE))
                .filter(|p| p.is_file());
            let (status, detail) = if let Some(reason) = &outcome.summary.aborted {
                ("aborted", format!("aborted: {reason}"))
            } else if outcome.thresholds_passed {
                ("passed", "every threshold held".to_owned())
            } else {
                let failed: Vec<_> = outcome
                    .summary
                    .thresholds
                    .iter()
                    .filter(|t| !t.passed)
                    .map(|t| t.expr.clone())
                    .collect();
                ("failed", format!("failed: {}", failed.join(", ")))
            };
            (
                Verdict {
                    status: status.to_owned(),
                    detail,
                    report: report.is_some(),
                },
                report,
            )
        }
        Err(e) => (
            Verdict {
                status: "error".to_owned(),
                detail: e.to_string(),
                report: false,
            },
            None,
        ),
    }
}
