//! One run, end to end: plan, start the target and the fleet, map devices, generate load,
//! write the results, stop everything. Also the exit-code contract of the binary.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::abort::{AbortHandle, AbortSignal, abort_pair};
use crate::api::{ApiError, GatewayApi, HttpGateway};
use crate::embedded::{self, EmbeddedGateway};
use crate::exec::body::rfc3339;
use crate::exec::{Directory, DirectoryError, Engine, EventHub, LoadReport, Pacing};
use crate::exit_status::{ExitStatus, apply_send_error_guard};
use crate::metrics::Recorder;
use crate::metrics::timeline::{Progress, SeriesNames, TIMELINE_INTERVAL, TimelineCollector};
use crate::plan::{Plan, PlanError, Shard};
use crate::report::{self, CompletionInfo, RunFacts, Summary, TargetInfo};
use crate::scenario::{CompletionMode, Metric, Scenario, ScenarioError, Target};

/// Lead time between the end of setup and the first intended send.
pub const START_LEAD: Duration = Duration::from_millis(100);

/// Point the run at an already running gateway instead of the scenario's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOverride {
    /// REST base URL (`http://...`).
    pub url: String,
    /// Raw token for `Authorization`.
    pub token: String,
    /// LwM2M server address the fleet registers with.
    pub lwm2m_server: SocketAddr,
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where run directories are created (default `results`).
    pub out_dir: PathBuf,
    /// Overrides the scenario's target.
    pub target: Option<TargetOverride>,
    /// Stops the run early (Ctrl-C); results measured so far are still written.
    pub abort: Option<AbortSignal>,
    /// Write `summary.json` and the histogram log (default true).
    pub write_files: bool,
    /// Receives the run's progress after every interval (1 s).
    pub progress: Option<tokio::sync::watch::Sender<Progress>>,
    /// Write into exactly this directory (created; must not exist or be empty) instead of a
    /// new `<out_dir>/<run id>`.
    pub run_dir: Option<PathBuf>,
    /// Run only this shard of the plan and of the fleet (default: the whole run).
    pub shard: Shard,
    /// Start the load at this instant (a common start for every shard), after setup.
    pub start_at: Option<SystemTime>,
    /// Local addresses the fleet's sockets bind to (empty: 127.0.0.1).
    pub fleet_bind: Vec<IpAddr>,
    /// Live views (`/metrics`, the dashboard) to feed while the run goes.
    pub live: Option<Arc<crate::live::LiveState>>,
    /// Run gateway, fleet and runner on a virtual clock (see [`crate::virtual_time`]); also
    /// when the scenario says `mode = "virtual"`.
    pub virtual_time: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out_dir: PathBuf::from("results"),
            target: None,
            abort: None,
            write_files: true,
            progress: None,
            run_dir: None,
            shard: Shard::WHOLE,
            start_at: None,
            fleet_bind: Vec::new(),
            live: None,
            virtual_time: false,
        }
    }
}

/// What a finished (or aborted) run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The results.
    pub summary: Summary,
    /// The run directory, when files were written.
    pub run_dir: Option<PathBuf>,
    /// True when every threshold held and the run was not aborted.
    pub thresholds_passed: bool,
}

