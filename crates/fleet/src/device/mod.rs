//! A simulated LwM2M device (a gateway with sub-devices behind Object 25 prefixes, or a
//! sub-device registered as its own endpoint) as a sans-IO request handler: it is given a
//! CoAP request and `now`, and returns the response plus any side effect the driver must
//! carry out (reboot, registration update, firmware download).

mod blockwise;
mod composite;
mod create;
mod discover;
pub mod etag;
mod execute;
mod handle;
pub mod message;
mod read;
mod write;

use std::net::IpAddr;
use std::time::Duration;

use coap_lite::Packet;
use fleetbench_lwm2m::link_format::{self, Link};
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::Value;
use tokio::time::Instant;

use crate::model::firmware::{FirmwareState, PackageOutcome};
use crate::model::objects::{self, ConnectivityInfo, DeviceInfo, GatewayEntry, ServerSettings};
use crate::model::{Attributes, Node, NodeRole, NodeSetup};
use crate::profile::FirmwareFailure;
use crate::seeds::{self, Purpose};

pub use blockwise::{DEFAULT_BLOCK_SIZE, MAX_CACHED_BODIES, MAX_UPLOAD_BYTES, MAX_UPLOADS};

/// The most sub-devices one device may carry (Object 25 instance ids are 16-bit).
pub const MAX_SUB_DEVICES: usize = 4096;

/// What the device is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeviceRole {
    /// A gateway with `sub_devices` sub-devices behind Object 25 prefixes.
    #[default]
    Gateway,
    /// Sub-device `index` of gateway `parent`, registered as its own endpoint.
    SubDeviceEndpoint {
        /// The parent gateway's endpoint name.
        parent: String,
        /// Its index under the parent.
        index: usize,
    },
}

/// How to build a device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// LwM2M endpoint client name.
    pub endpoint: String,
    /// Seed of the device's data model (derive it per device).
    pub seed: u64,
    /// Registration lifetime (initial `/1/0/1`).
    pub lifetime: Duration,
    /// Sub-devices behind Object 25 (capped at [`MAX_SUB_DEVICES`]; gateways only).
    pub sub_devices: usize,
    /// Gateway, or a per-endpoint sub-device.
    pub role: DeviceRole,
    /// The LwM2M server's URI (Object 0 `/0/0/0`).
    pub server_uri: String,
    /// Queue mode: binding `UQ` in `/1/0/7`.
    pub queue_mode: bool,
    /// How often sensors take a reading.
    pub sample_period: Duration,
    /// Default minimum period of notifications (`/1/0/2`), seconds.
    pub default_pmin: u32,
    /// Default maximum period of notifications (`/1/0/3`), seconds; 0 for none.
    pub default_pmax: u32,
    /// Injected firmware failures, per package.
    pub firmware_failures: Vec<FirmwareFailure>,
    /// The device's own IP address (`/4/0/4`), when known.
    pub local_ip: Option<IpAddr>,
    /// The optional content formats advertised in the registration's root link (`ct=`).
    pub root_content_formats: Vec<u16>,
    /// LwM2M 1.1 Send (`POST /dp`): period, paths and format; off by default.
    pub send: crate::send::SendSpec,
}

impl Default for DeviceSpec {
    fn default() -> Self {
        Self {
            endpoint: "fleetbench-000000".to_owned(),
            seed: 0,
            lifetime: Duration::from_secs(300),
            sub_devices: 0,
            role: DeviceRole::Gateway,
            server_uri: "coap://127.0.0.1:5683".to_owned(),
            queue_mode: false,
            sample_period: Duration::from_secs(5),
            default_pmin: 0,
            default_pmax: 0,
            firmware_failures: Vec::new(),
            local_ip: None,
            root_content_formats: vec![110],
            send: crate::send::SendSpec::default(),
        }
    }
}

