//! The registry of active observations, keyed by target device and path. Bounded.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::model::ObjectId;
use crate::store::lock;

/// A running observation: its command and the switch that cancels it.
#[derive(Debug)]
struct Active {
    command_id: ObjectId,
    token: u64,
    stop: oneshot::Sender<String>,
}

/// Observations keyed by target device and path, plus the token counter.
#[derive(Debug, Default)]
struct Table {
    counter: u64,
    map: HashMap<(ObjectId, String), Active>,
}

/// Active observations.
#[derive(Debug)]
pub struct Observations {
    active: Mutex<Table>,
    max: usize,
}

/// Handle returned by [`Observations::insert`]; identifies the entry for [`Observations::remove_if`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservationToken(u64);

impl Observations {
    /// A registry holding at most `max` observations.
    pub fn new(max: usize) -> Self {
        Self {
            active: Mutex::new(Table::default()),
            max,
        }
    }

    /// Number of active observations.
    pub fn len(&self) -> usize {
        lock(&self.active).map.len()
    }

    /// Whether none is active.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether another observation fits.
    pub fn has_room(&self) -> bool {
        self.len() < self.max
    }

    /// Registers an observation; an older one of the same device and path is cancelled (its
    /// stop switch receives the reason).
    pub fn insert(
        &self,
        device: ObjectId,
        path: String,
        command_id: ObjectId,
    ) -> (ObservationToken, oneshot::Receiver<String>) {
        let (stop, stopped) = oneshot::channel();
        let mut guard = lock(&self.active);
        let Table { counter, map } = &mut *guard;
        *counter += 1;
        let token = *counter;
        if let Some(old) = map.insert(
            (device, path),
            Active {
                command_id,
                token,
                stop,
            },
        ) {
            let _ = old.stop.send(format!(
                "replaced by the observation of command {command_id}"
            ));
        }
        (ObservationToken(token), stopped)
    }

    /// Cancels the observation of `path` on `device`; returns the command that started it.
    pub fn cancel(&self, device: ObjectId, path: &str, reason: String) -> Option<ObjectId> {
        let active = lock(&self.active).map.remove(&(device, path.to_owned()))?;
        let _ = active.stop.send(reason);
        Some(active.command_id)
    }

    /// Removes the entry if it is still the one registered with `token`.
    pub fn remove_if(&self, device: ObjectId, path: &str, token: ObservationToken) {
        let mut guard = lock(&self.active);
        let key = (device, path.to_owned());
        if guard
            .map
            .get(&key)
            .is_some_and(|active| active.token == token.0)
        {
            guard.map.remove(&key);
        }
    }
}
