//! What a command's final state tells beyond its outcome: attempts, and the breakdown of its
//! latency into accept, dispatch, link_queue, device and report (when the gateway reports
//! timestamps).

use std::time::Duration;

use time::OffsetDateTime;

use crate::api::{CommandState, DeviceStatus, Status};
use crate::metrics::{Details, Outcome};

/// Most attempt durations taken from one command.
pub const MAX_ATTEMPT_TIMES: usize = 64;

fn span(from: OffsetDateTime, to: OffsetDateTime) -> Option<Duration> {
    Duration::try_from(to - from).ok()
}

/// When a status entry became terminal (gateway clock).
fn terminal_at(s: &DeviceStatus) -> Option<OffsetDateTime> {
    s.transitions
        .iter()
        .rev()
        .find(|t| matches!(t.status, Status::Success | Status::Fail))
        .map(|t| t.at)
        .or(s.updated_at)
}

/// When the gateway began working on a target: its first attempt, else its last `sent`
/// transition.
fn started_at(s: &DeviceStatus) -> Option<OffsetDateTime> {
    s.attempts
        .iter()
        .filter_map(|a| a.started_at)
        .min()
        .or_else(|| {
            s.transitions
                .iter()
                .rev()
                .find(|t| t.status == Status::Sent)
                .map(|t| t.at)
        })
}

/// When the first attempt's request was first transmitted to the device (after NSTART and
/// exclusive-section waits), when the gateway reports it.
fn transmitted_at(s: &DeviceStatus) -> Option<OffsetDateTime> {
    let first = s
        .attempts
        .iter()
        .filter(|a| a.started_at.is_some())
        .min_by_key(|a| a.started_at)?;
    first.transmitted_at
}

fn attempt_outcome(text: &str) -> Option<Outcome> {
    match text {
        "success" => Some(Outcome::Success),
        "fail" => Some(Outcome::Fail),
        "timeout" | "no_answer" => Some(Outcome::Timeout),
        _ => None,
    }
}