/// A side effect of a request that the driver must carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAction {
    /// Execute `/3/0/4`: answer, go silent for the reboot downtime, then register again.
    Reboot,
    /// Execute `/1/0/8`: send a registration Update now.
    RegistrationUpdate,
    /// `/1/0/1` was written: send an Update carrying the new lifetime.
    LifetimeChanged(Duration),
    /// Execute `/5/0/2` in State 2 (now State 3): the gateway (or per-endpoint device)
    /// reboots into the new firmware; a sub-device installs after the reboot downtime. Then
    /// call [`Device::finish_firmware_update`].
    FirmwareUpdate {
        /// `None` for the device itself, `Some(k)` for sub-device `k`.
        sub_device: Option<usize>,
    },
    /// Execute `/devK/3/0/4` on sub-device K (answered; the sub-device "reboots" instantly).
    SubDeviceReboot(usize),
    /// A Package URI was written (now State 1): fetch it as a CoAP client with Block2, then
    /// call [`Device::firmware_download_finished`].
    DownloadFirmware {
        /// `None` for the device itself, `Some(k)` for sub-device `k`.
        sub_device: Option<usize>,
        /// The URI.
        uri: String,
    },
    /// A download in progress must stop (empty URI, Cancel, new package).
    CancelDownload {
        /// `None` for the device itself, `Some(k)` for sub-device `k`.
        sub_device: Option<usize>,
    },
    /// Instances were created or deleted: send an Update with the new object list.
    ObjectsChanged,
}

/// The device's answer to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The response: code, options and payload (the message layer sets type, MID, token).
    pub response: Packet,
    /// A side effect to carry out after answering.
    pub action: Option<DeviceAction>,
}

/// A simulated device: its own data model plus one model per sub-device, created on first
/// use (a sub-device's values are functions of its seed and the time since the device was
/// born, so creating it late changes nothing but memory).
#[derive(Debug, Clone)]
pub struct Device {
    endpoint: String,
    seed: u64,
    born: Instant,
    sample_period: Duration,
    gateway: Node,
    sub_devices: Vec<Option<Box<Node>>>,
    root_link: Link,
    uploads: blockwise::Uploads,
    bodies: blockwise::BodyCache,
    firmware_failures: Vec<FirmwareFailure>,
    packages: u64,
    send: crate::send::SendSpec,
}

/// Sub-device `k`'s Object 25 prefix.
pub fn sub_device_prefix(index: usize) -> String {
    format!("dev{index}")
}

fn serial_of(endpoint: &str) -> String {
    format!("SN-{endpoint}")
}

fn sensor_info(parent: &str, index: usize) -> DeviceInfo {
    DeviceInfo {
        model: "fleetbench-sensor".to_owned(),
        serial: format!("{}-SUB{index}", serial_of(parent)),
        device_type: "sensor".to_owned(),
    }
}

/// The root link of a registration payload: `</>;rt="oma.lwm2m"` plus `ct=` with the
/// optional content formats (one value unquoted, several quoted and space-separated as RFC
/// 7252 §7.2.1 writes them).
pub fn root_link(formats: &[u16]) -> Link {
    let mut link = Link::new("/").with("rt", "oma.lwm2m");
    if !formats.is_empty() {
        let list: Vec<String> = formats.iter().map(u16::to_string).collect();
        link = link.with("ct", list.join(" "));
    }
    link
}

impl Device {
    /// Builds the device's objects.
    pub fn new(spec: &DeviceSpec, now: Instant) -> Self {
        let lifetime = i64::try_from(spec.lifetime.as_secs()).unwrap_or(i64::MAX);
        let server = ServerSettings {
            lifetime_secs: lifetime,
            default_pmin: i64::from(spec.default_pmin),
            default_pmax: i64::from(spec.default_pmax),
            binding: if spec.queue_mode { "UQ" } else { "U" }.to_owned(),
        };
        let ip = spec
            .local_ip
            .map_or_else(|| "127.0.0.1".to_owned(), |ip| ip.to_string());
        let connectivity = ConnectivityInfo {
            router: ip.clone(),
            ip,
            cell_id: i64::try_from(
                seeds::derive(spec.seed, Purpose::Model, u64::MAX) % 268_435_455,
            )
            .unwrap_or(0),
        };
        let (role, info, count) = match &spec.role {
            DeviceRole::Gateway => (
                NodeRole::Gateway,
                DeviceInfo {
                    model: "fleetbench-gateway".to_owned(),
                    serial: serial_of(&spec.endpoint),
                    device_type: "gateway".to_owned(),
                },
                spec.sub_devices.min(MAX_SUB_DEVICES),
            ),
            DeviceRole::SubDeviceEndpoint { parent, index } => {
                (NodeRole::Endpoint, sensor_info(parent, *index), 0)
            }
        };
        let mut setup = NodeSetup {
            role,
            info,
            seed: seeds::derive(spec.seed, Purpose::Model, 0),
            born: now,
            sample_period: spec.sample_period,
            server,
            server_uri: spec.server_uri.clone(),
            connectivity,
            gateway_entries: Vec::new(),
        };
        if count > 0 {
            // Every sub-device starts with the same object list.
            let template =
                Self::sub_device_node(&spec.endpoint, spec.seed, now, spec.sample_period, 0);
            let objects = template.links();
            setup.gateway_entries = (0..count)
                .map(|k| GatewayEntry {
                    device_id: crate::sub_device_name(&spec.endpoint, k),
                    prefix: sub_device_prefix(k),
                    objects: objects.clone(),
                })
                .collect();
        }
        let gateway = Node::new(&setup);
        Self {
            endpoint: spec.endpoint.clone(),
            seed: spec.seed,
            born: now,
            sample_period: spec.sample_period,
            gateway,
            sub_devices: vec![None; count],
            root_link: root_link(&spec.root_content_formats),
            uploads: blockwise::Uploads::default(),
            bodies: blockwise::BodyCache::default(),
            firmware_failures: spec.firmware_failures.clone(),
            packages: 0,
            send: spec.send.clone(),
        }
    }

