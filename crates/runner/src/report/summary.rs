//! `summary.json`: the machine-readable result of a run (schema in results/README.md).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::aggregate::{self, Aggregate, per_second, ratio};
use super::thresholds::{ThresholdResult, evaluate};
use crate::exec::{DEFAULT_COMMAND_TIMEOUT, LoadReport};
use crate::metrics::{CountStats, Counts, Metrics, Outcome, Stats};
use crate::scenario::{CommandSpec, LoadModel, Scenario, Target};

/// Version of the `summary.json` layout; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 4;
/// The oldest layout still read (version 4 only added optional blocks: `ci95` in every
/// statistics block and `fleet_delays`).
pub const OLDEST_READABLE_SCHEMA: u32 = 3;

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// `<UTC timestamp>-<scenario name>`.
    pub run_id: String,
    /// What was run.
    pub scenario: ScenarioInfo,
    /// Against what.
    pub target: TargetInfo,
    /// Wall-clock start of the load (RFC 3339 UTC).
    pub started_at: String,
    /// Wall-clock end of the run (RFC 3339 UTC).
    pub finished_at: String,
    /// Why the run was cut short, if it was.
    pub aborted: Option<String>,
    /// Generator settings that shape the numbers.
    pub settings: Settings,
    /// How completion was detected (event stream or polling) and what that cost.
    pub completion: CompletionInfo,
    /// One entry per phase that started.
    pub phases: Vec<PhaseSummary>,
    /// Everything merged.
    pub total: Row,
    /// Per phase × command label × target kind.
    pub rows: Vec<Row>,
    /// Per phase × command label × target kind × outcome.
    pub series: Vec<Series>,
    /// Distinct error messages and how often they occurred.
    pub errors: Vec<ErrorCount>,
    /// Every threshold with its measured value.
    pub thresholds: Vec<ThresholdResult>,
    /// True when every threshold held (and the run was not aborted).
    pub thresholds_passed: bool,
    /// Things that make the numbers less trustworthy (generator lag, drops, closed-loop
    /// phases, missed rates, unfinished commands).
    pub warnings: Vec<String>,
    /// Whether the generator kept up (lag, CPU, connections, lost events).
    #[serde(default)]
    pub generator: GeneratorHealth,
    /// Set for one shard of a distributed run (`--shard`, `--start-at`): which shard, and
    /// how its start lined up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::ShardFacts>,
    /// The reply delays the embedded fleet actually applied during the load, per device
    /// class (empty when no class was measured).
    #[serde(default)]
    pub fleet_delays: Vec<FleetDelays>,
}

/// The reply delays one device class of the embedded fleet applied during the load: from a
/// request's arrival at the device to its reply being handed to the socket, and that
/// minus the profile's intended delay (the lateness), µs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetDelays {
    /// The device class.
    pub class: String,
    /// Delay applied.
    pub applied_us: DelayStats,
    /// Applied − intended delay.
    pub error_us: DelayStats,
}

/// Statistics of a microsecond histogram of the fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DelayStats {
    /// Replies.
    pub count: u64,
    /// Median, µs.
    pub p50: u64,
    /// 99th percentile, µs.
    pub p99: u64,
    /// Largest, µs.
    pub max: u64,
}