/// Details of a terminal `state`, accepted `accept` after its send and seen by the runner at
/// wall-clock `seen`.
pub fn details(state: &CommandState, accept: Option<Duration>, seen: OffsetDateTime) -> Details {
    let mut d = Details {
        accept,
        ..Details::default()
    };
    let reported: Vec<&DeviceStatus> = state
        .statuses
        .iter()
        .filter(|s| !s.attempts.is_empty())
        .collect();
    if !reported.is_empty() {
        d.attempts = reported
            .iter()
            .map(|s| u32::try_from(s.attempts.len()).unwrap_or(u32::MAX))
            .max();
    }
    for a in state.statuses.iter().flat_map(|s| &s.attempts) {
        if d.attempt_times.len() >= MAX_ATTEMPT_TIMES {
            break;
        }
        if let (Some(o), Some(start), Some(end)) =
            (attempt_outcome(&a.outcome), a.started_at, a.ended_at)
            && let Some(t) = span(start, end)
        {
            d.attempt_times.push((o, t));
        }
    }
    // The target that finished last is the one the command's completion waited for.
    let Some((last, done)) = state
        .statuses
        .iter()
        .filter_map(|s| terminal_at(s).map(|t| (s, t)))
        .max_by_key(|(_, t)| *t)
    else {
        return d;
    };
    if let Some(created) = state.created_at
        && let Some(started) = started_at(last)
    {
        d.dispatch = span(created, started);
        match transmitted_at(last) {
            Some(sent) => {
                d.link_queue = span(started, sent);
                d.device = span(sent, done);
            }
            None => d.device = span(started, done),
        }
    }
    match span(done, seen) {
        Some(gap) => d.report = Some(gap),
        None => d.clock_skew = true,
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(us: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(us)
    }

    #[test]
    fn breakdown_follows_the_target_that_finished_last() {
        let v = json!({"_id": "c", "created_at": "1970-01-01T00:00:00.000000Z", "statuses": {
            "fast": {"status": "success",
                "attempts": [{"started_at": "1970-01-01T00:00:00.001000Z", "ended_at": "1970-01-01T00:00:00.005000Z", "outcome": "success"}],
                "transitions": [{"status": "sent", "at": "1970-01-01T00:00:00.000000Z"}, {"status": "success", "at": "1970-01-01T00:00:00.005000Z"}]},
            "slow": {"status": "success",
                "attempts": [
                    {"started_at": "1970-01-01T00:00:00.002000Z", "ended_at": "1970-01-01T00:00:01.002000Z", "outcome": "timeout"},
                    {"started_at": "1970-01-01T00:00:02.002000Z", "ended_at": "1970-01-01T00:00:02.030000Z", "outcome": "success"}],
                "transitions": [{"status": "sent", "at": "1970-01-01T00:00:00.000000Z"}, {"status": "success", "at": "1970-01-01T00:00:02.030000Z"}]}}});
        let s = CommandState::from_json(&v).unwrap();
        let d = details(&s, Some(Duration::from_millis(3)), at(2_031_500));
        assert_eq!(d.accept, Some(Duration::from_millis(3)));
        assert_eq!(d.attempts, Some(2));
        assert_eq!(d.dispatch, Some(Duration::from_millis(2)));
        assert_eq!(d.device, Some(Duration::from_millis(2028)));
        assert_eq!(d.report, Some(Duration::from_micros(1500)));
        assert!(!d.clock_skew);
        assert_eq!(
            d.attempt_times,
            vec![
                (Outcome::Success, Duration::from_millis(4)),
                (Outcome::Timeout, Duration::from_secs(1)),
                (Outcome::Success, Duration::from_millis(28)),
            ]
        );
    }

    #[test]
    fn transmission_time_splits_link_queue_from_device() {
        let v = json!({"_id": "c", "created_at": "1970-01-01T00:00:00.000000Z", "statuses": {"d": {
            "status": "fail",
            "attempts": [{"started_at": "1970-01-01T00:00:00.001000Z", "transmitted_at": "1970-01-01T00:00:00.004000Z",
                          "ended_at": "1970-01-01T00:00:00.010000Z", "outcome": "no_answer"}],
            "transitions": [{"status": "sent", "at": "1970-01-01T00:00:00.000000Z"}, {"status": "fail", "at": "1970-01-01T00:00:00.010000Z"}]}}});
        let s = CommandState::from_json(&v).unwrap();
        let d = details(&s, None, at(10_500));
        assert_eq!(d.dispatch, Some(Duration::from_millis(1)));
        assert_eq!(d.link_queue, Some(Duration::from_millis(3)));
        assert_eq!(d.device, Some(Duration::from_millis(6)));
        let c = s.classify().unwrap();
        assert_eq!(c.outcome, Outcome::Timeout);
        assert!(
            c.no_answer && !c.from_text,
            "typed outcome, not message text"
        );
    }

    #[test]
    fn without_typed_outcomes_the_message_text_classifies_and_says_so() {
        let v = json!({"_id": "c", "statuses": {"d": {"status": "fail", "status_message": "request timed out"}}});
        let c = CommandState::from_json(&v).unwrap().classify().unwrap();
        assert_eq!(c.outcome, Outcome::Timeout);
        assert!(c.from_text);
        let v = json!({"_id": "c", "statuses": {"d": {"status": "fail", "status_message": "timeout in the text",
            "attempts": [{"outcome": "fail"}]}}});
        let c = CommandState::from_json(&v).unwrap().classify().unwrap();
        assert_eq!(
            c.outcome,
            Outcome::Fail,
            "the typed outcome wins over the words"
        );
        assert!(!c.from_text);
    }

    #[test]
    fn without_timestamps_only_the_accept_time_is_known() {
        let s =
            CommandState::from_json(&json!({"_id": "c", "statuses": {"d": {"status": "success"}}}))
                .unwrap();
        let d = details(&s, Some(Duration::from_millis(1)), at(0));
        assert_eq!(
            d,
            Details {
                accept: Some(Duration::from_millis(1)),
                ..Details::default()
            }
        );
    }

    #[test]
    fn a_completion_seen_before_the_gateway_says_it_happened_is_clock_skew() {
        let v = json!({"_id": "c", "created_at": "1970-01-01T00:00:00.000000Z", "statuses": {"d": {
            "status": "fail", "updated_at": "1970-01-01T00:00:01.000000Z",
            "transitions": [{"status": "sent", "at": "1970-01-01T00:00:00.000000Z"}, {"status": "fail", "at": "1970-01-01T00:00:01.000000Z"}]}}});
        let s = CommandState::from_json(&v).unwrap();
        let d = details(&s, None, at(999_000));
        assert!(d.clock_skew);
        assert_eq!(d.report, None);
        assert_eq!(d.dispatch, Some(Duration::ZERO), "from the sent transition");
        assert_eq!(d.device, Some(Duration::from_secs(1)));
    }
}
