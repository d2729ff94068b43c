//! Run metrics: HdrHistograms and counters keyed by (phase, command, target kind[, outcome]).
//! No raw samples are kept; percentiles come only from (merged) histograms.

mod histogram;
pub mod timeline;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use histogram::{
    Bounds, CountHistogram, CountStats, HIGHEST_US, LOWEST_US, LatencyHistogram, PercentileBounds,
    SIGFIG, Stats,
};

use crate::plan::TargetKind;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every status `success`.
    Success,
    /// A `fail` that is not a timeout.
    Fail,
    /// A `fail` whose message reports a timeout.
    Timeout,
}

impl Outcome {
    /// `success`, `fail` or `timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Fail => "fail",
            Outcome::Timeout => "timeout",
        }
    }
}

/// How the runner saw a command complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detection {
    /// A poll (or the create response) showed it terminal.
    Poll,
    /// A status event of the gateway's event stream showed it terminal.
    Event,
}

/// A series: one phase, one command label, one target kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Phase index.
    pub phase: usize,
    /// Command index in the scenario (labels may repeat; they are merged when reported).
    pub command: usize,
    /// Gateway or sub-device.
    pub target: TargetKind,
}

/// Counters of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Due by the plan (or started by a closed worker).
    pub planned: u64,
    /// POSTed.
    pub sent: u64,
    /// Not sent: the in-flight bound was hit when it was due, or no pooled connection was
    /// free within `CONNECTION_WAIT` of its intended time.
    pub dropped: u64,
    /// Of `dropped`, those that found no free connection in time.
    #[serde(default)]
    pub dropped_no_connection: u64,
    /// Create answered 429.
    pub rejected: u64,
    /// Create failed (transport error or non-2xx other than 429), or polling failed for good.
    pub http_errors: u64,
    /// Reached a terminal status.
    pub completed: u64,
    /// Terminal, every status `success`.
    pub success: u64,
    /// Terminal with a non-timeout `fail`.
    pub fail: u64,
    /// Terminal with a timeout `fail` (attempt outcome `timeout` or `no_answer`).
    pub timeout: u64,
    /// Of `timeout`, those whose device never answered (attempt outcome `no_answer`).
    #[serde(default)]
    pub no_answer: u64,
    /// Failed commands classified from `status_message` text (the gateway sent no typed
    /// attempt outcome).
    #[serde(default)]
    pub outcome_from_text: u64,
    /// Accepted but not terminal when the runner gave up (or the run ended).
    pub unfinished: u64,
    /// `GET /gateway_commands/{id}` requests.
    pub poll_requests: u64,
    /// Poll requests that failed (and were retried).
    pub poll_errors: u64,
    /// Completions seen through the event stream (the rest were seen by polling).
    #[serde(default)]
    pub completed_via_event: u64,
    /// `GET /gateway_commands/{id}` after a completion seen by event, to read attempts and
    /// timestamps (off the latency path).
    #[serde(default)]
    pub detail_requests: u64,
    /// Completed commands that needed more than one attempt (on some target).
    #[serde(default)]
    pub retried: u64,
    /// Successful commands that needed more than one attempt.
    #[serde(default)]
    pub succeeded_after_retry: u64,
    /// Completions the runner saw *before* the gateway's terminal timestamp (the two clocks
    /// disagree; the report gap of these is not recorded).
    #[serde(default)]
    pub clock_skew: u64,
}

impl Counts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counts) {
        self.planned += other.planned;
        self.sent += other.sent;
        self.dropped += other.dropped;
        self.dropped_no_connection += other.dropped_no_connection;
        self.no_answer += other.no_answer;
        self.outcome_from_text += other.outcome_from_text;
        self.rejected += other.rejected;
        self.http_errors += other.http_errors;
        self.completed += other.completed;
        self.success += other.success;
        self.fail += other.fail;
        self.timeout += other.timeout;
        self.unfinished += other.unfinished;
        self.poll_requests += other.poll_requests;
        self.poll_errors += other.poll_errors;
        self.completed_via_event += other.completed_via_event;
        self.detail_requests += other.detail_requests;
        self.retried += other.retried;
        self.succeeded_after_retry += other.succeeded_after_retry;
        self.clock_skew += other.clock_skew;
    }
}

