//! The device store: gateways registered over LwM2M, their attached devices, and devices
//! created over REST.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use super::paging::Page;
use super::{read, write};
use crate::model::{Device, IdGenerator, Lwm2mRegistration, ObjectId, Timestamp};

/// Filters of `GET /devices`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Exact unique id.
    pub unique_id: Option<String>,
    /// Parent gateway.
    pub parent_device_id: Option<ObjectId>,
}

/// Why a device could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceStoreError {
    /// The store holds `max_devices` already.
    #[error("the gateway already holds its maximum of {0} devices")]
    Full(usize),
    /// A device with this unique id exists.
    #[error("unique_id: a device with unique_id {0:?} already exists")]
    Duplicate(String),
}

/// Why a device cannot be reached now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No such device (any more).
    Unknown,
    /// The device was never registered over LwM2M.
    NoRegistration {
        /// Its unique id.
        unique_id: String,
    },
    /// Its registration (or its gateway's) ended.
    Inactive {
        /// The endpoint requests would go to.
        endpoint: String,
    },
}

/// An Object 25 instance read from a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubDeviceInfo {
    /// Resource 0, Device ID: becomes the sub-device's `unique_id`.
    pub device_id: String,
    /// Resource 1, Prefix.
    pub prefix: String,
    /// Resource 3, IoT Device Objects (link format).
    pub objects: String,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    /// Shared with readers; changed copy-on-write (`Arc::make_mut`), so a lookup copies no
    /// strings.
    device: Arc<Device>,
}

#[derive(Debug, Default)]
struct DeviceIndex {
    by_id: HashMap<ObjectId, Entry>,
    by_unique: HashMap<String, ObjectId>,
    order: BTreeMap<u64, ObjectId>,
    by_parent: HashMap<ObjectId, BTreeSet<u64>>,
    next_seq: u64,
}

/// Every known device.
#[derive(Debug)]
pub struct DeviceStore {
    index: RwLock<DeviceIndex>,
    max_devices: usize,
}

impl DeviceStore {
    /// An empty store holding at most `max_devices`.
    pub fn new(max_devices: usize) -> Self {
        Self {
            index: RwLock::new(DeviceIndex::default()),
            max_devices,
        }
    }

    /// The device with `_id`.
    pub fn get(&self, id: &ObjectId) -> Option<Arc<Device>> {
        read(&self.index)
            .by_id
            .get(id)
            .map(|entry| entry.device.clone())
    }

    /// How device `id` is reached, without copying the whole device: `Ok((endpoint, prefix))`
    /// when it holds a live registration, otherwise why not.
    pub fn route_of(&self, id: &ObjectId) -> Result<(String, Option<String>), RouteError> {
        let index = read(&self.index);
        let entry = index.by_id.get(id).ok_or(RouteError::Unknown)?;
        let device = &entry.device;
        match &device.lwm2m {
            None => Err(RouteError::NoRegistration {
                unique_id: device.unique_id.clone(),
            }),
            Some(lwm2m) if !device.active => Err(RouteError::Inactive {
                endpoint: lwm2m.endpoint.clone(),
            }),
            Some(lwm2m) => Ok((lwm2m.endpoint.clone(), lwm2m.prefix.clone())),
        }
    }

    /// The device whose `_id` or `unique_id` is `key`.
    pub fn find(&self, key: &str) -> Option<Arc<Device>> {
        let index = read(&self.index);
        let by_id = ObjectId::parse(key).and_then(|id| index.by_id.get(&id));
        by_id
            .or_else(|| index.by_unique.get(key).and_then(|id| index.by_id.get(id)))
            .map(|entry| entry.device.clone())
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        read(&self.index).by_id.len()
    }

    /// Whether there are no devices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of devices holding a live registration (gateways and attached devices).
    pub fn active(&self) -> usize {
        read(&self.index)
            .by_id
            .values()
            .filter(|entry| entry.device.active)
            .count()
    }

