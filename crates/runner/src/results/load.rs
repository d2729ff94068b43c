//! Reading run results back: the HDR interval log, `summary.json`, `timeline.csv` and the
//! scenario copy of a run directory. Errors name the file and what is wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use crate::metrics::Counts;
use crate::report::{HISTOGRAM_LOG, SCENARIO_FILE, SUMMARY_FILE, Summary, TIMELINE_FILE};

/// Largest results file read, in bytes.
pub const MAX_RESULTS_FILE: u64 = 1 << 30;

/// A results file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {what}", file.display())]
pub struct LoadError {
    /// The file (or directory).
    pub file: PathBuf,
    /// What is wrong with it.
    pub what: String,
}

fn error(file: &Path, what: impl Into<String>) -> LoadError {
    LoadError {
        file: file.to_owned(),
        what: what.into(),
    }
}

/// One interval histogram of an HDR log.
#[derive(Debug, Clone)]
pub struct HlogEntry {
    /// Its tag (empty when untagged).
    pub tag: String,
    /// Start, relative to the log's `StartTime` (absolute when the log has none).
    pub start: Duration,
    /// Length.
    pub length: Duration,
    /// The histogram.
    pub histogram: Histogram<u64>,
}

/// What a run directory (or a bare `.hlog` file) holds.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// The directory or file it was read from.
    pub path: PathBuf,
    /// Every interval of the HDR log.
    pub hlog: Vec<HlogEntry>,
    /// `StartTime` of the HDR log, seconds since the epoch.
    pub start_time: Option<Duration>,
    /// `summary.json`, when present.
    pub summary: Option<Summary>,
    /// `timeline.csv` counters per interval `(start_s, length_s, counts)`, when present.
    pub timeline: Option<Vec<(f64, f64, Counts)>>,
    /// `scenario.toml`, when present.
    pub scenario: Option<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| error(path, format!("cannot read: {e}")))?;
    if meta.len() > MAX_RESULTS_FILE {
        return Err(error(
            path,
            format!(
                "{} bytes is larger than the {MAX_RESULTS_FILE} read",
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(|e| error(path, format!("cannot read: {e}")))
}

/// Reads an HDR interval log (V2, compressed or not).
pub fn read_hlog(path: &Path) -> Result<(Vec<HlogEntry>, Option<Duration>), LoadError> {
    let bytes = read(path)?;
    let mut entries = Vec::new();
    let mut start_time = None;
    let mut deserializer = Deserializer::new();
    for (n, entry) in IntervalLogIterator::new(&bytes).enumerate() {
        let entry = entry.map_err(|e| {
            error(
                path,
                format!("not an HDR interval log (entry {}: {e:?})", n + 1),
            )
        })?;
        match entry {
            LogEntry::StartTime(t) => start_time = Some(t),
            LogEntry::BaseTime(_) => {}
            LogEntry::Interval(h) => {
                let tag = h.tag().map(|t| t.as_str().to_owned()).unwrap_or_default();
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .map_err(|e| error(path, format!("interval `{tag}`: bad base64: {e}")))?;
                let histogram: Histogram<u64> = deserializer
                    .deserialize(&mut raw.as_slice())
                    .map_err(|e| error(path, format!("interval `{tag}`: bad histogram: {e:?}")))?;
                entries.push(HlogEntry {
                    tag,
                    start: h.start_timestamp(),
                    length: h.duration(),
                    histogram,
                });
            }
        }
    }
    if entries.is_empty() {
        return Err(error(path, "no histogram in the HDR log"));
    }
    Ok((entries, start_time))
}

fn parse_timeline(path: &Path, text: &str) -> Result<Vec<(f64, f64, Counts)>, LoadError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let bad = || {
            error(
                path,
                format!("line {}: expected the timeline columns", n + 1),
            )
        };
        if cols.len() < 12 {
            return Err(bad());
        }
        let f = |i: usize| cols[i].parse::<f64>().map_err(|_| bad());
        let u = |i: usize| cols[i].parse::<u64>().map_err(|_| bad());
        let counts = Counts {
            planned: u(2)?,
            sent: u(3)?,
            dropped: u(4)?,
            completed: u(5)?,
            success: u(6)?,
            fail: u(7)?,
            timeout: u(8)?,
            unfinished: u(9)?,
            rejected: u(10)?,
            http_errors: u(11)?,
            ..Counts::default()
        };
        out.push((f(0)?, f(1)?, counts));
    }
    Ok(out)
}

/// Reads a run directory (or a bare `.hlog` file: then only the histograms are known).
pub fn load_run(path: &Path) -> Result<RunFiles, LoadError> {
    if path.is_file() {
        let (hlog, start_time) = read_hlog(path)?;
        return Ok(RunFiles {
            path: path.to_owned(),
            hlog,
            start_time,
            summary: None,
            timeline: None,
            scenario: None,
        });
    }
    if !path.is_dir() {
        return Err(error(path, "no such run directory or .hlog file"));
    }
    let (hlog, start_time) = read_hlog(&path.join(HISTOGRAM_LOG))?;
    let summary_path = path.join(SUMMARY_FILE);
    let summary = if summary_path.is_file() {
        let bytes = read(&summary_path)?;
        let summary: Summary = serde_json::from_slice(&bytes)
            .map_err(|e| error(&summary_path, format!("not a fleetbench summary: {e}")))?;
        if !(crate::report::OLDEST_READABLE_SCHEMA..=crate::report::SCHEMA_VERSION)
            .contains(&summary.schema_version)
        {
            return Err(error(
                &summary_path,
                format!(
                    "schema_version {} (this fleetbench reads {} to {})",
                    summary.schema_version,
                    crate::report::OLDEST_READABLE_SCHEMA,
                    crate::report::SCHEMA_VERSION
                ),
            ));
        }
        Some(summary)
    } else {
        None
    };
    let timeline_path = path.join(TIMELINE_FILE);
    let timeline = if timeline_path.is_file() {
        let text = String::from_utf8_lossy(&read(&timeline_path)?).into_owned();
        Some(parse_timeline(&timeline_path, &text)?)
    } else {
        None
    };
    let scenario_path = path.join(SCENARIO_FILE);
    let scenario = if scenario_path.is_file() {
        Some(String::from_utf8_lossy(&read(&scenario_path)?).into_owned())
    } else {
        None
    };
    Ok(RunFiles {
        path: path.to_owned(),
        hlog,
        start_time,
        summary,
        timeline,
        scenario,
    })
}
