//! Load generation (open model, like wrk2) and completion detection.
//!
//! The generator waits until each intended send time (on its own OS thread with a
//! high-resolution wait, see [`pacer`]) and launches the command as its own task on the I/O
//! runtime. When `max_in_flight` commands are already in flight, or no pooled connection is
//! free within [`CONNECTION_WAIT`] of the intended time, the command is counted `dropped`;
//! it is never silently delayed beyond that. Latency is measured from the intended send
//! time, service time from the moment the request was handed to a connection, and the
//! difference (scheduling lag) is recorded too.

pub mod body;
pub mod cpu;
pub mod details;
pub mod directory;
pub mod events;
pub mod pacer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::abort::AbortSignal;
use crate::api::{ApiError, CommandState, GatewayApi};
use crate::metrics::{Completion, Detection, Recorder, SeriesKey};
use crate::plan::{Plan, TargetRef};
use crate::scenario::{LoadModel, Scenario};
pub use directory::{DeviceIds, Directory, DirectoryError};
pub use events::EventHub;

/// Consecutive failed polls after which a command is given up (counted as an HTTP error).
pub const MAX_CONSECUTIVE_POLL_ERRORS: u32 = 10;
/// `timeout` assumed for commands that give none (the gateway's default).
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after its intended send time an open-model command may wait for a free pooled
/// connection; past that it is counted `dropped` (the generator, or the target, is
/// saturated). Closed-model workers wait up to the request timeout.
pub const CONNECTION_WAIT: Duration = Duration::from_millis(10);

/// How the open-model generator waits for intended send times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Its own OS thread with a sleep-then-spin wait (real runs).
    Precise,
    /// tokio's timer on the I/O runtime (millisecond resolution; for tests under tokio's
    /// paused clock).
    Tokio,
}

/// Everything the command tasks share.
#[derive(Debug)]
pub struct Engine<A> {
    api: A,
    scenario: Scenario,
    plan: Plan,
    directory: Directory,
    recorder: Recorder,
    bodies: Vec<Map<String, Value>>,
    give_up: Vec<Duration>,
    in_flight: Arc<Semaphore>,
    events: Option<Arc<EventHub>>,
    pacing: Pacing,
    tasks: TaskTracker,
    cancel: CancellationToken,
    /// Spreads re-reads after lost events over time.
    resync: events::ResyncLimiter,
    /// CPU time of the generator thread(s), in ns.
    generator_cpu_ns: AtomicU64,
    /// The run start, once [`Engine::run`] was called.
    start: std::sync::OnceLock<Instant>,
    /// The same moment on the runner's monotonic clock and on the wall clock, to compare
    /// runner instants with gateway timestamps.
    anchor: (Instant, time::OffsetDateTime),
    /// Virtual time: wall-clock times (command schedules) come from `anchor`, not the
    /// system clock.
    virtual_wall: bool,
}

/// When each phase actually ran, relative to the run start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PhaseTiming {
    /// When scheduling of the phase began.
    pub started: Duration,
    /// When scheduling of the phase ended.
    pub ended: Duration,
}

/// What the load generation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// One entry per phase that started.
    pub phases: Vec<PhaseTiming>,
    /// Why the run was aborted, if it was.
    pub aborted: Option<String>,
    /// Commands still in flight when the drain timed out (cancelled, counted unfinished).
    pub cancelled_in_drain: usize,
    /// Time from the run start to the end of the drain.
    pub total: Duration,
    /// CPU time of the open-model generator thread (`None`: not measured, or no open-model
    /// phase ran).
    pub generator_cpu: Option<Duration>,
}

impl<A: GatewayApi> Engine<A> {
    /// An engine for `scenario` against `api`, with targets resolved through `directory`,
    /// detecting completion by polling.
    pub fn new(
        api: A,
        scenario: Scenario,
        plan: Plan,
        directory: Directory,
        recorder: Recorder,
    ) -> Arc<Self> {
        Self::with_events(api, scenario, plan, directory, recorder, None)
    }