impl RunOutcome {
    /// Passed when everything held, Failed when a threshold (or the send-error guard)
    /// failed (also when an `abort_on_fail` threshold stopped the run), Error when the run
    /// was aborted otherwise (the binary maps an abort by a signal to 130 or 143).
    pub fn exit_status(&self) -> ExitStatus {
        if self.summary.thresholds.iter().any(|t| t.aborted_run) {
            ExitStatus::Failed
        } else if self.summary.aborted.is_some() {
            ExitStatus::Error
        } else if self.thresholds_passed {
            ExitStatus::Passed
        } else {
            ExitStatus::Failed
        }
    }
}

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// An option is invalid.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: String,
        /// What is wrong.
        reason: String,
    },
    /// No plan can be built from the scenario.
    #[error("invalid scenario: {0}")]
    Plan(#[from] PlanError),
    /// The embedded gateway did not start.
    #[error("cannot start the embedded gateway: {0}")]
    Gateway(#[from] fleetbench_gateway::GatewayError),
    /// The fleet did not start or register.
    #[error("fleet: {0}")]
    Fleet(#[from] fleetbench_fleet::FleetError),
    /// The fleet's devices did not all appear in the gateway.
    #[error("device discovery: {0}")]
    Directory(#[from] DirectoryError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[from] ApiError),
    /// Output could not be written.
    #[error("cannot write results to {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Aborted before any load was generated.
    #[error("aborted during setup: {0}")]
    Aborted(String),
    /// A firmware package could not be registered with the target.
    #[error("setting up the software update of command `{label}`: {source}")]
    Setup {
        /// The command's label.
        label: String,
        /// Why.
        source: ApiError,
    },
    /// `poll.mode = "events"`, but the target offers no usable event stream.
    #[error("poll.mode = \"events\": {0}")]
    NoEvents(String),
    /// The pooled connections could not be opened before the first phase.
    #[error("opening execution.connections = {connections} connections to the target: {source}")]
    Connections {
        /// How many were asked for.
        connections: usize,
        /// Why not.
        source: ApiError,
    },
    /// The process may not open enough files for the run.
    #[error(
        "the open-file limit (RLIMIT_NOFILE soft limit {limit}, hard limit {hard}) is below the {need} files this run needs ({detail}); raise it (e.g. `ulimit -n {need}`) or lower execution.connections or the fleet size"
    )]
    FileLimit {
        /// The soft limit in force.
        limit: u64,
        /// The hard limit.
        hard: u64,
        /// What the run needs.
        need: u64,
        /// How `need` was counted.
        detail: String,
    },
}

/// Files the runner itself keeps open besides sockets (binaries, logs, the run directory,
/// the runtime's own descriptors), and the margin for set-up requests.
pub const FILE_MARGIN: u64 = 128;

/// Checks (after raising the soft limit to the hard limit) that the process may open the
/// pooled connections, the event stream, the fleet's sockets and, embedded, the gateway's
/// side of each connection.
fn check_file_budget(scenario: &Scenario, embedded: bool, shard: Shard) -> Result<(), RunError> {
    let Ok(limit) = fleetbench_fleet::limits::raise_open_file_limit() else {
        return Ok(()); // no limit to read: binding will say what fails
    };
    let connections = scenario.execution.connections as u64 + 1;
    let sockets =
        crate::embedded::fleet_sockets(scenario, embedded).div_ceil(u64::from(shard.count.max(1)));
    let gateway = if embedded { connections + 2 } else { 0 };
    let need = connections + sockets + gateway + FILE_MARGIN;
    if need > limit.soft {
        return Err(RunError::FileLimit {
            limit: limit.soft,
            hard: limit.hard,
            need,
            detail: format!(
                "{connections} HTTP connections (execution.connections + the event stream), {sockets} fleet UDP sockets, {gateway} for the embedded gateway's side, {FILE_MARGIN} spare"
            ),
        });
    }
    Ok(())
}

impl RunError {
    /// InvalidInput for invalid input, Error for everything else.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            RunError::Scenario(_) | RunError::InvalidOption { .. } | RunError::Plan(_) => {
                ExitStatus::InvalidInput
            }
            _ => ExitStatus::Error,
        }
    }
}

/// The exit status of a run result.
pub fn exit_status(result: &Result<RunOutcome, RunError>) -> ExitStatus {
    match result {
        Ok(outcome) => outcome.exit_status(),
        Err(e) => e.exit_status(),
    }
}

struct Resolved {
    url: String,
    token: String,
    lwm2m_server: SocketAddr,
    mode: &'static str,
}

