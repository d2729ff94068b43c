//! The command store: sharded map by id, ordered indexes for listing, retention of completed
//! commands.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use super::paging::Page;
use super::record::{CommandRecord, FinishOutcome, StatusChange};
use super::{lock, read, write};
use crate::model::{CommandType, ObjectId, Status, Timestamp};

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
    /// Whether `record` matches, reading its own statuses (the list answers from the indexes;
    /// this is the reference it must agree with).
    pub fn matches(&self, record: &CommandRecord) -> bool {
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
    byte_budget: usize,
}

#[derive(Debug, Default)]
struct CommandIndex {
    by_seq: BTreeMap<u64, Arc<CommandRecord>>,
    by_device: HashMap<ObjectId, BTreeSet<u64>>,
    by_type: HashMap<CommandType, BTreeSet<u64>>,
    by_software_update: HashMap<ObjectId, BTreeSet<u64>>,
    /// Commands with at least one target in each status (indexed by [`Status::index`]).
    by_status: [BTreeSet<u64>; 4],
    /// Completed commands, oldest first, with their size as stored JSON.
    completed: VecDeque<(Arc<CommandRecord>, usize)>,
    /// Sum of the sizes in `completed`.
    completed_bytes: usize,
}

impl CommandStore {
    /// An empty store keeping at most `retention` completed commands, unbounded in bytes.
    pub fn new(retention: usize) -> Self {
        Self::with_budget(retention, usize::MAX)
    }

