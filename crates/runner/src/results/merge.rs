//! `fleetbench merge RUN... --out DIR`: several runs of one scenario (shards on several
//! machines, or repeated runs) added into one result. Counters are summed and histograms
//! added, so the merged percentiles are exactly those of one run that recorded everything.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::load::{LoadError, RunFiles};
use super::shard_check::{MergeOptions, ShardSet, check_shards};
use super::tags::parse_tag;
use crate::exec::{LoadReport, PhaseTiming};
use crate::metrics::timeline::{INTERVAL_TAG, ROW_INTERVAL_PREFIX, RowId, TimelineEntry};
use crate::metrics::{CountHistogram, Counts, LatencyHistogram, Metrics, Outcome, SeriesKey};
use crate::plan::TargetKind;
use crate::report::{self, CompletionInfo, RunFacts, Summary};
use crate::scenario::Scenario;

/// One interval of the merged timeline.
#[derive(Debug, Clone, Default)]
pub struct MergedInterval {
    /// Start, seconds from the run start.
    pub start_s: f64,
    /// Length, seconds.
    pub length_s: f64,
    /// Counters.
    pub counts: Counts,
    /// Latencies of the commands completed in it.
    pub latency: LatencyHistogram,
    /// The same per row.
    pub rows: BTreeMap<RowId, LatencyHistogram>,
}

/// The merge of several runs.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The scenario (of the first run).
    pub scenario: Scenario,
    /// Every counter and histogram, added.
    pub metrics: Metrics,
    /// Phase timings (the longest of each phase).
    pub load: LoadReport,
    /// The summary built from the merged metrics.
    pub summary: Summary,
    /// The merged timeline.
    pub intervals: Vec<MergedInterval>,
    /// The earliest start of the runs.
    pub started: SystemTime,
    /// The shards merged (empty `count` for repeated runs).
    pub shards: ShardSet,
}

fn error(path: &Path, what: impl Into<String>) -> LoadError {
    LoadError {
        file: path.to_owned(),
        what: what.into(),
    }
}

fn outcome(text: &str) -> Option<Outcome> {
    match text {
        "success" => Some(Outcome::Success),
        "fail" => Some(Outcome::Fail),
        "timeout" => Some(Outcome::Timeout),
        _ => None,
    }
}

fn target(text: &str) -> Option<TargetKind> {
    match text {
        "gateway" => Some(TargetKind::Gateway),
        "sub_device" => Some(TargetKind::SubDevice),
        _ => None,
    }
}

/// The series key a row maps to in `scenario` (the first command with the label).
fn key_of(scenario: &Scenario, row: &RowId) -> Option<SeriesKey> {
    Some(SeriesKey {
        phase: scenario.phases.iter().position(|p| p.name == row.phase)?,
        command: scenario
            .commands
            .iter()
            .position(|c| c.label == row.command)?,
        target: target(&row.target)?,
    })
}