/// Runs `scenario`.
pub async fn run(scenario: Scenario, options: RunOptions) -> Result<RunOutcome, RunError> {
    let plan = Plan::new(&scenario)?.with_shard(options.shard);
    if let Some(at) = options.start_at
        && at
            .duration_since(SystemTime::now())
            .is_ok_and(|wait| wait > crate::shard_start::MAX_START_WAIT)
    {
        return Err(RunError::InvalidOption {
            option: "start-at".into(),
            reason: format!(
                "{} is more than {:?} ahead",
                rfc3339(time::OffsetDateTime::from(at)),
                crate::shard_start::MAX_START_WAIT
            ),
        });
    }
    if let Some(o) = &options.target {
        crate::scenario::check_base_url(&o.url).map_err(|reason| RunError::InvalidOption {
            option: "target url".into(),
            reason,
        })?;
        if o.token.is_empty() {
            return Err(RunError::InvalidOption {
                option: "target token".into(),
                reason: "empty".into(),
            });
        }
    }
    let mut abort = options.abort.clone().unwrap_or_else(AbortSignal::never);
    let embedded_target = options.target.is_none() && matches!(scenario.target, Target::Embedded);
    check_file_budget(&scenario, embedded_target, options.shard)?;

    let (run_dir, run_id) = if let (true, Some(dir)) = (options.write_files, &options.run_dir) {
        (Some(exact_run_dir(dir)?), dir_name(dir))
    } else if options.write_files {
        let id = report::run_id(time::OffsetDateTime::now_utc(), &scenario.name);
        let (dir, id) =
            report::new_run_dir(&options.out_dir, &id).map_err(|source| RunError::Io {
                path: options.out_dir.clone(),
                source,
            })?;
        (Some(dir), id)
    } else {
        (
            None,
            report::run_id(time::OffsetDateTime::now_utc(), &scenario.name),
        )
    };

    if options.virtual_time || scenario.mode.is_virtual() {
        if options.target.is_some() || !matches!(scenario.target, Target::Embedded) {
            return Err(RunError::InvalidOption {
                option: "--virtual-time".into(),
                reason: "virtual time runs the embedded gateway only (no external target)".into(),
            });
        }
        let result = crate::virtual_time::run(
            scenario,
            plan,
            run_dir.clone(),
            run_id,
            abort,
            options.progress.clone(),
        )
        .await;
        if let (Err(_), Some(dir)) = (&result, &run_dir) {
            let _ = std::fs::remove_dir(dir);
        }
        return result;
    }

    // Target.
    let mut gateway: Option<EmbeddedGateway> = None;
    let resolved = match (&options.target, &scenario.target) {
        (Some(o), _) => Resolved {
            url: o.url.trim_end_matches('/').to_owned(),
            token: o.token.clone(),
            lwm2m_server: o.lwm2m_server,
            mode: "external",
        },
        (
            None,
            Target::External {
                url,
                token,
                lwm2m_server,
            },
        ) => Resolved {
            url: url.clone(),
            token: token.clone(),
            lwm2m_server: *lwm2m_server,
            mode: "external",
        },
        (None, Target::Embedded) => {
            let g = embedded::start_gateway(scenario.seed).await?;
            let r = Resolved {
                url: g.url.clone(),
                token: g.token.clone(),
                lwm2m_server: g.gateway.coap_addr(),
                mode: "embedded",
            };
            tracing::info!(url = %r.url, coap = %r.lwm2m_server, "embedded gateway started");
            gateway = Some(g);
            r
        }
    };

    let result = run_with_target(
        &scenario,
        plan,
        &resolved,
        &mut abort,
        Output {
            run_dir: run_dir.as_ref(),
            run_id,
            progress: options.progress.clone(),
            live: options.live.clone(),
        },
        &Distribution {
            shard: options.shard,
            start_at: options.start_at,
            placement: embedded::FleetPlacement {
                shard: options.shard,
                bind_ips: options.fleet_bind.clone(),
            },
            clock_offset: None,
        },
    )
    .await;
    if let Some(live) = &options.live {
        let (verdict, report) = crate::live::verdict_of(&result);
        live.finish(verdict, report);
    }
    if let Some(g) = gateway {
        embedded::stop_gateway(g).await;
    }
    if let (Err(_), Some(dir)) = (&result, &run_dir) {
        // Setup failed before anything was measured: leave no empty run directory behind
        // (remove_dir only removes an empty directory).
        let _ = std::fs::remove_dir(dir);
    }
    result
}

/// This process's part of a distributed run.
#[derive(Debug, Clone)]
pub(crate) struct Distribution {
    pub shard: Shard,
    pub start_at: Option<SystemTime>,
    pub placement: embedded::FleetPlacement,
    /// The shard's clock offset to the gateway and its uncertainty (ms), when measured.
    pub clock_offset: Option<(f64, f64)>,
}

