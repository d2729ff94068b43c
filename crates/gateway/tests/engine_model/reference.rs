//! An independent reference model of one command target's lifecycle, written from the
//! documented semantics (docs/gateway-api.md §2.3), not from the engine's code:
//!
//! - the target waits for `schedule.start_datetime`; if `end_datetime` has passed by then it
//!   fails with `schedule window closed at <end> before the command could start`;
//! - the command deadline is `timeout` seconds after the window opened (or creation);
//! - attempt `n` lasts until the device answers or its deadline: `min(start + retry_options.
//!   timeout, command deadline)`; a device that answers at the deadline instant has answered;
//! - after a failed attempt: past the deadline -> `timeout`; attempts used up -> the last
//!   message (+ ` (after n attempts)` when n > 1); otherwise the retry starts `delay(n)` later,
//!   where fixed -> `fixed_interval` and exponential -> `min(base * multiplier^(n-1), max)`;
//!   a retry that would start at or after the deadline, or at or after the window's end, is not
//!   started and the target fails saying why.

use std::time::Duration;

/// What a device does on one attempt (the last one repeats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers 2.04 after this many ms.
    Answer(u64),
    /// Answers 5.00 after this many ms.
    Error(u64),
    /// Never answers.
    Never,
    /// De-registers after this many ms.
    Deregister(u64),
    /// The CoAP layer gives up after this many ms.
    NoAnswer(u64),
}

/// How a predicted attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Answered 2.xx.
    Success,
    /// Failed with an error.
    Fail,
    /// Its deadline passed.
    Timeout,
    /// The CoAP layer gave up.
    NoAnswer,
}

/// The retry delay strategy, as documented.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// `fixed_interval` seconds.
    Fixed(u64),
    /// `min(base * multiplier^(n-1), max)` seconds.
    Exponential {
        /// `exponential_base_interval`.
        base: u64,
        /// `exponential_multiplier`.
        multiplier: u64,
        /// `exponential_max_interval`.
        max: Option<u64>,
    },
}

impl Delay {
    /// Microseconds before retry `n` (after attempt `n`).
    fn after(self, n: u32) -> i64 {
        let seconds = match self {
            Delay::Fixed(s) => s as f64,
            Delay::Exponential {
                base,
                multiplier,
                max,
            } => {
                let grown = base as f64 * (multiplier as f64).powi(n as i32 - 1);
                max.map_or(grown, |m| grown.min(m as f64))
            }
        };
        (seconds * 1e6).round() as i64
    }
}

/// The inputs of one target, times in microseconds from the command's creation.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `timeout`, seconds.
    pub timeout_s: u64,
    /// `retry_options.timeout`, seconds.
    pub attempt_timeout_s: Option<u64>,
    /// Total attempts allowed (1 + max_retries).
    pub max_attempts: u32,
    /// The delay strategy.
    pub delay: Delay,
    /// `schedule.start_datetime`.
    pub start_us: Option<i64>,
    /// `schedule.end_datetime`.
    pub end_us: Option<i64>,
    /// The end as written in the request (for messages).
    pub end_text: String,
    /// The device's script.
    pub script: Vec<Behaviour>,
    /// The device's endpoint name.
    pub endpoint: String,
}

/// A predicted attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// Start, us from creation.
    pub started_us: i64,
    /// End, us from creation.
    pub ended_us: i64,
    /// How it ended.
    pub ending: Ending,
    /// Its message.
    pub message: String,
}

/// Which way the target ended (for the coverage table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Path {
    /// Succeeded.
    Success,
    /// The window had closed before the first attempt.
    WindowClosedBeforeStart,
    /// The window closes before the next retry.
    WindowClosesBeforeRetry,
    /// The next retry would start at or after the deadline.
    NoTimeLeft,
    /// The command deadline passed during an attempt.
    DeadlineMidAttempt,
    /// Every allowed attempt failed.
    AttemptsUsedUp,
}

/// The predicted outcome of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    /// Created `enqueued` (window in the future), else `sent`.
    pub enqueued_first: bool,
    /// When it became `sent` (us), if it did after being enqueued.
    pub sent_us: Option<i64>,
    /// Every attempt.
    pub attempts: Vec<Attempt>,
    /// Whether it succeeded.
    pub success: bool,
    /// The final status message.
    pub message: String,
    /// When it ended (us).
    pub terminal_us: i64,
    /// Which way.
    pub path: Path,
}

const SUCCESS_MESSAGE: &str = "device answered 2.04";
const ERROR_MESSAGE: &str = "device answered 5.00 Internal Server Error";