    /// An empty store keeping at most `retention` completed commands whose JSON sizes sum to
    /// at most `byte_budget` (the newest completed command is always kept).
    pub fn with_budget(retention: usize, byte_budget: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            index: Mutex::new(CommandIndex::default()),
            retention,
            byte_budget,
        }
    }

    /// Total JSON size of the completed commands kept.
    pub fn completed_bytes(&self) -> usize {
        lock(&self.index).completed_bytes
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
        if let Some((_, entry)) = record.entry(0) {
            index.by_status[entry.status.index()].insert(seq);
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

    /// Moves a non-terminal target of `record` to a non-terminal `status` (see
    /// [`CommandRecord::set_status`]), keeping the status index in step.
    pub fn set_status(
        &self,
        record: &CommandRecord,
        target: usize,
        status: Status,
        message: &str,
        at: Timestamp,
    ) -> Option<StatusChange> {
        record.set_status(target, status, message, at, |change| {
            if change.entered.is_some() || change.left.is_some() {
                lock(&self.index).apply(record.seq, change);
            }
        })
    }

    /// Makes a target of `record` terminal (see [`CommandRecord::finish`]), keeping the status
    /// index in step; once every target is terminal the command counts towards the retention
    /// and the byte budget, and the oldest completed commands beyond either are evicted.
    pub fn finish(
        &self,
        record: &Arc<CommandRecord>,
        target: usize,
        status: Status,
        message: &str,
        result: Option<serde_json::Value>,
        at: Timestamp,
    ) -> FinishOutcome {
        let outcome = record.finish(target, status, message, result, at, |change, _| {
            lock(&self.index).apply(record.seq, change);
        });
        if outcome.accepted && outcome.command_complete {
            // Measured once the record's own lock is released (to_json takes it).
            let size = record.to_json().len();
            let mut evicted = Vec::new();
            {
                let mut index = lock(&self.index);
                index.completed.push_back((record.clone(), size));
                index.completed_bytes = index.completed_bytes.saturating_add(size);
                while index.completed.len() > self.retention
                    || (index.completed_bytes > self.byte_budget && index.completed.len() > 1)
                {
                    let Some((old, old_size)) = index.completed.pop_front() else {
                        break;
                    };
                    index.completed_bytes = index.completed_bytes.saturating_sub(old_size);
                    index.remove(&old);
                    evicted.push(old);
                }
            }
            for old in evicted {
                write(self.shard(&old.id)).remove(&old.id);
            }
        }
        outcome
    }

    /// Stored commands with at least one target in `status`.
    pub fn count_with_status(&self, status: Status) -> usize {
        lock(&self.index).by_status[status.index()].len()
    }

    /// One page of the commands matching `filter`, oldest first, and the match count. Every
    /// filter, the status included, is answered from the indexes: no command's own lock is
    /// taken, and the scan walks the smallest matching index set.
    pub fn list(&self, filter: &CommandFilter, page: Page) -> (usize, Vec<Arc<CommandRecord>>) {
        let index = lock(&self.index);
        let empty = BTreeSet::new();
        let mut sets: Vec<&BTreeSet<u64>> = Vec::with_capacity(4);
        if let Some(device) = filter.device_id {
            sets.push(index.by_device.get(&device).unwrap_or(&empty));
        }
        if let Some(kind) = filter.command_type {
            sets.push(index.by_type.get(&kind).unwrap_or(&empty));
        }
        if let Some(update) = filter.software_update_id {
            sets.push(index.by_software_update.get(&update).unwrap_or(&empty));
        }
        if let Some(status) = filter.status {
            sets.push(&index.by_status[status.index()]);
        }
        sets.sort_by_key(|set| set.len());
        let matching: Box<dyn Iterator<Item = &Arc<CommandRecord>>> = match sets.split_first() {
            Some((smallest, others)) => Box::new(
                smallest
                    .iter()
                    .filter(|seq| others.iter().all(|set| set.contains(seq)))
                    .filter_map(|seq| index.by_seq.get(seq)),
            ),
            None => Box::new(index.by_seq.values()),
        };
        page.collect(matching.cloned())
    }
}

fn devices_of(record: &CommandRecord) -> BTreeSet<ObjectId> {
    std::iter::once(record.spec.device_id)
        .chain(record.spec.targets.iter().copied())
        .collect()
}

impl CommandIndex {
    fn apply(&mut self, seq: u64, change: StatusChange) {
        if !self.by_seq.contains_key(&seq) {
            return;
        }
        if let Some(left) = change.left {
            self.by_status[left.index()].remove(&seq);
        }
        if let Some(entered) = change.entered {
            self.by_status[entered.index()].insert(seq);
        }
    }

    fn remove(&mut self, record: &CommandRecord) {
        let seq = record.seq;
        self.by_seq.remove(&seq);
        for set in &mut self.by_status {
            set.remove(&seq);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CommandSpec, IdGenerator};
    use crate::store::Page;

    fn spec(kind: CommandType, device: ObjectId, targets: Vec<ObjectId>) -> CommandSpec {
        CommandSpec {
            command_type: kind,
            device_id: device,
            payload: Default::default(),
            schedule: None,
            timeout: 30,
            settings_id: None,
            command_id: None,
            software_update_id: None,
            attached_device_ids: Vec::new(),
            retry_options: None,
            lwm2m_type: None,
            endpoint: None,
            data: None,
            filepath: None,
            file_id: None,
            company_id: None,
            user_id: None,
            name: None,
            origin: "cloud",
            targets,
            path: None,
        }
    }

    fn at() -> Timestamp {
        Timestamp::new(time::macros::datetime!(2030-01-01 0:00 UTC))
    }

    fn ids_of(store: &CommandStore, filter: &CommandFilter) -> (usize, Vec<u64>) {
        let (total, page) = store.list(
            filter,
            Page {
                page: 1,
                per_page: 1000,
            },
        );
        (total, page.iter().map(|r| r.seq).collect())
    }

    /// Status filters answered from the index agree with each command's own statuses through
    /// every kind of transition (multi-target commands, enqueued → sent, terminal), also after
    /// eviction.
    #[test]
    fn status_index_agrees_with_the_records() {
        let ids = IdGenerator::new(1, 1);
        let store = CommandStore::new(2);
        let devices: Vec<ObjectId> = (0..3).map(|_| ids.next_id()).collect();
        let mut records = Vec::new();
        for seq in 0..8u64 {
            let kind = if seq % 2 == 0 {
                CommandType::Reboot
            } else {
                CommandType::Status
            };
            let targets = devices[..1 + (seq as usize % 3)].to_vec();
            let initial = if seq % 3 == 0 {
                Status::Enqueued
            } else {
                Status::Sent
            };
            let record = Arc::new(CommandRecord::new(
                ids.next_id(),
                seq,
                spec(kind, devices[0], targets),
                initial,
                at(),
            ));
            store.insert(record.clone());
            records.push(record);
        }
        let check = |store: &CommandStore, records: &[Arc<CommandRecord>]| {
            for status in Status::ALL {
                for kind in [None, Some(CommandType::Reboot)] {
                    let filter = CommandFilter {
                        status: Some(status),
                        command_type: kind,
                        ..Default::default()
                    };
                    let expected: Vec<u64> = records
                        .iter()
                        .filter(|r| store.get(&r.id).is_some() && filter.matches(r))
                        .map(|r| r.seq)
                        .collect();
                    assert_eq!(
                        ids_of(store, &filter),
                        (expected.len(), expected),
                        "{filter:?}"
                    );
                }
            }
        };
        check(&store, &records);
        for (n, record) in records.iter().enumerate() {
            let targets = record.spec.targets.len();
            for target in 0..targets {
                store.set_status(record, target, Status::Sent, "sent", at());
                check(&store, &records);
                if (n + target) % 3 != 0 {
                    let status = if target % 2 == 0 {
                        Status::Success
                    } else {
                        Status::Fail
                    };
                    store.finish(record, target, status, "done", None, at());
                    check(&store, &records);
                }
            }
        }
        assert!(
            store.len() < records.len(),
            "some completed commands were evicted"
        );
        assert_eq!(
            store.count_with_status(Status::Sent),
            ids_of(
                &store,
                &CommandFilter {
                    status: Some(Status::Sent),
                    ..Default::default()
                }
            )
            .0
        );
    }

    /// Listing by status takes no command's own lock: it completes while another thread holds
    /// one.
    #[test]
    fn status_listing_does_not_wait_for_busy_commands() {
        let ids = IdGenerator::new(1, 1);
        let store = Arc::new(CommandStore::new(10));
        let device = ids.next_id();
        let record = Arc::new(CommandRecord::new(
            ids.next_id(),
            1,
            spec(CommandType::Reboot, device, vec![device]),
            Status::Sent,
            at(),
        ));
        store.insert(record.clone());
        let _held = record.hold();
        let (sender, receiver) = std::sync::mpsc::channel();
        let lister = Arc::clone(&store);
        std::thread::spawn(move || {
            let filter = CommandFilter {
                status: Some(Status::Sent),
                ..Default::default()
            };
            let _ = sender.send(lister.list(&filter, Page::default()).0);
        });
        assert_eq!(
            receiver.recv_timeout(std::time::Duration::from_secs(10)),
            Ok(1)
        );
    }

    /// Completed commands are evicted oldest first once their JSON sizes pass the byte
    /// budget, however far below the count retention they are.
    #[test]
    fn byte_budget_evicts_the_oldest_completed_commands() {
        let ids = IdGenerator::new(1, 1);
        let device = ids.next_id();
        let store = CommandStore::with_budget(1000, 20_000);
        let mut records = Vec::new();
        for seq in 0..10u64 {
            let mut spec = spec(CommandType::Reboot, device, vec![device]);
            spec.name = Some("n".repeat(4000));
            let record = Arc::new(CommandRecord::new(
                ids.next_id(),
                seq,
                spec,
                Status::Sent,
                at(),
            ));
            store.insert(record.clone());
            let done = store.finish(&record, 0, Status::Success, "done", None, at());
            assert!(done.command_complete);
            records.push(record);
        }
        let size = records[0].to_json().len();
        assert!(size > 4000, "{size}");
        let kept = 20_000 / size;
        assert!(store.completed_bytes() <= 20_000);
        assert_eq!(store.len(), kept);
        for (n, record) in records.iter().enumerate() {
            assert_eq!(
                store.get(&record.id).is_some(),
                n >= 10 - kept,
                "record {n}"
            );
        }
        let (total, _) = ids_of(&store, &CommandFilter::default());
        assert_eq!(total, kept);
    }
}
