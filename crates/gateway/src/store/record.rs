//! One stored command: its immutable spec plus per-target statuses behind a small lock.

use std::sync::Mutex;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::lock;
use crate::model::status::AttemptOutcome;
use crate::model::{Attempt, CommandSpec, ObjectId, Status, StatusEntry, Timestamp, Transition};

/// Most attempts recorded per target (beyond this the oldest are dropped).
pub const MAX_RECORDED_ATTEMPTS: usize = 128;

/// A stored command.
#[derive(Debug)]
pub struct CommandRecord {
    /// Identifier.
    pub id: ObjectId,
    /// Creation order.
    pub seq: u64,
    /// What was asked.
    pub spec: CommandSpec,
    /// Creation time.
    pub created_at: Timestamp,
    /// `spec` rendered once as JSON object members (no braces).
    spec_json: String,
    state: Mutex<CommandState>,
}

/// The mutable part of a command.
#[derive(Debug)]
struct CommandState {
    statuses: Vec<(ObjectId, StatusEntry)>,
    updated_at: Timestamp,
    open_targets: usize,
    observation: Option<ObservationSummary>,
}

/// Notifications of an `observe` command after its first one.
#[derive(Debug, Clone, Serialize)]
pub struct ObservationSummary {
    /// Whether the observation is still running.
    pub active: bool,
    /// Notifications received after the first.
    pub notifications: u64,
    /// The latest notification's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_value: Option<serde_json::Value>,
    /// When the latest notification arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_at: Option<Timestamp>,
    /// Why it ended, once ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

/// What [`CommandRecord::finish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishOutcome {
    /// The target was not terminal yet and now is.
    pub accepted: bool,
    /// Every target of the command is now terminal (true only for the call that closed the
    /// last one).
    pub command_complete: bool,
}

impl CommandRecord {
    /// A new record whose targets all start in `initial`.
    pub fn new(id: ObjectId, seq: u64, spec: CommandSpec, initial: Status, at: Timestamp) -> Self {
        let statuses: Vec<_> = spec
            .targets
            .iter()
            .map(|target| {
                (
                    *target,
                    StatusEntry::new(initial, initial_message(initial), at),
                )
            })
            .collect();
        let spec_json = render_members(&spec);
        let open_targets = statuses.len();
        Self {
            id,
            seq,
            spec,
            created_at: at,
            spec_json,
            state: Mutex::new(CommandState {
                statuses,
                updated_at: at,
                open_targets,
                observation: None,
            }),
        }
    }

    /// Moves a non-terminal target to a non-terminal `status`. Ignored once terminal.
    pub fn set_status(&self, target: usize, status: Status, message: &str, at: Timestamp) -> bool {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let Some((_, entry)) = state.statuses.get_mut(target) else {
            return false;
        };
        if entry.status.is_terminal() || status.is_terminal() {
            return false;
        }
        if entry.status != status {
            entry.transitions.push(Transition { status, at });
        }
        entry.status = status;
        entry.status_message = message.to_owned();
        entry.updated_at = at;
        state.updated_at = at;
        true
    }

    /// Records an attempt of a non-terminal target.
    pub fn push_attempt(&self, target: usize, attempt: Attempt) {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let Some((_, entry)) = state.statuses.get_mut(target) else {
            return;
        };
        if entry.status.is_terminal() {
            return;
        }
        if entry.attempts.len() >= MAX_RECORDED_ATTEMPTS {
            entry.attempts.remove(0);
        }
        entry.updated_at = attempt.ended_at;
        state.updated_at = attempt.ended_at;
        entry.attempts.push(attempt);
    }

    /// Makes a target terminal (`success` or `fail`), exactly once.
    pub fn finish(
        &self,
        target: usize,
        status: Status,
        message: &str,
        result: Option<serde_json::Value>,
        at: Timestamp,
    ) -> FinishOutcome {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let rejected = FinishOutcome {
            accepted: false,
            command_complete: false,
        };
        let Some((_, entry)) = state.statuses.get_mut(target) else {
            return rejected;
        };
        if entry.status.is_terminal() || !status.is_terminal() {
            return rejected;
        }
        entry.status = status;
        entry.status_message = message.to_owned();
        entry.transitions.push(Transition { status, at });
        entry.updated_at = at;
        entry.result = result;
        state.updated_at = at;
        state.open_targets -= 1;
        FinishOutcome {
            accepted: true,
            command_complete: state.open_targets == 0,
        }
    }

    /// Updates the observation summary.
    pub fn observe_update(&self, update: impl FnOnce(&mut ObservationSummary), at: Timestamp) {
        let mut state = lock(&self.state);
        let summary = state.observation.get_or_insert(ObservationSummary {
            active: true,
            notifications: 0,
            last_value: None,
            last_at: None,
            ended: None,
        });
        update(summary);
        state.updated_at = at;
    }

    /// A copy of one target's entry.
    pub fn entry(&self, target: usize) -> Option<(ObjectId, StatusEntry)> {
        lock(&self.state).statuses.get(target).cloned()
    }

    /// Whether any target currently has `status`.
    pub fn has_status(&self, status: Status) -> bool {
        lock(&self.state)
            .statuses
            .iter()
            .any(|(_, entry)| entry.status == status)
    }

    /// Whether every target is terminal.
    pub fn is_complete(&self) -> bool {
        lock(&self.state).open_targets == 0
    }

    /// Whether the command addresses or targets `device`.
    pub fn concerns(&self, device: ObjectId) -> bool {
        self.spec.device_id == device || self.spec.targets.contains(&device)
    }

    /// Appends the JSON object for `GET /gateway_commands/{id}` to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"_id\":\"");
        out.extend_from_slice(self.id.to_string().as_bytes());
        out.extend_from_slice(b"\",");
        out.extend_from_slice(self.spec_json.as_bytes());
        let state = lock(&self.state);
        let tail = Tail {
            statuses: StatusMap(&state.statuses),
            observation: state.observation.as_ref(),
        };
        out.extend_from_slice(b",\"created_at\":\"");
        out.extend_from_slice(self.created_at.to_string().as_bytes());
        out.extend_from_slice(b"\",\"updated_at\":\"");
        out.extend_from_slice(state.updated_at.to_string().as_bytes());
        out.extend_from_slice(b"\",");
        let rendered = render_members(&tail);
        out.extend_from_slice(rendered.as_bytes());
        out.push(b'}');
    }

    /// The JSON object as bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.spec_json.len());
        self.write_json(&mut out);
        out
    }
}

#[derive(Serialize)]
struct Tail<'a> {
    statuses: StatusMap<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observation: Option<&'a ObservationSummary>,
}

struct StatusMap<'a>(&'a [(ObjectId, StatusEntry)]);

impl Serialize for StatusMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (id, entry) in self.0 {
            map.serialize_entry(id, entry)?;
        }
        map.end()
    }
}

fn initial_message(status: Status) -> &'static str {
    match status {
        Status::Enqueued => "waiting for the schedule window to open",
        _ => "sent to the device",
    }
}

/// Renders a struct as JSON object members without the surrounding braces.
fn render_members<T: Serialize>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    let inner = text
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or("");
    inner.to_owned()
}

/// Builds an [`Attempt`].
pub fn attempt(
    number: u32,
    started_at: Timestamp,
    ended_at: Timestamp,
    outcome: AttemptOutcome,
    message: String,
) -> Attempt {
    Attempt {
        number,
        started_at,
        ended_at,
        outcome,
        message,
    }
}
