//! Status-change and notification events, fanned out to server-sent-event subscribers through a
//! bounded broadcast channel (a lagging subscriber loses the oldest events and is told so).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::{ObjectId, Status, Timestamp};

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
    /// When.
    pub at: Timestamp,
}

/// The event hub.
#[derive(Debug, Clone)]
pub struct Events {
    sender: broadcast::Sender<Arc<Event>>,
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

    /// Publishes an event built by `make`, only if someone listens.
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
