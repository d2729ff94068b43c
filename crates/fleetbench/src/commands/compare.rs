//! `fleetbench compare BASELINE CURRENT`: exit 0 when within bounds, 99 on a regression, 2
//! when an input cannot be used.

use fleetbench_runner::results::{CompareOptions, compare, load_run, render_comparison};

use crate::cli::CompareArgs;
use fleetbench_runner::ExitStatus;

/// Compares the two runs and prints the table.
pub fn run(args: &CompareArgs) -> ExitStatus {
    let load = |path| {
        load_run(path).map_err(|e| {
            eprintln!("error: {e}");
            ExitStatus::InvalidInput
        })
    };
    let judged = match CompareOptions::judged_from(&args.percentiles) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: --percentiles: {e}");
            return ExitStatus::InvalidInput;
        }
    };
    let (baseline, current) = match (load(&args.baseline), load(&args.current)) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let comparison = compare(
        &baseline.hlog,
        &current.hlog,
        CompareOptions {
            max_regression: args.max_regression,
            max_rate_drop: args.max_rate_drop,
            min_count: args.min_count,
            judged,
        },
    );
    println!(
        "baseline {}\ncurrent  {}",
        args.baseline.display(),
        args.current.display()
    );
    print!("{}", render_comparison(&comparison));
    if comparison.regressed() {
        ExitStatus::Failed
    } else {
        ExitStatus::Passed
    }
}
