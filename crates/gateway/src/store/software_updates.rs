//! Software updates by id (bounded; oldest evicted first).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::lock;
use crate::model::ObjectId;
use crate::model::software_update::SoftwareUpdate;

/// Most software updates kept.
pub const MAX_SOFTWARE_UPDATES: usize = 10_000;

#[derive(Debug, Default)]
struct Updates {
    by_id: HashMap<ObjectId, Arc<SoftwareUpdate>>,
    order: VecDeque<ObjectId>,
}

/// Software updates by id.
#[derive(Debug, Default)]
pub struct SoftwareUpdateStore {
    updates: Mutex<Updates>,
}

impl SoftwareUpdateStore {
    /// Stores an update.
    pub fn insert(&self, update: SoftwareUpdate) -> Arc<SoftwareUpdate> {
        let update = Arc::new(update);
        let mut updates = lock(&self.updates);
        while updates.order.len() >= MAX_SOFTWARE_UPDATES {
            let Some(old) = updates.order.pop_front() else {
                break;
            };
            updates.by_id.remove(&old);
        }
        updates.order.push_back(update.id);
        updates.by_id.insert(update.id, update.clone());
        update
    }

    /// The update with `id`.
    pub fn get(&self, id: &ObjectId) -> Option<Arc<SoftwareUpdate>> {
        lock(&self.updates).by_id.get(id).cloned()
    }
}