/// The histograms of one (series, outcome).
#[derive(Debug, Clone, Default)]
pub struct OutcomeHistograms {
    /// Completion − intended send time.
    pub latency: LatencyHistogram,
    /// Completion − actual send time.
    pub service_time: LatencyHistogram,
    /// Gateway-reported completion − gateway-reported creation (when the gateway reports
    /// timestamps).
    pub gateway_time: LatencyHistogram,
    /// Create round trip: create answered − actual send (runner clock).
    pub accept: LatencyHistogram,
    /// First attempt started − created (gateway clock): queueing and schedule window.
    pub dispatch: LatencyHistogram,
    /// First transmission to the device − first attempt started (gateway clock): the wait
    /// for the device's link (NSTART, exclusive sections), when the gateway reports it.
    pub link_queue: LatencyHistogram,
    /// Terminal status − first transmission (or first attempt started, when transmissions
    /// are not reported), gateway clock: the device, every attempt, retries and back-off.
    pub device: LatencyHistogram,
    /// Runner saw the completion − terminal status time (runner vs gateway clock).
    pub report: LatencyHistogram,
    /// Attempts per command (the most over its targets), when the gateway reports them.
    pub attempts: CountHistogram,
}

impl OutcomeHistograms {
    /// Adds every histogram of `other`.
    pub fn add(&mut self, other: &OutcomeHistograms) {
        self.latency.add(&other.latency);
        self.service_time.add(&other.service_time);
        self.gateway_time.add(&other.gateway_time);
        self.accept.add(&other.accept);
        self.dispatch.add(&other.dispatch);
        self.link_queue.add(&other.link_queue);
        self.device.add(&other.device);
        self.report.add(&other.report);
        self.attempts.add(&other.attempts);
    }
}

/// Everything one series measured.
#[derive(Debug, Clone, Default)]
pub struct SeriesMetrics {
    /// Counters.
    pub counts: Counts,
    /// Actual − intended send time of every sent command.
    pub sched_lag: LatencyHistogram,
    /// Histograms per outcome.
    pub outcomes: BTreeMap<Outcome, OutcomeHistograms>,
    /// Durations of single attempts, by how the attempt ended (gateway clock).
    pub attempt_time: BTreeMap<Outcome, LatencyHistogram>,
    /// Latency of every command, without survivor bias: completed ones (any outcome) with
    /// their latency, unfinished ones with their censoring time (given up or cancelled −
    /// intended). Dropped ones are added by [`Metrics::censor_dropped`] at the end.
    pub all_commands: LatencyHistogram,
    /// Intended send times (from the run start) of dropped commands, to censor them at the
    /// end of the run.
    pub dropped_at: LatencyHistogram,
}

/// Most distinct error messages kept.
pub const MAX_ERROR_KINDS: usize = 32;

/// All metrics of a run.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Per series.
    pub series: HashMap<SeriesKey, SeriesMetrics>,
    /// Distinct error messages with their counts (bounded by [`MAX_ERROR_KINDS`]; later
    /// kinds are counted under `other`).
    pub errors: BTreeMap<String, u64>,
}

/// A completed command's measurements.
#[derive(Debug, Clone)]
pub struct Completion {
    /// How it ended.
    pub outcome: Outcome,
    /// A target's device never answered (the outcome is then `timeout`).
    pub no_answer: bool,
    /// A failure was classified from message text, not a typed attempt outcome.
    pub outcome_from_text: bool,
    /// Completion − intended send time.
    pub latency: Duration,
    /// Completion − actual send time.
    pub service_time: Duration,
    /// Gateway-side execution time, if reported.
    pub gateway_time: Option<Duration>,
    /// How the completion was seen.
    pub via: Detection,
    /// What the final state told beyond the outcome.
    pub details: Details,
}

