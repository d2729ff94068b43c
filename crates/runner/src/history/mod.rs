//! Run history in SQLite (`results/history.sqlite` by default): one row per run or merge
//! with its identity, verdict, generator health and per-series percentiles with their 95 %
//! confidence intervals, for trends across runs.
//!
//! Concurrent writers are safe (WAL journal, busy timeout, one immediate transaction per
//! run). Writing history happens after a run's own files are written, and its failure is
//! reported as a warning: a corrupt or locked database never loses a run.

mod query;
mod record;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

pub use query::{HistoryRun, HistorySeries, list, trend};
pub use record::{record_run, record_run_dir, scenario_hash};
pub use schema::SCHEMA_VERSION;

/// The default database path.
pub const DEFAULT_HISTORY: &str = "results/history.sqlite";

/// How long a writer waits for another one before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// A history database that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file is not an SQLite database (or is damaged).
    #[error("{}: not a usable history database ({what}); move it away to start a new one", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        what: String,
    },
    /// Another process held the database longer than the busy timeout.
    #[error("{}: locked by another writer for more than {:?} ({what})", path.display(), BUSY_TIMEOUT)]
    Locked {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        what: String,
    },
    /// A database written by a newer fleetbench.
    #[error("{}: schema version {found} is newer than this fleetbench's {SCHEMA_VERSION}", path.display())]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
    },
    /// The run to record cannot be read.
    #[error("{0}")]
    Run(String),
    /// Any other SQLite or I/O error.
    #[error("{}: {what}", path.display())]
    Other {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
}

impl HistoryError {
    fn from_sqlite(path: &Path, e: &rusqlite::Error) -> HistoryError {
        let what = e.to_string();
        let path = path.to_owned();
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                HistoryError::Corrupt { path, what }
            }
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                HistoryError::Locked { path, what }
            }
            _ => HistoryError::Other { path, what },
        }
    }
}

/// Opens (creating it and its directory when missing) and migrates the database at `path`.
pub fn open(path: &Path) -> Result<Connection, HistoryError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| HistoryError::Other {
            path: path.to_owned(),
            what: format!("cannot create {}: {e}", dir.display()),
        })?;
    }
    let sql = |e: rusqlite::Error| HistoryError::from_sqlite(path, &e);
    let conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql)?;
    schema::migrate(&conn, path)?;
    Ok(conn)
}

#[cfg(test)]
mod tests;