impl Distribution {
    /// The whole run, starting as soon as it is set up.
    pub fn whole() -> Self {
        Distribution {
            shard: Shard::WHOLE,
            start_at: None,
            placement: embedded::FleetPlacement {
                shard: Shard::WHOLE,
                bind_ips: Vec::new(),
            },
            clock_offset: None,
        }
    }
}

/// Where a run's results go.
pub(crate) struct Output<'a> {
    pub run_dir: Option<&'a PathBuf>,
    pub run_id: String,
    pub progress: Option<tokio::sync::watch::Sender<Progress>>,
    pub live: Option<Arc<crate::live::LiveState>>,
}

/// Creates `dir` for [`RunOptions::run_dir`]: it must not exist or be empty.
fn exact_run_dir(dir: &std::path::Path) -> Result<PathBuf, RunError> {
    let invalid = |reason: String| RunError::InvalidOption {
        option: "run directory".into(),
        reason,
    };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| invalid(format!("{} cannot be read: {e}", dir.display())))?;
        if entries.next().is_some() {
            return Err(invalid(format!(
                "{} exists and is not empty",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| RunError::Io {
        path: dir.to_owned(),
        source,
    })?;
    Ok(dir.to_owned())
}

fn dir_name(dir: &std::path::Path) -> String {
    dir.file_name()
        .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned())
}

async fn run_with_target(
    scenario: &Scenario,
    plan: Plan,
    target: &Resolved,
    abort: &mut AbortSignal,
    output: Output<'_>,
    distribution: &Distribution,
) -> Result<RunOutcome, RunError> {
    let fleets = embedded::start_fleets(
        &scenario.fleet,
        scenario.seed,
        target.lwm2m_server,
        &distribution.placement,
    )
    .await?;
    tracing::info!(
        devices = scenario.fleet.device_count(),
        sub_devices = scenario.fleet.sub_device_count(),
        "fleet started"
    );
    let api = HttpGateway::new(
        &target.url,
        &target.token,
        scenario.execution.connections,
        scenario.execution.request_timeout,
    );
    let sharded = !distribution.shard.is_whole() || distribution.start_at.is_some();
    let clock_offset = if sharded {
        crate::shard_start::clock_offset(&target.url, &target.token).await
    } else {
        None
    };
    let result = match api {
        Ok(api) => {
            let info = TargetInfo {
                mode: target.mode.to_owned(),
                url: target.url.clone(),
            };
            let clock = RunClock::real();
            let distribution = Distribution {
                clock_offset,
                ..distribution.clone()
            };
            run_with_fleet(
                scenario,
                plan,
                api,
                info,
                abort,
                output,
                &fleets,
                &clock,
                &distribution,
            )
            .await
        }
        Err(e) => Err(e.into()),
    };
    embedded::stop_fleets(fleets).await;
    result
}

/// The clocks of a run: real (system wall clock, precise pacing) or virtual.
pub(crate) struct RunClock {
    /// How the generator waits.
    pub pacing: Pacing,
    /// Virtual time: this tokio instant is this UTC time.
    pub virtual_epoch: Option<(Instant, time::OffsetDateTime)>,
}

impl RunClock {
    fn real() -> Self {
        RunClock {
            pacing: Pacing::Precise,
            virtual_epoch: None,
        }
    }

    fn now_utc(&self) -> time::OffsetDateTime {
        match self.virtual_epoch {
            Some((at, utc)) => utc + Instant::now().saturating_duration_since(at),
            None => time::OffsetDateTime::now_utc(),
        }
    }
}

/// What a run needs of its gateway API beyond [`GatewayApi`].
pub(crate) trait RunApi: GatewayApi {
    /// Opens pooled connections before the first phase (nothing to open by default).
    fn open_connections(&self) -> impl std::future::Future<Output = Result<(), ApiError>> + Send {
        async { Ok(()) }
    }
}

impl RunApi for HttpGateway {
    async fn open_connections(&self) -> Result<(), ApiError> {
        HttpGateway::open_connections(self).await
    }
}

impl RunApi for crate::api::InProcessGateway {}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_with_fleet<A: RunApi>(
    scenario: &Scenario,
    plan: Plan,
    api: A,
    target: TargetInfo,
    abort: &mut AbortSignal,
    output: Output<'_>,
    fleets: &[fleetbench_fleet::RunningFleet],
    clock: &RunClock,
    distribution: &Distribution,
) -> Result<RunOutcome, RunError> {
    let Output {
        run_dir,
        run_id,
        mut progress,
        live,
    } = output;
    let setup_deadline = Instant::now() + scenario.fleet.registration_timeout;
    for f in fleets {
        let left = setup_deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            r = f.wait_registered(left) => r?,
            reason = abort.aborted() => return Err(RunError::Aborted(reason)),
        }
    }
    let left = setup_deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    let directory = Directory::discover(&api, &scenario.fleet, left, abort)
        .await
        .map_err(|e| match e {
            DirectoryError::Aborted(reason) => RunError::Aborted(reason),
            other => RunError::Directory(other),
        })?;
    tracing::info!("every device is listed by the gateway; starting the load");

    // Register firmware packages; their ids go into the command bodies.
    let mut scenario = scenario.clone();
    for spec in &mut scenario.commands {
        if let Some(package) = &spec.package {
            let id = api
                .create_software_update(package)
                .await
                .map_err(|source| RunError::Setup {
                    label: spec.label.clone(),
                    source,
                })?;
            spec.extra.insert(
                "software_update_id".to_owned(),
                serde_json::Value::String(id),
            );
        }
    }
    let scenario = &scenario;
    let (hub, mut completion) = open_events(&api, scenario.poll.mode).await?;
    // Every pooled connection is opened (and so checked) before the first phase.
    api.open_connections()
        .await
        .map_err(|source| RunError::Connections {
            connections: scenario.execution.connections,
            source,
        })?;
    let pool_stats = api.pool_stats();
    let sharded = !distribution.shard.is_whole() || distribution.start_at.is_some();
    let recorder = Recorder::new();
    let virtual_time = clock.virtual_epoch.is_some();
    let cpu_before = crate::exec::cpu::process_cpu().filter(|_| !virtual_time);
    let planned_phases = plan.phases().to_vec();
    let engine = Engine::with_wall_clock(
        api,
        scenario.clone(),
        plan,
        directory,
        recorder.clone(),
        hub.as_ref().map(|(hub, _)| Arc::clone(hub)),
        clock.pacing,
        virtual_time.then(|| clock.now_utc()),
    );
    let start_point = crate::shard_start::start_point(distribution.start_at, START_LEAD);
    if !start_point.late.is_zero() {
        tracing::warn!(late = ?start_point.late, "setup ended after --start-at; starting now");
    } else if distribution.start_at.is_some() {
        tracing::info!(wait = ?start_point.start.saturating_duration_since(Instant::now()), "waiting for --start-at");
    }
    let start = start_point.start;
    let started_wall = if virtual_time {
        SystemTime::from(clock.now_utc()) + START_LEAD
    } else {
        start_point.wall
    };
    let names = SeriesNames {
        phases: scenario.phases.iter().map(|p| p.name.clone()).collect(),
        commands: scenario.commands.iter().map(|c| c.label.clone()).collect(),
    };
    if let Some(live) = &live {
        let sender =
            progress.get_or_insert_with(|| tokio::sync::watch::channel(Progress::default()).0);
        live.attach(
            crate::live::LiveRun {
                recorder: recorder.clone(),
                names: names.clone(),
                phases: planned_phases,
                thresholds: scenario.thresholds.clone(),
                scenario: scenario.clone(),
                start,
                pool: pool_stats.clone(),
                events: hub.as_ref().map(|(hub, _)| Arc::clone(hub)),
            },
            sender.subscribe(),
        );
    }
    let timeline = TimelineCollector::start(
        recorder.clone(),
        names,
        progress,
        start,
        TIMELINE_INTERVAL,
        run_dir.map(|d| d.join(report::HISTOGRAM_LOG)),
        started_wall,
    );
    let (abort_handle, internal_abort) = abort_pair();
    let forward = {
        let mut external = abort.clone();
        let handle = abort_handle.clone();
        tokio::spawn(async move { handle.abort(external.aborted().await) })
    };
    let tripped = Arc::new(std::sync::Mutex::new(None::<String>));
    let watcher = watch_abort_rules(
        scenario,
        recorder.clone(),
        abort_handle,
        Arc::clone(&tripped),
    );
    let delays_before: Vec<_> = fleets.iter().map(|f| f.delay_histograms()).collect();
    let load: LoadReport = engine.run(start, internal_abort).await;
    let fleet_delays = fleet_delays_during(scenario, fleets, delays_before);
    forward.abort();
    if let Some(w) = watcher {
        w.abort();
    }
    let (timeline, timeline_error) = timeline.finish().await;
    if let Some(e) = timeline_error {
        tracing::warn!("the interval histogram log is incomplete: {e}");
    }
    let mut metrics = recorder.snapshot();
    metrics.censor_dropped(load.total);
    if let Some((hub, task)) = hub {
        let stats = hub.stats();
        completion.events_received = stats.events.load(Ordering::Relaxed);
        completion.events_lost = stats.lagged.load(Ordering::Relaxed);
        completion.events_unclaimed = stats.evicted.load(Ordering::Relaxed);
        completion.stream_down = hub.down();
        task.abort();
    }

    let facts = RunFacts {
        run_id,
        target,
        started_at: rfc3339(time::OffsetDateTime::from(started_wall)),
        finished_at: rfc3339(clock.now_utc()),
        completion,
        generator: report::GeneratorFacts {
            runner_cpu: cpu_before
                .zip(crate::exec::cpu::process_cpu())
                .map(|(a, b)| b.saturating_sub(a)),
            generator_cpu: load.generator_cpu.filter(|_| !virtual_time),
            wall: load.total,
            open_wall: open_phase_wall(scenario, &load),
            connections: scenario.execution.connections,
            peak_open_connections: pool_stats.as_ref().map(|s| s.peak.load(Ordering::Relaxed)),
        },
    };
    let mut summary = report::build(scenario, &metrics, &load, facts);
    if sharded {
        let mut shard = report::ShardFacts::new(distribution.shard, scenario);
        shard.start_at = distribution
            .start_at
            .map(|at| rfc3339(time::OffsetDateTime::from(at)));
        if distribution.start_at.is_some() {
            let first = load.phases.first().map_or(Duration::ZERO, |p| p.started);
            shard.start_late_ms = (start_point.late + first).as_secs_f64() * 1000.0;
        }
        shard.clock_offset_ms = distribution.clock_offset.map(|c| c.0);
        shard.clock_offset_uncertainty_ms = distribution.clock_offset.map(|c| c.1);
        summary.shard = Some(shard);
    }
    summary.fleet_delays = fleet_delays;
    let tripped = tripped.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(expr) = tripped {
        for t in summary.thresholds.iter_mut().filter(|t| t.expr == expr) {
            t.aborted_run = true;
        }
    }
    apply_send_error_guard(&mut summary, scenario.execution.max_error_ratio);
    if virtual_time {
        summary
            .warnings
            .insert(0, crate::virtual_time::MODELLED_NOTE.to_owned());
    }
    if let Some(dir) = run_dir {
        report::write_summary(dir, &summary).map_err(|source| RunError::Io {
            path: dir.clone(),
            source,
        })?;
        let durations = report::phase_durations(scenario, &load);
        let io = |source| RunError::Io {
            path: dir.clone(),
            source,
        };
        report::write_histogram_log(dir, &metrics, scenario, started_wall, &durations)
            .map_err(io)?;
        report::write_timeline(dir, &timeline).map_err(io)?;
        report::write_text(dir, report::JUNIT_FILE, &report::render_junit(&summary)).map_err(io)?;
        if !scenario.source.is_empty() {
            report::write_text(dir, report::SCENARIO_FILE, &scenario.source).map_err(io)?;
        }
        let rows = report::aggregate::by_row(&metrics, scenario);
        let html = report::html_report(&summary, &rows, scenario, &timeline);
        report::write_text(dir, report::REPORT_FILE, &html).map_err(io)?;
    }
    let thresholds_passed = summary.thresholds_passed;
    Ok(RunOutcome {
        summary,
        run_dir: run_dir.cloned(),
        thresholds_passed,
    })
}