    /// Like [`Engine::new`], detecting completion through `events` when given (polling
    /// when the stream goes down).
    pub fn with_events(
        api: A,
        scenario: Scenario,
        plan: Plan,
        directory: Directory,
        recorder: Recorder,
        events: Option<Arc<EventHub>>,
    ) -> Arc<Self> {
        Self::with_pacing(
            api,
            scenario,
            plan,
            directory,
            recorder,
            events,
            Pacing::Tokio,
        )
    }

    /// Like [`Engine::with_events`], pacing open-model phases as `pacing` says.
    pub fn with_pacing(
        api: A,
        scenario: Scenario,
        plan: Plan,
        directory: Directory,
        recorder: Recorder,
        events: Option<Arc<EventHub>>,
        pacing: Pacing,
    ) -> Arc<Self> {
        Self::with_wall_clock(
            api, scenario, plan, directory, recorder, events, pacing, None,
        )
    }

    /// Like [`Engine::with_pacing`]; with `virtual_now` (the UTC time of this instant on a
    /// virtual clock), wall-clock times (command schedules) follow tokio's clock from it
    /// instead of the system clock.
    #[allow(clippy::too_many_arguments)]
    pub fn with_wall_clock(
        api: A,
        scenario: Scenario,
        plan: Plan,
        directory: Directory,
        recorder: Recorder,
        events: Option<Arc<EventHub>>,
        pacing: Pacing,
        virtual_now: Option<time::OffsetDateTime>,
    ) -> Arc<Self> {
        let bodies = scenario.commands.iter().map(body::base_body).collect();
        let give_up = scenario
            .commands
            .iter()
            .map(|c| {
                scenario
                    .poll
                    .give_up_after
                    .unwrap_or_else(|| body::give_up_after(c, DEFAULT_COMMAND_TIMEOUT))
            })
            .collect();
        let in_flight = Arc::new(Semaphore::new(scenario.execution.max_in_flight));
        Arc::new(Engine {
            api,
            scenario,
            plan,
            directory,
            recorder,
            bodies,
            give_up,
            in_flight,
            events,
            pacing,
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            resync: events::ResyncLimiter::new(events::RESYNC_RATE),
            generator_cpu_ns: AtomicU64::new(0),
            start: std::sync::OnceLock::new(),
            anchor: (
                Instant::now(),
                virtual_now.unwrap_or_else(time::OffsetDateTime::now_utc),
            ),
            virtual_wall: virtual_now.is_some(),
        })
    }

    /// When the run started (set by [`Engine::run`]).
    fn start(&self) -> Instant {
        *self.start.get().unwrap_or(&self.anchor.0)
    }

    /// The recorder the tasks write to.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Runs every phase from `start`, then drains in-flight commands.
    pub async fn run(self: &Arc<Self>, start: Instant, abort: AbortSignal) -> LoadReport {
        let _ = self.start.set(start);
        self.run_phases(start, abort).await
    }

