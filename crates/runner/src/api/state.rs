//! Decoding of gateway answers: stored commands with their per-device statuses, and device
//! pages. Lenient about extra fields, strict about the ones the runner relies on.

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ApiError;
use crate::metrics::Outcome;

/// A per-device status value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `sent`
    Sent,
    /// `enqueued`
    Enqueued,
    /// `success`
    Success,
    /// `fail`
    Fail,
    /// Anything else (kept, never terminal).
    Other(String),
}

impl Status {
    /// The status for its wire text (unknown values are kept as [`Status::Other`]).
    pub fn parse(text: &str) -> Status {
        match text {
            "sent" => Status::Sent,
            "enqueued" => Status::Enqueued,
            "success" => Status::Success,
            "fail" => Status::Fail,
            other => Status::Other(other.to_owned()),
        }
    }
}

/// One entry of `statuses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    /// The map key (device `_id`).
    pub device_id: String,
    /// The status.
    pub status: Status,
    /// `status_message`, on failures.
    pub status_message: Option<String>,
    /// When the entry last changed (gateway clock).
    pub updated_at: Option<OffsetDateTime>,
    /// `attempts`, when the gateway reports them.
    pub attempts: Vec<AttemptRecord>,
    /// `transitions`, when the gateway reports them.
    pub transitions: Vec<TransitionRecord>,
    /// The entry is the gateway's whole record (read over HTTP, or carried by a terminal
    /// event's `record`), not only a status change applied from an event.
    pub full: bool,
}

/// How a failed target failed, as far as the runner can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// Not a timeout.
    Fail,
    /// The attempt (or command) deadline passed.
    Timeout,
    /// The device never answered at the CoAP layer (a kind of timeout).
    NoAnswer,
}

/// How a terminal command ended and how that was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// The outcome.
    pub outcome: Outcome,
    /// Some target ended with an attempt outcome `no_answer` (the outcome is then
    /// `timeout`).
    pub no_answer: bool,
    /// Some failed target carried no typed attempt outcome: it was classified from its
    /// `status_message` text.
    pub from_text: bool,
}

impl DeviceStatus {
    /// How this (failed) target failed: from its last attempt's typed `outcome` when the
    /// gateway reports attempts, else from the message text (`true` in the second field).
    pub fn fail_kind(&self) -> (FailKind, bool) {
        match self.attempts.last().map(|a| a.outcome.as_str()) {
            Some("timeout") => (FailKind::Timeout, false),
            Some("no_answer") => (FailKind::NoAnswer, false),
            Some("fail" | "success") => (FailKind::Fail, false),
            _ => {
                let timeout = self
                    .status_message
                    .as_deref()
                    .is_some_and(is_timeout_message);
                let kind = if timeout {
                    FailKind::Timeout
                } else {
                    FailKind::Fail
                };
                (kind, true)
            }
        }
    }
}

/// One entry of `statuses[*].attempts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// When it started (gateway clock).
    pub started_at: Option<OffsetDateTime>,
    /// When it ended (gateway clock).
    pub ended_at: Option<OffsetDateTime>,
    /// When the request was first transmitted to the device, after any wait for the
    /// device's link (NSTART, exclusive sections); gateway clock.
    pub transmitted_at: Option<OffsetDateTime>,
    /// `success`, `fail`, `timeout` or `no_answer` (as reported).
    pub outcome: String,
}

/// One entry of `statuses[*].transitions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRecord {
    /// The new status.
    pub status: Status,
    /// When (gateway clock).
    pub at: OffsetDateTime,
}

/// Most attempts or transitions kept per status entry.
pub const MAX_RECORDS_PER_STATUS: usize = 1024;

/// A stored gateway command as the runner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandState {
    /// `_id`.
    pub id: String,
    /// `created_at` (gateway clock).
    pub created_at: Option<OffsetDateTime>,
    /// `statuses`, one entry per target device.
    pub statuses: Vec<DeviceStatus>,
}

impl CommandState {
    /// `Some(outcome)` once every status is `success` or `fail`: success when all succeeded,
    /// timeout when a failed target timed out or got no answer, fail otherwise.
    pub fn outcome(&self) -> Option<Outcome> {
        self.classify().map(|c| c.outcome)
    }

    /// Like [`CommandState::outcome`], with how the outcome was classified.
    pub fn classify(&self) -> Option<Classified> {
        if self.statuses.is_empty() {
            return None;
        }
        let mut c = Classified {
            outcome: Outcome::Success,
            no_answer: false,
            from_text: false,
        };
        for s in &self.statuses {
            match s.status {
                Status::Success => {}
                Status::Fail => {
                    let (kind, from_text) = s.fail_kind();
                    c.from_text |= from_text;
                    match kind {
                        FailKind::Timeout | FailKind::NoAnswer => {
                            c.outcome = Outcome::Timeout;
                            c.no_answer |= kind == FailKind::NoAnswer;
                        }
                        FailKind::Fail if c.outcome == Outcome::Success => {
                            c.outcome = Outcome::Fail;
                        }
                        FailKind::Fail => {}
                    }
                }
                _ => return None,
            }
        }
        Some(c)
    }

