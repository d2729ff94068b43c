//! The life of one command on one target: schedule window, attempts with per-attempt and
//! whole-command deadlines, retry delays, exactly one terminal status.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout_at};

use super::EngineInner;
use super::events::Event;
use super::plan::{self, Done};
use super::transmission::{self, TransmissionProbe};
use crate::model::command::WINDOW_RETRY_LIMIT;
use crate::model::{Attempt, AttemptOutcome, CommandSpec, RetryStrategy, Status, Timestamp};
use crate::store::CommandRecord;

/// The status message of a command that ran out of time.
pub const TIMEOUT_MESSAGE: &str = "timeout";

/// How attempts are repeated, derived from `retry_options` and `schedule.retry_interval`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RetryPolicy {
    /// Per-attempt deadline.
    pub attempt_timeout: Option<Duration>,
    /// Most attempts in total.
    pub max_attempts: u32,
    /// Delay before each retry.
    pub strategy: RetryStrategy,
}

impl RetryPolicy {
    /// `retry_options` wins; `schedule.retry_interval` supplies the delay (and, without
    /// `max_retries`, retries until the window closes) when no strategy is given.
    pub fn of(spec: &CommandSpec) -> Self {
        let options = spec.retry_options.as_ref();
        let interval = spec.schedule.as_ref().and_then(|s| s.retry_interval);
        let strategy = options
            .and_then(|o| o.strategy)
            .or(interval.map(|interval| RetryStrategy::Fixed { interval }))
            .unwrap_or(RetryStrategy::Fixed {
                interval: Duration::ZERO,
            });
        let max_retries = match options.and_then(|o| o.max_retries) {
            Some(n) => n,
            None if interval.is_some() => WINDOW_RETRY_LIMIT,
            None => 0,
        };
        Self {
            attempt_timeout: options.and_then(|o| o.attempt_timeout),
            max_attempts: 1 + max_retries,
            strategy,
        }
    }
}

/// Runs target `index` of `record` to a terminal status.
pub(crate) async fn run(engine: Arc<EngineInner>, record: Arc<CommandRecord>, index: usize) {
    let mut shutdown = engine.shutdown.subscribe();
    let outcome = tokio::select! {
        biased;
        _ = shutdown.wait_for(|stopped| *stopped) => Terminal::fail("the gateway shut down".to_owned()),
        () = record.cancelled() => Terminal::fail("cancelled".to_owned()),
        outcome = drive(&engine, &record, index) => outcome,
    };
    finish(&engine, &record, index, outcome);
}

/// The end of a target's life.
pub(crate) struct Terminal {
    status: Status,
    message: String,
    done: Option<Done>,
}

impl Terminal {
    fn fail(message: String) -> Self {
        Self {
            status: Status::Fail,
            message,
            done: None,
        }
    }
}

