//! One LwM2M data model: the gateway device itself or one sub-device behind it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::Value;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::objects::{self, DeviceInfo, GatewayEntry};
use super::sensor::TemperatureSignal;
use super::tree::ObjectTree;

/// Unix time the simulated clocks start at (2026-01-01T00:00:00Z); devices never read the
/// wall clock.
pub const EPOCH_UNIX: i64 = 1_767_225_600;

/// Most paths with a `pmax` attribute one model keeps.
pub const MAX_ATTRIBUTES: usize = 256;

/// Most files one agent object keeps (`/33000/0/8`, `/33000/0/9`); the oldest name goes first.
pub const MAX_FILES: usize = 16;

/// One data model: an object tree plus the signals that drive its changing resources.
#[derive(Debug, Clone)]
pub struct Node {
    /// The objects.
    pub tree: ObjectTree,
    signal: TemperatureSignal,
    started: Instant,
    time_base: i64,
    battery_start: i64,
    files: BTreeMap<String, Vec<u8>>,
    pmax: BTreeMap<Lwm2mPath, u32>,
    firmware_updates: u32,
}

impl Node {
    /// The gateway's own model: Objects 1, 3, 3303 and 25 (one instance per entry).
    pub fn gateway(
        now: Instant,
        seed: u64,
        info: &DeviceInfo,
        lifetime_secs: i64,
        sub_devices: &[GatewayEntry],
    ) -> Self {
        let mut node = Self::sub_device(now, seed, info);
        node.tree
            .insert_object(objects::SERVER, objects::server(lifetime_secs));
        node.tree
            .insert_object(objects::GATEWAY, objects::gateway(sub_devices));
        node
    }

