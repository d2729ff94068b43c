//! Per-target command status: `sent`, `enqueued`, `success`, `fail`, with attempts and
//! transitions.

use serde::Serialize;

use super::timestamp::Timestamp;

/// The status of one command on one target device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Sent towards the device; no final answer yet.
    Sent,
    /// Waiting for its schedule window to open.
    Enqueued,
    /// Done.
    Success,
    /// Failed; `status_message` says why.
    Fail,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 4] = [
        Status::Sent,
        Status::Enqueued,
        Status::Success,
        Status::Fail,
    ];

    /// Whether no further change can happen.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Fail)
    }

    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Enqueued => "enqueued",
            Self::Success => "success",
            Self::Fail => "fail",
        }
    }

    /// Parses the wire text; the error lists the accepted values.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| {
                format!("unknown value {text:?}; expected one of sent, enqueued, success, fail")
            })
    }

    /// Index in [`Self::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The device did what was asked.
    Success,
    /// The device refused, or the request could not be delivered.
    Fail,
    /// No answer within the attempt's deadline or the command's deadline.
    Timeout,
    /// The device never answered at the CoAP layer: every retransmission of the request went
    /// unacknowledged (or no separate response came) before the gateway's own deadlines
    /// [extension].
    NoAnswer,
}

/// One try at carrying the command to the device.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// 1-based attempt number.
    pub number: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// When its first datagram went on the wire to the device, after any wait in the
    /// gateway (NSTART queueing, per-device exclusive sections) [extension]. Absent when the
    /// request never reached the wire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transmitted_at: Option<Timestamp>,
    /// When it ended.
    pub ended_at: Timestamp,
    /// How it ended (every attempt has one).
    pub outcome: AttemptOutcome,
    /// What happened, in words.
    pub message: String,
}

/// One status change.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    /// The new status.
    pub status: Status,
    /// When.
    pub at: Timestamp,
}

/// The status of one command on one target.
#[derive(Debug, Clone, Serialize)]
pub struct StatusEntry {
    /// Current status.
    pub status: Status,
    /// Detail; on `fail` the cause.
    pub status_message: String,
    /// Every attempt so far.
    pub attempts: Vec<Attempt>,
    /// Every status change, the initial status first.
    pub transitions: Vec<Transition>,
    /// Last change.
    pub updated_at: Timestamp,
    /// What the device returned (reads, downloads, software updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

impl StatusEntry {
    /// A fresh entry with `status` at `at`.
    pub fn new(status: Status, message: &str, at: Timestamp) -> Self {
        Self {
            status,
            status_message: message.to_owned(),
            attempts: Vec::new(),
            transitions: vec![Transition { status, at }],
            updated_at: at,
            result: None,
        }
    }
}