async fn drive(engine: &EngineInner, record: &CommandRecord, index: usize) -> Terminal {
    let spec = &record.spec;
    let clock = engine.state.clock;
    let window_end = spec
        .schedule
        .as_ref()
        .and_then(|s| s.end)
        .map(|end| (end, clock.instant_at(end.get())));
    if let Some(start) = spec.schedule.as_ref().and_then(|s| s.start) {
        sleep_until(clock.instant_at(start.get())).await;
    }
    if let Some((end, end_at)) = window_end
        && clock.now() >= end_at
    {
        return Terminal::fail(format!(
            "schedule window closed at {end} before the command could start"
        ));
    }
    let now = clock.now();
    if let Some(change) = engine.state.commands.set_status(
        record,
        index,
        Status::Sent,
        "sent to the device",
        stamp(engine, now),
    ) && change.from != change.to
    {
        // A target created `sent` stays `sent`: its creation event already said so.
        engine
            .state
            .metrics
            .moved(spec.command_type, Some(change.from), Some(change.to));
        publish(engine, record, index);
    }
    let deadline = now + Duration::from_secs(spec.timeout);
    let policy = RetryPolicy::of(spec);
    let mut number = 0u32;
    loop {
        number += 1;
        let started = clock.now();
        let attempt_deadline = policy
            .attempt_timeout
            .map_or(deadline, |limit| (started + limit).min(deadline));
        let probe = TransmissionProbe::new();
        let result = timeout_at(
            attempt_deadline,
            transmission::tracking(probe.clone(), plan::execute(engine, record, index)),
        )
        .await;
        let ended = clock.now();
        let times = AttemptTimes {
            number,
            started,
            transmitted: probe.first(),
            ended,
        };
        let (outcome, message) = match result {
            Ok(Ok(done)) => {
                record_attempt(
                    engine,
                    record,
                    index,
                    times,
                    AttemptOutcome::Success,
                    done.message.clone(),
                );
                return Terminal {
                    status: Status::Success,
                    message: done.message.clone(),
                    done: Some(done),
                };
            }
            Ok(Err(failure)) if failure.no_answer => (AttemptOutcome::NoAnswer, failure.message),
            Ok(Err(failure)) => (AttemptOutcome::Fail, failure.message),
            Err(_) if attempt_deadline < deadline => (
                AttemptOutcome::Timeout,
                format!(
                    "no answer within the attempt timeout of {}",
                    secs(attempt_deadline - started)
                ),
            ),
            Err(_) => (
                AttemptOutcome::Timeout,
                format!("no answer before the command timeout of {} s", spec.timeout),
            ),
        };
        record_attempt(engine, record, index, times, outcome, message.clone());
        if ended >= deadline {
            return Terminal::fail(TIMEOUT_MESSAGE.to_owned());
        }
        if number >= policy.max_attempts {
            let tries = if number == 1 {
                String::new()
            } else {
                format!(" (after {number} attempts)")
            };
            return Terminal::fail(format!("{message}{tries}"));
        }
        let retry_at = ended + policy.strategy.delay(number);
        if retry_at >= deadline {
            return Terminal::fail(format!(
                "{message} (attempt {number}; no time left for another retry before the command deadline)"
            ));
        }
        if let Some((end, end_at)) = window_end
            && retry_at >= end_at
        {
            return Terminal::fail(format!(
                "{message} (attempt {number}; the schedule window closes at {end} before the next retry)"
            ));
        }
        sleep_until(retry_at).await;
    }
}

fn secs(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

fn stamp(engine: &EngineInner, at: Instant) -> Timestamp {
    Timestamp::new(engine.state.clock.utc(at))
}

/// The instants of one attempt.
#[derive(Debug, Clone, Copy)]
struct AttemptTimes {
    number: u32,
    started: Instant,
    /// When its first datagram went on the wire, if it did.
    transmitted: Option<Instant>,
    ended: Instant,
}

fn record_attempt(
    engine: &EngineInner,
    record: &CommandRecord,
    index: usize,
    times: AttemptTimes,
    outcome: AttemptOutcome,
    message: String,
) {
    let metrics = &engine.state.metrics;
    metrics.attempt(outcome);
    if let Some(transmitted) = times.transmitted {
        metrics.link_queue_wait(transmitted.saturating_duration_since(times.started));
    }
    record.push_attempt(
        index,
        Attempt {
            number: times.number,
            started_at: stamp(engine, times.started),
            transmitted_at: times.transmitted.map(|at| stamp(engine, at)),
            ended_at: stamp(engine, times.ended),
            outcome,
            message,
        },
    );
}

fn finish(
    engine: &Arc<EngineInner>,
    record: &Arc<CommandRecord>,
    index: usize,
    terminal: Terminal,
) {
    let state = &engine.state;
    let at = state.now();
    let (result, observation) = match terminal.done {
        Some(done) => (done.result, done.observation),
        None => (None, None),
    };
    let outcome = state.commands.finish(
        record,
        index,
        terminal.status,
        &terminal.message,
        result,
        at,
    );
    if !outcome.accepted {
        return;
    }
    let kind = record.spec.command_type;
    state.metrics.moved(kind, outcome.from, None);
    state.metrics.terminal(kind, terminal.status);
    publish(engine, record, index);
    if let Some(observation) = observation {
        plan::keep_observing(engine.clone(), record.clone(), index, observation);
    }
    if outcome.command_complete {
        engine.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Publishes the target's current status. A terminal status carries the whole entry as
/// `record`: one copy taken under the record's lock, shared by every subscriber.
fn publish(engine: &EngineInner, record: &CommandRecord, index: usize) {
    engine.state.events.publish(|| {
        let (device_id, entry) = record.entry(index).unzip();
        let status = entry.as_ref().map(|e| e.status);
        let status_message = entry.as_ref().map(|e| e.status_message.clone());
        let at = entry
            .as_ref()
            .map_or_else(|| engine.state.now(), |e| e.updated_at);
        Event {
            kind: "status",
            command_id: record.id,
            device_id: device_id.unwrap_or(record.spec.device_id),
            status,
            status_message,
            value: None,
            at,
            record: entry.filter(|e| e.status.is_terminal()),
        }
    });
}
