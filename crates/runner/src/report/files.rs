//! Run directories and the files written into them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use time::OffsetDateTime;
use time::macros::format_description;

use super::aggregate::{self, Aggregate};
use super::summary::Summary;
use crate::metrics::Metrics;
use crate::scenario::Scenario;

/// File name of the summary.
pub const SUMMARY_FILE: &str = "summary.json";
/// File name of the per-interval timeline.
pub const TIMELINE_FILE: &str = "timeline.csv";
/// File name of the HDR interval log.
pub const HISTOGRAM_LOG: &str = "histograms.hlog";
/// File name of the copy of the scenario.
pub const SCENARIO_FILE: &str = "scenario.toml";

/// `<UTC yyyymmddThhmmssZ>-<scenario name>`.
pub fn run_id(now: OffsetDateTime, scenario_name: &str) -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = now
        .to_offset(time::UtcOffset::UTC)
        .format(fmt)
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let short: String = scenario_name.chars().take(32).collect();
    format!("{stamp}-{short}")
}

/// Creates `<out_dir>/<run_id>` (with a `-2`, `-3`... suffix if it exists); returns the path
/// and the final run id.
pub fn new_run_dir(out_dir: &Path, run_id: &str) -> std::io::Result<(PathBuf, String)> {
    std::fs::create_dir_all(out_dir)?;
    for n in 1..1000 {
        let id = if n == 1 {
            run_id.to_owned()
        } else {
            format!("{run_id}-{n}")
        };
        let dir = out_dir.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((dir, id)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "too many runs named {run_id} in {}",
        out_dir.display()
    )))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Writes `text` as `dir/name` (atomically: a temporary file, then a rename).
pub fn write_text(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    write_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// Writes `summary.json` into `dir`.
pub fn write_summary(dir: &Path, summary: &Summary) -> std::io::Result<PathBuf> {
    let path = dir.join(SUMMARY_FILE);
    let mut text = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)?;
    text.push('\n');
    write_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// The header of an HDR interval log as HdrHistogram's `HistogramLogWriter` writes it: a
/// comment, the format version, `StartTime` (interval starts are relative to it) and the
/// legend line.
pub fn hlog_header(started: SystemTime, comment: &str) -> String {
    let secs = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    format!(
        "#{comment}\n#[Histogram log format version 1.3]\n#[StartTime: {secs:.3} (seconds since epoch)]\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
    )
}

/// Writes every row's histograms as an HDR interval log (V2 + DEFLATE, base64), one interval
/// per phase, tagged `<histogram>:phase=<p>;command=<c>;target=<t>;outcome=<o>`, so runs and
/// shards can be merged exactly by adding histograms.
pub fn write_histogram_log(
    dir: &Path,
    metrics: &Metrics,
    scenario: &Scenario,
    started: SystemTime,
    phase_durations: &[Duration],
) -> std::io::Result<PathBuf> {
    let path = dir.join(HISTOGRAM_LOG);
    // Appends to the log the timeline already streamed into (which carries the headers).
    let exists = path.is_file();
    let mut buf = Vec::new();
    if !exists {
        buf.extend_from_slice(
            hlog_header(started, "fleetbench histograms: values in microseconds").as_bytes(),
        );
    }
    let mut serializer = V2DeflateSerializer::new();
    {
        let builder = IntervalLogWriterBuilder::new();
        let mut writer = builder
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(std::io::Error::other)?;
        let mut phase_start = Duration::ZERO;
        let starts: Vec<Duration> = phase_durations
            .iter()
            .map(|d| {
                let s = phase_start;
                phase_start += *d;
                s
            })
            .collect();
        for ((phase, label, target), agg) in aggregate::by_row(metrics, scenario) {
            let phase_name = scenario.phases.get(phase).map_or("", |p| p.name.as_str());
            let start = starts.get(phase).copied().unwrap_or_default();
            let length = phase_durations.get(phase).copied().unwrap_or_default();
            let base = format!(
                "phase={phase_name};command={label};target={}",
                target.as_str()
            );
            let entries = row_histograms(&base, &agg);
            for (tag, h) in entries {
                let Some(tag) = Tag::new(&tag) else { continue };
                writer
                    .write_histogram(h, start, length, Some(tag))
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            }
        }
    }
    if exists {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)?
            .write_all(&buf)?;
    } else {
        write_atomically(&path, &buf)?;
    }
    Ok(path)
}

/// The histograms of one row with their HDR log tags (`<kind>:<base>[;outcome=..]`); empty
/// optional histograms are left out.
pub fn row_histograms<'a>(base: &str, agg: &'a Aggregate) -> Vec<(String, &'a Histogram<u64>)> {
    let mut entries = vec![(format!("sched_lag:{base}"), agg.sched_lag.inner())];
    if !agg.all_commands.is_empty() {
        entries.push((format!("all_commands:{base}"), agg.all_commands.inner()));
    }
    for (outcome, h) in &agg.outcomes {
        let o = outcome.as_str();
        entries.push((format!("latency:{base};outcome={o}"), h.latency.inner()));
        entries.push((
            format!("service_time:{base};outcome={o}"),
            h.service_time.inner(),
        ));
        for (kind, hist) in [
            ("gateway_time", &h.gateway_time),
            ("accept", &h.accept),
            ("dispatch", &h.dispatch),
            ("link_queue", &h.link_queue),
            ("device", &h.device),
            ("report", &h.report),
        ] {
            if !hist.is_empty() {
                entries.push((format!("{kind}:{base};outcome={o}"), hist.inner()));
            }
        }
        if !h.attempts.is_empty() {
            entries.push((format!("attempts:{base};outcome={o}"), h.attempts.inner()));
        }
    }
    for (outcome, h) in &agg.attempt_time {
        entries.push((
            format!("attempt_time:{base};attempt={}", outcome.as_str()),
            h.inner(),
        ));
    }
    entries
}

/// Writes `timeline.csv` into `dir`.
pub fn write_timeline(
    dir: &Path,
    entries: &[crate::metrics::timeline::TimelineEntry],
) -> std::io::Result<PathBuf> {
    let path = dir.join(TIMELINE_FILE);
    write_atomically(
        &path,
        crate::metrics::timeline::timeline_csv(entries).as_bytes(),
    )?;
    Ok(path)
}
