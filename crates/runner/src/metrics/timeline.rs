//! The timeline: counters and latency percentiles per interval (1 s by default), collected
//! while the run goes, logged as progress, and optionally streamed into the HDR interval log
//! so the time series can be re-analysed exactly.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use std::collections::BTreeMap;

use super::{Counts, LatencyHistogram, Recorder, Stats};

/// Default interval length.
pub const TIMELINE_INTERVAL: Duration = Duration::from_secs(1);
/// Most intervals kept in memory (over a day at 1 s); later ones are only logged.
pub const MAX_TIMELINE_ENTRIES: usize = 100_000;
/// Tag of the interval latency histograms in the HDR log.
pub const INTERVAL_TAG: &str = "latency:interval";
/// Tag prefix of the per-row interval latency histograms
/// (`interval:phase=<p>;command=<c>;target=<t>`).
pub const ROW_INTERVAL_PREFIX: &str = "interval:";

/// Names for series keys: phase names and command labels by index.
#[derive(Debug, Clone, Default)]
pub struct SeriesNames {
    /// Phase names by index.
    pub phases: Vec<String>,
    /// Command labels by index.
    pub commands: Vec<String>,
}

impl SeriesNames {
    /// The row (phase, label, target) of a series.
    pub fn row(&self, key: &super::SeriesKey) -> RowId {
        RowId {
            phase: self.phases.get(key.phase).cloned().unwrap_or_default(),
            command: self
                .commands
                .get(key.command)
                .cloned()
                .unwrap_or_else(|| format!("command{}", key.command)),
            target: key.target.as_str().to_owned(),
        }
    }
}

/// A reported row: phase name, command label, target kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RowId {
    /// Phase name.
    pub phase: String,
    /// Command label.
    pub command: String,
    /// `gateway` or `sub_device`.
    pub target: String,
}

impl RowId {
    /// `phase=<p>;command=<c>;target=<t>`, the tag body used in the HDR log.
    pub fn tag_body(&self) -> String {
        format!(
            "phase={};command={};target={}",
            self.phase, self.command, self.target
        )
    }

    /// Parses [`RowId::tag_body`] (the prefix up to the third field); `None` if malformed.
    pub fn parse_tag_body(body: &str) -> Option<RowId> {
        let mut phase = None;
        let mut command = None;
        let mut target = None;
        for part in body.split(';') {
            match part.split_once('=')? {
                ("phase", v) => phase = Some(v.to_owned()),
                ("command", v) => command = Some(v.to_owned()),
                ("target", v) => target = Some(v.to_owned()),
                _ => {}
            }
        }
        Some(RowId {
            phase: phase?,
            command: command?,
            target: target?,
        })
    }
}

/// One interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Start of the interval, seconds from the run start.
    pub start_s: f64,
    /// Length, seconds.
    pub length_s: f64,
    /// What happened in it (completions counted when they completed).
    pub counts: Counts,
    /// Latencies of the commands that completed in it.
    pub latency_ms: Option<Stats>,
    /// The same per row (rows without completions in the interval are left out).
    #[serde(default)]
    pub rows: Vec<(RowId, Stats)>,
}

/// Where a run stands, sent after every interval (for live progress displays).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Time since the start of the load.
    pub elapsed: Duration,
    /// Every counter so far.
    pub totals: Counts,
    /// Sent per second in the last interval.
    pub rate: f64,
    /// Sent and not yet settled.
    pub in_flight: u64,
    /// p99 latency of everything completed so far, ms.
    pub p99_ms: Option<f64>,
    /// The interval that just ended (for live displays that chart it).
    pub interval: Option<TimelineEntry>,
}

/// Collects the timeline in the background until [`TimelineCollector::finish`].
#[derive(Debug)]
pub struct TimelineCollector {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<(Vec<TimelineEntry>, Option<std::io::Error>)>,
}

