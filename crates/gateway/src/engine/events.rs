//! Status-change and notification events, fanned out to server-sent-event subscribers through a
//! bounded broadcast channel (a lagging subscriber loses the oldest events and is told so).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::{ObjectId, Status, StatusEntry, Timestamp};

/// One event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `status` or `notification`.
    pub kind: &'static str,
    /// The command.
    pub command_id: ObjectId,
    /// The target device.
    pub device_id: ObjectId,
    /// The new status (`status` events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Its message (`status` events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// The notified value (`notification` events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// The target's whole entry, exactly as `GET /gateway_commands/{id}` shows it under
    /// `statuses[device_id]` (terminal `status` events only), so that a subscriber needs
    /// no detail request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<StatusEntry>,
    /// When.
    pub at: Timestamp,
}

/// The event hub.
#[derive(Debug, Clone)]
pub struct Events {
    sender: broadcast::Sender<Arc<Event>>,
}

impl Event {
    /// Whether this is a `status` event with a terminal status (`success` or `fail`).
    pub fn is_terminal_status(&self) -> bool {
        self.kind == "status" && self.status.is_some_and(Status::is_terminal)
    }
}

impl Events {
    /// A hub buffering `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Whether anyone listens (events are not even built otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Publishes an event built by `make`, only if someone listens. The event is built once
    /// and shared by every subscriber.
    pub fn publish(&self, make: impl FnOnce() -> Event) {
        if self.has_subscribers() {
            let _ = self.sender.send(Arc::new(make()));
        }
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }
}
