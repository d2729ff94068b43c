//! IPSO objects: 3303 Temperature, 3304 Humidity (sensor values refreshed from seeded
//! signals) and 3311 Light Control (On/Off and Dimmer writable, On Time and cumulative
//! energy following the switch). All three are multiple-instance: the server may Create and
//! Delete instances.

use std::collections::BTreeMap;

use fleetbench_lwm2m::value::Value;

use super::{
    HUMIDITY, LIGHT_CONTROL, LIGHT_DIMMER, LIGHT_ENERGY, LIGHT_ON_OFF, LIGHT_ON_TIME, SENSOR_MAX,
    SENSOR_MIN, SENSOR_RESET_EXTREMES, SENSOR_VALUE, TEMPERATURE, instance, text,
};
use crate::model::tree::{Instance, Object, Operations, Resource};

fn sensor_instance(value: f64, units: &str, min_range: f64, max_range: f64) -> Instance {
    use Operations::{Read, ReadWrite};
    instance([
        (SENSOR_VALUE, Resource::single(Read, Value::Float(value))),
        (5701, Resource::single(Read, text(units))),
        (SENSOR_MIN, Resource::single(Read, Value::Float(value))),
        (SENSOR_MAX, Resource::single(Read, Value::Float(value))),
        (5603, Resource::single(Read, Value::Float(min_range))),
        (5604, Resource::single(Read, Value::Float(max_range))),
        (SENSOR_RESET_EXTREMES, Resource::executable()),
        (5750, Resource::single(ReadWrite, text(""))),
    ])
}

/// A new instance of a creatable IPSO object with its initial values (`None` for other
/// objects).
pub fn ipso_instance(object: u16) -> Option<Instance> {
    match object {
        TEMPERATURE => Some(sensor_instance(20.0, "Cel", -40.0, 85.0)),
        HUMIDITY => Some(sensor_instance(50.0, "%RH", 0.0, 100.0)),
        LIGHT_CONTROL => Some(light_instance()),
        _ => None,
    }
}

fn object_of(instance: Instance) -> Object {
    Object {
        version: None,
        instances: BTreeMap::from([(0, instance)]),
    }
}

/// Object 3303 Temperature, instance 0.
pub fn temperature(value: f64) -> Object {
    object_of(sensor_instance(value, "Cel", -40.0, 85.0))
}

/// Object 3304 Humidity, instance 0.
pub fn humidity(value: f64) -> Object {
    object_of(sensor_instance(value, "%RH", 0.0, 100.0))
}

fn light_instance() -> Instance {
    use Operations::{Read, ReadWrite};
    instance([
        (
            LIGHT_ON_OFF,
            Resource::single(ReadWrite, Value::Boolean(false)),
        ),
        (
            LIGHT_DIMMER,
            Resource::single(ReadWrite, Value::Integer(100)),
        ),
        (
            LIGHT_ON_TIME,
            Resource::single(ReadWrite, Value::Integer(0)),
        ),
        (LIGHT_ENERGY, Resource::single(Read, Value::Float(0.0))),
        (5820, Resource::single(Read, Value::Float(0.95))),
        (5706, Resource::single(ReadWrite, text("white"))),
        (5701, Resource::single(Read, text("Wh"))),
        (5750, Resource::single(ReadWrite, text(""))),
    ])
}

/// Object 3311 Light Control, instance 0, switched off.
pub fn light_control() -> Object {
    object_of(light_instance())
}
