//! `fleetbench history`: the recorded runs as a table, JSON (an array of runs) or CSV, and
//! the recording of a finished run (used by `run` and `merge`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use fleetbench_runner::history::{DEFAULT_HISTORY, HistoryRun, list, record_run_dir};

use fleetbench_runner::ExitStatus;

/// `fleetbench history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The history database.
    #[arg(long, default_value = DEFAULT_HISTORY)]
    pub history: PathBuf,
    /// Only runs of this scenario.
    #[arg(long)]
    pub scenario: Option<String>,
    /// The newest N runs.
    #[arg(long, default_value_t = 20)]
    pub last: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Output formats of `history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// A JSON array of runs (every series with intervals).
    Json,
    /// One line per run, the TOTAL series.
    Csv,
}

/// Where `run` and `merge` record (flattened into their flags).
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// The run history database (SQLite).
    #[arg(long, default_value = DEFAULT_HISTORY)]
    pub history: PathBuf,
    /// Do not record this run in the history.
    #[arg(long)]
    pub no_history: bool,
    /// A label stored with the run (e.g. a commit id).
    #[arg(long)]
    pub label: Option<String>,
}

/// Records the run directory; a failure is a warning (the run's own files are already
/// written and stay).
pub fn record(args: &RecordArgs, run_dir: &Path, kind: &str) {
    if args.no_history {
        return;
    }
    if let Err(e) = record_run_dir(&args.history, run_dir, kind, args.label.as_deref()) {
        eprintln!(
            "warning: not recorded in the history: {e} (the results in {} are complete)",
            run_dir.display()
        );
    }
}

fn stat(run: &HistoryRun, name: &str) -> (String, String, String) {
    let total = run.series.iter().find(|s| s.name == "TOTAL");
    let iv = total.and_then(|t| t.intervals.get(name).copied().flatten());
    let f = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.3}"));
    (
        f(iv.map(|i| i.value)),
        f(iv.and_then(|i| i.lower)),
        f(iv.and_then(|i| i.upper)),
    )
}

const CSV_HEADER: &str = "id,recorded_at,run_id,kind,scenario,scenario_hash,seed,label,verdict,rate,count,p50_ms,p50_lower,p50_upper,p99_ms,p99_lower,p99_upper";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Prints the history.
pub fn run(args: &HistoryArgs) -> ExitStatus {
    if !args.history.is_file() {
        eprintln!("error: --history {}: no such file", args.history.display());
        return ExitStatus::InvalidInput;
    }
    let runs = match list(&args.history, args.scenario.as_deref(), args.last) {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::Error;
        }
    };
    let mut out = String::new();
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&runs) {
            Ok(text) => out = text + "\n",
            Err(e) => {
                eprintln!("error: {e}");
                return ExitStatus::Error;
            }
        },
        Format::Csv | Format::Table => {
            let _ = writeln!(out, "{CSV_HEADER}");
            for r in &runs {
                let (p50, p50l, p50u) = stat(r, "p50");
                let (p99, p99l, p99u) = stat(r, "p99");
                let count = r
                    .series
                    .iter()
                    .find(|s| s.name == "TOTAL")
                    .map_or_else(String::new, |s| s.count.to_string());
                let fields = [
                    r.id.to_string(),
                    r.recorded_at.clone(),
                    r.run_id.clone(),
                    r.kind.clone(),
                    r.scenario.clone(),
                    r.scenario_hash.clone().unwrap_or_default(),
                    r.seed.to_string(),
                    r.label.clone().unwrap_or_default(),
                    r.verdict.clone(),
                    r.rate.map_or_else(String::new, |v| format!("{v:.2}")),
                    count,
                    p50,
                    p50l,
                    p50u,
                    p99,
                    p99l,
                    p99u,
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                let _ = writeln!(out, "{}", line.join(","));
            }
            if args.format == Format::Table {
                out = table(&out);
            }
        }
    }
    print!("{out}");
    ExitStatus::Passed
}

/// CSV lines as aligned columns.
fn table(csv: &str) -> String {
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}