    /// One page of matching devices, oldest first, and the match count.
    pub fn list(&self, filter: &DeviceFilter, page: Page) -> (usize, Vec<Arc<Device>>) {
        let index = read(&self.index);
        if let Some(unique) = &filter.unique_id {
            let found = index
                .by_unique
                .get(unique)
                .and_then(|id| index.by_id.get(id))
                .filter(|entry| {
                    filter
                        .parent_device_id
                        .is_none_or(|p| entry.device.parent_device_id == Some(p))
                })
                .map(|entry| entry.device.clone());
            return page.collect(found.into_iter());
        }
        let seqs: Box<dyn Iterator<Item = &u64>> = match filter.parent_device_id {
            Some(parent) => match index.by_parent.get(&parent) {
                Some(set) => Box::new(set.iter()),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(index.order.keys()),
        };
        page.collect(
            seqs.filter_map(|seq| index.order.get(seq))
                .filter_map(|id| index.by_id.get(id))
                .map(|entry| entry.device.clone()),
        )
    }

    /// Creates a device over REST (no LwM2M registration).
    pub fn create(
        &self,
        ids: &IdGenerator,
        unique_id: &str,
        name: Option<&str>,
        at: Timestamp,
    ) -> Result<Arc<Device>, DeviceStoreError> {
        let mut index = write(&self.index);
        if index.by_unique.contains_key(unique_id) {
            return Err(DeviceStoreError::Duplicate(unique_id.to_owned()));
        }
        if index.by_id.len() >= self.max_devices {
            return Err(DeviceStoreError::Full(self.max_devices));
        }
        let device = Arc::new(new_device(ids.next_id(), unique_id, name, "api", at));
        index.insert(device.clone());
        Ok(device)
    }

    /// Creates or refreshes the device of a registered LwM2M endpoint; marks it active.
    pub fn upsert_registered(
        &self,
        ids: &IdGenerator,
        registration: Lwm2mRegistration,
        at: Timestamp,
    ) -> Result<ObjectId, DeviceStoreError> {
        let mut index = write(&self.index);
        let endpoint = registration.endpoint.clone();
        let id = match index.by_unique.get(&endpoint) {
            Some(id) => *id,
            None => {
                if index.by_id.len() >= self.max_devices && !index.evict_oldest_inactive() {
                    return Err(DeviceStoreError::Full(self.max_devices));
                }
                let id = ids.next_id();
                index.insert(Arc::new(new_device(id, &endpoint, None, "lwm2m", at)));
                id
            }
        };
        let attached = index
            .by_id
            .get(&id)
            .map(|entry| entry.device.attached_device_ids.clone())
            .unwrap_or_default();
        if let Some(entry) = index.by_id.get_mut(&id) {
            let device = Arc::make_mut(&mut entry.device);
            device.lwm2m = Some(registration);
            device.active = true;
            device.updated_at = at;
        }
        index.set_active(&attached, true, at);
        Ok(id)
    }

    /// Forgets LwM2M gateways (and their attached devices) that have been inactive since
    /// before `before`; returns how many devices were removed. Devices created over REST
    /// are kept.
    pub fn evict_inactive(&self, before: Timestamp) -> usize {
        let mut index = write(&self.index);
        let lapsed: Vec<ObjectId> = index
            .by_id
            .values()
            .filter(|entry| is_evictable(&entry.device) && entry.device.updated_at < before)
            .map(|entry| entry.device.id)
            .collect();
        lapsed.into_iter().map(|id| index.remove_tree(id)).sum()
    }

    /// Updates the lifetime bookkeeping of a registered device.
    pub fn touch(&self, id: &ObjectId, update: impl FnOnce(&mut Lwm2mRegistration), at: Timestamp) {
        let mut index = write(&self.index);
        if let Some(entry) = index.by_id.get_mut(id) {
            let device = Arc::make_mut(&mut entry.device);
            if let Some(registration) = device.lwm2m.as_mut() {
                update(registration);
            }
            device.updated_at = at;
        }
    }

    /// Marks a gateway and its attached devices active or inactive.
    pub fn set_active(&self, id: &ObjectId, active: bool, at: Timestamp) {
        let mut index = write(&self.index);
        let attached = match index.by_id.get_mut(id) {
            Some(entry) => {
                let device = Arc::make_mut(&mut entry.device);
                device.active = active;
                device.updated_at = at;
                device.attached_device_ids.clone()
            }
            None => return,
        };
        index.set_active(&attached, active, at);
    }

    /// Replaces the attached devices of gateway `gateway` with those read from its Object 25.
    /// Devices no longer listed are detached and marked inactive. Returns the attached ids.
    pub fn set_sub_devices(
        &self,
        ids: &IdGenerator,
        gateway: &ObjectId,
        subs: &[SubDeviceInfo],
        at: Timestamp,
    ) -> Result<Vec<ObjectId>, DeviceStoreError> {
        let mut index = write(&self.index);
        let Some(parent) = index.by_id.get(gateway).map(|entry| entry.device.clone()) else {
            return Ok(Vec::new());
        };
        let endpoint = parent
            .lwm2m
            .as_ref()
            .map(|r| r.endpoint.clone())
            .unwrap_or_else(|| parent.unique_id.clone());
        let mut attached = Vec::with_capacity(subs.len());
        for sub in subs {
            let id = match index.by_unique.get(&sub.device_id) {
                Some(id) => *id,
                None => {
                    if index.by_id.len() >= self.max_devices {
                        return Err(DeviceStoreError::Full(self.max_devices));
                    }
                    let id = ids.next_id();
                    index.insert(Arc::new(new_device(id, &sub.device_id, None, "lwm2m", at)));
                    id
                }
            };
            index.reparent(id, Some(*gateway));
            if let Some(entry) = index.by_id.get_mut(&id) {
                let device = Arc::make_mut(&mut entry.device);
                device.active = parent.active;
                device.updated_at = at;
                device.lwm2m = Some(Lwm2mRegistration {
                    endpoint: endpoint.clone(),
                    prefix: Some(sub.prefix.clone()),
                    registration_id: None,
                    address: None,
                    lifetime: None,
                    binding: None,
                    lwm2m_version: None,
                    queue_mode: false,
                    objects: sub.objects.clone(),
                    registered_at: None,
                    last_update_at: Some(at),
                    expires_at: None,
                });
            }
            attached.push(id);
        }
        let dropped: Vec<ObjectId> = parent
            .attached_device_ids
            .iter()
            .filter(|id| !attached.contains(id))
            .copied()
            .collect();
        for id in dropped {
            index.reparent(id, None);
            if let Some(entry) = index.by_id.get_mut(&id) {
                let device = Arc::make_mut(&mut entry.device);
                device.active = false;
                device.lwm2m = None;
                device.updated_at = at;
            }
        }
        if let Some(entry) = index.by_id.get_mut(gateway) {
            let device = Arc::make_mut(&mut entry.device);
            device.attached_device_ids = attached.clone();
            device.updated_at = at;
        }
        Ok(attached)
    }
}

fn new_device(
    id: ObjectId,
    unique_id: &str,
    name: Option<&str>,
    origin: &'static str,
    at: Timestamp,
) -> Device {
    Device {
        id,
        unique_id: unique_id.to_owned(),
        name: name.unwrap_or(unique_id).to_owned(),
        parent_device_id: None,
        attached_device_ids: Vec::new(),
        active: false,
        lwm2m: None,
        created_at: at,
        updated_at: at,
        origin,
    }
}

/// An inactive gateway registered over LwM2M: may be forgotten.
fn is_evictable(device: &Device) -> bool {
    !device.active && device.origin == "lwm2m" && device.parent_device_id.is_none()
}

impl DeviceIndex {
    /// Removes the oldest evictable device (with its attached devices); whether one was.
    fn evict_oldest_inactive(&mut self) -> bool {
        let oldest = self
            .order
            .values()
            .find(|id| self.by_id.get(id).is_some_and(|e| is_evictable(&e.device)))
            .copied();
        oldest.is_some_and(|id| self.remove_tree(id) > 0)
    }