impl DelayStats {
    /// The statistics of `h` (zeros when empty).
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> DelayStats {
        if h.is_empty() {
            return DelayStats::default();
        }
        DelayStats {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// Scheduling lag p99 above which the generator is the bottleneck, ms.
pub const GENERATOR_LAG_LIMIT_MS: f64 = 1.0;
/// Generator-thread CPU share (of one core) above which it is saturated.
pub const GENERATOR_CPU_LIMIT: f64 = 0.9;
/// `link_queue` p99 above which commands waited noticeably for the device's link, ms.
pub const LINK_QUEUE_WARNING_MS: f64 = 1.0;

/// The generator's own health: did it keep the schedule, or do the results describe
/// fleetbench rather than the target?
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorHealth {
    /// Scheduling lag (actual send − intended send time) of every sent command, ms.
    pub lag_ms: Option<Stats>,
    /// CPU used by the whole runner process during the load, % of one core.
    pub runner_cpu_percent: Option<f64>,
    /// CPU used by the open-model generator thread, % of one core.
    pub generator_cpu_percent: Option<f64>,
    /// `execution.connections`.
    pub connections: usize,
    /// The most pooled connections open at once.
    pub peak_open_connections: Option<usize>,
    /// Commands dropped because no connection was free in time.
    pub dropped_no_connection: u64,
    /// Commands dropped because `execution.max_in_flight` was reached.
    pub dropped_in_flight: u64,
    /// Events the gateway dropped for the runner.
    pub events_lost: u64,
    /// True when lag p99 ≤ 1 ms, nothing was dropped for want of a connection and the
    /// generator thread was not saturated.
    pub kept_up: bool,
    /// The verdict in words.
    pub verdict: String,
}

/// What the run measured about the generator, besides the metrics.
#[derive(Debug, Clone, Default)]
pub struct GeneratorFacts {
    /// Process CPU time during the load.
    pub runner_cpu: Option<Duration>,
    /// Generator-thread CPU time.
    pub generator_cpu: Option<Duration>,
    /// Wall time of the load (run start to end of the drain).
    pub wall: Duration,
    /// Wall time of the open-model phases (what the generator thread ran for).
    pub open_wall: Duration,
    /// `execution.connections`.
    pub connections: usize,
    /// The most pooled connections open at once.
    pub peak_open_connections: Option<usize>,
}

fn generator_health(total: &Row, facts: &GeneratorFacts, events_lost: u64) -> GeneratorHealth {
    let share = |cpu: Option<Duration>, wall: Duration| {
        cpu.filter(|_| !wall.is_zero())
            .map(|c| c.as_secs_f64() / wall.as_secs_f64())
    };
    let generator = share(facts.generator_cpu, facts.open_wall);
    let lag_p99 = total.sched_lag_ms.map_or(0.0, |l| l.p99);
    let mut why = Vec::new();
    if lag_p99 > GENERATOR_LAG_LIMIT_MS {
        why.push(format!(
            "scheduling lag p99 {lag_p99:.3} ms > {GENERATOR_LAG_LIMIT_MS} ms"
        ));
    }
    if total.counts.dropped_no_connection > 0 {
        why.push(format!(
            "{} commands found no free connection",
            total.counts.dropped_no_connection
        ));
    }
    if generator.is_some_and(|g| g > GENERATOR_CPU_LIMIT) {
        why.push("the generator thread's CPU is saturated".to_owned());
    }
    let kept_up = why.is_empty();
    GeneratorHealth {
        lag_ms: total.sched_lag_ms,
        runner_cpu_percent: share(facts.runner_cpu, facts.wall).map(|s| s * 100.0),
        generator_cpu_percent: generator.map(|s| s * 100.0),
        connections: facts.connections,
        peak_open_connections: facts.peak_open_connections,
        dropped_no_connection: total.counts.dropped_no_connection,
        dropped_in_flight: total
            .counts
            .dropped
            .saturating_sub(total.counts.dropped_no_connection),
        events_lost,
        kept_up,
        verdict: if kept_up {
            "the generator kept up".to_owned()
        } else {
            format!(
                "the generator was the bottleneck: results describe fleetbench, not the target ({})",
                why.join("; ")
            )
        },
    }
}

/// Scheduling lag p99 above which the generator is reported as a bottleneck, ms.
pub const LAG_WARNING_MS: f64 = 5.0;
/// Achieved/intended rate ratio below which an open phase is reported, for phases that ran
/// to their end.
pub const RATE_WARNING_RATIO: f64 = 0.95;

fn warnings(total: &Row, phases: &[PhaseSummary]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(lag) = total.sched_lag_ms.filter(|l| l.p99 > LAG_WARNING_MS) {
        out.push(format!(
            "scheduling lag p99 is {:.1} ms (max {:.1} ms): the generator could not keep the schedule; \
             latencies include that lag",
            lag.p99, lag.max
        ));
    }
    let in_flight =
        total.counts.dropped - total.counts.dropped_no_connection.min(total.counts.dropped);
    if in_flight > 0 {
        out.push(format!(
            "{in_flight} commands were dropped because execution.max_in_flight was reached"
        ));
    }
    if total.counts.dropped_no_connection > 0 {
        out.push(format!(
            "{} commands were dropped because no connection (execution.connections) was free within 10 ms of their intended send time",
            total.counts.dropped_no_connection
        ));
    }
    if let Some(q) = total
        .breakdown_ms
        .link_queue
        .filter(|q| q.p99 > LINK_QUEUE_WARNING_MS)
    {
        out.push(format!(
            "link_queue p99 is {:.2} ms: commands waited at the gateway for the device's link (NSTART = 1 or an exclusive section) before being transmitted",
            q.p99
        ));
    }
    if total.counts.outcome_from_text > 0 {
        out.push(format!(
            "outcome classified from message text for {} failed commands (the gateway sent no typed attempt outcome)",
            total.counts.outcome_from_text
        ));
    }
    if total.counts.unfinished > 0 {
        out.push(format!(
            "{} commands never reached a terminal status (gave up polling, or cancelled at the end)",
            total.counts.unfinished
        ));
    }
    for p in phases {
        if !p.open_model {
            out.push(format!(
                "phase {} is closed-loop: its latencies cannot show coordinated omission",
                p.name
            ));
        }
        if let Some(intended) = p.intended_rate {
            let ran_fully = p.actual_duration_s >= p.planned_duration_s * 0.999;
            if ran_fully && intended > 0.0 && p.row.achieved_rate < intended * RATE_WARNING_RATIO {
                out.push(format!(
                    "phase {} sent {:.1}/s of the intended {:.1}/s",
                    p.name, p.row.achieved_rate, intended
                ));
            }
        }
    }
    out
}

/// Scenario identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Name.
    pub name: String,
    /// File it came from.
    pub origin: String,
    /// Seed.
    pub seed: u64,
    /// Devices over all classes.
    pub devices: usize,
    /// Sub-devices over all classes.
    pub sub_devices: usize,
}

/// Target identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `embedded` or `external`.
    pub mode: String,
    /// REST base URL used.
    pub url: String,
}

/// Generator settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Poll interval of completion detection, ms (latencies are quantised up by at most this
    /// plus one request round trip).
    pub poll_interval_ms: f64,
    /// In-flight bound.
    pub max_in_flight: usize,
    /// HdrHistogram precision.
    pub histogram_significant_digits: u8,
}

