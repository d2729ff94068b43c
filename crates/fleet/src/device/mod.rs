//! A simulated LwM2M device (a gateway with sub-devices behind Object 25 prefixes) as a
//! sans-IO request handler: it is given a CoAP request and `now`, and returns the response
//! plus any side effect the driver must carry out (reboot, registration update).

mod blockwise;
mod discover;
mod handle;
pub mod message;
mod read;
mod write;

use std::time::Duration;

use coap_lite::Packet;
use tokio::time::Instant;

use crate::model::Node;
use crate::model::objects::{DeviceInfo, GatewayEntry};
use crate::seeds::{self, Purpose};

/// The most sub-devices one device may carry (Object 25 instance ids are 16-bit).
pub const MAX_SUB_DEVICES: usize = 4096;

/// What a device is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// LwM2M endpoint client name.
    pub endpoint: String,
    /// Seed of the device's data model (derive it per device).
    pub seed: u64,
    /// Registration lifetime (initial `/1/0/1`).
    pub lifetime: Duration,
    /// Sub-devices behind Object 25 (capped at [`MAX_SUB_DEVICES`]).
    pub sub_devices: usize,
}

/// A side effect of a request that the driver must carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAction {
    /// Execute `/3/0/4`: answer, go silent for the reboot downtime, then register again.
    Reboot,
    /// Execute `/1/0/8`: send a registration Update now.
    RegistrationUpdate,
    /// `/1/0/1` was written: send an Update carrying the new lifetime.
    LifetimeChanged(Duration),
    /// Execute `/5/0/2` on the gateway in State 2: reboot (like [`Self::Reboot`]) and come
    /// back with the new firmware ([`Device::finish_firmware_update`]).
    FirmwareUpdate,
    /// Execute `/devK/3/0/4` on sub-device K (answered; the sub-device "reboots" instantly).
    SubDeviceReboot(usize),
}

/// The device's answer to one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The response: code, options and payload (the message layer sets type, MID, token).
    pub response: Packet,
    /// A side effect to carry out after answering.
    pub action: Option<DeviceAction>,
}

/// A simulated device: the gateway's own data model plus one model per sub-device.
#[derive(Debug, Clone)]
pub struct Device {
    endpoint: String,
    gateway: Node,
    sub_devices: Vec<Node>,
    uploads: blockwise::Uploads,
}

/// Sub-device `k`'s Object 25 prefix.
pub fn sub_device_prefix(index: usize) -> String {
    format!("dev{index}")
}

impl Device {
    /// Builds the device's objects.
    pub fn new(spec: &DeviceSpec, now: Instant) -> Self {
        let count = spec.sub_devices.min(MAX_SUB_DEVICES);
        let sub_devices: Vec<Node> = (0..count)
            .map(|k| {
                let info = DeviceInfo {
                    model: "fleetbench-sensor".to_owned(),
                    serial: format!("{}-SUB{k}", serial_of(&spec.endpoint)),
                    device_type: "sensor".to_owned(),
                };
                let seed = seeds::derive(spec.seed, Purpose::Model, k as u64 + 1);
                Node::sub_device(now, seed, &info)
            })
            .collect();
        let entries: Vec<GatewayEntry> = sub_devices
            .iter()
            .enumerate()
            .map(|(k, node)| GatewayEntry {
                device_id: crate::sub_device_name(&spec.endpoint, k),
                prefix: sub_device_prefix(k),
                objects: node.links(),
            })
            .collect();
        let info = DeviceInfo {
            model: "fleetbench-gateway".to_owned(),
            serial: serial_of(&spec.endpoint),
            device_type: "gateway".to_owned(),
        };
        let lifetime = i64::try_from(spec.lifetime.as_secs()).unwrap_or(i64::MAX);
        let seed = seeds::derive(spec.seed, Purpose::Model, 0);
        let gateway = Node::gateway(now, seed, &info, lifetime, &entries);
        Self {
            endpoint: spec.endpoint.clone(),
            gateway,
            sub_devices,
            uploads: blockwise::Uploads::default(),
        }
    }

    /// The endpoint client name.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The gateway's own data model.
    pub fn gateway(&self) -> &Node {
        &self.gateway
    }

    /// Sub-device `index`'s data model.
    pub fn sub_device(&self, index: usize) -> Option<&Node> {
        self.sub_devices.get(index)
    }

    /// How many sub-devices the device carries.
    pub fn sub_device_count(&self) -> usize {
        self.sub_devices.len()
    }

    /// The Register payload: the gateway's objects and instances (never Object 0, never the
    /// sub-devices' own objects).
    pub fn registration_links(&self) -> String {
        self.gateway.links()
    }

    /// The current lifetime (`/1/0/1`).
    pub fn lifetime(&self) -> Duration {
        match self.gateway.tree.get(1, 0, 1) {
            Some(fleetbench_lwm2m::value::Value::Integer(secs)) => {
                Duration::from_secs(u64::try_from(*secs).unwrap_or(1).max(1))
            }
            _ => Duration::from_secs(86_400),
        }
    }

    /// The `pmax` attribute in force for the path of `request` (for Observe), if any.
    pub fn pmax_for(&self, request: &Packet) -> Option<Duration> {
        let segments = message::uri_path(request)?;
        let path = fleetbench_lwm2m::path::Lwm2mPath::from_segments(&segments).ok()?;
        let node = match path.prefix.as_deref() {
            None => &self.gateway,
            Some(prefix) => self.sub_devices.get(parse_prefix(prefix)?)?,
        };
        node.pmax(&path).map(|s| Duration::from_secs(u64::from(s)))
    }

    /// Completes a gateway firmware update started by Execute `/5/0/2` (after its reboot).
    pub fn finish_firmware_update(&mut self) {
        self.gateway.finish_firmware_update();
    }

    /// Handles one request. Never panics, whatever the packet holds.
    pub fn handle_request(&mut self, now: Instant, request: &Packet) -> Reply {
        handle::handle(self, now, request)
    }

    /// The model a prefix routes to: `None` → the gateway, `devK` → sub-device K.
    fn node_mut(&mut self, prefix: Option<&str>) -> Option<(&mut Node, Option<usize>)> {
        match prefix {
            None => Some((&mut self.gateway, None)),
            Some(prefix) => {
                let index = parse_prefix(prefix)?;
                let node = self.sub_devices.get_mut(index)?;
                Some((node, Some(index)))
            }
        }
    }
}

fn parse_prefix(prefix: &str) -> Option<usize> {
    let digits = prefix.strip_prefix("dev")?;
    let index: usize = digits.parse().ok()?;
    (sub_device_prefix(index) == prefix).then_some(index)
}

fn serial_of(endpoint: &str) -> String {
    format!("SN-{endpoint}")
}

#[cfg(test)]
mod tests;