/// Attempts and the latency breakdown of one completed command.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// Create round trip (runner clock), when known.
    pub accept: Option<Duration>,
    /// First attempt started − created (gateway clock).
    pub dispatch: Option<Duration>,
    /// First transmission − first attempt started (gateway clock).
    pub link_queue: Option<Duration>,
    /// Terminal − first transmission, or first attempt started (gateway clock).
    pub device: Option<Duration>,
    /// Runner saw it − terminal (cross-clock).
    pub report: Option<Duration>,
    /// The runner saw the completion before the gateway's terminal timestamp.
    pub clock_skew: bool,
    /// Attempts (the most over the targets), when reported.
    pub attempts: Option<u32>,
    /// Duration of each reported attempt, by how it ended (bounded).
    pub attempt_times: Vec<(Outcome, Duration)>,
}

impl Metrics {
    /// Adds every dropped command to its series' all-commands histogram with its censoring
    /// time: `end` (of the run, from its start) − its intended send time.
    pub fn censor_dropped(&mut self, end: Duration) {
        for s in self.series.values_mut() {
            let dropped = std::mem::take(&mut s.dropped_at);
            for (offset, count) in dropped.iter_recorded() {
                s.all_commands.record_n(end.saturating_sub(offset), count);
            }
        }
    }

    fn entry(&mut self, key: SeriesKey) -> &mut SeriesMetrics {
        self.series.entry(key).or_default()
    }

    /// Records an error message (bounded).
    pub fn note_error(&mut self, message: &str) {
        self.note_errors(message, 1);
    }

    /// Records `count` occurrences of an error message (bounded).
    pub fn note_errors(&mut self, message: &str, count: u64) {
        let message: String = message.chars().take(200).collect();
        if let Some(n) = self.errors.get_mut(&message) {
            *n += count;
        } else if self.errors.len() < MAX_ERROR_KINDS {
            self.errors.insert(message, count);
        } else {
            *self.errors.entry("other".to_owned()).or_default() += count;
        }
    }
}

/// What happened during one interval of the run (all series merged): the source of the
/// timeline. Latencies are bucketed by completion time.
#[derive(Debug, Clone, Default)]
pub struct IntervalMetrics {
    /// Counters of the interval.
    pub counts: Counts,
    /// Latencies of the commands completed in the interval.
    pub latency: LatencyHistogram,
    /// The same, per series.
    pub series: HashMap<SeriesKey, LatencyHistogram>,
}