/// How completion was detected, and its overhead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionInfo {
    /// `poll.mode` of the scenario: `auto`, `events` or `poll`.
    pub requested: String,
    /// What was used: `events` or `poll`.
    pub used: String,
    /// Why (e.g. the gateway offers no event stream), when it is not obvious.
    pub note: Option<String>,
    /// Status events read from the stream.
    pub events_received: u64,
    /// Events the gateway dropped for the runner (`lagged`); the commands concerned were
    /// re-read over HTTP.
    pub events_lost: u64,
    /// Events of commands no task claimed (other clients' commands on a shared gateway).
    pub events_unclaimed: u64,
    /// Why the stream went down during the run (commands then fell back to polling).
    pub stream_down: Option<String>,
}

/// One phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// Name.
    pub name: String,
    /// `constant`, `poisson`, `ramping` or `closed`.
    pub model: String,
    /// False for the closed model: its latencies are closed-loop (no intended schedule).
    pub open_model: bool,
    /// Planned length, s.
    pub planned_duration_s: f64,
    /// Actual length, s.
    pub actual_duration_s: f64,
    /// Mean planned rate (open models), commands/s.
    pub intended_rate: Option<f64>,
    /// The phase's row (every command and target merged).
    pub row: Row,
}

/// Counters and statistics of a group of series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Phase name (`None`: every phase).
    pub phase: Option<String>,
    /// Command label (`None`: every command).
    pub command: Option<String>,
    /// `gateway` / `sub_device` (`None`: both).
    pub target: Option<String>,
    /// Counters.
    pub counts: Counts,
    /// Sent per second of phase time.
    pub achieved_rate: f64,
    /// Poll requests per sent command.
    pub polls_per_command: Option<f64>,
    /// success / sent.
    pub success_rate: Option<f64>,
    /// Completion − intended send, every outcome.
    pub latency_ms: Option<Stats>,
    /// Every command, no survivor bias: completed ones (any outcome) with their latency;
    /// failed-over-HTTP, rejected, unfinished and dropped ones with their censoring time
    /// (given up, failed or cancelled − intended; dropped: end of run − intended).
    #[serde(default)]
    pub all_commands_ms: Option<Stats>,
    /// Completion − actual send, every outcome.
    pub service_time_ms: Option<Stats>,
    /// Actual − intended send.
    pub sched_lag_ms: Option<Stats>,
    /// Gateway-reported execution time, when the gateway reports timestamps.
    pub gateway_time_ms: Option<Stats>,
    /// Where the time went (every outcome merged).
    pub breakdown_ms: Breakdown,
    /// Attempts and retries, when the gateway reports attempts.
    pub retries: Retries,
    /// How failures and timeouts took their time, against the configured timeouts.
    pub timeouts: Timeouts,
}