    /// A sub-device's model: Objects 3 and 3303.
    pub fn sub_device(now: Instant, seed: u64, info: &DeviceInfo) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let battery_start = rng.random_range(60..=100);
        let signal = TemperatureSignal::new(rng.random());
        let mut tree = ObjectTree::new();
        tree.insert_object(
            objects::DEVICE,
            objects::device(info, battery_start, EPOCH_UNIX),
        );
        let mut node = Self {
            tree,
            signal,
            started: now,
            time_base: EPOCH_UNIX,
            battery_start,
            files: BTreeMap::new(),
            pmax: BTreeMap::new(),
            firmware_updates: 0,
        };
        let value = node.signal.sample(std::time::Duration::ZERO);
        node.tree
            .insert_object(objects::TEMPERATURE, objects::temperature(value));
        node.tree.insert_object(objects::AGENT, objects::agent());
        node.tree
            .insert_object(objects::FIRMWARE, objects::firmware());
        node
    }

    /// Brings time-dependent resources (temperature, battery, current time) up to `now`.
    pub fn refresh(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.started);
        let value = self.signal.sample(elapsed);
        let (min, max) = (self.signal.min_seen(), self.signal.max_seen());
        let now_unix = self.current_time(now);
        let tree = &mut self.tree;
        tree.set(
            objects::TEMPERATURE,
            0,
            objects::SENSOR_VALUE,
            Value::Float(value),
        );
        tree.set(
            objects::TEMPERATURE,
            0,
            objects::SENSOR_MIN,
            Value::Float(min),
        );
        tree.set(
            objects::TEMPERATURE,
            0,
            objects::SENSOR_MAX,
            Value::Float(max),
        );
        let hours = i64::try_from(elapsed.as_secs() / 3600).unwrap_or(i64::MAX);
        let battery = self.battery_start.saturating_sub(hours).max(0);
        tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_BATTERY,
            Value::Integer(battery),
        );
        tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_CURRENT_TIME,
            Value::Time(now_unix),
        );
    }

    /// The simulated Unix time at `now`.
    pub fn current_time(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.started).as_secs();
        self.time_base
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }

    /// Sets the simulated clock so that it reads `unix` at `now` (Write on `/3/0/13`).
    pub fn set_current_time(&mut self, now: Instant, unix: i64) {
        let elapsed = now.saturating_duration_since(self.started).as_secs();
        self.time_base = unix.saturating_sub(i64::try_from(elapsed).unwrap_or(i64::MAX));
        self.tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_CURRENT_TIME,
            Value::Time(unix),
        );
    }

    /// Sets (or with `None` removes) the `pmax` attribute of `path` (prefix ignored). New
    /// paths beyond [`MAX_ATTRIBUTES`] are ignored.
    pub fn set_pmax(&mut self, path: &Lwm2mPath, seconds: Option<u32>) {
        let path = path.without_prefix();
        match seconds {
            None => {
                self.pmax.remove(&path);
            }
            Some(seconds) => {
                if self.pmax.contains_key(&path) || self.pmax.len() < MAX_ATTRIBUTES {
                    self.pmax.insert(path, seconds);
                }
            }
        }
    }

    /// The `pmax` in force for `path`: its own, else its instance's, else its object's
    /// (LwM2M attribute inheritance).
    pub fn pmax(&self, path: &Lwm2mPath) -> Option<u32> {
        let ids = path.ids();
        (1..=ids.len()).rev().find_map(|depth| {
            let ancestor = Lwm2mPath::from_ids(None, &ids[..depth]).ok()?;
            self.pmax.get(&ancestor).copied()
        })
    }

    /// A package (`/5/0/0`) or package URI (`/5/0/1`) was written: a non-empty one is taken
    /// as downloaded at once (State 2), an empty one (or a single NUL byte) resets to Idle.
    /// Update Result goes back to 0 either way.
    pub fn firmware_written(&mut self, resource: u16) {
        let delivered = match self.tree.get(objects::FIRMWARE, 0, resource) {
            Some(Value::Opaque(bytes)) => !bytes.is_empty() && bytes.as_slice() != [0],
            Some(Value::String(uri)) => !uri.is_empty(),
            _ => false,
        };
        let state = if delivered { 2 } else { 0 };
        self.set_firmware_state(state, 0);
        if resource == objects::FIRMWARE_PACKAGE {
            // The package itself is not kept: only its arrival matters.
            self.tree.set(
                objects::FIRMWARE,
                0,
                objects::FIRMWARE_PACKAGE,
                Value::Opaque(Vec::new()),
            );
        }
    }

    /// Execute on `/5/0/2`: allowed only in State 2 (Downloaded); moves to State 3.
    pub fn start_firmware_update(&mut self) -> bool {
        if self.tree.get(objects::FIRMWARE, 0, objects::FIRMWARE_STATE) != Some(&Value::Integer(2))
        {
            return false;
        }
        self.set_firmware_state(3, 0);
        true
    }

    /// The update finished: State 0, Update Result 1, and a new firmware version in
    /// `/3/0/3` (the package version from `/5/0/7` when set, else a bumped counter).
    pub fn finish_firmware_update(&mut self) {
        if self.tree.get(objects::FIRMWARE, 0, objects::FIRMWARE_STATE) != Some(&Value::Integer(3))
        {
            return;
        }
        self.firmware_updates = self.firmware_updates.saturating_add(1);
        let version = match self.tree.get(objects::FIRMWARE, 0, 7) {
            Some(Value::String(v)) if !v.is_empty() => v.clone(),
            _ => format!("1.0.{}", self.firmware_updates),
        };
        self.tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_FIRMWARE_VERSION,
            Value::String(version),
        );
        self.set_firmware_state(0, 1);
    }

    fn set_firmware_state(&mut self, state: i64, result: i64) {
        let tree = &mut self.tree;
        tree.set(
            objects::FIRMWARE,
            0,
            objects::FIRMWARE_STATE,
            Value::Integer(state),
        );
        tree.set(
            objects::FIRMWARE,
            0,
            objects::FIRMWARE_RESULT,
            Value::Integer(result),
        );
    }

    /// `/33000/0/8` was written: `/33000/0/9` now shows that file (empty if unknown).
    pub fn select_file(&mut self) {
        let data = match self.selected_file() {
            Some(name) => self.files.get(&name).cloned().unwrap_or_default(),
            None => Vec::new(),
        };
        self.tree.set(
            objects::AGENT,
            0,
            objects::AGENT_FILE_DATA,
            Value::Opaque(data),
        );
    }

    /// `/33000/0/9` was written: keep its bytes under the name in `/33000/0/8`.
    pub fn store_file(&mut self) {
        let (Some(name), Some(Value::Opaque(data))) = (
            self.selected_file(),
            self.tree.get(objects::AGENT, 0, objects::AGENT_FILE_DATA),
        ) else {
            return;
        };
        let data = data.clone();
        if !self.files.contains_key(&name) && self.files.len() >= MAX_FILES {
            self.files.pop_first();
        }
        self.files.insert(name, data);
    }

    /// The stored file `name`, if any.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    fn selected_file(&self) -> Option<String> {
        match self.tree.get(objects::AGENT, 0, objects::AGENT_FILE_PATH) {
            Some(Value::String(name)) => Some(name.clone()),
            _ => None,
        }
    }

    /// The CoRE link list of this model's objects and instances, as in a Register payload
    /// (Object 0 never appears): `</1/0>,</3/0>,</25>;ver=2.0,</25/0>`.
    pub fn links(&self) -> String {
        let mut out = String::new();
        for (id, object) in self.tree.objects() {
            if id == 0 || id == 21 {
                continue;
            }
            if object.version.is_some() || object.instances.is_empty() {
                push_link(&mut out, &format!("/{id}"));
                if let Some(version) = object.version {
                    let _ = write!(out, ";ver={version}");
                }
            }
            for instance in object.instances.keys() {
                push_link(&mut out, &format!("/{id}/{instance}"));
            }
        }
        out
    }
}

fn push_link(out: &mut String, target: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    let _ = write!(out, "<{target}>");
}
