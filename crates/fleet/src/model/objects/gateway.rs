//! Object 25, LwM2M Gateway (v2.0): one instance per sub-device, with its Device ID, Prefix
//! and IoT Device Objects (a link list without the prefix).

use fleetbench_lwm2m::value::Value;

use super::{instance, text};
use crate::model::tree::{Object, Operations, Resource};

/// One Object 25 instance: a sub-device behind the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEntry {
    /// Device ID (`/25/k/0`).
    pub device_id: String,
    /// Prefix (`/25/k/1`).
    pub prefix: String,
    /// IoT Device Objects (`/25/k/3`), a link list without the prefix.
    pub objects: String,
}

/// Object 25 LwM2M Gateway (v2.0), one instance per sub-device.
pub fn gateway(entries: &[GatewayEntry]) -> Object {
    use Operations::Read;
    let instances = entries
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            let id = u16::try_from(index).ok()?;
            let resources = instance([
                (0, Resource::single(Read, text(&entry.device_id))),
                (1, Resource::single(Read, text(&entry.prefix))),
                (
                    3,
                    Resource::single(Read, Value::CoreLink(entry.objects.clone())),
                ),
            ]);
            Some((id, resources))
        })
        .collect();
    Object {
        version: Some("2.0"),
        instances,
    }
}
