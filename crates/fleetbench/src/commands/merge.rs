//! `fleetbench merge RUN... --out DIR`.

use fleetbench_runner::render_table;
use fleetbench_runner::results::{MergeOptions, load_run, merge_shards};

use crate::cli::MergeArgs;
use fleetbench_runner::ExitStatus;

/// Merges the runs (or the shards of one distributed run) into `--out`; exit 2 when an input
/// cannot be used or the shards do not belong together, 99 when a threshold fails on the
/// merged histograms.
pub fn run(args: &MergeArgs) -> ExitStatus {
    if args.out.exists() && std::fs::read_dir(&args.out).map_or(true, |mut d| d.next().is_some()) {
        eprintln!(
            "error: --out {} exists and is not an empty directory",
            args.out.display()
        );
        return ExitStatus::InvalidInput;
    }
    let mut runs = Vec::with_capacity(args.runs.len());
    for path in &args.runs {
        match load_run(path) {
            Ok(run) => runs.push(run),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitStatus::InvalidInput;
            }
        }
    }
    let id = args
        .out
        .file_name()
        .map_or_else(|| "merged".to_owned(), |n| n.to_string_lossy().into_owned());
    let options = MergeOptions {
        partial: args.partial,
        max_start_spread: args.max_start_spread,
    };
    let merged = match merge_shards(&runs, &id, &options) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    if let Err(e) = merged.write(&args.out) {
        eprintln!("error: cannot write {}: {e}", args.out.display());
        return ExitStatus::Error;
    }
    super::history::record(&args.record, &args.out, "merge");
    print!("{}", render_table(&merged.summary));
    let s = &merged.shards;
    if s.count > 0 {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"));
        println!(
            "shards {:?} of {}{}; start spread {}, clock offset spread {} (±{})",
            s.indices,
            s.count,
            if s.is_partial() { " (partial)" } else { "" },
            ms(s.late_spread_ms),
            ms(s.clock_spread_ms),
            ms(s.clock_uncertainty_ms)
        );
    }
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    println!("merged {} runs into {}", runs.len(), args.out.display());
    if merged.summary.thresholds_passed {
        ExitStatus::Passed
    } else {
        eprintln!("thresholds failed on the merged histograms");
        ExitStatus::Failed
    }
}