    /// Gateway-side execution time: latest status change − creation, when both are known.
    pub fn gateway_time(&self) -> Option<Duration> {
        let created = self.created_at?;
        let done = self.statuses.iter().filter_map(|s| s.updated_at).max()?;
        let d = done - created;
        if d.is_negative() {
            None
        } else {
            Duration::try_from(d).ok()
        }
    }

    /// Applies a status event of this command (an unknown device is added). An event that
    /// carries the target's whole `record` replaces the entry.
    pub fn apply(&mut self, event: &super::events::StatusEvent) {
        if let Some(record) = &event.record {
            let mut record = DeviceStatus::clone(record);
            record.device_id = event.device_id.clone();
            match self
                .statuses
                .iter_mut()
                .find(|s| s.device_id == event.device_id)
            {
                Some(entry) => *entry = record,
                None => self.statuses.push(record),
            }
            return;
        }
        match self
            .statuses
            .iter_mut()
            .find(|s| s.device_id == event.device_id)
        {
            Some(entry) => {
                entry.status = event.status.clone();
                entry.status_message = event.status_message.clone();
                entry.full = false;
                if event.at.is_some() {
                    entry.updated_at = event.at;
                }
            }
            None => self.statuses.push(DeviceStatus {
                device_id: event.device_id.clone(),
                status: event.status.clone(),
                status_message: event.status_message.clone(),
                updated_at: event.at,
                attempts: Vec::new(),
                transitions: Vec::new(),
                full: false,
            }),
        }
    }

    /// Decodes a command JSON object.
    pub fn from_json(value: &serde_json::Value) -> Result<CommandState, ApiError> {
        let id = value
            .get("_id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ApiError::Decode("command without a string `_id`".to_owned()))?
            .to_owned();
        let created_at = value
            .get("created_at")
            .and_then(|v| v.as_str())
            .and_then(parse_time);
        let mut statuses = Vec::new();
        match value.get("statuses") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(map)) => {
                for (device_id, entry) in map {
                    statuses.push(DeviceStatus::from_json(device_id, entry)?);
                }
            }
            Some(other) => {
                return Err(ApiError::Decode(format!(
                    "`statuses` is not an object: {other}"
                )));
            }
        }
        Ok(CommandState {
            id,
            created_at,
            statuses,
        })
    }
}

impl DeviceStatus {
    /// Decodes one `statuses` entry (a target's record) keyed `device_id`.
    pub fn from_json(device_id: &str, entry: &serde_json::Value) -> Result<Self, ApiError> {
        let status = entry
            .get("status")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                ApiError::Decode(format!("statuses.{device_id} without a string `status`"))
            })?;
        let updated_at = entry
            .get("updated_at")
            .and_then(|v| v.as_str())
            .and_then(parse_time)
            .or_else(|| last_transition(entry));
        Ok(DeviceStatus {
            device_id: device_id.to_owned(),
            status: Status::parse(status),
            status_message: entry
                .get("status_message")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            updated_at,
            attempts: attempts(entry),
            transitions: transitions(entry),
            full: true,
        })
    }
}

fn attempts(entry: &serde_json::Value) -> Vec<AttemptRecord> {
    let Some(items) = entry.get("attempts").and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    items
        .iter()
        .take(MAX_RECORDS_PER_STATUS)
        .map(|a| {
            let time = |k: &str| a.get(k).and_then(|v| v.as_str()).and_then(parse_time);
            AttemptRecord {
                started_at: time("started_at"),
                ended_at: time("ended_at"),
                transmitted_at: time("transmitted_at"),
                outcome: a
                    .get("outcome")
                    .and_then(|v| v.as_str())
                    .unwrap_or("unknown")
                    .chars()
                    .take(32)
                    .collect(),
            }
        })
        .collect()
}

fn transitions(entry: &serde_json::Value) -> Vec<TransitionRecord> {
    let Some(items) = entry.get("transitions").and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    items
        .iter()
        .take(MAX_RECORDS_PER_STATUS)
        .filter_map(|t| {
            Some(TransitionRecord {
                status: Status::parse(t.get("status")?.as_str()?),
                at: parse_time(t.get("at")?.as_str()?)?,
            })
        })
        .collect()
}