/// The reply delays each device class applied during the load (its histograms now minus
/// those taken before the load; the whole life when the subtraction is impossible).
fn fleet_delays_during(
    scenario: &Scenario,
    fleets: &[fleetbench_fleet::RunningFleet],
    before: Vec<fleetbench_fleet::DelayHistograms>,
) -> Vec<report::FleetDelays> {
    fleets
        .iter()
        .zip(before)
        .zip(&scenario.fleet.classes)
        .map(|((fleet, before), class)| {
            let mut now = fleet.delay_histograms();
            let _ = now.applied.subtract(&before.applied);
            let _ = now.error_us.subtract(&before.error_us);
            report::FleetDelays {
                class: class.name.clone(),
                applied_us: report::DelayStats::of(&now.applied),
                error_us: report::DelayStats::of(&now.error_us),
            }
        })
        .filter(|d| d.applied_us.count > 0)
        .collect()
}

/// How long the open-model phases ran (what the generator thread was busy for).
fn open_phase_wall(scenario: &Scenario, load: &LoadReport) -> Duration {
    scenario
        .phases
        .iter()
        .zip(&load.phases)
        .filter(|(p, _)| p.load.is_open())
        .map(|(_, t)| t.ended.saturating_sub(t.started))
        .sum()
}

/// How often `abort_on_fail` rules are checked during the run.
pub const ABORT_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Checks the `abort_on_fail` rules while the run goes; the first that fails for good
/// aborts the run (its expression goes into `tripped`).
fn watch_abort_rules(
    scenario: &Scenario,
    recorder: Recorder,
    abort: AbortHandle,
    tripped: Arc<std::sync::Mutex<Option<String>>>,
) -> Option<JoinHandle<()>> {
    let rules: Vec<_> = scenario
        .thresholds
        .iter()
        .filter(|t| t.abort_on_fail)
        .cloned()
        .collect();
    if rules.is_empty() {
        return None;
    }
    let counts_only = rules.iter().all(|t| matches!(t.metric, Metric::Count(_)));
    let scenario = scenario.clone();
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(ABORT_CHECK_INTERVAL).await;
            let metrics = if counts_only {
                recorder.snapshot_counts()
            } else {
                recorder.snapshot()
            };
            for t in &rules {
                let Some(value) = report::measure(t, &scenario, &metrics, &[]) else {
                    continue;
                };
                if t.failed_for_good(value) {
                    *tripped.lock().unwrap_or_else(|e| e.into_inner()) = Some(t.expr.clone());
                    abort.abort(format!(
                        "threshold `{}` failed for good (measured {value:.3}; abort_on_fail)",
                        t.expr
                    ));
                    return;
                }
            }
        }
    }))
}