    async fn run_phases(self: &Arc<Self>, start: Instant, mut abort: AbortSignal) -> LoadReport {
        let mut phases = Vec::new();
        let mut aborted = None;
        let mut paced_on_thread = false;
        'phases: for (index, phase) in self.plan.phases().iter().enumerate() {
            let phase_start = start + phase.start;
            let phase_end = pacer::saturating_add(phase_start.into_std(), phase.duration);
            let phase_end = Instant::from_std(phase_end);
            tokio::select! {
                _ = tokio::time::sleep_until(phase_start) => {}
                reason = abort.aborted() => { aborted = Some(reason); break 'phases; }
            }
            let started = Instant::now().saturating_duration_since(start);
            let stopped = match &phase.load {
                LoadModel::Closed {
                    concurrency,
                    think_time,
                } => {
                    let shard = self.plan.shard();
                    for worker in (0..*concurrency).filter(|w| shard.owns_worker(*w as u64)) {
                        let engine = Arc::clone(self);
                        let think = *think_time;
                        self.spawn(async move {
                            engine
                                .closed_worker(index, worker as u64, phase_end, think)
                                .await
                        });
                    }
                    None
                }
                _ if self.pacing == Pacing::Precise => {
                    paced_on_thread = true;
                    self.pace_on_thread(index, start, &mut abort).await
                }
                _ => self.pace_on_runtime(index, start, &mut abort).await,
            };
            if let Some(reason) = stopped {
                aborted = Some(reason);
                phases.push(PhaseTiming {
                    started,
                    ended: Instant::now().saturating_duration_since(start),
                });
                break 'phases;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(phase_end) => {}
                reason = abort.aborted() => {
                    aborted = Some(reason);
                    phases.push(PhaseTiming { started, ended: Instant::now().saturating_duration_since(start) });
                    break 'phases;
                }
            }
            phases.push(PhaseTiming {
                started,
                ended: Instant::now().saturating_duration_since(start),
            });
        }
        self.tasks.close();
        if aborted.is_none() {
            tokio::select! {
                () = self.tasks.wait() => {}
                _ = tokio::time::sleep(self.scenario.execution.drain_timeout) => {}
                reason = abort.aborted() => aborted = Some(reason),
            }
        }
        let cancelled_in_drain = self.tasks.len();
        // Cancelled tasks record themselves as unfinished when dropped.
        self.cancel.cancel();
        self.tasks.wait().await;
        LoadReport {
            phases,
            aborted,
            cancelled_in_drain,
            total: Instant::now().saturating_duration_since(start),
            generator_cpu: paced_on_thread
                .then(|| Duration::from_nanos(self.generator_cpu_ns.load(Ordering::Relaxed))),
        }
    }

