//! Reading the history back: the last runs of a scenario, with every series.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::params;
use serde::Serialize;
use serde_json::Value;

use super::{HistoryError, open};
use crate::results::Interval;

/// One series of a recorded run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistorySeries {
    /// `phase/command/target` or `TOTAL`.
    pub name: String,
    /// Completions.
    pub count: u64,
    /// Completions per second of phase time.
    pub rate: f64,
    /// p50, p90, p99, p99.9 with their 95 % confidence intervals, ms.
    pub intervals: BTreeMap<String, Option<Interval>>,
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRun {
    /// Row id (increasing with time).
    pub id: i64,
    /// When it was recorded (UTC).
    pub recorded_at: String,
    /// The run's id.
    pub run_id: String,
    /// `run` or `merge` (`run` for rows of schema version 1).
    pub kind: String,
    /// Scenario name.
    pub scenario: String,
    /// FNV-1a hash of the scenario text (`None` for old rows).
    pub scenario_hash: Option<String>,
    /// Seed.
    pub seed: i64,
    /// Target URL.
    pub target: String,
    /// fleetbench version that recorded it.
    pub fleetbench_version: Option<String>,
    /// `--label`.
    pub label: Option<String>,
    /// `pass`, `thresholds_failed` or `aborted`.
    pub verdict: String,
    /// Total sent rate.
    pub rate: Option<f64>,
    /// Total counters.
    pub counts: Value,
    /// Thresholds with their measured values.
    pub thresholds: Value,
    /// Generator health (`null` when the summary had none).
    pub generator: Value,
    /// Every series, `TOTAL` last.
    pub series: Vec<HistorySeries>,
}

fn json_or_null(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// The last `last` runs (newest first), of `scenario` when given.
pub fn list(
    db: &Path,
    scenario: Option<&str>,
    last: usize,
) -> Result<Vec<HistoryRun>, HistoryError> {
    let conn = open(db)?;
    let sql = |e: rusqlite::Error| HistoryError::from_sqlite(db, &e);
    let mut stmt = conn
        .prepare(
            "SELECT id, recorded_at, run_id, kind, scenario, scenario_hash, seed, target,
                    fleetbench_version, label, verdict, rate, counts_json, thresholds_json,
                    generator_json
             FROM runs WHERE (?1 IS NULL OR scenario = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .map_err(sql)?;
    let limit = i64::try_from(last).unwrap_or(i64::MAX);
    let mut runs: Vec<HistoryRun> = stmt
        .query_map(params![scenario, limit], |r| {
            Ok(HistoryRun {
                id: r.get(0)?,
                recorded_at: r.get(1)?,
                run_id: r.get(2)?,
                kind: r.get(3)?,
                scenario: r.get(4)?,
                scenario_hash: r.get(5)?,
                seed: r.get(6)?,
                target: r.get(7)?,
                fleetbench_version: r.get(8)?,
                label: r.get(9)?,
                verdict: r.get(10)?,
                rate: r.get(11)?,
                counts: json_or_null(r.get(12)?),
                thresholds: json_or_null(r.get(13)?),
                generator: json_or_null(r.get(14)?),
                series: Vec::new(),
            })
        })
        .map_err(sql)?
        .collect::<Result<_, _>>()
        .map_err(sql)?;
    let mut stmt = conn
        .prepare(
            "SELECT name, count, rate, intervals_json FROM series WHERE run = ?1
             ORDER BY name = 'TOTAL', name",
        )
        .map_err(sql)?;
    for run in &mut runs {
        run.series = stmt
            .query_map(params![run.id], |r| {
                let intervals: String = r.get(3)?;
                Ok(HistorySeries {
                    name: r.get(0)?,
                    count: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    rate: r.get(2)?,
                    intervals: serde_json::from_str(&intervals).unwrap_or_default(),
                })
            })
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
    }
    Ok(runs)
}

/// The trend of a scenario for a report: its last `n` runs, oldest first.
pub fn trend(db: &Path, scenario: &str, n: usize) -> Result<Vec<HistoryRun>, HistoryError> {
    let mut runs = list(db, Some(scenario), n)?;
    runs.reverse();
    Ok(runs)
}
