//! The process exit statuses of `fleetbench`: the one definition of the contract CI relies
//! on (documented in `docs/scenario-format.md`, "Exit codes").

use crate::report::{Summary, ThresholdResult};

/// How a `fleetbench` process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the run finished, every threshold held and the commands could be sent.
    Passed,
    /// 1: any other error (setup failed, the target misbehaved, results could not be
    /// written, the run was aborted from inside).
    Error,
    /// 2: invalid input (flags, scenario).
    InvalidInput,
    /// 99: the run finished but a threshold failed, an `abort_on_fail` threshold stopped
    /// it, or more than `execution.max_error_ratio` of the planned commands could not be
    /// sent (the implicit send-error guard).
    Failed,
    /// 98: `compare` could not decide: too few samples, intervals too wide for the requested
    /// resolution, or a run whose generator fell behind (never reported as a regression).
    Inconclusive,
    /// 130 (128 + SIGINT): interrupted by Ctrl-C; every output is written, marked aborted.
    Interrupted,
    /// 143 (128 + SIGTERM): terminated (`timeout`, container runtimes, systemd); every
    /// output is written, marked aborted.
    Terminated,
}

impl ExitStatus {
    /// The numeric exit code.
    pub const fn code(self) -> u8 {
        match self {
            ExitStatus::Passed => 0,
            ExitStatus::Error => 1,
            ExitStatus::InvalidInput => 2,
            ExitStatus::Failed => 99,
            ExitStatus::Inconclusive => 98,
            ExitStatus::Interrupted => 130,
            ExitStatus::Terminated => 143,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

/// The expression the send-error guard appears under in `summary.json` and `junit.xml`.
pub const SEND_ERROR_GUARD: &str = "http_errors <= execution.max_error_ratio x planned";

/// The implicit guard: when more than `max_error_ratio` of the planned commands failed to
/// be sent (HTTP or transport errors), the run fails even without thresholds. Adds a failed
/// threshold result and a warning to `summary`; does nothing when the guard holds.
pub fn apply_send_error_guard(summary: &mut Summary, max_error_ratio: f64) {
    let counts = &summary.total.counts;
    if counts.planned == 0 {
        return;
    }
    let ratio = counts.http_errors as f64 / counts.planned as f64;
    if ratio <= max_error_ratio {
        return;
    }
    let message = format!(
        "{} of {} planned commands could not be sent (HTTP or transport errors): {:.2} % is \
         above execution.max_error_ratio = {} %",
        counts.http_errors,
        counts.planned,
        ratio * 100.0,
        max_error_ratio * 100.0
    );
    summary.thresholds.push(ThresholdResult {
        expr: SEND_ERROR_GUARD.to_owned(),
        value: Some(ratio),
        passed: false,
        aborted_run: false,
    });
    summary.thresholds_passed = false;
    summary.warnings.push(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_contract() {
        for (status, code) in [
            (ExitStatus::Passed, 0),
            (ExitStatus::Error, 1),
            (ExitStatus::InvalidInput, 2),
            (ExitStatus::Failed, 99),
            (ExitStatus::Interrupted, 130),
            (ExitStatus::Terminated, 143),
        ] {
            assert_eq!(status.code(), code, "{status:?}");
            assert_eq!(
                std::process::ExitCode::from(status),
                std::process::ExitCode::from(code)
            );
        }
    }
}