/// A cheap, cloneable handle that command tasks record through.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<(Metrics, IntervalMetrics)>>);

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, (Metrics, IntervalMetrics)> {
        // A panic while holding the lock leaves consistent counters; keep going.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `f` to the series' counters and to the current interval's.
    fn count(&self, key: SeriesKey, f: impl Fn(&mut Counts)) {
        self.count_and(key, f, |_| {});
    }

    /// [`Self::count`], then `then` on the series, under one lock.
    fn count_and(
        &self,
        key: SeriesKey,
        f: impl Fn(&mut Counts),
        then: impl FnOnce(&mut SeriesMetrics),
    ) {
        let mut guard = self.lock();
        let (m, interval) = &mut *guard;
        let series = m.entry(key);
        f(&mut series.counts);
        then(series);
        f(&mut interval.counts);
    }

    /// A command was due.
    pub fn planned(&self, key: SeriesKey) {
        self.count(key, |c| c.planned += 1);
    }

    /// A due command, intended `offset` after the run start, was not sent: the in-flight
    /// bound was hit.
    pub fn dropped(&self, key: SeriesKey, offset: Duration) {
        self.count_and(key, |c| c.dropped += 1, |s| s.dropped_at.record(offset));
    }

    /// A due command, intended `offset` after the run start, was not sent: no pooled
    /// connection was free in time.
    pub fn dropped_no_connection(&self, key: SeriesKey, offset: Duration) {
        self.count_and(
            key,
            |c| {
                c.dropped += 1;
                c.dropped_no_connection += 1;
            },
            |s| s.dropped_at.record(offset),
        );
    }

    /// A command was sent `lag` after its intended time.
    pub fn sent(&self, key: SeriesKey, lag: Duration) {
        let mut guard = self.lock();
        let (m, interval) = &mut *guard;
        let s = m.entry(key);
        s.counts.sent += 1;
        s.sched_lag.record(lag);
        interval.counts.sent += 1;
    }

    /// Create answered 429.
    pub fn rejected(&self, key: SeriesKey) {
        self.count(key, |c| c.rejected += 1);
        self.lock()
            .0
            .note_error("429 Too Many Requests (gateway saturated)");
    }

    /// Create (or polling, for good) failed with `message`.
    pub fn http_error(&self, key: SeriesKey, message: &str) {
        self.count(key, |c| c.http_errors += 1);
        self.lock().0.note_error(message);
    }

    /// A poll failed and will be retried.
    pub fn poll_error(&self, key: SeriesKey, message: &str) {
        self.count(key, |c| c.poll_errors += 1);
        self.lock().0.note_error(message);
    }

    /// A detail request (final state read after an event) was made.
    pub fn detail_request(&self, key: SeriesKey) {
        self.count(key, |c| c.detail_requests += 1);
    }

    /// Poll requests made for one command.
    pub fn polls(&self, key: SeriesKey, polls: u64) {
        self.count(key, |c| c.poll_requests += polls);
    }

    /// A command reached a terminal status after `polls` poll requests.
    pub fn completed(&self, key: SeriesKey, c: Completion, polls: u64) {
        let bump = |counts: &mut Counts| {
            counts.completed += 1;
            counts.poll_requests += polls;
            if c.via == Detection::Event {
                counts.completed_via_event += 1;
            }
            match c.outcome {
                Outcome::Success => counts.success += 1,
                Outcome::Fail => counts.fail += 1,
                Outcome::Timeout => counts.timeout += 1,
            }
            if c.no_answer {
                counts.no_answer += 1;
            }
            if c.outcome_from_text {
                counts.outcome_from_text += 1;
            }
        };
        let mut guard = self.lock();
        let (m, interval) = &mut *guard;
        let s = m.entry(key);
        bump(&mut s.counts);
        let d = &c.details;
        if d.attempts.is_some_and(|n| n > 1) {
            s.counts.retried += 1;
            interval.counts.retried += 1;
            if c.outcome == Outcome::Success {
                s.counts.succeeded_after_retry += 1;
                interval.counts.succeeded_after_retry += 1;
            }
        }
        if d.clock_skew {
            s.counts.clock_skew += 1;
        }
        for (outcome, t) in &d.attempt_times {
            s.attempt_time.entry(*outcome).or_default().record(*t);
        }
        s.all_commands.record(c.latency);
        let h = s.outcomes.entry(c.outcome).or_default();
        h.latency.record(c.latency);
        h.service_time.record(c.service_time);
        if let Some(g) = c.gateway_time {
            h.gateway_time.record(g);
        }
        for (hist, value) in [
            (&mut h.accept, d.accept),
            (&mut h.dispatch, d.dispatch),
            (&mut h.link_queue, d.link_queue),
            (&mut h.device, d.device),
            (&mut h.report, d.report),
        ] {
            if let Some(v) = value {
                hist.record(v);
            }
        }
        if let Some(n) = d.attempts {
            h.attempts.record(u64::from(n));
        }
        bump(&mut interval.counts);
        interval.latency.record(c.latency);
        interval.series.entry(key).or_default().record(c.latency);
    }

    /// A command was accepted but never seen terminal, after `polls` poll requests,
    /// `censored` after its intended send time (given up, or cancelled).
    pub fn unfinished(&self, key: SeriesKey, polls: u64, censored: Duration) {
        self.count_and(
            key,
            |c| {
                c.unfinished += 1;
                c.poll_requests += polls;
            },
            |s| s.all_commands.record(censored),
        );
    }

    /// A command that was sent failed over HTTP (`censored` after its intended send time):
    /// it goes into the all-commands histogram.
    pub fn censored(&self, key: SeriesKey, censored: Duration) {
        self.lock().0.entry(key).all_commands.record(censored);
    }

    /// Every series' counters summed (cheap: no histogram is copied).
    pub fn total_counts(&self) -> Counts {
        let guard = self.lock();
        let mut total = Counts::default();
        for s in guard.0.series.values() {
            total.add(&s.counts);
        }
        total
    }

    /// Returns the current interval and starts a new one.
    pub fn take_interval(&self) -> IntervalMetrics {
        std::mem::take(&mut self.lock().1)
    }

    /// A copy of the counters recorded so far (histograms left empty: cheap).
    pub fn snapshot_counts(&self) -> Metrics {
        let guard = self.lock();
        Metrics {
            series: guard
                .0
                .series
                .iter()
                .map(|(k, s)| {
                    (
                        *k,
                        SeriesMetrics {
                            counts: s.counts,
                            ..SeriesMetrics::default()
                        },
                    )
                })
                .collect(),
            errors: BTreeMap::new(),
        }
    }

    /// Runs `f` on everything recorded so far, under the recorder's lock, without copying
    /// it (for readers that summarise, such as a scrape of the live exporter). Keep `f`
    /// short: command tasks wait for it.
    pub fn with_metrics<R>(&self, f: impl FnOnce(&Metrics) -> R) -> R {
        f(&self.lock().0)
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> Metrics {
        self.lock().0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(command: usize) -> SeriesKey {
        SeriesKey {
            phase: 0,
            command,
            target: TargetKind::Gateway,
        }
    }

    #[test]
    fn recorder_keeps_counts_and_histograms_per_series_and_outcome() {
        let r = Recorder::new();
        r.planned(key(0));
        r.sent(key(0), Duration::from_micros(30));
        r.completed(
            key(0),
            Completion {
                outcome: Outcome::Success,
                no_answer: false,
                outcome_from_text: false,
                latency: Duration::from_millis(25),
                service_time: Duration::from_millis(24),
                gateway_time: None,
                via: Detection::Event,
                details: Details {
                    attempts: Some(2),
                    attempt_times: vec![
                        (Outcome::Timeout, Duration::from_secs(1)),
                        (Outcome::Success, Duration::from_millis(5)),
                    ],
                    accept: Some(Duration::from_millis(2)),
                    ..Details::default()
                },
            },
            3,
        );
        r.planned(key(1));
        r.dropped(key(1), Duration::from_millis(5));
        r.planned(key(1));
        r.sent(key(1), Duration::ZERO);
        r.rejected(key(1));
        let m = r.snapshot();
        let a = &m.series[&key(0)];
        assert_eq!(a.counts.completed, 1);
        assert_eq!(a.counts.success, 1);
        assert_eq!(a.counts.poll_requests, 3);
        assert_eq!(a.counts.completed_via_event, 1);
        assert_eq!((a.counts.retried, a.counts.succeeded_after_retry), (1, 1));
        assert_eq!(a.attempt_time[&Outcome::Timeout].len(), 1);
        let s0 = &a.outcomes[&Outcome::Success];
        assert_eq!(s0.attempts.stats().unwrap().max, 2);
        assert_eq!(s0.accept.len(), 1);
        assert!(s0.device.is_empty(), "unknown parts are not recorded");
        assert_eq!(a.outcomes[&Outcome::Success].latency.len(), 1);
        assert!(a.outcomes[&Outcome::Success].gateway_time.is_empty());
        let b = &m.series[&key(1)];
        assert_eq!(
            (
                b.counts.planned,
                b.counts.dropped,
                b.counts.sent,
                b.counts.rejected
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(m.errors.values().sum::<u64>(), 1);
        let interval = r.take_interval();
        assert_eq!(
            (
                interval.counts.planned,
                interval.counts.completed,
                interval.latency.len()
            ),
            (3, 1, 1)
        );
        assert_eq!(
            r.take_interval().counts,
            Counts::default(),
            "taking starts a new interval"
        );
        assert_eq!(r.total_counts().planned, 3, "series totals are kept");
    }

    #[test]
    fn error_kinds_are_bounded() {
        let mut m = Metrics::default();
        for i in 0..100 {
            m.note_error(&format!("error {i}"));
        }
        assert_eq!(m.errors.len(), MAX_ERROR_KINDS + 1);
        assert_eq!(m.errors["other"], 100 - MAX_ERROR_KINDS as u64);
    }
}