impl TimelineCollector {
    /// Starts collecting every `interval` from `start`; with `hlog`, each interval's latency
    /// histogram is appended to that HDR interval log (created with a `StartTime` header of
    /// `started_wall`).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        recorder: Recorder,
        names: SeriesNames,
        progress: Option<tokio::sync::watch::Sender<Progress>>,
        start: Instant,
        interval: Duration,
        hlog: Option<PathBuf>,
        started_wall: SystemTime,
    ) -> TimelineCollector {
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(collect(
            recorder,
            names,
            progress,
            start,
            interval,
            hlog,
            started_wall,
            stopped,
        ));
        TimelineCollector { stop, handle }
    }

    /// Closes the last (partial) interval and returns the timeline, with the first I/O error
    /// of the HDR log, if any.
    pub async fn finish(self) -> (Vec<TimelineEntry>, Option<std::io::Error>) {
        let _ = self.stop.send(());
        match self.handle.await {
            Ok(result) => result,
            Err(e) => (
                Vec::new(),
                Some(std::io::Error::other(format!("timeline task failed: {e}"))),
            ),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn collect(
    recorder: Recorder,
    names: SeriesNames,
    progress: Option<tokio::sync::watch::Sender<Progress>>,
    start: Instant,
    interval: Duration,
    hlog: Option<PathBuf>,
    started_wall: SystemTime,
    mut stopped: oneshot::Receiver<()>,
) -> (Vec<TimelineEntry>, Option<std::io::Error>) {
    let mut entries = Vec::new();
    let mut io_error = None;
    let mut file = match hlog.map(File::create).transpose() {
        Ok(f) => f.map(BufWriter::new),
        Err(e) => {
            io_error = Some(e);
            None
        }
    };
    let mut serializer = V2DeflateSerializer::new();
    if let Some(f) = file.as_mut()
        && let Err(e) = f.write_all(
            crate::report::hlog_header(
                started_wall,
                "fleetbench histograms: values in microseconds",
            )
            .as_bytes(),
        )
    {
        io_error = Some(e);
    }
    let mut writer = match file.as_mut() {
        Some(f) => match IntervalLogWriterBuilder::new().begin_log_with(f, &mut serializer) {
            Ok(w) => Some(w),
            Err(e) => {
                io_error = Some(e);
                None
            }
        },
        None => None,
    };
    // Commands recorded before the start (none in practice) fall into the first interval.
    let mut interval_start = start;
    let mut last = false;
    let mut totals = Counts::default();
    let mut so_far = LatencyHistogram::new();
    while !last {
        let next = interval_start + interval;
        // Biased: a boundary due at the same instant as the stop is closed first, so that
        // virtual-time runs (where both often fall on one instant) write the same intervals.
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(next) => {}
            _ = &mut stopped => last = true,
        }
        // Interval boundaries stay on the grid (no drift); only the last one is partial.
        let end = if last {
            Instant::now().clamp(interval_start, next)
        } else {
            next
        };
        let taken = recorder.take_interval();
        let offset = interval_start.saturating_duration_since(start);
        let length = end.saturating_duration_since(interval_start);
        let c = taken.counts;
        totals.add(&c);
        so_far.add(&taken.latency);
        let mut rows: BTreeMap<RowId, LatencyHistogram> = BTreeMap::new();
        for (key, h) in &taken.series {
            rows.entry(names.row(key)).or_default().add(h);
        }
        let entry = TimelineEntry {
            start_s: offset.as_secs_f64(),
            length_s: length.as_secs_f64(),
            counts: c,
            latency_ms: taken.latency.stats(),
            rows: rows
                .iter()
                .filter_map(|(row, h)| Some((row.clone(), h.stats()?)))
                .collect(),
        };
        if let Some(tx) = &progress {
            let settled =
                totals.completed + totals.unfinished + totals.rejected + totals.http_errors;
            let _ = tx.send(Progress {
                elapsed: end.saturating_duration_since(start),
                totals,
                rate: if length.is_zero() {
                    0.0
                } else {
                    c.sent as f64 / length.as_secs_f64()
                },
                in_flight: totals.sent.saturating_sub(settled),
                p99_ms: so_far.stats().map(|s| s.p99),
                interval: Some(entry.clone()),
            });
        }
        tracing::info!(
            t_s = offset.as_secs_f64() + length.as_secs_f64(),
            sent = c.sent,
            completed = c.completed,
            fails = c.fail,
            timeouts = c.timeout,
            dropped = c.dropped,
            rejected = c.rejected,
            http_errors = c.http_errors,
            p99_ms = taken.latency.stats().map(|s| s.p99),
            "interval"
        );
        if let Some(w) = writer.as_mut() {
            let tags = std::iter::once((INTERVAL_TAG.to_owned(), &taken.latency)).chain(
                rows.iter()
                    .map(|(row, h)| (format!("{ROW_INTERVAL_PREFIX}{}", row.tag_body()), h)),
            );
            for (tag, h) in tags {
                if let Some(tag) = Tag::new(&tag)
                    && let Err(e) = w.write_histogram(h.inner(), offset, length, Some(tag))
                {
                    io_error.get_or_insert(std::io::Error::other(format!("{e:?}")));
                }
            }
        }
        if entries.len() < MAX_TIMELINE_ENTRIES && (!last || !length.is_zero()) {
            entries.push(entry);
        }
        interval_start = end;
    }
    drop(writer);
    if let Some(Err(e)) = file.as_mut().map(|f| f.flush()) {
        io_error.get_or_insert(e);
    }
    (entries, io_error)
}

/// The timeline as CSV (one line per interval, times in seconds and milliseconds).
pub fn timeline_csv(entries: &[TimelineEntry]) -> String {
    let mut out = String::from(
        "start_s,length_s,planned,sent,dropped,completed,success,fail,timeout,unfinished,rejected,http_errors,p50_ms,p90_ms,p99_ms,max_ms\n",
    );
    for e in entries {
        let c = &e.counts;
        let stat = |f: fn(&Stats) -> f64| {
            e.latency_ms
                .as_ref()
                .map_or_else(String::new, |s| format!("{:.3}", f(s)))
        };
        out.push_str(&format!(
            "{:.3},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            e.start_s,
            e.length_s,
            c.planned,
            c.sent,
            c.dropped,
            c.completed,
            c.success,
            c.fail,
            c.timeout,
            c.unfinished,
            c.rejected,
            c.http_errors,
            stat(|s| s.p50),
            stat(|s| s.p90),
            stat(|s| s.p99),
            stat(|s| s.max),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Completion, Outcome, SeriesKey};
    use crate::plan::TargetKind;

    #[tokio::test(start_paused = true)]
    async fn intervals_bucket_by_completion_time() {
        let r = Recorder::new();
        let start = Instant::now();
        let names = SeriesNames {
            phases: vec!["p".into()],
            commands: vec!["c".into()],
        };
        let (progress, mut seen) = tokio::sync::watch::channel(Progress::default());
        let collector = TimelineCollector::start(
            r.clone(),
            names,
            Some(progress),
            start,
            Duration::from_secs(1),
            None,
            SystemTime::UNIX_EPOCH,
        );
        let key = SeriesKey {
            phase: 0,
            command: 0,
            target: TargetKind::Gateway,
        };
        let done = |ms| Completion {
            outcome: Outcome::Success,
            no_answer: false,
            outcome_from_text: false,
            latency: Duration::from_millis(ms),
            service_time: Duration::from_millis(ms),
            gateway_time: None,
            via: crate::metrics::Detection::Poll,
            details: crate::metrics::Details::default(),
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        r.sent(key, Duration::ZERO);
        r.completed(key, done(10), 1);
        tokio::time::sleep(Duration::from_millis(1000)).await; // t = 1.5 s
        r.sent(key, Duration::ZERO);
        r.completed(key, done(900), 1);
        tokio::time::sleep(Duration::from_millis(200)).await; // t = 1.7 s
        let (entries, err) = collector.finish().await;
        let p = seen.borrow_and_update().clone();
        assert_eq!(p.totals.completed, 2);
        assert_eq!(p.in_flight, 0);
        assert_eq!(p.elapsed, Duration::from_millis(1700));
        assert!((p.p99_ms.unwrap() - 900.0).abs() < 1.0, "{p:?}");
        assert!(err.is_none());
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].start_s, entries[0].length_s), (0.0, 1.0));
        assert_eq!(entries[0].counts.completed, 1);
        assert!((entries[0].latency_ms.unwrap().max - 10.0).abs() < 0.02);
        assert_eq!(entries[0].rows.len(), 1);
        assert_eq!(
            entries[0].rows[0].0.tag_body(),
            "phase=p;command=c;target=gateway"
        );
        assert_eq!(
            RowId::parse_tag_body("phase=p;command=c;target=gateway;outcome=x"),
            Some(entries[0].rows[0].0.clone())
        );
        assert_eq!(entries[1].start_s, 1.0);
        assert!((entries[1].length_s - 0.7).abs() < 1e-9);
        assert!((entries[1].latency_ms.unwrap().max - 900.0).abs() < 1.0);
        let csv = timeline_csv(&entries);
        assert_eq!(csv.lines().count(), 3);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("0.000,1.000,0,1,0,1,1,0,0,0,0,0,")
        );
    }
}