fn behaviour_message(behaviour: Behaviour, endpoint: &str) -> (Ending, String) {
    match behaviour {
        Behaviour::Answer(_) => (Ending::Success, SUCCESS_MESSAGE.to_owned()),
        Behaviour::Error(_) => (Ending::Fail, ERROR_MESSAGE.to_owned()),
        Behaviour::Deregister(_) => (
            Ending::Fail,
            format!("device endpoint {endpoint:?} de-registered while the request was in flight"),
        ),
        Behaviour::NoAnswer(_) => (
            Ending::NoAnswer,
            format!(
                "device did not answer (CoAP timeout): endpoint {endpoint:?}, no response after every CoAP retransmission"
            ),
        ),
        Behaviour::Never => unreachable!("a silent device never ends an attempt by itself"),
    }
}

fn duration_us(behaviour: Behaviour) -> Option<i64> {
    match behaviour {
        Behaviour::Answer(ms)
        | Behaviour::Error(ms)
        | Behaviour::Deregister(ms)
        | Behaviour::NoAnswer(ms) => Some(ms as i64 * 1000),
        Behaviour::Never => None,
    }
}

fn seconds_text(us: i64) -> String {
    format!("{} s", Duration::from_micros(us as u64).as_secs_f64())
}

/// Predicts one target's lifecycle.
pub fn predict(inputs: &Inputs) -> Prediction {
    let enqueued_first = inputs.start_us.is_some_and(|s| s > 0);
    let opened = inputs.start_us.map_or(0, |s| s.max(0));
    let sent_us = enqueued_first.then_some(opened);
    let fail = |attempts, message, terminal_us, path| Prediction {
        enqueued_first,
        sent_us,
        attempts,
        success: false,
        message,
        terminal_us,
        path,
    };
    if let Some(end) = inputs.end_us
        && opened >= end
    {
        return Prediction {
            sent_us: None,
            ..fail(
                Vec::new(),
                format!(
                    "schedule window closed at {} before the command could start",
                    inputs.end_text
                ),
                opened,
                Path::WindowClosedBeforeStart,
            )
        };
    }
    let deadline = opened + inputs.timeout_s as i64 * 1_000_000;
    let mut attempts = Vec::new();
    let mut now = opened;
    for number in 1.. {
        let behaviour = inputs
            .script
            .get(number as usize - 1)
            .or(inputs.script.last())
            .copied()
            .unwrap_or(Behaviour::Answer(0));
        let attempt_deadline = inputs
            .attempt_timeout_s
            .map_or(deadline, |t| (now + t as i64 * 1_000_000).min(deadline));
        let (ended, ending, message) = match duration_us(behaviour) {
            Some(d) if now + d <= attempt_deadline => {
                let (ending, message) = behaviour_message(behaviour, &inputs.endpoint);
                (now + d, ending, message)
            }
            _ if attempt_deadline < deadline => (
                attempt_deadline,
                Ending::Timeout,
                format!(
                    "no answer within the attempt timeout of {}",
                    seconds_text(attempt_deadline - now)
                ),
            ),
            _ => (
                attempt_deadline,
                Ending::Timeout,
                format!(
                    "no answer before the command timeout of {} s",
                    inputs.timeout_s
                ),
            ),
        };
        attempts.push(Attempt {
            number,
            started_us: now,
            ended_us: ended,
            ending,
            message: message.clone(),
        });
        if ending == Ending::Success {
            return Prediction {
                enqueued_first,
                sent_us,
                attempts,
                success: true,
                message,
                terminal_us: ended,
                path: Path::Success,
            };
        }
        if ended >= deadline {
            return fail(
                attempts,
                "timeout".to_owned(),
                ended,
                Path::DeadlineMidAttempt,
            );
        }
        if number >= inputs.max_attempts {
            let tries = if number == 1 {
                String::new()
            } else {
                format!(" (after {number} attempts)")
            };
            return fail(
                attempts,
                format!("{message}{tries}"),
                ended,
                Path::AttemptsUsedUp,
            );
        }
        let retry_at = ended + inputs.delay.after(number);
        if retry_at >= deadline {
            return fail(
                attempts,
                format!(
                    "{message} (attempt {number}; no time left for another retry before the command deadline)"
                ),
                ended,
                Path::NoTimeLeft,
            );
        }
        if let Some(end) = inputs.end_us
            && retry_at >= end
        {
            return fail(
                attempts,
                format!(
                    "{message} (attempt {number}; the schedule window closes at {} before the next retry)",
                    inputs.end_text
                ),
                ended,
                Path::WindowClosesBeforeRetry,
            );
        }
        now = retry_at;
    }
    unreachable!("the loop returns")
}
