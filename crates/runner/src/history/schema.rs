//! Schema migrations, by SQLite's `user_version`: version 1 kept the run identity, verdict
//! and summary; version 2 adds the scenario hash, fleetbench version, label, counts,
//! thresholds, generator health and the per-series table with intervals.

use std::path::Path;

use rusqlite::Connection;

use super::HistoryError;

/// The schema this fleetbench writes.
pub const SCHEMA_VERSION: i64 = 2;

/// Version 1 (kept to create old databases in tests and to document the migration).
pub const V1: &str = "
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    run_id TEXT NOT NULL,
    scenario TEXT NOT NULL,
    seed INTEGER NOT NULL,
    target TEXT NOT NULL,
    verdict TEXT NOT NULL,
    summary_json TEXT NOT NULL
);
CREATE INDEX runs_scenario ON runs (scenario, id);
PRAGMA user_version = 1;
";

const V2: &str = "
ALTER TABLE runs ADD COLUMN scenario_hash TEXT;
ALTER TABLE runs ADD COLUMN fleetbench_version TEXT;
ALTER TABLE runs ADD COLUMN label TEXT;
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
ALTER TABLE runs ADD COLUMN rate REAL;
ALTER TABLE runs ADD COLUMN counts_json TEXT;
ALTER TABLE runs ADD COLUMN thresholds_json TEXT;
ALTER TABLE runs ADD COLUMN generator_json TEXT;
CREATE TABLE series (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    rate REAL NOT NULL,
    intervals_json TEXT NOT NULL,
    PRIMARY KEY (run, name)
);
PRAGMA user_version = 2;
";

/// Brings the database to [`SCHEMA_VERSION`], one step per immediate transaction (the
/// version is read again inside it, so concurrent openers apply each step once).
pub fn migrate(conn: &Connection, path: &Path) -> Result<(), HistoryError> {
    let sql = |e: rusqlite::Error| HistoryError::from_sqlite(path, &e);
    let read_version = || -> Result<i64, HistoryError> {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)
    };
    let version = read_version()?;
    if version > SCHEMA_VERSION {
        return Err(HistoryError::TooNew {
            path: path.to_owned(),
            found: version,
        });
    }
    for (from, step) in [(0, V1), (1, V2)] {
        if version > from {
            continue;
        }
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sql)?;
        let applied = read_version().and_then(|now| {
            if now <= from {
                conn.execute_batch(step).map_err(sql)
            } else {
                Ok(())
            }
        });
        match applied {
            Ok(()) => conn.execute_batch("COMMIT").map_err(sql)?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}