    fn sub_device_node(
        endpoint: &str,
        seed: u64,
        born: Instant,
        sample_period: Duration,
        index: usize,
    ) -> Node {
        Node::new(&NodeSetup {
            role: NodeRole::SubDevice,
            info: sensor_info(endpoint, index),
            seed: seeds::derive(seed, Purpose::Model, index as u64 + 1),
            born,
            sample_period,
            server: ServerSettings {
                lifetime_secs: 0,
                default_pmin: 0,
                default_pmax: 0,
                binding: String::new(),
            },
            server_uri: String::new(),
            connectivity: ConnectivityInfo {
                ip: String::new(),
                router: String::new(),
                cell_id: 0,
            },
            gateway_entries: Vec::new(),
        })
    }

    /// How the device Sends (LwM2M 1.1 `POST /dp`).
    pub fn send_spec(&self) -> &crate::send::SendSpec {
        &self.send
    }

    /// The current values under `paths` as a Read-Composite would return them (missing or
    /// unreadable paths left out), for Send.
    pub fn read_composite_values(
        &mut self,
        now: Instant,
        paths: &[fleetbench_lwm2m::codec::composite::CompositePath],
    ) -> Vec<fleetbench_lwm2m::codec::Record> {
        composite::collect(self, now, paths).records
    }

    /// The endpoint client name.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The device's own data model.
    pub fn gateway(&self) -> &Node {
        &self.gateway
    }

    /// Sub-device `index`'s data model, if it has been used yet.
    pub fn sub_device(&self, index: usize) -> Option<&Node> {
        self.sub_devices.get(index)?.as_deref()
    }

    /// Sub-device `index`'s data model, created on first use.
    pub fn sub_device_mut(&mut self, index: usize) -> Option<&mut Node> {
        let (endpoint, seed, born, period) =
            (&self.endpoint, self.seed, self.born, self.sample_period);
        let slot = self.sub_devices.get_mut(index)?;
        let node = slot.get_or_insert_with(|| {
            Box::new(Self::sub_device_node(endpoint, seed, born, period, index))
        });
        Some(node)
    }

    /// How many sub-devices the device carries.
    pub fn sub_device_count(&self) -> usize {
        self.sub_devices.len()
    }

    /// How many sub-device models have been created (used) so far.
    pub fn materialised_sub_devices(&self) -> usize {
        self.sub_devices
            .iter()
            .filter(|slot| slot.is_some())
            .count()
    }

    /// The Register payload: the root link, then the device's objects and instances (never
    /// Object 0, never the sub-devices' own objects).
    pub fn registration_links(&self) -> String {
        let mut links = vec![self.root_link.clone()];
        links.extend(self.gateway.link_list());
        link_format::format(&links)
    }

    /// The current lifetime (`/1/0/1`).
    pub fn lifetime(&self) -> Duration {
        match self
            .gateway
            .tree
            .get(objects::SERVER, 0, objects::SERVER_LIFETIME)
        {
            Some(Value::Integer(secs)) => {
                Duration::from_secs(u64::try_from(*secs).unwrap_or(1).max(1))
            }
            _ => Duration::from_secs(86_400),
        }
    }

    /// The model a prefix routes to (`None` → the device itself, `devK` → sub-device K),
    /// created on first use.
    pub fn node_mut(&mut self, prefix: Option<&str>) -> Option<(&mut Node, Option<usize>)> {
        match prefix {
            None => Some((&mut self.gateway, None)),
            Some(prefix) => {
                let index = parse_prefix(prefix)?;
                let node = self.sub_device_mut(index)?;
                Some((node, Some(index)))
            }
        }
    }

