//! One stored command: its immutable spec plus per-target statuses behind a small lock.

use std::sync::Mutex;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::lock;
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
    /// Turns `true` on `POST /gateway_commands/{id}/cancel`.
    cancel: tokio::sync::watch::Sender<bool>,
}

/// The mutable part of a command.
#[derive(Debug)]
struct CommandState {
    statuses: Vec<(ObjectId, StatusEntry)>,
    updated_at: Timestamp,
    open_targets: usize,
    /// Targets per status (indexed by [`Status::index`]).
    counts: [usize; 4],
    observation: Option<ObservationSummary>,
}

/// One target's status change, and whether the command as a whole started or stopped having
/// a target in a status (what the store's status index follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The target's previous status.
    pub from: Status,
    /// Its new status.
    pub to: Status,
    /// The command now has a target in this status and had none before.
    pub entered: Option<Status>,
    /// The command no longer has a target in this status.
    pub left: Option<Status>,
}

impl CommandState {
    fn change(&mut self, from: Status, to: Status) -> StatusChange {
        let mut change = StatusChange {
            from,
            to,
            entered: None,
            left: None,
        };
        if from != to {
            self.counts[from.index()] -= 1;
            self.counts[to.index()] += 1;
            if self.counts[from.index()] == 0 {
                change.left = Some(from);
            }
            if self.counts[to.index()] == 1 {
                change.entered = Some(to);
            }
        }
        change
    }
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
    /// The target's status before (when accepted).
    pub from: Option<Status>,
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
        let mut counts = [0; 4];
        counts[initial.index()] = open_targets;
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
                counts,
                observation: None,
            }),
            cancel: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Asks every non-terminal target to end with status fail, message "cancelled".
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// Resolves once [`CommandRecord::cancel`] was called.
    pub async fn cancelled(&self) {
        let mut watch = self.cancel.subscribe();
        let _ = watch.wait_for(|cancelled| *cancelled).await;
    }

    /// Moves a non-terminal target to a non-terminal `status`; `None` (and nothing changes)
    /// once the target is terminal. `apply` sees the change while the record is locked, so
    /// that an index following it sees changes of one command in order.
    pub fn set_status(
        &self,
        target: usize,
        status: Status,
        message: &str,
        at: Timestamp,
        apply: impl FnOnce(StatusChange),
    ) -> Option<StatusChange> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let (_, entry) = state.statuses.get_mut(target)?;
        if entry.status.is_terminal() || status.is_terminal() {
            return None;
        }
        let from = entry.status;
        if from != status {
            entry.transitions.push(Transition { status, at });
        }
        entry.status = status;
        entry.status_message = message.to_owned();
        entry.updated_at = at;
        state.updated_at = at;
        let change = state.change(from, status);
        apply(change);
        Some(change)
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

    /// Makes a target terminal (`success` or `fail`), exactly once. `apply` sees the change
    /// and whether the whole command is now complete, while the record is locked.
    pub fn finish(
        &self,
        target: usize,
        status: Status,
        message: &str,
        result: Option<serde_json::Value>,
        at: Timestamp,
        apply: impl FnOnce(StatusChange, bool),
    ) -> FinishOutcome {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let rejected = FinishOutcome {
            accepted: false,
            command_complete: false,
            from: None,
        };
        let Some((_, entry)) = state.statuses.get_mut(target) else {
            return rejected;
        };
        if entry.status.is_terminal() || !status.is_terminal() {
            return rejected;
        }
        let from = entry.status;
        entry.status = status;
        entry.status_message = message.to_owned();
        entry.transitions.push(Transition { status, at });
        entry.updated_at = at;
        entry.result = result;
        state.updated_at = at;
        state.open_targets -= 1;
        let complete = state.open_targets == 0;
        apply(state.change(from, status), complete);
        FinishOutcome {
            accepted: true,
            command_complete: complete,
            from: Some(from),
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
        lock(&self.state).counts[status.index()] > 0
    }

    /// Holds the record's lock until the returned guard drops (tests of lock independence).
    #[cfg(test)]
    pub(crate) fn hold(&self) -> impl Sized + '_ {
        lock(&self.state)
    }

    /// The current status of every target, in target order.
    pub fn target_statuses(&self) -> Vec<Status> {
        lock(&self.state)
            .statuses
            .iter()
            .map(|(_, entry)| entry.status)
            .collect()
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
        out.extend_from_slice(&self.id.hex());
        out.extend_from_slice(b"\",");
        out.extend_from_slice(self.spec_json.as_bytes());
        let state = lock(&self.state);
        let tail = Tail {
            statuses: StatusMap(&state.statuses),
            observation: state.observation.as_ref(),
        };
        out.extend_from_slice(b",\"created_at\":");
        let _ = serde_json::to_writer(&mut *out, &self.created_at);
        out.extend_from_slice(b",\"updated_at\":");
        let _ = serde_json::to_writer(&mut *out, &state.updated_at);
        // The tail object's opening brace becomes the separator; its closing brace closes
        // the whole command.
        let start = out.len();
        if serde_json::to_writer(&mut *out, &tail).is_ok() && out.get(start) == Some(&b'{') {
            out[start] = b',';
        } else {
            out.truncate(start);
            out.push(b'}');
        }
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
