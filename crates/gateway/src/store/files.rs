//! Stored files, bounded by total size (oldest evicted first).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::lock;
use crate::model::file::StoredFile;
use crate::model::{IdGenerator, ObjectId, Timestamp};

/// Why a file could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("file of {size} bytes exceeds the file store's capacity of {capacity} bytes")]
pub struct FileTooLarge {
    /// The file size.
    pub size: usize,
    /// The store capacity.
    pub capacity: usize,
}

#[derive(Debug, Default)]
struct Files {
    by_id: HashMap<ObjectId, Arc<StoredFile>>,
    order: VecDeque<ObjectId>,
    bytes: usize,
}

/// Files by id.
#[derive(Debug)]
pub struct FileStore {
    files: Mutex<Files>,
    capacity: usize,
}

/// Most files kept regardless of size.
pub const MAX_FILES: usize = 100_000;

impl FileStore {
    /// A store of at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            files: Mutex::new(Files::default()),
            capacity,
        }
    }

    /// Stores `data` under a new id.
    pub fn insert(
        &self,
        ids: &IdGenerator,
        name: String,
        data: Bytes,
        origin: &'static str,
        at: Timestamp,
    ) -> Result<Arc<StoredFile>, FileTooLarge> {
        let size = data.len();
        if size > self.capacity {
            return Err(FileTooLarge {
                size,
                capacity: self.capacity,
            });
        }
        let file = Arc::new(StoredFile {
            id: ids.next_id(),
            name,
            size,
            origin,
            created_at: at,
            data,
        });
        let mut files = lock(&self.files);
        while files.bytes + size > self.capacity || files.by_id.len() >= MAX_FILES {
            let Some(old) = files.order.pop_front() else {
                break;
            };
            if let Some(old) = files.by_id.remove(&old) {
                files.bytes -= old.size;
            }
        }
        files.bytes += size;
        files.order.push_back(file.id);
        files.by_id.insert(file.id, file.clone());
        Ok(file)
    }

    /// The file with `id`.
    pub fn get(&self, id: &ObjectId) -> Option<Arc<StoredFile>> {
        lock(&self.files).by_id.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_files_are_evicted_beyond_capacity() {
        let ids = IdGenerator::new(1, 1);
        let store = FileStore::new(10);
        let at = Timestamp::new(time::macros::datetime!(2030-01-01 0:00 UTC));
        let a = store
            .insert(
                &ids,
                "a".into(),
                Bytes::from_static(b"123456"),
                "upload",
                at,
            )
            .unwrap();
        let b = store
            .insert(
                &ids,
                "b".into(),
                Bytes::from_static(b"123456"),
                "upload",
                at,
            )
            .unwrap();
        assert!(store.get(&a.id).is_none());
        assert_eq!(store.get(&b.id).map(|f| f.size), Some(6));
        assert!(
            store
                .insert(&ids, "c".into(), Bytes::from(vec![0; 11]), "upload", at)
                .is_err()
        );
    }
}
