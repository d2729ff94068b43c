//! History: two runs give two rows, migration from version 1, concurrent writers, corrupt
//! files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

use super::*;
use crate::results::load::HlogEntry;

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fleetbench-history-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn summary(run_id: &str, scenario: &str) -> serde_json::Value {
    json!({
        "schema_version": 2, "run_id": run_id, "aborted": null,
        "scenario": {"name": scenario, "seed": 7},
        "target": {"mode": "embedded", "url": "http://127.0.0.1:1"},
        "total": {"achieved_rate": 99.5, "counts": {"sent": 800, "completed": 800}},
        "thresholds": [{"expr": "fails == 0", "value": 0.0, "passed": true}],
        "thresholds_passed": true,
        "generator": {"kept_up": true, "verdict": "the generator kept up"}
    })
}

fn hlog(n: u64) -> Vec<HlogEntry> {
    let mut h = Histogram::<u64>::new(3).unwrap();
    h.auto(true);
    for i in 0..n {
        h.record(5_000 + i * 10).unwrap();
    }
    vec![HlogEntry {
        tag: "latency:phase=steady;command=read;target=gateway;outcome=success".to_owned(),
        start: Duration::ZERO,
        length: Duration::from_secs(8),
        histogram: h,
    }]
}

#[test]
fn two_runs_give_two_rows_with_intervals_newest_first() {
    let dir = temp("two");
    let db = dir.join("nested/history.sqlite");
    record_run(
        &db,
        &summary("r1", "gate"),
        Some(&hlog(800)),
        Some("a"),
        "run",
        Some("abc123"),
    )
    .unwrap();
    record_run(
        &db,
        &summary("r2", "gate"),
        Some(&hlog(400)),
        Some("a"),
        "merge",
        None,
    )
    .unwrap();
    record_run(&db, &summary("r3", "other"), None, None, "run", None).unwrap();
    let runs = list(&db, Some("gate"), 10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].run_id.as_str(), runs[0].kind.as_str()),
        ("r2", "merge")
    );
    assert_eq!(runs[1].label.as_deref(), Some("abc123"));
    assert_eq!(runs[1].scenario_hash, Some(scenario_hash("a")));
    assert_eq!(runs[1].generator["kept_up"], json!(true));
    let total = runs[1].series.last().unwrap();
    assert_eq!((total.name.as_str(), total.count), ("TOTAL", 800));
    let p50 = total.intervals["p50"].unwrap();
    assert!(p50.lower.unwrap() < p50.value && p50.value < p50.upper.unwrap());
    assert_eq!(list(&db, None, 10).unwrap().len(), 3);
    assert_eq!(list(&db, None, 1).unwrap()[0].run_id, "r3");
    let t = trend(&db, "gate", 5).unwrap();
    assert_eq!(
        t.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["r1", "r2"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_version_1_database_is_migrated_and_keeps_its_rows() {
    let dir = temp("migrate");
    let db = dir.join("history.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(schema::V1).unwrap();
        conn.execute(
            "INSERT INTO runs (recorded_at, run_id, scenario, seed, target, verdict, summary_json)
             VALUES ('2026-01-01T00:00:00Z', 'old', 'gate', 1, 'http://x', 'pass', '{}')",
            [],
        )
        .unwrap();
    }
    record_run(
        &db,
        &summary("new", "gate"),
        Some(&hlog(100)),
        None,
        "run",
        None,
    )
    .unwrap();
    let runs = list(&db, Some("gate"), 10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].run_id, "old");
    assert_eq!(runs[1].kind, "run");
    assert_eq!(runs[1].label, None);
    assert!(runs[1].series.is_empty());
    assert_eq!(runs[0].series.len(), 2);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = temp("concurrent");
    let db = dir.join("history.sqlite");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    record_run(
                        &db,
                        &summary(&format!("t{t}-{i}"), "gate"),
                        Some(&hlog(50)),
                        None,
                        "run",
                        None,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let runs = list(&db, Some("gate"), 1000).unwrap();
    assert_eq!(runs.len(), 40);
    assert!(runs.iter().all(|r| r.series.len() == 2));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_file_gives_a_clear_error_naming_it() {
    let dir = temp("corrupt");
    let db = dir.join("history.sqlite");
    std::fs::write(&db, vec![0x42u8; 8192]).unwrap();
    let e = record_run(&db, &summary("r", "gate"), None, None, "run", None).unwrap_err();
    assert!(matches!(e, HistoryError::Corrupt { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("history.sqlite: not a usable history database"),
        "{text}"
    );
    // The file is left as it was.
    assert_eq!(std::fs::read(&db).unwrap(), vec![0x42u8; 8192]);
    std::fs::remove_dir_all(&dir).unwrap();
}
