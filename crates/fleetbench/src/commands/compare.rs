//! `fleetbench compare BASELINE CURRENT`: exit 0 on a pass, 99 on a regression the
//! confidence intervals support, 98 when inconclusive, 2 when an input cannot be used.

use fleetbench_runner::results::{
    CompareOptions, Verdict, compare, load_run, render_comparison, run_untrusted_reasons,
};

use crate::cli::CompareArgs;
use crate::exit_code;

/// Compares the two runs and prints the table.
pub fn run(args: &CompareArgs) -> u8 {
    let load = |path| {
        load_run(path).map_err(|e| {
            eprintln!("error: {e}");
            exit_code::INVALID_INPUT
        })
    };
    let judged = match CompareOptions::judged_from(&args.percentiles) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: --percentiles: {e}");
            return exit_code::INVALID_INPUT;
        }
    };
    if let Some(scenario) = &args.interleave.interleave {
        return super::interleave::run(args, &args.interleave, scenario, judged);
    }
    let (Some(baseline_path), Some(current_path)) = (&args.baseline, &args.current) else {
        eprintln!("error: compare needs BASELINE and CURRENT, or --interleave SCENARIO");
        return exit_code::INVALID_INPUT;
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
    verdict_code(comparison.verdict())
}

/// The exit code of a verdict.
pub fn verdict_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Pass => exit_code::OK,
        Verdict::Regression => exit_code::THRESHOLDS_FAILED,
        Verdict::Inconclusive => exit_code::INCONCLUSIVE,
    }
}
