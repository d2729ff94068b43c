//! One LwM2M data model: the gateway device itself, one sub-device behind it, or a
//! sub-device registered as its own endpoint. It owns its object tree, the seeded signals
//! that drive its changing resources, its notification attributes, its file store and its
//! firmware state. No I/O; time comes in as `now`.

use std::collections::BTreeMap;
use std::time::Duration;

use fleetbench_lwm2m::link_format::{self, Link};
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};
use tokio::time::Instant;

use super::attributes::{AttributeChange, AttributeError, AttributeStore, Attributes};
use super::files::FileStore;
use super::firmware::{
    FailureStage, FirmwareProgress, FirmwareState, PackageOutcome, failure_stage, result,
};
use super::objects::{
    self, ConnectivityInfo, DeviceInfo, GatewayEntry, ServerSettings, connectivity::link_quality,
};
use super::sensor::{Sensor, Signal, SignalKind};
use super::tree::{Instance, ObjectTree, ResourceValue};
use crate::seeds::{self, Purpose};

/// Unix time the simulated clocks start at (2026-01-01T00:00:00Z); devices never read the
/// wall clock.
pub const EPOCH_UNIX: i64 = 1_767_225_600;

/// Most instances a creatable object may hold.
pub const MAX_INSTANCES: usize = 32;

/// Power a light draws at full dimmer, in watts.
const LIGHT_WATTS: f64 = 9.0;

/// Which objects a data model carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// The gateway: 0, 1, 3, 4, 5, 25, 3303, 33000.
    Gateway,
    /// A sub-device behind an Object 25 prefix: 3, 5, 3303, 3304, 3311, 33000.
    SubDevice,
    /// A sub-device registered as its own endpoint: 0, 1, 3, 4, 5, 3303, 3304, 3311, 33000.
    Endpoint,
}

impl NodeRole {
    /// Whether the model is an LwM2M client of its own (has Objects 0, 1 and 4).
    pub fn is_client(self) -> bool {
        !matches!(self, Self::SubDevice)
    }
}

/// How to build a data model.
#[derive(Debug, Clone)]
pub struct NodeSetup {
    /// Which objects.
    pub role: NodeRole,
    /// Object 3 identity.
    pub info: DeviceInfo,
    /// Seed of its signals.
    pub seed: u64,
    /// When the device was born (its signals and clock count from here).
    pub born: Instant,
    /// How often its sensors take a reading.
    pub sample_period: Duration,
    /// Object 1 values (clients only).
    pub server: ServerSettings,
    /// Object 0 Server URI (clients only).
    pub server_uri: String,
    /// Object 4 values (clients only).
    pub connectivity: ConnectivityInfo,
    /// Object 25 instances (gateway only).
    pub gateway_entries: Vec<GatewayEntry>,
}

#[derive(Debug, Clone, PartialEq)]
struct Light {
    on_time_base: u64,
    on_since: Option<Instant>,
    energy_wh: f64,
    energy_at: Instant,
}

/// One data model.
#[derive(Debug, Clone)]
pub struct Node {
    /// The objects.
    pub tree: ObjectTree,
    role: NodeRole,
    seed: u64,
    born: Instant,
    sample_period: Duration,
    time_base: i64,
    battery_start: i64,
    sensors: BTreeMap<(u16, u16), Sensor>,
    lights: BTreeMap<u16, Light>,
    attributes: AttributeStore,
    files: FileStore,
    firmware: FirmwareProgress,
}

