//! `fleetbench compare BASELINE CURRENT`: exit 0 on a pass, 99 on a regression the
//! confidence intervals support, 98 when inconclusive, 2 when an input cannot be used.

use fleetbench_runner::results::{
    CompareOptions, Verdict, compare, load_run, render_comparison, run_untrusted_reasons,
};

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
    if let Some(scenario) = &args.interleave.interleave {
        return super::interleave::run(args, &args.interleave, scenario, judged);
    }
    let (Some(baseline_path), Some(current_path)) = (&args.baseline, &args.current) else {
        eprintln!("error: compare needs BASELINE and CURRENT, or --interleave SCENARIO");
        return ExitStatus::InvalidInput;
    };
    let (baseline, current) = match (load(baseline_path), load(current_path)) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let mut comparison = compare(
        &baseline.hlog,
        &current.hlog,
        CompareOptions {
            max_regression: args.max_regression,
            max_rate_drop: args.max_rate_drop,
            min_count: args.min_count,
            judged,
        },
    );
    comparison.untrusted = run_untrusted_reasons(baseline_path);
    comparison
        .untrusted
        .extend(run_untrusted_reasons(current_path));
    println!(
        "baseline {}\ncurrent  {}",
        baseline_path.display(),
        current_path.display()
    );
    print!("{}", render_comparison(&comparison));
    verdict_status(comparison.verdict())
}

/// The exit status of a verdict.
pub fn verdict_status(verdict: Verdict) -> ExitStatus {
    match verdict {
        Verdict::Pass => ExitStatus::Passed,
        Verdict::Regression => ExitStatus::Failed,
        Verdict::Inconclusive => ExitStatus::Inconclusive,
    }
}
