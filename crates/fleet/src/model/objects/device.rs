//! Object 3, Device: identity, firmware version, Reboot, battery, memory and the clock.

use fleetbench_lwm2m::value::{ResourceType, Value};

use super::{
    DEVICE_BATTERY, DEVICE_CURRENT_TIME, DEVICE_FIRMWARE_VERSION, DEVICE_MEMORY_FREE,
    DEVICE_REBOOT, FIRMWARE_VERSION, instance, single_instance, text,
};
use crate::model::tree::{Object, Operations, Resource};

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

/// Total memory every simulated device reports (`/3/0/21`), in KiB.
pub const MEMORY_TOTAL_KIB: i64 = 65_536;

/// Object 3 Device, one instance. Battery, free memory and current time are refreshed by
/// the data model.
pub fn device(info: &DeviceInfo, battery: i64, current_time: i64) -> Object {
    use Operations::{Read, ReadWrite};
    single_instance(
        None,
        instance([
            (0, Resource::single(Read, text("fleetbench"))),
            (1, Resource::single(Read, text(&info.model))),
            (2, Resource::single(Read, text(&info.serial))),
            (
                DEVICE_FIRMWARE_VERSION,
                Resource::single(Read, text(FIRMWARE_VERSION)),
            ),
            (DEVICE_REBOOT, Resource::executable()),
            (
                6,
                // Available power sources: 1 internal battery, 5 USB.
                Resource::multiple(
                    ResourceType::Integer,
                    Read,
                    [(0, Value::Integer(1)), (1, Value::Integer(5))],
                ),
            ),
            (
                DEVICE_BATTERY,
                Resource::single(Read, Value::Integer(battery)),
            ),
            (
                DEVICE_MEMORY_FREE,
                Resource::single(Read, Value::Integer(MEMORY_TOTAL_KIB / 2)),
            ),
            (
                11,
                Resource::multiple(ResourceType::Integer, Read, [(0, Value::Integer(0))]),
            ),
            (
                DEVICE_CURRENT_TIME,
                Resource::single(ReadWrite, Value::Time(current_time)),
            ),
            (14, Resource::single(ReadWrite, text("+00:00"))),
            (15, Resource::single(ReadWrite, text("Etc/UTC"))),
            (16, Resource::single(Read, text("U"))),
            (17, Resource::single(Read, text(&info.device_type))),
            (18, Resource::single(Read, text("rev-a"))),
            (19, Resource::single(Read, text(FIRMWARE_VERSION))),
            // Battery status: 0 normal.
            (20, Resource::single(Read, Value::Integer(0))),
            (21, Resource::single(Read, Value::Integer(MEMORY_TOTAL_KIB))),
        ]),
    )
}