    /// Removes device `id` and the devices attached to it; returns how many were removed.
    fn remove_tree(&mut self, id: ObjectId) -> usize {
        let Some(entry) = self.by_id.get(&id) else {
            return 0;
        };
        let children = entry.device.attached_device_ids.clone();
        let mut removed = 0;
        for child in children {
            if self
                .by_id
                .get(&child)
                .is_some_and(|e| e.device.parent_device_id == Some(id))
            {
                removed += self.remove_one(child);
            }
        }
        removed + self.remove_one(id)
    }

    fn remove_one(&mut self, id: ObjectId) -> usize {
        self.reparent(id, None);
        let Some(entry) = self.by_id.remove(&id) else {
            return 0;
        };
        self.order.remove(&entry.seq);
        self.by_parent.remove(&id);
        if self.by_unique.get(&entry.device.unique_id) == Some(&id) {
            self.by_unique.remove(&entry.device.unique_id);
        }
        1
    }

    fn insert(&mut self, device: Arc<Device>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_unique.insert(device.unique_id.clone(), device.id);
        self.order.insert(seq, device.id);
        self.by_id.insert(device.id, Entry { seq, device });
    }

    fn set_active(&mut self, ids: &[ObjectId], active: bool, at: Timestamp) {
        for id in ids {
            if let Some(entry) = self.by_id.get_mut(id) {
                let device = Arc::make_mut(&mut entry.device);
                device.active = active && device.lwm2m.is_some();
                device.updated_at = at;
            }
        }
    }