fn ms_key(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Adds one run into `metrics`, `intervals` and `durations`.
fn add_run(
    run: &RunFiles,
    summary: &Summary,
    scenario: &Scenario,
    metrics: &mut Metrics,
    intervals: &mut BTreeMap<i64, MergedInterval>,
) -> Result<(), LoadError> {
    let summary_path = run.path.join(report::SUMMARY_FILE);
    for r in &summary.rows {
        let row = RowId {
            phase: r.phase.clone().unwrap_or_default(),
            command: r.command.clone().unwrap_or_default(),
            target: r.target.clone().unwrap_or_default(),
        };
        let key = key_of(scenario, &row).ok_or_else(|| {
            error(
                &summary_path,
                format!(
                    "row {} is not in the scenario of the first run",
                    row.tag_body()
                ),
            )
        })?;
        metrics.series.entry(key).or_default().counts.add(&r.counts);
    }
    for e in &summary.errors {
        metrics.note_errors(&e.message, e.count);
    }
    let hlog_path = run.path.join(report::HISTOGRAM_LOG);
    for e in &run.hlog {
        if e.tag == INTERVAL_TAG || e.tag.starts_with(ROW_INTERVAL_PREFIX) {
            if e.length.is_zero() && e.histogram.is_empty() {
                // The empty closing interval of a run that ended on the grid: the run's own
                // timeline leaves it out, so the merge does too.
                continue;
            }
            let slot = intervals.entry(ms_key(e.start.as_secs_f64())).or_default();
            slot.start_s = e.start.as_secs_f64();
            slot.length_s = slot.length_s.max(e.length.as_secs_f64());
            let h = LatencyHistogram::from_inner(e.histogram.clone());
            if e.tag == INTERVAL_TAG {
                slot.latency.add(&h);
            } else if let Some(row) = RowId::parse_tag_body(&e.tag[ROW_INTERVAL_PREFIX.len()..]) {
                slot.rows.entry(row).or_default().add(&h);
            }
            continue;
        }
        let Some(tag) = parse_tag(&e.tag) else {
            continue;
        };
        let key = key_of(scenario, &tag.row).ok_or_else(|| {
            error(
                &hlog_path,
                format!("tag {} is not in the scenario of the first run", e.tag),
            )
        })?;
        let s = metrics.series.entry(key).or_default();
        let h = LatencyHistogram::from_inner(e.histogram.clone());
        let detail = tag.detail.as_ref().and_then(|(_, v)| outcome(v));
        match (tag.kind.as_str(), detail) {
            ("sched_lag", _) => s.sched_lag.add(&h),
            ("all_commands", _) => s.all_commands.add(&h),
            ("attempt_time", Some(o)) => s.attempt_time.entry(o).or_default().add(&h),
            ("attempts", Some(o)) => s
                .outcomes
                .entry(o)
                .or_default()
                .attempts
                .add(&CountHistogram::from_inner(e.histogram.clone())),
            (kind, Some(o)) => {
                let oh = s.outcomes.entry(o).or_default();
                let target = match kind {
                    "latency" => &mut oh.latency,
                    "service_time" => &mut oh.service_time,
                    "gateway_time" => &mut oh.gateway_time,
                    "accept" => &mut oh.accept,
                    "dispatch" => &mut oh.dispatch,
                    "link_queue" => &mut oh.link_queue,
                    "device" => &mut oh.device,
                    "report" => &mut oh.report,
                    _ => continue,
                };
                target.add(&h);
            }
            _ => {}
        }
    }
    if let Some(timeline) = &run.timeline {
        for (start, length, counts) in timeline {
            let slot = intervals.entry(ms_key(*start)).or_default();
            slot.start_s = *start;
            slot.length_s = slot.length_s.max(*length);
            slot.counts.add(counts);
        }
    }
    Ok(())
}

/// Merges the shards of one distributed run (or repeated runs of one scenario) after
/// [`check_shards`]; thresholds and the send-error guard are evaluated again on the merged
/// histograms. Errors name the offending directory or file.
pub fn merge_shards(
    runs: &[RunFiles],
    run_id: &str,
    options: &MergeOptions,
) -> Result<Merged, LoadError> {
    let shards = check_shards(runs, options)?;
    let mut merged = merge_runs(runs, run_id)?;
    crate::exit_status::apply_send_error_guard(
        &mut merged.summary,
        merged.scenario.execution.max_error_ratio,
    );
    if shards.count > 0 {
        let what = if shards.is_partial() {
            format!(
                "merged from shards {:?} of {} (partial)",
                shards.indices, shards.count
            )
        } else {
            format!("merged from all {} shards", shards.count)
        };
        merged.summary.completion.note = Some(what);
    }
    merged
        .summary
        .warnings
        .extend(shards.warnings.iter().cloned());
    merged.shards = shards;
    Ok(merged)
}

/// Merges runs of one scenario; errors name the file and what is wrong.
pub fn merge_runs(runs: &[RunFiles], run_id: &str) -> Result<Merged, LoadError> {
    let first = runs
        .first()
        .ok_or_else(|| error(Path::new("."), "no run to merge"))?;
    let scenario_path = first.path.join(report::SCENARIO_FILE);
    let text = first.scenario.as_deref().ok_or_else(|| {
        error(
            &scenario_path,
            "missing: merging needs the scenario copy of a run directory",
        )
    })?;
    let scenario = Scenario::from_str(text, report::SCENARIO_FILE)
        .map_err(|e| error(&scenario_path, format!("invalid scenario: {e}")))?;
    let mut metrics = Metrics::default();
    let mut intervals: BTreeMap<i64, MergedInterval> = BTreeMap::new();
    let mut durations = vec![Duration::ZERO; scenario.phases.len()];
    let mut started_phases = 0;
    let mut aborted = None;
    let mut started_at: Option<String> = None;
    let mut finished_at: Option<String> = None;
    let mut start_time: Option<Duration> = None;
    let mut completion = CompletionInfo::default();
    for (n, run) in runs.iter().enumerate() {
        let summary_path = run.path.join(report::SUMMARY_FILE);
        let summary = run.summary.as_ref().ok_or_else(|| {
            error(
                &summary_path,
                "missing: merging needs each run's summary.json",
            )
        })?;
        if summary.scenario.name != scenario.name {
            return Err(error(
                &summary_path,
                format!(
                    "scenario `{}` differs from `{}` of {}",
                    summary.scenario.name,
                    scenario.name,
                    first.path.display()
                ),
            ));
        }
        add_run(run, summary, &scenario, &mut metrics, &mut intervals)?;
        for (i, p) in summary.phases.iter().enumerate() {
            if let Some(d) = durations.get_mut(i) {
                *d = (*d).max(Duration::from_secs_f64(p.actual_duration_s.max(0.0)));
            }
        }
        started_phases = started_phases.max(summary.phases.len());
        if aborted.is_none() {
            aborted.clone_from(&summary.aborted);
        }
        if started_at.as_ref().is_none_or(|s| summary.started_at < *s) {
            started_at = Some(summary.started_at.clone());
        }
        if finished_at
            .as_ref()
            .is_none_or(|s| summary.finished_at > *s)
        {
            finished_at = Some(summary.finished_at.clone());
        }
        if let Some(t) = run.start_time {
            start_time = Some(start_time.map_or(t, |s: Duration| s.min(t)));
        }
        let c = &summary.completion;
        if n == 0 {
            completion.requested.clone_from(&c.requested);
            completion.used.clone_from(&c.used);
        } else if completion.used != c.used {
            completion.used = "mixed".to_owned();
        }
        completion.events_received += c.events_received;
        completion.events_lost += c.events_lost;
        completion.events_unclaimed += c.events_unclaimed;
        if completion.stream_down.is_none() {
            completion.stream_down.clone_from(&c.stream_down);
        }
    }
    completion.note = Some(format!("merged from {} runs", runs.len()));
    let mut elapsed = Duration::ZERO;
    let phases = durations
        .iter()
        .take(started_phases)
        .map(|d| {
            let t = PhaseTiming {
                started: elapsed,
                ended: elapsed + *d,
            };
            elapsed += *d;
            t
        })
        .collect();
    let load = LoadReport {
        phases,
        aborted,
        cancelled_in_drain: 0,
        total: elapsed,
        generator_cpu: None,
    };
    let facts = RunFacts {
        run_id: run_id.to_owned(),
        target: first
            .summary
            .as_ref()
            .map(|s| s.target.clone())
            .unwrap_or_else(|| report::TargetInfo {
                mode: String::new(),
                url: String::new(),
            }),
        started_at: started_at.unwrap_or_default(),
        finished_at: finished_at.unwrap_or_default(),
        generator: Default::default(),
        completion,
    };
    let summary = report::build(&scenario, &metrics, &load, facts);
    Ok(Merged {
        scenario,
        metrics,
        load,
        summary,
        intervals: intervals.into_values().collect(),
        started: SystemTime::UNIX_EPOCH + start_time.unwrap_or_default(),
        shards: ShardSet::default(),
    })
}

impl Merged {
    /// The timeline entries (for `timeline.csv` and the report).
    pub fn timeline(&self) -> Vec<TimelineEntry> {
        self.intervals
            .iter()
            .map(|i| TimelineEntry {
                start_s: i.start_s,
                length_s: i.length_s,
                counts: i.counts,
                latency_ms: i.latency.stats(),
                rows: i
                    .rows
                    .iter()
                    .filter_map(|(r, h)| Some((r.clone(), h.stats()?)))
                    .collect(),
            })
            .collect()
    }

    /// Writes the merged result into `dir` (created; must be empty): `summary.json`,
    /// `histograms.hlog`, `timeline.csv`, `junit.xml`, `report.html`, `scenario.toml`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        report::write_summary(dir, &self.summary)?;
        let mut buf = report::hlog_header(
            self.started,
            "fleetbench histograms: values in microseconds (merged)",
        )
        .into_bytes();
        let mut serializer = V2DeflateSerializer::new();
        {
            let mut writer = IntervalLogWriterBuilder::new()
                .begin_log_with(&mut buf, &mut serializer)
                .map_err(std::io::Error::other)?;
            for i in &self.intervals {
                let start = Duration::from_secs_f64(i.start_s.max(0.0));
                let length = Duration::from_secs_f64(i.length_s.max(0.0));
                let rows = i
                    .rows
                    .iter()
                    .map(|(r, h)| (format!("{ROW_INTERVAL_PREFIX}{}", r.tag_body()), h));
                for (tag, h) in std::iter::once((INTERVAL_TAG.to_owned(), &i.latency)).chain(rows) {
                    if let Some(tag) = Tag::new(&tag) {
                        writer
                            .write_histogram(h.inner(), start, length, Some(tag))
                            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
                    }
                }
            }
        }
        std::fs::write(dir.join(report::HISTOGRAM_LOG), &buf)?;
        let durations = report::phase_durations(&self.scenario, &self.load);
        report::write_histogram_log(dir, &self.metrics, &self.scenario, self.started, &durations)?;
        let timeline = self.timeline();
        report::write_timeline(dir, &timeline)?;
        report::write_text(
            dir,
            report::JUNIT_FILE,
            &report::render_junit(&self.summary),
        )?;
        let rows = report::aggregate::by_row(&self.metrics, &self.scenario);
        let html = report::html_report(&self.summary, &rows, &self.scenario, &timeline);
        report::write_text(dir, report::REPORT_FILE, &html)?;
        report::write_text(dir, report::SCENARIO_FILE, &self.scenario.source)?;
        Ok(())
    }
}