impl Node {
    /// Builds the data model.
    pub fn new(setup: &NodeSetup) -> Self {
        let period = setup.sample_period.max(Duration::from_millis(1));
        let battery_start = 60 + (seeds::derive(setup.seed, Purpose::Model, 0) % 41) as i64;
        let mut tree = ObjectTree::new();
        tree.insert_object(
            objects::DEVICE,
            objects::device(&setup.info, battery_start, EPOCH_UNIX),
        );
        tree.insert_object(objects::FIRMWARE, objects::firmware());
        tree.insert_object(objects::AGENT, objects::agent());
        let mut node = Self {
            tree,
            role: setup.role,
            seed: setup.seed,
            born: setup.born,
            sample_period: period,
            time_base: EPOCH_UNIX,
            battery_start,
            sensors: BTreeMap::new(),
            lights: BTreeMap::new(),
            attributes: AttributeStore::new(),
            files: FileStore::new(),
            firmware: FirmwareProgress::default(),
        };
        let temperature = node.add_sensor(objects::TEMPERATURE, 0, SignalKind::Temperature);
        node.tree
            .insert_object(objects::TEMPERATURE, objects::temperature(temperature));
        if setup.role.is_client() {
            node.tree
                .insert_object(objects::SECURITY, objects::security(&setup.server_uri));
            node.tree
                .insert_object(objects::SERVER, objects::server(&setup.server));
            let rssi = node.add_sensor(objects::CONNECTIVITY, 0, SignalKind::SignalStrength);
            node.tree.insert_object(
                objects::CONNECTIVITY,
                objects::connectivity(&setup.connectivity, rssi.round() as i64),
            );
        }
        if setup.role == NodeRole::Gateway {
            node.tree
                .insert_object(objects::GATEWAY, objects::gateway(&setup.gateway_entries));
        }
        if setup.role != NodeRole::Gateway {
            let humidity = node.add_sensor(objects::HUMIDITY, 0, SignalKind::Humidity);
            node.tree
                .insert_object(objects::HUMIDITY, objects::humidity(humidity));
            node.tree
                .insert_object(objects::LIGHT_CONTROL, objects::light_control());
            node.lights.insert(0, Light::off(setup.born));
        }
        node
    }

    fn add_sensor(&mut self, object: u16, instance: u16, kind: SignalKind) -> f64 {
        let seed = seeds::derive(
            self.seed,
            Purpose::Model,
            (u64::from(object) << 16) | u64::from(instance),
        );
        let sensor = Sensor::new(Signal::new(kind, seed), self.sample_period);
        let value = sensor.value();
        self.sensors.insert((object, instance), sensor);
        value
    }

    /// Which objects it carries.
    pub fn role(&self) -> NodeRole {
        self.role
    }

    /// How often its sensors take a reading.
    pub fn sample_period(&self) -> Duration {
        self.sample_period
    }