    fn node_of(&mut self, sub_device: Option<usize>) -> Option<&mut Node> {
        match sub_device {
            None => Some(&mut self.gateway),
            Some(index) => self.sub_device_mut(index),
        }
    }

    /// The attributes in force for an observation of `path`: inherited within its model,
    /// `pmin`/`pmax` defaulting to `/1/0/2` and `/1/0/3` of the device's Server object.
    pub fn observation_attributes(&mut self, path: &Lwm2mPath) -> Attributes {
        let server_default = |resource| match self.gateway.tree.get(objects::SERVER, 0, resource) {
            Some(Value::Integer(secs)) if *secs > 0 => u32::try_from(*secs).ok(),
            _ => None,
        };
        let defaults = Attributes {
            pmin: server_default(objects::SERVER_DEFAULT_PMIN),
            pmax: server_default(objects::SERVER_DEFAULT_PMAX),
            ..Attributes::default()
        };
        match self.node_mut(path.prefix.as_deref()) {
            Some((node, _)) => node.attributes(path).over(defaults),
            None => defaults,
        }
    }

    /// When a value under `path` may next change by itself, after `after`.
    pub fn next_change(&mut self, path: &Lwm2mPath, after: Instant) -> Option<Instant> {
        let (node, _) = self.node_mut(path.prefix.as_deref())?;
        node.next_change(path, after)
    }

    /// The numeric value at `path` at `now`, for change conditions.
    pub fn numeric_value(&mut self, now: Instant, path: &Lwm2mPath) -> Option<f64> {
        let (node, _) = self.node_mut(path.prefix.as_deref())?;
        node.refresh(now);
        node.numeric_value(path)
    }

    /// Completes a firmware update started by Execute `/5/0/2` (after its reboot).
    pub fn finish_firmware_update(&mut self, sub_device: Option<usize>) {
        if let Some(node) = self.node_of(sub_device) {
            node.finish_firmware_update();
        }
    }

    /// The firmware State of the device (or of sub-device `k`).
    pub fn firmware_state(&mut self, sub_device: Option<usize>) -> Option<FirmwareState> {
        self.node_of(sub_device).map(|node| node.firmware_state())
    }

    /// A pull download ended: `Ok(bytes)` with the package size, or `Err(result)` with the
    /// Update Result to report. Ignored unless the model is still Downloading.
    pub fn firmware_download_finished(
        &mut self,
        sub_device: Option<usize>,
        outcome: Result<u64, u8>,
    ) {
        if self.firmware_state(sub_device) != Some(FirmwareState::Downloading) {
            return;
        }
        let draw = outcome.is_ok().then(|| self.draw_package_outcome());
        let Some(node) = self.node_of(sub_device) else {
            return;
        };
        match (outcome, draw) {
            (Ok(_), Some(draw)) => node.firmware_downloaded(draw),
            (Err(code), _) => node.firmware_download_failed(code),
            (Ok(_), None) => {}
        }
    }

    /// Forgets transfers in progress (a reboot): Block1 uploads and cached Block2 bodies.
    /// A model that was Downloading goes back to Idle with result 4 (connection lost).
    pub fn interrupt_transfers(&mut self) {
        self.uploads = blockwise::Uploads::default();
        self.bodies = blockwise::BodyCache::default();
        let lost = crate::model::firmware::result::CONNECTION_LOST;
        if self.gateway.firmware_state() == FirmwareState::Downloading {
            self.gateway.firmware_download_failed(lost);
        }
        for node in self.sub_devices.iter_mut().flatten() {
            if node.firmware_state() == FirmwareState::Downloading {
                node.firmware_download_failed(lost);
            }
        }
    }

    /// Draws what becomes of the next package from the profile's failure ratios.
    fn draw_package_outcome(&mut self) -> PackageOutcome {
        let draw = seeds::unit(self.seed, Purpose::Firmware, self.packages);
        self.packages = self.packages.wrapping_add(1);
        let mut threshold = 0.0;
        for failure in &self.firmware_failures {
            threshold += failure.ratio;
            if draw < threshold {
                return PackageOutcome::Fails(failure.result);
            }
        }
        PackageOutcome::Installs
    }

    /// Handles one request. Never panics, whatever the packet holds.
    pub fn handle_request(&mut self, now: Instant, request: &Packet) -> Reply {
        handle::handle(self, now, request)
    }
}

fn parse_prefix(prefix: &str) -> Option<usize> {
    let digits = prefix.strip_prefix("dev")?;
    let index: usize = digits.parse().ok()?;
    (sub_device_prefix(index) == prefix).then_some(index)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod composite_tests;
