//! The command store: sharded map by id, ordered indexes for listing, retention of completed
//! commands.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use super::paging::Page;
use super::record::CommandRecord;
use super::{lock, read, write};
use crate::model::{CommandType, ObjectId, Status};

const SHARDS: usize = 16;

/// Filters of `GET /gateway_commands`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandFilter {
    /// Addressed or targeted device.
    pub device_id: Option<ObjectId>,
    /// Command type.
    pub command_type: Option<CommandType>,
    /// Any target currently in this status.
    pub status: Option<Status>,
    /// Software update.
    pub software_update_id: Option<ObjectId>,
}

impl CommandFilter {
    fn matches(&self, record: &CommandRecord) -> bool {
        self.device_id.is_none_or(|device| record.concerns(device))
            && self
                .command_type
                .is_none_or(|kind| record.spec.command_type == kind)
            && self
                .software_update_id
                .is_none_or(|id| record.spec.software_update_id == Some(id))
            && self.status.is_none_or(|status| record.has_status(status))
    }
}

/// Every stored command, by id and in creation order.
#[derive(Debug)]
pub struct CommandStore {
    shards: Vec<RwLock<HashMap<ObjectId, Arc<CommandRecord>>>>,
    index: Mutex<CommandIndex>,
    retention: usize,
}

#[derive(Debug, Default)]
struct CommandIndex {
    by_seq: BTreeMap<u64, Arc<CommandRecord>>,
    by_device: HashMap<ObjectId, BTreeSet<u64>>,
    by_type: HashMap<CommandType, BTreeSet<u64>>,
    by_software_update: HashMap<ObjectId, BTreeSet<u64>>,
    completed: VecDeque<Arc<CommandRecord>>,
}

impl CommandStore {
    /// An empty store keeping at most `retention` completed commands.
    pub fn new(retention: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            index: Mutex::new(CommandIndex::default()),
            retention,
        }
    }

    fn shard(&self, id: &ObjectId) -> &RwLock<HashMap<ObjectId, Arc<CommandRecord>>> {
        &self.shards[usize::from(id.as_bytes()[11]) % SHARDS]
    }

    /// Stores a new command.
    pub fn insert(&self, record: Arc<CommandRecord>) {
        write(self.shard(&record.id)).insert(record.id, record.clone());
        let mut index = lock(&self.index);
        let seq = record.seq;
        for device in devices_of(&record) {
            index.by_device.entry(device).or_default().insert(seq);
        }
        index
            .by_type
            .entry(record.spec.command_type)
            .or_default()
            .insert(seq);
        if let Some(update) = record.spec.software_update_id {
            index
                .by_software_update
                .entry(update)
                .or_default()
                .insert(seq);
        }
        index.by_seq.insert(seq, record);
    }

    /// The command with `id`.
    pub fn get(&self, id: &ObjectId) -> Option<Arc<CommandRecord>> {
        read(self.shard(id)).get(id).cloned()
    }

    /// Number of stored commands.
    pub fn len(&self) -> usize {
        lock(&self.index).by_seq.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notes that `record` has completed; evicts the oldest completed commands beyond the
    /// retention.
    pub fn completed(&self, record: Arc<CommandRecord>) {
        let evicted: Vec<Arc<CommandRecord>> = {
            let mut index = lock(&self.index);
            index.completed.push_back(record);
            let mut evicted = Vec::new();
            while index.completed.len() > self.retention {
                let Some(old) = index.completed.pop_front() else {
                    break;
                };
                index.remove(&old);
                evicted.push(old);
            }
            evicted
        };
        for old in evicted {
            write(self.shard(&old.id)).remove(&old.id);
        }
    }

    /// One page of the commands matching `filter`, oldest first, and the match count.
    ///
    /// The status filter reads each command's own lock, so it is applied after the index lock
    /// is released: creates are never blocked behind a long status scan.
    pub fn list(&self, filter: &CommandFilter, page: Page) -> (usize, Vec<Arc<CommandRecord>>) {
        let indexed = CommandFilter {
            status: None,
            ..filter.clone()
        };
        let index = lock(&self.index);
        let mut candidates: Vec<&BTreeSet<u64>> = Vec::new();
        let empty = BTreeSet::new();
        if let Some(device) = filter.device_id {
            candidates.push(index.by_device.get(&device).unwrap_or(&empty));
        }
        if let Some(kind) = filter.command_type {
            candidates.push(index.by_type.get(&kind).unwrap_or(&empty));
        }
        if let Some(update) = filter.software_update_id {
            candidates.push(index.by_software_update.get(&update).unwrap_or(&empty));
        }
        let matching: Box<dyn Iterator<Item = &Arc<CommandRecord>>> =
            match candidates.into_iter().min_by_key(|set| set.len()) {
                Some(smallest) => Box::new(smallest.iter().filter_map(|seq| index.by_seq.get(seq))),
                None => Box::new(index.by_seq.values()),
            };
        let matching = matching.filter(|record| indexed.matches(record));
        match filter.status {
            None => page.collect(matching.cloned()),
            Some(status) => {
                let candidates: Vec<Arc<CommandRecord>> = matching.cloned().collect();
                drop(index);
                page.collect(
                    candidates
                        .into_iter()
                        .filter(|record| record.has_status(status)),
                )
            }
        }
    }
}

fn devices_of(record: &CommandRecord) -> BTreeSet<ObjectId> {
    std::iter::once(record.spec.device_id)
        .chain(record.spec.targets.iter().copied())
        .collect()
}

impl CommandIndex {
    fn remove(&mut self, record: &CommandRecord) {
        let seq = record.seq;
        self.by_seq.remove(&seq);
        for device in devices_of(record) {
            remove_from(&mut self.by_device, &device, seq);
        }
        remove_from(&mut self.by_type, &record.spec.command_type, seq);
        if let Some(update) = record.spec.software_update_id {
            remove_from(&mut self.by_software_update, &update, seq);
        }
    }
}

fn remove_from<K: std::hash::Hash + Eq>(map: &mut HashMap<K, BTreeSet<u64>>, key: &K, seq: u64) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&seq);
        if set.is_empty() {
            map.remove(key);
        }
    }
}
