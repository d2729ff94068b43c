//! The standard objects of a simulated device: Server (1), Device (3), Temperature (3303)
//! and LwM2M Gateway (25).

use std::collections::BTreeMap;

use fleetbench_lwm2m::value::{ResourceType, Value};

use super::tree::{Object, Operations, Resource};

/// Object 1, Server.
pub const SERVER: u16 = 1;
/// Object 3, Device.
pub const DEVICE: u16 = 3;
/// Object 25, LwM2M Gateway.
pub const GATEWAY: u16 = 25;
/// Object 5, Firmware Update.
pub const FIRMWARE: u16 = 5;
/// `/5/0/0` Package.
pub const FIRMWARE_PACKAGE: u16 = 0;
/// `/5/0/1` Package URI.
pub const FIRMWARE_PACKAGE_URI: u16 = 1;
/// `/5/0/2` Update.
pub const FIRMWARE_UPDATE: u16 = 2;
/// `/5/0/3` State: 0 Idle, 1 Downloading, 2 Downloaded, 3 Updating.
pub const FIRMWARE_STATE: u16 = 3;
/// `/5/0/5` Update Result: 0 initial, 1 success, ...
pub const FIRMWARE_RESULT: u16 = 5;
/// `/3/0/3` Firmware Version.
pub const DEVICE_FIRMWARE_VERSION: u16 = 3;
/// Object 3303, Temperature.
pub const TEMPERATURE: u16 = 3303;
/// Object 33000, the fleetbench agent (docs/gateway-api.md §1.1).
pub const AGENT: u16 = 33000;
/// `/33000/0/8` File Path.
pub const AGENT_FILE_PATH: u16 = 8;
/// `/33000/0/9` File Data.
pub const AGENT_FILE_DATA: u16 = 9;

/// `/1/0/1` Lifetime.
pub const SERVER_LIFETIME: u16 = 1;
/// `/1/0/8` Registration Update Trigger.
pub const SERVER_UPDATE_TRIGGER: u16 = 8;
/// `/3/0/4` Reboot.
pub const DEVICE_REBOOT: u16 = 4;
/// `/3/0/9` Battery Level.
pub const DEVICE_BATTERY: u16 = 9;
/// `/3/0/13` Current Time.
pub const DEVICE_CURRENT_TIME: u16 = 13;
/// `/3303/0/5700` Sensor Value.
pub const SENSOR_VALUE: u16 = 5700;
/// `/3303/0/5601` Min Measured Value.
pub const SENSOR_MIN: u16 = 5601;
/// `/3303/0/5602` Max Measured Value.
pub const SENSOR_MAX: u16 = 5602;

/// The firmware version every simulated device reports.
pub const FIRMWARE_VERSION: &str = "1.0.0";

fn single_instance(resources: Vec<(u16, Resource)>) -> Object {
    Object {
        version: None,
        instances: BTreeMap::from([(0, resources.into_iter().collect())]),
    }
}

fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

/// Object 1 Server, one instance, short server id 1, binding `U`.
pub fn server(lifetime_secs: i64) -> Object {
    use Operations::{Read, ReadWrite};
    single_instance(vec![
        (0, Resource::single(Read, Value::Integer(1))),
        (
            SERVER_LIFETIME,
            Resource::single(ReadWrite, Value::Integer(lifetime_secs)),
        ),
        (6, Resource::single(ReadWrite, Value::Boolean(false))),
        (7, Resource::single(ReadWrite, text("U"))),
        (SERVER_UPDATE_TRIGGER, Resource::executable()),
    ])
}

/// Identity fields of an Object 3 instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Model number (`/3/0/1`).
    pub model: String,
    /// Serial number (`/3/0/2`).
    pub serial: String,
    /// Device type (`/3/0/17`).
    pub device_type: String,
}

/// Object 3 Device, one instance. Battery and current time are refreshed by the node.
pub fn device(info: &DeviceInfo, battery: i64, current_time: i64) -> Object {
    use Operations::{Read, ReadWrite};
    single_instance(vec![
        (0, Resource::single(Read, text("fleetbench"))),
        (1, Resource::single(Read, text(&info.model))),
        (2, Resource::single(Read, text(&info.serial))),
        (
            DEVICE_FIRMWARE_VERSION,
            Resource::single(Read, text(FIRMWARE_VERSION)),
        ),
        (DEVICE_REBOOT, Resource::executable()),
        (
            DEVICE_BATTERY,
            Resource::single(Read, Value::Integer(battery)),
        ),
        (
            11,
            Resource::multiple(ResourceType::Integer, Read, [(0, Value::Integer(0))]),
        ),
        (
            DEVICE_CURRENT_TIME,
            Resource::single(ReadWrite, Value::Time(current_time)),
        ),
        (16, Resource::single(Read, text("U"))),
        (17, Resource::single(Read, text(&info.device_type))),
        (19, Resource::single(Read, text(FIRMWARE_VERSION))),
    ])
}

/// Object 3303 Temperature, one instance.
pub fn temperature(value: f64) -> Object {
    use Operations::Read;
    single_instance(vec![
        (SENSOR_VALUE, Resource::single(Read, Value::Float(value))),
        (5701, Resource::single(Read, text("Cel"))),
        (SENSOR_MIN, Resource::single(Read, Value::Float(value))),
        (SENSOR_MAX, Resource::single(Read, Value::Float(value))),
    ])
}

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
            let instance = [
                (0, Resource::single(Read, text(&entry.device_id))),
                (1, Resource::single(Read, text(&entry.prefix))),
                (
                    3,
                    Resource::single(Read, Value::CoreLink(entry.objects.clone())),
                ),
            ]
            .into_iter()
            .collect();
            Some((id, instance))
        })
        .collect();
    Object {
        version: Some("2.0"),
        instances,
    }
}

/// Object 33000, the fleetbench agent: a vendor object standing in for an edge agent
/// (send config, data restriction, backup and restore, log level and upload, heartbeat,
/// status, file transfer).
pub fn agent() -> Object {
    use Operations::{Read, ReadWrite};
    single_instance(vec![
        (0, Resource::executable()),
        (1, Resource::single(ReadWrite, Value::Boolean(false))),
        (2, Resource::executable()),
        (3, Resource::executable()),
        (4, Resource::single(ReadWrite, text("info"))),
        (5, Resource::executable()),
        (6, Resource::executable()),
        (7, Resource::single(Read, text("ok"))),
        (AGENT_FILE_PATH, Resource::single(ReadWrite, text(""))),
        (
            AGENT_FILE_DATA,
            Resource::single(ReadWrite, Value::Opaque(Vec::new())),
        ),
    ])
}

/// Object 5 Firmware Update, one instance, idle, push and pull both accepted.
pub fn firmware() -> Object {
    use Operations::{Read, ReadWrite, Write};
    single_instance(vec![
        (
            FIRMWARE_PACKAGE,
            Resource::single(Write, Value::Opaque(Vec::new())),
        ),
        (FIRMWARE_PACKAGE_URI, Resource::single(ReadWrite, text(""))),
        (FIRMWARE_UPDATE, Resource::executable()),
        (FIRMWARE_STATE, Resource::single(Read, Value::Integer(0))),
        (FIRMWARE_RESULT, Resource::single(Read, Value::Integer(0))),
        (6, Resource::single(Read, text(""))),
        (7, Resource::single(Read, text(""))),
        (9, Resource::single(Read, Value::Integer(2))),
    ])
}