    fn sample_index(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.born);
        u64::try_from(elapsed.as_nanos() / self.sample_period.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    /// Brings time-dependent resources (sensors, signal strength, battery, free memory,
    /// current time, lights) up to `now`.
    pub fn refresh(&mut self, now: Instant) {
        let sample = self.sample_index(now);
        let period = self.sample_period;
        let elapsed = now.saturating_duration_since(self.born);
        let hours = i64::try_from(elapsed.as_secs() / 3600).unwrap_or(i64::MAX);
        let battery = self.battery_start.saturating_sub(hours).max(0);
        let memory = objects::device::MEMORY_TOTAL_KIB / 2
            + (seeds::derive(self.seed, Purpose::Behaviour, sample) % 4096) as i64;
        let now_unix = self.current_time(now);
        let tree = &mut self.tree;
        for (&(object, instance), sensor) in &mut self.sensors {
            let value = sensor.advance(sample, period);
            if object == objects::CONNECTIVITY {
                let rssi = value.round() as i64;
                tree.set(
                    object,
                    instance,
                    objects::CONNECTIVITY_RSSI,
                    Value::Integer(rssi),
                );
                tree.set(
                    object,
                    instance,
                    objects::CONNECTIVITY_LINK_QUALITY,
                    Value::Integer(link_quality(rssi)),
                );
            } else {
                tree.set(object, instance, objects::SENSOR_VALUE, Value::Float(value));
                tree.set(
                    object,
                    instance,
                    objects::SENSOR_MIN,
                    Value::Float(sensor.min()),
                );
                tree.set(
                    object,
                    instance,
                    objects::SENSOR_MAX,
                    Value::Float(sensor.max()),
                );
            }
        }
        tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_BATTERY,
            Value::Integer(battery),
        );
        tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_MEMORY_FREE,
            Value::Integer(memory),
        );
        tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_CURRENT_TIME,
            Value::Time(now_unix),
        );
        for (&instance, light) in &mut self.lights {
            light.accumulate(now, tree, instance);
            let on_time = light.on_time(now);
            tree.set(
                objects::LIGHT_CONTROL,
                instance,
                objects::LIGHT_ON_TIME,
                Value::Integer(i64::try_from(on_time).unwrap_or(i64::MAX)),
            );
            tree.set(
                objects::LIGHT_CONTROL,
                instance,
                objects::LIGHT_ENERGY,
                Value::Float((light.energy_wh * 1000.0).round() / 1000.0),
            );
        }
    }

    /// The earliest instant after `after` at which a value under `path` may change by
    /// itself (a sensor sample, the clock ticking, a light's on-time), or `None` when
    /// nothing under `path` changes without a request.
    pub fn next_change(&self, path: &Lwm2mPath, after: Instant) -> Option<Instant> {
        let second = Duration::from_secs(1);
        let mut periods: Vec<Duration> = Vec::new();
        let mut consider = |object: u16, instance: u16, resource: u16, period: Duration| {
            let under = path.object == object
                && path.instance.is_none_or(|i| i == instance)
                && path.resource.is_none_or(|r| r == resource);
            if under {
                periods.push(period);
            }
        };
        for &(object, instance) in self.sensors.keys() {
            let resources: &[u16] = if object == objects::CONNECTIVITY {
                &[
                    objects::CONNECTIVITY_RSSI,
                    objects::CONNECTIVITY_LINK_QUALITY,
                ]
            } else {
                &[
                    objects::SENSOR_VALUE,
                    objects::SENSOR_MIN,
                    objects::SENSOR_MAX,
                ]
            };
            for &resource in resources {
                consider(object, instance, resource, self.sample_period);
            }
        }
        consider(objects::DEVICE, 0, objects::DEVICE_CURRENT_TIME, second);
        consider(
            objects::DEVICE,
            0,
            objects::DEVICE_MEMORY_FREE,
            self.sample_period,
        );
        consider(
            objects::DEVICE,
            0,
            objects::DEVICE_BATTERY,
            Duration::from_secs(3600),
        );
        for (&instance, light) in &self.lights {
            if light.on_since.is_some() {
                consider(
                    objects::LIGHT_CONTROL,
                    instance,
                    objects::LIGHT_ON_TIME,
                    second,
                );
                consider(
                    objects::LIGHT_CONTROL,
                    instance,
                    objects::LIGHT_ENERGY,
                    self.sample_period,
                );
            }
        }
        periods
            .into_iter()
            .map(|period| self.next_boundary(after, period))
            .min()
    }

    /// The first multiple of `period` after birth that lies strictly after `after`.
    fn next_boundary(&self, after: Instant, period: Duration) -> Instant {
        let elapsed = after.saturating_duration_since(self.born).as_nanos();
        let period_ns = period.as_nanos().max(1);
        let next = (elapsed / period_ns + 1).saturating_mul(period_ns);
        let next = u64::try_from(next).unwrap_or(u64::MAX);
        self.born + Duration::from_nanos(next)
    }

    /// The simulated Unix time at `now`.
    pub fn current_time(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.born).as_secs();
        self.time_base
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }

    /// Sets the simulated clock so that it reads `unix` at `now` (Write on `/3/0/13`).
    pub fn set_current_time(&mut self, now: Instant, unix: i64) {
        let elapsed = now.saturating_duration_since(self.born).as_secs();
        self.time_base = unix.saturating_sub(i64::try_from(elapsed).unwrap_or(i64::MAX));
        self.tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_CURRENT_TIME,
            Value::Time(unix),
        );
    }

    /// Whether `path` names a numeric resource or resource instance (what `gt`, `lt` and
    /// `st` may be attached to, and what change conditions compare).
    pub fn is_numeric(&self, path: &Lwm2mPath) -> bool {
        let (Some(instance), Some(resource)) = (path.instance, path.resource) else {
            return false;
        };
        let Some(res) = self.tree.resource(path.object, instance, resource) else {
            return false;
        };
        let numeric = matches!(
            res.kind,
            ResourceType::Integer
                | ResourceType::UnsignedInteger
                | ResourceType::Float
                | ResourceType::Time
        );
        numeric && (path.resource_instance.is_some() || !res.is_multiple())
    }

    /// The numeric value at `path` (a numeric single resource or resource instance).
    pub fn numeric_value(&self, path: &Lwm2mPath) -> Option<f64> {
        let (instance, resource) = (path.instance?, path.resource?);
        let value = match &self.tree.resource(path.object, instance, resource)?.value {
            ResourceValue::Single(value) if path.resource_instance.is_none() => value,
            ResourceValue::Multiple(values) => values.get(&path.resource_instance?)?,
            _ => return None,
        };
        match value {
            Value::Integer(v) | Value::Time(v) => Some(*v as f64),
            Value::UnsignedInteger(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// Write-Attributes at `path` (which exists).
    pub fn write_attributes(
        &mut self,
        path: &Lwm2mPath,
        changes: &[AttributeChange],
    ) -> Result<(), AttributeError> {
        let numeric = self.is_numeric(path);
        self.attributes.write(path, changes, numeric)
    }

    /// The attributes attached at exactly `path`.
    pub fn attached_attributes(&self, path: &Lwm2mPath) -> Attributes {
        self.attributes.attached(path)
    }

    /// The attributes in force for `path` (inherited, without server defaults).
    pub fn attributes(&self, path: &Lwm2mPath) -> Attributes {
        self.attributes.effective(path)
    }

    /// The `pmax` attribute in force for `path`, if any.
    pub fn pmax(&self, path: &Lwm2mPath) -> Option<u32> {
        self.attributes.effective(path).pmax
    }

    /// Creates instance `instance` of the creatable `object` with its initial values.
    /// Returns false when the object is not creatable, the instance exists or the object is
    /// full.
    pub fn create_instance(&mut self, now: Instant, object: u16, instance: u16) -> bool {
        let Some(template) = objects::ipso_instance(object) else {
            return false;
        };
        let exists = self.tree.instance(object, instance).is_some();
        let count = self.tree.object(object).map_or(0, |o| o.instances.len());
        if exists || count >= MAX_INSTANCES {
            return false;
        }
        match self.tree.object_mut(object) {
            Some(existing) => {
                existing.instances.insert(instance, template);
            }
            None => self.tree.insert_object(
                object,
                super::tree::Object {
                    version: None,
                    instances: BTreeMap::from([(instance, template)]),
                },
            ),
        }
        match object {
            objects::TEMPERATURE => {
                self.add_sensor(object, instance, SignalKind::Temperature);
            }
            objects::HUMIDITY => {
                self.add_sensor(object, instance, SignalKind::Humidity);
            }
            objects::LIGHT_CONTROL => {
                self.lights.insert(instance, Light::off(now));
            }
            _ => {}
        }
        self.refresh(now);
        true
    }

    /// The lowest free instance id of `object`.
    pub fn free_instance(&self, object: u16) -> Option<u16> {
        let used = self.tree.object(object).map(|o| &o.instances);
        (0..=fleetbench_lwm2m::path::MAX_ID).find(|id| used.is_none_or(|u| !u.contains_key(id)))
    }

    /// Deletes instance `instance` of the creatable `object`. Returns whether it existed.
    pub fn delete_instance(&mut self, object: u16, instance: u16) -> bool {
        if !objects::is_creatable(object) {
            return false;
        }
        let Some(existing) = self.tree.object_mut(object) else {
            return false;
        };
        if existing.instances.remove(&instance).is_none() {
            return false;
        }
        self.sensors.remove(&(object, instance));
        if object == objects::LIGHT_CONTROL {
            self.lights.remove(&instance);
        }
        self.attributes
            .remove_under(&Lwm2mPath::instance(object, instance));
        true
    }

    /// After a write to Light Control: follows the switch and a reset of On Time.
    pub fn lights_written(&mut self, now: Instant) {
        for (&instance, light) in &mut self.lights {
            let on = self
                .tree
                .get(objects::LIGHT_CONTROL, instance, objects::LIGHT_ON_OFF)
                == Some(&Value::Boolean(true));
            light.accumulate_to(now, &self.tree, instance);
            let written_on_time =
                match self
                    .tree
                    .get(objects::LIGHT_CONTROL, instance, objects::LIGHT_ON_TIME)
                {
                    Some(Value::Integer(seconds)) => u64::try_from(*seconds).unwrap_or(0),
                    _ => 0,
                };
            let mut base = light.on_time(now);
            if written_on_time != base {
                base = written_on_time;
            }
            light.on_time_base = base;
            light.on_since = on.then_some(now);
        }
        self.refresh(now);
    }

    /// Reset Min and Max Measured Values of sensor `object`/`instance` (IPSO 5605).
    pub fn reset_extremes(&mut self, now: Instant, object: u16, instance: u16) {
        self.refresh(now);
        if let Some(sensor) = self.sensors.get_mut(&(object, instance)) {
            sensor.reset_extremes();
        }
        self.refresh(now);
    }

    // ----- firmware (Object 5) -----

    /// The current firmware state.
    pub fn firmware_state(&self) -> FirmwareState {
        match self.tree.get(objects::FIRMWARE, 0, objects::FIRMWARE_STATE) {
            Some(Value::Integer(state)) => {
                FirmwareState::from_value(*state).unwrap_or(FirmwareState::Idle)
            }
            _ => FirmwareState::Idle,
        }
    }

    /// The current Update Result.
    pub fn firmware_result(&self) -> u8 {
        match self
            .tree
            .get(objects::FIRMWARE, 0, objects::FIRMWARE_RESULT)
        {
            Some(Value::Integer(code)) => u8::try_from(*code).unwrap_or(0),
            _ => 0,
        }
    }

    fn set_firmware(&mut self, state: FirmwareState, code: u8) {
        let tree = &mut self.tree;
        tree.set(
            objects::FIRMWARE,
            0,
            objects::FIRMWARE_STATE,
            Value::Integer(state as i64),
        );
        tree.set(
            objects::FIRMWARE,
            0,
            objects::FIRMWARE_RESULT,
            Value::Integer(i64::from(code)),
        );
    }

    /// A download starts (first Block1 block of a package, or a Package URI written):
    /// State 1, Update Result 0.
    pub fn firmware_download_started(&mut self) {
        self.firmware.update_failure = None;
        self.set_firmware(FirmwareState::Downloading, result::INITIAL);
    }

    /// The download ended with every byte: State 2 — unless `outcome` fails it now (State 0
    /// with the result) or at the next Update.
    pub fn firmware_downloaded(&mut self, outcome: PackageOutcome) {
        self.firmware.downloaded = self.firmware.downloaded.saturating_add(1);
        self.firmware.update_failure = None;
        if let PackageOutcome::Fails(code) = outcome {
            match failure_stage(code) {
                Some(FailureStage::Download) => {
                    self.set_firmware(FirmwareState::Idle, code);
                    return;
                }
                Some(FailureStage::Update) => self.firmware.update_failure = Some(code),
                None => {}
            }
        }
        let version = format!("1.0.{}", self.firmware.installed.saturating_add(1));
        self.tree.set(
            objects::FIRMWARE,
            0,
            objects::FIRMWARE_PACKAGE_NAME,
            Value::String("fleetbench-firmware".to_owned()),
        );
        self.tree.set(
            objects::FIRMWARE,
            0,
            objects::FIRMWARE_PACKAGE_VERSION,
            Value::String(version),
        );
        self.set_firmware(FirmwareState::Downloaded, result::INITIAL);
    }

    /// The download failed with Update Result `code`: State 0.
    pub fn firmware_download_failed(&mut self, code: u8) {
        self.firmware.update_failure = None;
        self.set_firmware(FirmwareState::Idle, code);
    }

    /// Back to Idle with Update Result `code` (0 after an empty URI, 10 after Cancel).
    pub fn firmware_reset(&mut self, code: u8) {
        self.firmware.update_failure = None;
        self.tree.set(
            objects::FIRMWARE,
            0,
            objects::FIRMWARE_PACKAGE_URI,
            Value::String(String::new()),
        );
        self.set_firmware(FirmwareState::Idle, code);
    }

    /// Execute on `/5/0/2`: allowed only in State 2 (Downloaded); moves to State 3.
    pub fn start_firmware_update(&mut self) -> bool {
        if self.firmware_state() != FirmwareState::Downloaded {
            return false;
        }
        self.set_firmware(FirmwareState::Updating, result::INITIAL);
        true
    }

    /// The update finished: State 0, Update Result 1 and the package's version in `/3/0/3`
    /// — or, for a package drawn to fail at update, State 2 with that result.
    pub fn finish_firmware_update(&mut self) {
        if self.firmware_state() != FirmwareState::Updating {
            return;
        }
        if let Some(code) = self.firmware.update_failure.take() {
            self.set_firmware(FirmwareState::Downloaded, code);
            return;
        }
        self.firmware.installed = self.firmware.installed.saturating_add(1);
        let version = match self
            .tree
            .get(objects::FIRMWARE, 0, objects::FIRMWARE_PACKAGE_VERSION)
        {
            Some(Value::String(v)) if !v.is_empty() => v.clone(),
            _ => format!("1.0.{}", self.firmware.installed),
        };
        self.tree.set(
            objects::DEVICE,
            0,
            objects::DEVICE_FIRMWARE_VERSION,
            Value::String(version.clone()),
        );
        self.tree
            .set(objects::DEVICE, 0, 19, Value::String(version));
        self.set_firmware(FirmwareState::Idle, result::SUCCESS);
    }

    /// Packages installed so far.
    pub fn firmware_installed(&self) -> u32 {
        self.firmware.installed
    }

    // ----- files (Object 33000) -----

    /// The bytes of the file selected in `/33000/0/8` (empty when it does not exist).
    pub fn selected_file_data(&self) -> Vec<u8> {
        self.selected_file()
            .and_then(|name| self.files.read(&name))
            .unwrap_or_default()
    }

    /// `/33000/0/9` was written: keep its bytes under the name in `/33000/0/8`. Returns
    /// false when no file is selected or the store refuses the size.
    pub fn store_file(&mut self) -> bool {
        let data = match self
            .tree
            .resource_mut(objects::AGENT, 0, objects::AGENT_FILE_DATA)
            .map(|resource| &mut resource.value)
        {
            Some(ResourceValue::Single(Value::Opaque(data))) => std::mem::take(data),
            _ => return false,
        };
        match self.selected_file() {
            Some(name) if !name.is_empty() => self.files.write(&name, data),
            _ => false,
        }
    }

    /// The stored (or virtual) file `name`, if any.
    pub fn file(&self, name: &str) -> Option<Vec<u8>> {
        self.files.read(name)
    }

    fn selected_file(&self) -> Option<String> {
        match self.tree.get(objects::AGENT, 0, objects::AGENT_FILE_PATH) {
            Some(Value::String(name)) => Some(name.clone()),
            _ => None,
        }
    }

    // ----- links -----

    /// The CoRE links of this model's objects and instances, as in a Register payload:
    /// `</1>;ver=1.1,</1/0>,</3/0>,...` (Objects 0 and 21 never appear).
    pub fn link_list(&self) -> Vec<Link> {
        let mut links = Vec::new();
        for (id, object) in self.tree.objects() {
            if id == objects::SECURITY || id == objects::OSCORE {
                continue;
            }
            if object.version.is_some() || object.instances.is_empty() {
                let mut link = Link::new(format!("/{id}"));
                if let Some(version) = object.version {
                    link = link.with("ver", version);
                }
                links.push(link);
            }
            for instance in object.instances.keys() {
                links.push(Link::new(format!("/{id}/{instance}")));
            }
        }
        links
    }

    /// [`Self::link_list`] as link-format text.
    pub fn links(&self) -> String {
        link_format::format(&self.link_list())
    }

    /// Replaces instance `instance` of object `object` (for Object 25 refreshes).
    pub fn replace_instance(&mut self, object: u16, instance: u16, resources: Instance) {
        if let Some(existing) = self.tree.object_mut(object) {
            existing.instances.insert(instance, resources);
        }
    }
}

impl Light {
    fn off(now: Instant) -> Self {
        Self {
            on_time_base: 0,
            on_since: None,
            energy_wh: 0.0,
            energy_at: now,
        }
    }

    fn on_time(&self, now: Instant) -> u64 {
        let running = self
            .on_since
            .map_or(0, |since| now.saturating_duration_since(since).as_secs());
        self.on_time_base.saturating_add(running)
    }

    fn accumulate_to(&mut self, now: Instant, tree: &ObjectTree, instance: u16) {
        if self.on_since.is_some() {
            let dimmer = match tree.get(objects::LIGHT_CONTROL, instance, objects::LIGHT_DIMMER) {
                Some(Value::Integer(level)) => (*level).clamp(0, 100) as f64,
                _ => 100.0,
            };
            let hours = now.saturating_duration_since(self.energy_at).as_secs_f64() / 3600.0;
            self.energy_wh += LIGHT_WATTS * dimmer / 100.0 * hours;
        }
        self.energy_at = now;
    }

    fn accumulate(&mut self, now: Instant, tree: &ObjectTree, instance: u16) {
        self.accumulate_to(now, tree, instance);
    }
}
