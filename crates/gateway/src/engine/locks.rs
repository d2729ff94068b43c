//! Per-device exclusive sections: commands that drive a stateful exchange on a device (the
//! two-step `lwm2m_file` transfer through `/33000/0/8` and `/33000/0/9`, the Object 5
//! firmware update, an `lwm2m_request` write larger than one block, which is a Block1
//! exchange) run one at a time per target device. The table holds an entry only while
//! a section is held or awaited, so it is bounded by the commands in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::model::ObjectId;
use crate::store::lock;

/// Exclusive sections keyed by device.
#[derive(Debug, Default)]
pub struct DeviceLocks {
    table: Mutex<HashMap<ObjectId, Arc<AsyncMutex<()>>>>,
}

/// Held while a section runs; releases (and forgets an idle entry) on drop.
#[derive(Debug)]
pub struct DeviceGuard<'a> {
    locks: &'a DeviceLocks,
    device: ObjectId,
    guard: Option<OwnedMutexGuard<()>>,
}

impl DeviceLocks {
    /// Waits until no other section of `device` runs, then holds it until the guard drops.
    pub async fn lock(&self, device: ObjectId) -> DeviceGuard<'_> {
        let mutex = lock(&self.table).entry(device).or_default().clone();
        let mut guard = DeviceGuard {
            locks: self,
            device,
            guard: None,
        };
        guard.guard = Some(mutex.lock_owned().await);
        guard
    }

    /// Devices with a section held or awaited.
    pub fn len(&self) -> usize {
        lock(&self.table).len()
    }

    /// Whether no section is held or awaited.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for DeviceGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut table = lock(&self.locks.table);
        // Only the table itself still refers to an idle mutex: nobody holds or awaits it.
        if table
            .get(&self.device)
            .is_some_and(|mutex| Arc::strong_count(mutex) == 1)
        {
            table.remove(&self.device);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IdGenerator;

    #[tokio::test]
    async fn sections_of_one_device_exclude_each_other_and_entries_are_forgotten() {
        let ids = IdGenerator::new(1, 1);
        let (a, b) = (ids.next_id(), ids.next_id());
        let locks = DeviceLocks::default();
        let first = locks.lock(a).await;
        let other_device = locks.lock(b).await;
        let mut second = Box::pin(locks.lock(a));
        assert!(
            futures_util::poll!(second.as_mut()).is_pending(),
            "a second section of the same device waits"
        );
        drop(other_device);
        assert_eq!(locks.len(), 1);
        let mut cancelled = Box::pin(locks.lock(a));
        assert!(futures_util::poll!(cancelled.as_mut()).is_pending());
        drop(cancelled);
        drop(first);
        let second = second.await;
        drop(second);
        assert!(locks.is_empty());
    }
}