    /// Moves device `id` under `parent` (or detaches it), keeping both sides consistent.
    fn reparent(&mut self, id: ObjectId, parent: Option<ObjectId>) {
        let Some(entry) = self.by_id.get_mut(&id) else {
            return;
        };
        let old = entry.device.parent_device_id;
        if old == parent {
            return;
        }
        Arc::make_mut(&mut entry.device).parent_device_id = parent;
        let seq = entry.seq;
        if let Some(old) = old {
            if let Some(set) = self.by_parent.get_mut(&old) {
                set.remove(&seq);
                if set.is_empty() {
                    self.by_parent.remove(&old);
                }
            }
            if let Some(old_parent) = self.by_id.get_mut(&old) {
                Arc::make_mut(&mut old_parent.device)
                    .attached_device_ids
                    .retain(|child| *child != id);
            }
        }
        if let Some(parent) = parent {
            self.by_parent.entry(parent).or_default().insert(seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    fn at() -> Timestamp {
        Timestamp::new(time::macros::datetime!(2030-01-01 0:00 UTC))
    }

    fn registration(endpoint: &str) -> Lwm2mRegistration {
        Lwm2mRegistration {
            endpoint: endpoint.to_owned(),
            prefix: None,
            registration_id: Some("rd/1".to_owned()),
            address: None,
            lifetime: Some(60),
            binding: None,
            lwm2m_version: None,
            queue_mode: false,
            objects: String::new(),
            registered_at: None,
            last_update_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn sub_devices_attach_detach_and_follow_gateway_activity() {
        let ids = IdGenerator::new(1, 1);
        let store = DeviceStore::new(10);
        let gw = store
            .upsert_registered(&ids, registration("gw"), at())
            .unwrap();
        let sub = |k: usize| SubDeviceInfo {
            device_id: format!("gw-sub{k}"),
            prefix: format!("dev{k}"),
            objects: String::new(),
        };
        let attached = store
            .set_sub_devices(&ids, &gw, &[sub(0), sub(1)], at())
            .unwrap();
        assert_eq!(attached.len(), 2);
        let child = store.find("gw-sub1").unwrap();
        assert_eq!(child.parent_device_id, Some(gw));
        assert!(child.active);
        assert_eq!(
            child.lwm2m.as_ref().unwrap().prefix.as_deref(),
            Some("dev1")
        );
        let (total, _) = store.list(
            &DeviceFilter {
                parent_device_id: Some(gw),
                ..Default::default()
            },
            Page::default(),
        );
        assert_eq!(total, 2);

        store.set_active(&gw, false, at());
        assert!(!store.find("gw-sub0").unwrap().active);

        let attached = store.set_sub_devices(&ids, &gw, &[sub(1)], at()).unwrap();
        assert_eq!(attached, vec![child.id]);
        assert_eq!(store.find("gw-sub0").unwrap().parent_device_id, None);
        let (total, _) = store.list(
            &DeviceFilter {
                parent_device_id: Some(gw),
                ..Default::default()
            },
            Page::default(),
        );
        assert_eq!(total, 1);
    }

    #[test]
    fn inactive_lwm2m_gateways_are_forgotten_with_their_sub_devices() {
        let ids = IdGenerator::new(1, 1);
        let store = DeviceStore::new(10);
        store.create(&ids, "rest", None, at()).unwrap();
        let gw = store
            .upsert_registered(&ids, registration("gw"), at())
            .unwrap();
        let sub = SubDeviceInfo {
            device_id: "gw-sub0".into(),
            prefix: "dev0".into(),
            objects: String::new(),
        };
        store.set_sub_devices(&ids, &gw, &[sub], at()).unwrap();
        let live = store
            .upsert_registered(&ids, registration("live"), at())
            .unwrap();
        assert_eq!(store.len(), 4);
        let later = Timestamp::new(at().get() + time::Duration::seconds(60));
        assert_eq!(store.evict_inactive(later), 0, "all active");
        store.set_active(&gw, false, at());
        assert_eq!(store.evict_inactive(at()), 0, "not older than the cut-off");
        assert_eq!(store.evict_inactive(later), 2);
        assert!(store.find("gw").is_none() && store.find("gw-sub0").is_none());
        assert!(store.find("rest").is_some() && store.get(&live).is_some());
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn store_is_bounded() {
        let ids = IdGenerator::new(1, 1);
        let store = DeviceStore::new(1);
        store.create(&ids, "a", None, at()).unwrap();
        assert_eq!(
            store.create(&ids, "b", None, at()).unwrap_err(),
            DeviceStoreError::Full(1)
        );
        assert_eq!(
            store.create(&ids, "a", None, at()).unwrap_err(),
            DeviceStoreError::Duplicate("a".into())
        );
    }
}
