//! Recording one run (or merge) into the history.

use std::path::Path;

use rusqlite::params;
use serde_json::{Value, json};

use super::{HistoryError, open};
use crate::results::compare::series_numbers;
use crate::results::load::HlogEntry;
use crate::results::{RunFiles, load_run};

/// A stable 64-bit FNV-1a hash of the scenario text, as 16 hex digits.
pub fn scenario_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn verdict(summary: &Value) -> &'static str {
    if summary.get("aborted").and_then(Value::as_str).is_some() {
        "aborted"
    } else if summary.get("thresholds_passed").and_then(Value::as_bool) == Some(false) {
        "thresholds_failed"
    } else {
        "pass"
    }
}

/// Records a run: its `summary.json` content, its histogram log (for per-series
/// percentiles with intervals; `None` records the summary only), the scenario text (for its
/// hash), `kind` (`run` or `merge`) and an optional label (e.g. a commit id). Returns the
/// row id.
pub fn record_run(
    db: &Path,
    summary: &Value,
    hlog: Option<&[HlogEntry]>,
    scenario_text: Option<&str>,
    kind: &str,
    label: Option<&str>,
) -> Result<i64, HistoryError> {
    let mut conn = open(db)?;
    let sql = |e: rusqlite::Error| HistoryError::from_sqlite(db, &e);
    let text = |v: Option<&Value>| v.map(Value::to_string);
    let scenario = summary.get("scenario");
    let total = summary.get("total");
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql)?;
    tx.execute(
        "INSERT INTO runs (recorded_at, run_id, scenario, seed, target, verdict, summary_json,
                           scenario_hash, fleetbench_version, label, kind, rate, counts_json,
                           thresholds_json, generator_json)
         VALUES (strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                 ?11, ?12, ?13, ?14)",
        params![
            summary.get("run_id").and_then(Value::as_str).unwrap_or(""),
            scenario
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                .unwrap_or(""),
            scenario
                .and_then(|s| s.get("seed"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
            summary
                .get("target")
                .and_then(|t| t.get("url"))
                .and_then(Value::as_str)
                .unwrap_or(""),
            verdict(summary),
            summary.to_string(),
            scenario_text.map(scenario_hash),
            env!("CARGO_PKG_VERSION"),
            label,
            kind,
            total
                .and_then(|t| t.get("achieved_rate"))
                .and_then(Value::as_f64),
            text(total.and_then(|t| t.get("counts"))),
            text(summary.get("thresholds")),
            text(summary.get("generator")),
        ],
    )
    .map_err(sql)?;
    let run = tx.last_insert_rowid();
    for (name, n) in hlog.map(series_numbers).unwrap_or_default() {
        let intervals: serde_json::Map<String, Value> = crate::results::compare::STATS
            .iter()
            .zip(n.intervals)
            .map(|(stat, iv)| ((*stat).to_owned(), json!(iv)))
            .collect();
        tx.execute(
            "INSERT INTO series (run, name, count, rate, intervals_json) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                run,
                name,
                i64::try_from(n.count).unwrap_or(i64::MAX),
                n.rate,
                Value::Object(intervals).to_string()
            ],
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)?;
    Ok(run)
}

/// Records the run in `run_dir` (its summary, histograms and scenario copy).
pub fn record_run_dir(
    db: &Path,
    run_dir: &Path,
    kind: &str,
    label: Option<&str>,
) -> Result<i64, HistoryError> {
    let RunFiles { hlog, scenario, .. } =
        load_run(run_dir).map_err(|e| HistoryError::Run(e.to_string()))?;
    let summary_path = run_dir.join(crate::report::SUMMARY_FILE);
    let summary: Value = std::fs::read(&summary_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| HistoryError::Run(format!("{}: {e}", summary_path.display())))?;
    record_run(db, &summary, Some(&hlog), scenario.as_deref(), kind, label)
}