/// The latency of completed commands split into parts (each a Stats over the commands where
/// the part is known). accept is measured on the runner's clock; dispatch and device on the
/// gateway's (from `created_at`, `statuses[*].attempts` and `transitions`); report compares
/// the runner's clock with the gateway's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Create round trip: create answered − actual send.
    pub accept: Option<Stats>,
    /// First attempt started − `created_at` (queueing, schedule window).
    pub dispatch: Option<Stats>,
    /// First transmission to the device − first attempt started: the wait for the device's
    /// link (NSTART, exclusive sections), when the gateway reports `transmitted_at`.
    #[serde(default)]
    pub link_queue: Option<Stats>,
    /// Terminal transition − first transmission (or first attempt started): device,
    /// retries, back-off.
    pub device: Option<Stats>,
    /// Runner saw the terminal status − terminal transition (event delivery or polling).
    pub report: Option<Stats>,
}

/// Attempts per command and retry outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retries {
    /// Attempts per completed command (the most over its targets).
    pub attempts: Option<CountStats>,
    /// Completed commands that needed more than one attempt.
    pub retried: u64,
    /// Successful commands that needed more than one attempt.
    pub succeeded_after_retry: u64,
    /// Duration of single attempts by how they ended (`success`, `fail`, `timeout`).
    pub attempt_time_ms: BTreeMap<String, Stats>,
}

/// Time to fail and time to time out, next to what was configured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeouts {
    /// The command's `timeout` (the gateway's default of 30 s when the command sets none);
    /// `None` for rows that merge several commands.
    pub configured_timeout_ms: Option<f64>,
    /// `retry_options.timeout` (per attempt), if set.
    pub attempt_timeout_ms: Option<f64>,
    /// `retry_options.max_retries`, if set.
    pub max_retries: Option<u32>,
    /// Service time (send → seen) of commands that ended in a timeout.
    pub time_to_timeout_ms: Option<Stats>,
    /// Gateway time (`created_at` → terminal) of commands that ended in a timeout.
    pub gateway_time_to_timeout_ms: Option<Stats>,
    /// Service time of commands that failed otherwise.
    pub time_to_fail_ms: Option<Stats>,
}