    /// Spawns a command task (or closed worker) on the current runtime, cancellable at the
    /// end of the drain.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.spawn_on(&tokio::runtime::Handle::current(), task);
    }

    fn spawn_on(
        &self,
        runtime: &tokio::runtime::Handle,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let cancel = self.cancel.clone();
        self.tasks.spawn_on(
            async move {
                tokio::select! {
                    () = task => {}
                    () = cancel.cancelled() => {}
                }
            },
            runtime,
        );
    }

    /// Paces one open-model phase with tokio's timer: `Some(reason)` when aborted.
    async fn pace_on_runtime(
        self: &Arc<Self>,
        index: usize,
        start: Instant,
        abort: &mut AbortSignal,
    ) -> Option<String> {
        let runtime = tokio::runtime::Handle::current();
        for planned in self.plan.phase_commands(index) {
            let intended = Instant::from_std(pacer::saturating_add(start.into_std(), planned.at));
            tokio::select! {
                _ = tokio::time::sleep_until(intended) => {}
                reason = abort.aborted() => return Some(reason),
            }
            self.launch(&runtime, index, intended, planned.command, planned.target);
        }
        None
    }

    /// Paces one open-model phase on a dedicated OS thread with a high-resolution wait
    /// (see [`pacer`]); launches go to this runtime. `Some(reason)` when aborted.
    async fn pace_on_thread(
        self: &Arc<Self>,
        index: usize,
        start: Instant,
        abort: &mut AbortSignal,
    ) -> Option<String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
        let engine = Arc::clone(self);
        let runtime = tokio::runtime::Handle::current();
        let thread_stop = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("fleetbench-generator".to_owned())
            .spawn(move || {
                cpu::tighten_timer_slack();
                let cpu_before = cpu::thread_cpu();
                let clock = pacer::PreciseClock::default();
                let due = engine
                    .plan
                    .phase_commands(index)
                    .map(|p| (p.at, (p.command, p.target)));
                pacer::pace(
                    &clock,
                    start.into_std(),
                    due,
                    &thread_stop,
                    |intended, (command, target)| {
                        engine.launch(
                            &runtime,
                            index,
                            Instant::from_std(intended),
                            command,
                            target,
                        );
                    },
                );
                if let (Some(a), Some(b)) = (cpu_before, cpu::thread_cpu()) {
                    let ns = u64::try_from(b.saturating_sub(a).as_nanos()).unwrap_or(u64::MAX);
                    engine.generator_cpu_ns.fetch_add(ns, Ordering::Relaxed);
                }
                let _ = done_tx.send(());
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the generator thread ({e}); pacing with tokio's timer");
            return self.pace_on_runtime(index, start, abort).await;
        }
        tokio::select! {
            _ = &mut done_rx => None,
            reason = abort.aborted() => {
                stop.store(true, Ordering::Relaxed);
                let _ = done_rx.await;
                Some(reason)
            }
        }
    }

    fn key(&self, phase: usize, command: usize, target: TargetRef) -> SeriesKey {
        SeriesKey {
            phase,
            command,
            target: target.kind(),
        }
    }

    fn launch(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        phase: usize,
        intended: Instant,
        command: usize,
        target: TargetRef,
    ) {
        let key = self.key(phase, command, target);
        self.recorder.planned(key);
        match Arc::clone(&self.in_flight).try_acquire_owned() {
            Ok(permit) => {
                let engine = Arc::clone(self);
                self.spawn_on(runtime, async move {
                    let by = intended + CONNECTION_WAIT;
                    engine
                        .execute(key, intended, by, command, target, Some(permit))
                        .await
                });
            }
            Err(_) => self
                .recorder
                .dropped(key, intended.saturating_duration_since(self.start())),
        }
    }

    async fn closed_worker(
        self: Arc<Self>,
        phase: usize,
        worker: u64,
        phase_end: Instant,
        think_time: Duration,
    ) {
        let mut chooser = self.plan.chooser(phase, worker);
        while Instant::now() < phase_end {
            let (command, target) = chooser.next_choice();
            let key = self.key(phase, command, target);
            self.recorder.planned(key);
            // Closed model: the intended time is the actual start (labelled closed-loop in
            // reports; it cannot show coordinated omission).
            let now = Instant::now();
            let by = now + self.scenario.execution.request_timeout;
            Arc::clone(&self)
                .execute(key, now, by, command, target, None)
                .await;
            if !think_time.is_zero() {
                tokio::time::sleep_until((Instant::now() + think_time).min(phase_end)).await;
            }
        }
    }

    /// Sends one command and polls it to completion, recording everything.
    async fn execute(
        self: Arc<Self>,
        key: SeriesKey,
        intended: Instant,
        connection_by: Instant,
        command: usize,
        target: TargetRef,
        _permit: Option<OwnedSemaphorePermit>,
    ) {
        let spec = &self.scenario.commands[command];
        let Some((post_id, attached)) = self.directory.resolve(target, spec.targets.route) else {
            self.recorder
                .sent(key, Instant::now().saturating_duration_since(intended));
            self.recorder
                .http_error(key, "no gateway _id for the target device");
            return;
        };
        let now_utc = if self.virtual_wall {
            self.anchor.1 + Instant::now().saturating_duration_since(self.anchor.0)
        } else {
            time::OffsetDateTime::now_utc()
        };
        let body = body::send_body(&self.bodies[command], spec, now_utc, attached);
        let sent = self.api.send_command(post_id, &body, connection_by).await;
        let sent_at = match (sent.sent_at, &sent.result) {
            (Some(t), _) => t,
            (None, Err(ApiError::NoConnection)) => {
                self.recorder
                    .dropped_no_connection(key, intended.saturating_duration_since(self.start()));
                return;
            }
            (None, Err(e)) => {
                // Never handed to a connection (e.g. connect refused): counted sent and
                // failed, so that the books balance.
                self.recorder
                    .sent(key, Instant::now().saturating_duration_since(intended));
                self.recorder
                    .http_error(key, &format!("create: {}", error_kind(e)));
                self.recorder
                    .censored(key, Instant::now().saturating_duration_since(intended));
                return;
            }
            (None, Ok(_)) => Instant::now(),
        };
        self.recorder
            .sent(key, sent_at.saturating_duration_since(intended));
        let mut flight = InFlight {
            recorder: &self.recorder,
            key,
            intended,
            polls: 0,
            settled: false,
        };
        let accept = Instant::now().saturating_duration_since(sent_at);
        let state = match sent.result {
            Ok(state) => state,
            Err(ApiError::Rejected { .. }) => {
                flight.settled = true;
                self.recorder.rejected(key);
                self.recorder
                    .censored(key, Instant::now().saturating_duration_since(intended));
                return;
            }
            Err(e) => {
                flight.settle_error(&format!("create: {}", error_kind(&e)));
                return;
            }
        };
        let deadline = sent_at + self.give_up[command];
        let seen = match &self.events {
            Some(hub) => self.await_events(hub, state, &mut flight, deadline).await,
            None => self.await_polls(state, &mut flight, deadline).await,
        };
        let Some((mut state, done, via)) = seen else {
            return; // settled as an error, or dropped unsettled: counted unfinished
        };
        let Some(classified) = state.classify() else {
            return;
        };
        if via == Detection::Event
            && self.scenario.poll.read_details
            && state.statuses.iter().any(|s| !s.full)
        {
            // The terminal event carried no `record` (an older gateway): read the final
            // state once (after the completion time was taken, so this costs no latency).
            self.recorder.detail_request(key);
            if let Ok(full) = self.api.get_command(&state.id).await
                && full.outcome().is_some()
            {
                state = full;
            }
        }
        let classified = state.classify().unwrap_or(classified);
        let seen_wall = self.anchor.1
            + done
                .checked_duration_since(self.anchor.0)
                .unwrap_or_default();
        let details = details::details(&state, Some(accept), seen_wall);
        flight.settled = true;
        self.recorder.completed(
            key,
            Completion {
                outcome: classified.outcome,
                no_answer: classified.no_answer,
                outcome_from_text: classified.from_text,
                latency: done.saturating_duration_since(intended),
                service_time: done.saturating_duration_since(sent_at),
                gateway_time: state.gateway_time(),
                via,
                details,
            },
            0,
        );
    }

    /// Polls until the command is terminal: its state, when that was seen, and how.
    async fn await_polls(
        &self,
        mut state: CommandState,
        flight: &mut InFlight<'_>,
        deadline: Instant,
    ) -> Option<(CommandState, Instant, Detection)> {
        let interval = self.scenario.poll.interval;
        let mut next_poll = Instant::now() + interval;
        let mut consecutive_errors = 0u32;
        loop {
            if state.outcome().is_some() {
                return Some((state, Instant::now(), Detection::Poll));
            }
            if next_poll >= deadline {
                return None;
            }
            tokio::time::sleep_until(next_poll).await;
            next_poll = Instant::now() + interval;
            match self
                .poll_once(&state.id, flight, &mut consecutive_errors)
                .await
            {
                Ok(Some(s)) => state = s,
                Ok(None) => {}
                Err(()) => return None,
            }
        }
    }

    /// One `GET /gateway_commands/{id}`: `Ok(None)` after a failure that may be retried,
    /// `Err(())` when the command was settled as an error.
    async fn poll_once(
        &self,
        id: &str,
        flight: &mut InFlight<'_>,
        consecutive_errors: &mut u32,
    ) -> Result<Option<CommandState>, ()> {
        flight.polls += 1;
        match self.api.get_command(id).await {
            Ok(s) => {
                *consecutive_errors = 0;
                Ok(Some(s))
            }
            Err(ApiError::NotFound(_)) => {
                flight.settle_error("poll: 404, the command vanished");
                Err(())
            }
            Err(e) => {
                *consecutive_errors += 1;
                self.recorder
                    .poll_error(flight.key, &format!("poll: {}", error_kind(&e)));
                if *consecutive_errors >= MAX_CONSECUTIVE_POLL_ERRORS {
                    flight.settle_error("poll: too many consecutive errors");
                    return Err(());
                }
                Ok(None)
            }
        }
    }

    /// Waits for the command's status events until it is terminal (re-reading it over HTTP
    /// when events may have been lost, and every backstop interval); falls back to polling
    /// when the stream goes down.
    async fn await_events(
        &self,
        hub: &Arc<EventHub>,
        mut state: CommandState,
        flight: &mut InFlight<'_>,
        deadline: Instant,
    ) -> Option<(CommandState, Instant, Detection)> {
        if state.outcome().is_some() {
            return Some((state, Instant::now(), Detection::Poll));
        }
        let subscription = hub.register(&state.id);
        let backstop = self.scenario.poll.backstop_interval;
        let mut next_backstop = Instant::now() + backstop;
        let mut resync_at: Option<Instant> = None;
        let mut consecutive_errors = 0u32;
        loop {
            let pending = subscription.take();
            for received in &pending.events {
                state.apply(&received.event);
                if state.outcome().is_some() {
                    return Some((state, received.at, Detection::Event));
                }
            }
            if pending.down.is_some() {
                drop(subscription);
                return self.await_polls(state, flight, deadline).await;
            }
            if pending.resync && resync_at.is_none() {
                // Events may have been lost: re-read, in a slot of the shared rate limit.
                resync_at = Some(self.resync.reserve());
            }
            let now = Instant::now();
            if resync_at.is_some_and(|t| now >= t) || now >= next_backstop {
                resync_at = None;
                next_backstop = now + backstop;
                match self
                    .poll_once(&state.id, flight, &mut consecutive_errors)
                    .await
                {
                    Ok(Some(s)) => state = s,
                    Ok(None) => {}
                    Err(()) => return None,
                }
                if state.outcome().is_some() {
                    return Some((state, Instant::now(), Detection::Poll));
                }
                continue;
            }
            if now >= deadline {
                return None;
            }
            let wake = resync_at.map_or(next_backstop, |t| t.min(next_backstop));
            tokio::select! {
                () = subscription.changed() => {}
                () = tokio::time::sleep_until(wake.min(deadline)) => {}
            }
        }
    }
}