fn last_transition(entry: &serde_json::Value) -> Option<OffsetDateTime> {
    entry
        .get("transitions")?
        .as_array()?
        .iter()
        .filter_map(|t| t.get("at")?.as_str().and_then(parse_time))
        .max()
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Whether a failure message reports a timeout.
pub fn is_timeout_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("timeout") || m.contains("timed out")
}

/// One device of `GET /devices`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeviceRecord {
    /// `_id`.
    #[serde(rename = "_id")]
    pub id: String,
    /// `unique_id` (the LwM2M endpoint name).
    pub unique_id: String,
    /// `parent_device_id`, for sub-devices.
    #[serde(default)]
    pub parent_device_id: Option<String>,
    /// `attached_device_ids`, for devices with sub-devices.
    #[serde(default)]
    pub attached_device_ids: Vec<String>,
}

/// A page of `GET /devices?page_meta=true`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DevicePage {
    /// Devices in total.
    pub total: u64,
    /// This page's devices.
    pub resources: Vec<DeviceRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcome_needs_every_status_terminal() {
        let v = json!({"_id": "c1", "created_at": "2026-01-01T00:00:00.000000Z", "statuses": {
            "d1": {"status": "success", "updated_at": "2026-01-01T00:00:00.020000Z"},
            "d2": {"status": "sent"}}});
        let s = CommandState::from_json(&v).unwrap();
        assert_eq!(s.outcome(), None);
        let v = json!({"_id": "c1", "created_at": "2026-01-01T00:00:00.000000Z", "statuses": {
            "d1": {"status": "success", "updated_at": "2026-01-01T00:00:00.020000Z"},
            "d2": {"status": "fail", "status_message": "timeout", "transitions": [{"status": "fail", "at": "2026-01-01T00:00:10.000500Z"}]}}});
        let s = CommandState::from_json(&v).unwrap();
        assert_eq!(s.outcome(), Some(Outcome::Timeout));
        assert_eq!(s.gateway_time(), Some(Duration::from_micros(10_000_500)));
    }

    #[test]
    fn fail_without_timeout_message_is_a_fail() {
        let v = json!({"_id": "c", "statuses": {"d": {"status": "fail", "status_message": "4.04 Not Found"}}});
        assert_eq!(
            CommandState::from_json(&v).unwrap().outcome(),
            Some(Outcome::Fail)
        );
        let v = json!({"_id": "c", "statuses": {}});
        assert_eq!(CommandState::from_json(&v).unwrap().outcome(), None);
    }

    #[test]
    fn malformed_commands_are_decode_errors() {
        assert!(matches!(
            CommandState::from_json(&json!({"statuses": {}})),
            Err(ApiError::Decode(_))
        ));
        assert!(matches!(
            CommandState::from_json(&json!({"_id": "c", "statuses": []})),
            Err(ApiError::Decode(_))
        ));
        assert!(matches!(
            CommandState::from_json(&json!({"_id": "c", "statuses": {"d": {}}})),
            Err(ApiError::Decode(_))
        ));
    }

    #[test]
    fn attempts_and_transitions_are_decoded() {
        let v = json!({"_id": "c", "created_at": "2026-01-01T00:00:00.000000Z", "statuses": {"d": {
            "status": "success", "updated_at": "2026-01-01T00:00:02.500000Z",
            "attempts": [
                {"number": 1, "started_at": "2026-01-01T00:00:00.001000Z", "ended_at": "2026-01-01T00:00:01.001000Z", "outcome": "timeout", "message": "no answer"},
                {"number": 2, "started_at": "2026-01-01T00:00:02.001000Z", "ended_at": "2026-01-01T00:00:02.500000Z", "outcome": "success", "message": "ok"}],
            "transitions": [
                {"status": "sent", "at": "2026-01-01T00:00:00.000000Z"},
                {"status": "success", "at": "2026-01-01T00:00:02.500000Z"},
                {"status": 3}]}}});
        let s = CommandState::from_json(&v).unwrap();
        let d = &s.statuses[0];
        assert_eq!(d.attempts.len(), 2);
        assert_eq!(d.attempts[0].outcome, "timeout");
        assert_eq!(
            d.attempts[1].ended_at.unwrap() - d.attempts[1].started_at.unwrap(),
            time::Duration::milliseconds(499)
        );
        assert_eq!(d.transitions.len(), 2, "malformed transitions are skipped");
        assert_eq!(d.transitions[1].status, Status::Success);
    }

    #[test]
    fn timeout_messages_are_recognised() {
        assert!(is_timeout_message("timeout"));
        assert!(is_timeout_message("Request timed out after 3 attempts"));
        assert!(!is_timeout_message("5.00 Internal Server Error"));
    }
}