/// One outcome of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Phase name.
    pub phase: String,
    /// Command label.
    pub command: String,
    /// `gateway` or `sub_device`.
    pub target: String,
    /// `success`, `fail` or `timeout`.
    pub outcome: String,
    /// Commands.
    pub count: u64,
    /// Per second of phase time.
    pub rate: f64,
    /// Completion − intended send.
    pub latency_ms: Option<Stats>,
    /// Completion − actual send.
    pub service_time_ms: Option<Stats>,
    /// Gateway-reported execution time.
    pub gateway_time_ms: Option<Stats>,
}

/// An error message and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// The message (bounded length; `other` collects kinds beyond the bound).
    pub message: String,
    /// Occurrences.
    pub count: u64,
}

/// What [`build`] needs besides the metrics.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Run id.
    pub run_id: String,
    /// Target identity.
    pub target: TargetInfo,
    /// Wall-clock start.
    pub started_at: String,
    /// Wall-clock end.
    pub finished_at: String,
    /// How completion was detected.
    pub completion: CompletionInfo,
    /// The generator's own measurements.
    pub generator: GeneratorFacts,
}

fn row(
    phase: Option<String>,
    command: Option<String>,
    target: Option<String>,
    agg: &Aggregate,
    over: Duration,
    spec: Option<&CommandSpec>,
) -> Row {
    let all = agg.all_outcomes();
    let c = agg.counts;
    let outcome = |o: Outcome| agg.outcomes.get(&o);
    let timeouts = Timeouts {
        configured_timeout_ms: spec
            .map(|s| s.timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT).as_secs_f64() * 1000.0),
        attempt_timeout_ms: spec
            .and_then(|s| s.retry_options.as_ref()?.timeout)
            .map(|t| t.as_secs_f64() * 1000.0),
        max_retries: spec.and_then(|s| s.retry_options.as_ref()?.max_retries),
        time_to_timeout_ms: outcome(Outcome::Timeout).and_then(|h| h.service_time.stats()),
        gateway_time_to_timeout_ms: outcome(Outcome::Timeout).and_then(|h| h.gateway_time.stats()),
        time_to_fail_ms: outcome(Outcome::Fail).and_then(|h| h.service_time.stats()),
    };
    let retries = Retries {
        attempts: all.attempts.stats(),
        retried: c.retried,
        succeeded_after_retry: c.succeeded_after_retry,
        attempt_time_ms: agg
            .attempt_time
            .iter()
            .filter_map(|(o, h)| Some((o.as_str().to_owned(), h.stats()?)))
            .collect(),
    };
    Row {
        breakdown_ms: Breakdown {
            accept: all.accept.stats(),
            dispatch: all.dispatch.stats(),
            link_queue: all.link_queue.stats(),
            device: all.device.stats(),
            report: all.report.stats(),
        },
        retries,
        timeouts,
        phase,
        command,
        target,
        counts: c,
        achieved_rate: per_second(c.sent, over),
        polls_per_command: ratio(c.poll_requests, c.sent),
        success_rate: ratio(c.success, c.sent),
        latency_ms: all.latency.stats(),
        all_commands_ms: agg.all_commands.stats(),
        service_time_ms: all.service_time.stats(),
        sched_lag_ms: agg.sched_lag.stats(),
        gateway_time_ms: all.gateway_time.stats(),
    }
}

/// Actual duration of each phase (planned duration for phases that did not start).
pub fn phase_durations(scenario: &Scenario, load: &LoadReport) -> Vec<Duration> {
    scenario
        .phases
        .iter()
        .enumerate()
        .map(|(i, _)| {
            load.phases
                .get(i)
                .map_or(Duration::ZERO, |t| t.ended.saturating_sub(t.started))
        })
        .collect()
}