/// Error text without per-request details, so that error kinds stay few.
fn error_kind(e: &ApiError) -> String {
    match e {
        ApiError::Status { status, .. } => format!("HTTP {status}"),
        ApiError::Rejected { .. } => "HTTP 429".to_owned(),
        ApiError::NotFound(_) => "HTTP 404".to_owned(),
        ApiError::Transport(t) => format!("transport: {}", t.chars().take(120).collect::<String>()),
        ApiError::Decode(_) => "decode: unexpected response body".to_owned(),
        ApiError::NoConnection => "no free connection in time".to_owned(),
    }
}

/// Tracks one command; if dropped unsettled (gave up, cancelled, aborted) it is counted
/// `unfinished`. Poll requests are always counted.
struct InFlight<'a> {
    recorder: &'a Recorder,
    key: SeriesKey,
    intended: Instant,
    polls: u64,
    settled: bool,
}

impl InFlight<'_> {
    fn settle_error(&mut self, message: &str) {
        self.settled = true;
        self.recorder.http_error(self.key, message);
        self.recorder.censored(
            self.key,
            Instant::now().saturating_duration_since(self.intended),
        );
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.settled {
            self.recorder.polls(self.key, self.polls);
        } else {
            // Given up, or cancelled at the end of the run: censored now.
            let censored = Instant::now().saturating_duration_since(self.intended);
            self.recorder.unfinished(self.key, self.polls, censored);
        }
    }
}

#[cfg(test)]
mod tests;