/// Opens the event stream as `mode` asks; says what was chosen and why.
async fn open_events<A: GatewayApi>(
    api: &A,
    mode: CompletionMode,
) -> Result<(Option<(Arc<EventHub>, JoinHandle<()>)>, CompletionInfo), RunError> {
    let mut info = CompletionInfo {
        requested: mode.as_str().to_owned(),
        used: "poll".to_owned(),
        ..CompletionInfo::default()
    };
    if mode == CompletionMode::Poll {
        return Ok((None, info));
    }
    let reason = match api.open_events().await {
        Ok(Some(receiver)) => {
            info.used = "events".to_owned();
            tracing::info!("completion: the gateway's event stream");
            return Ok((Some(EventHub::start(receiver)), info));
        }
        Ok(None) => "the target offers no event stream (GET /gateway_commands/events)".to_owned(),
        Err(e) => format!("the event stream could not be opened: {e}"),
    };
    if mode == CompletionMode::Events {
        return Err(RunError::NoEvents(reason));
    }
    tracing::info!("completion: polling ({reason})");
    info.note = Some(format!("polled for completion: {reason}"));
    Ok((None, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        let invalid = RunError::InvalidOption {
            option: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(invalid.exit_status(), ExitStatus::InvalidInput);
        let scenario = Scenario::from_str("name = 3", "x.toml").unwrap_err();
        assert_eq!(
            RunError::from(scenario).exit_status(),
            ExitStatus::InvalidInput
        );
        assert_eq!(
            RunError::Aborted("x".into()).exit_status(),
            ExitStatus::Error
        );
        assert_eq!(
            exit_status(&Err(RunError::Aborted("x".into()))),
            ExitStatus::Error
        );
    }
}
