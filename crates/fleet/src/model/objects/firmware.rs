//! Object 5, Firmware Update (v1.1): push (Package), pull (Package URI over CoAP with
//! Block2), Update, State, Update Result and Cancel.

use fleetbench_lwm2m::value::{ResourceType, Value};

use super::{
    FIRMWARE_CANCEL, FIRMWARE_PACKAGE, FIRMWARE_PACKAGE_NAME, FIRMWARE_PACKAGE_URI,
    FIRMWARE_PACKAGE_VERSION, FIRMWARE_RESULT, FIRMWARE_STATE, FIRMWARE_UPDATE, instance,
    single_instance, text,
};
use crate::model::tree::{Object, Operations, Resource};

/// Object 5 Firmware Update, one instance, idle, push and pull both accepted, CoAP only.
pub fn firmware() -> Object {
    use Operations::{Read, ReadWrite, Write};
    single_instance(
        Some("1.1"),
        instance([
            (
                FIRMWARE_PACKAGE,
                Resource::single(Write, Value::Opaque(Vec::new())),
            ),
            (FIRMWARE_PACKAGE_URI, Resource::single(ReadWrite, text(""))),
            (FIRMWARE_UPDATE, Resource::executable()),
            (FIRMWARE_STATE, Resource::single(Read, Value::Integer(0))),
            (FIRMWARE_RESULT, Resource::single(Read, Value::Integer(0))),
            (FIRMWARE_PACKAGE_NAME, Resource::single(Read, text(""))),
            (FIRMWARE_PACKAGE_VERSION, Resource::single(Read, text(""))),
            (
                8,
                // Protocol support: 0 CoAP.
                Resource::multiple(ResourceType::Integer, Read, [(0, Value::Integer(0))]),
            ),
            // Delivery method: 2 both pull and push.
            (9, Resource::single(Read, Value::Integer(2))),
            (FIRMWARE_CANCEL, Resource::executable()),
        ]),
    )
}