/// Builds the summary of a run and evaluates its thresholds.
pub fn build(
    scenario: &Scenario,
    metrics: &Metrics,
    load: &LoadReport,
    facts: RunFacts,
) -> Summary {
    let durations = phase_durations(scenario, load);
    let total_duration: Duration = durations.iter().sum();
    let by_row = aggregate::by_row(metrics, scenario);

    let mut rows = Vec::new();
    let mut series = Vec::new();
    for ((phase, label, target), agg) in &by_row {
        let phase_name = scenario
            .phases
            .get(*phase)
            .map_or_else(String::new, |p| p.name.clone());
        let over = durations.get(*phase).copied().unwrap_or_default();
        let spec = scenario.commands.iter().find(|c| &c.label == label);
        rows.push(row(
            Some(phase_name.clone()),
            Some(label.clone()),
            Some(target.as_str().to_owned()),
            agg,
            over,
            spec,
        ));
        for (outcome, h) in &agg.outcomes {
            series.push(Series {
                phase: phase_name.clone(),
                command: label.clone(),
                target: target.as_str().to_owned(),
                outcome: outcome.as_str().to_owned(),
                count: h.latency.len(),
                rate: per_second(h.latency.len(), over),
                latency_ms: h.latency.stats(),
                service_time_ms: h.service_time.stats(),
                gateway_time_ms: h.gateway_time.stats(),
            });
        }
    }

    let phases: Vec<PhaseSummary> = scenario
        .phases
        .iter()
        .enumerate()
        .take(load.phases.len())
        .map(|(i, p)| {
            let agg = aggregate::select(metrics, scenario, |name, _, _| name == p.name);
            let actual = durations[i];
            PhaseSummary {
                name: p.name.clone(),
                model: p.load.name().to_owned(),
                open_model: p.load.is_open(),
                planned_duration_s: p.duration.as_secs_f64(),
                actual_duration_s: actual.as_secs_f64(),
                intended_rate: match &p.load {
                    LoadModel::Closed { .. } => None,
                    model => Some(
                        crate::plan::Arrivals::expected_count(model, p.duration)
                            / p.duration.as_secs_f64(),
                    ),
                },
                row: row(Some(p.name.clone()), None, None, &agg, actual, None),
            }
        })
        .collect();

    let everything = aggregate::select(metrics, scenario, |_, _, _| true);
    let total = row(None, None, None, &everything, total_duration, None);
    let thresholds = evaluate(scenario, metrics, &durations);
    let mut warnings = warnings(&total, &phases);
    let generator = generator_health(&total, &facts.generator, facts.completion.events_lost);
    if !generator.kept_up {
        warnings.push(generator.verdict.clone());
    }
    let thresholds_passed = load.aborted.is_none() && thresholds.iter().all(|t| t.passed);
    let errors = metrics
        .errors
        .iter()
        .map(|(m, c)| ErrorCount {
            message: m.clone(),
            count: *c,
        })
        .collect();

    Summary {
        schema_version: SCHEMA_VERSION,
        run_id: facts.run_id,
        scenario: ScenarioInfo {
            name: scenario.name.clone(),
            origin: scenario.origin.clone(),
            seed: scenario.seed,
            devices: scenario.fleet.device_count(),
            sub_devices: scenario.fleet.sub_device_count(),
        },
        target: facts.target,
        started_at: facts.started_at,
        finished_at: facts.finished_at,
        aborted: load.aborted.clone(),
        completion: facts.completion,
        settings: Settings {
            poll_interval_ms: scenario.poll.interval.as_secs_f64() * 1000.0,
            max_in_flight: scenario.execution.max_in_flight,
            histogram_significant_digits: crate::metrics::SIGFIG,
        },
        phases,
        total,
        rows,
        series,
        errors,
        thresholds,
        thresholds_passed,
        warnings,
        generator,
        shard: None,
        fleet_delays: Vec::new(),
    }
}

/// Target identity of a scenario's target (the URL is filled in by the run).
pub fn target_mode(target: &Target) -> &'static str {
    match target {
        Target::Embedded => "embedded",
        Target::External { .. } => "external",
    }
}
