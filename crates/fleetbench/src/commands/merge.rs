//! `fleetbench merge RUN... --out DIR`.

use fleetbench_runner::render_table;
use fleetbench_runner::results::{load_run, merge_runs};

use crate::cli::MergeArgs;
use fleetbench_runner::ExitStatus;

/// Merges the runs into `--out`; exit 2 when an input cannot be used.
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
    let merged = match merge_runs(&runs, &id) {
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
    println!("merged {} runs into {}", runs.len(), args.out.display());
    ExitStatus::Passed
}
