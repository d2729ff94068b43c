//! Shared generators and helpers for the codec tests: typed records of the shapes each format
//! carries, and the Object 3 (Device) instance used by the LwM2M TS examples.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;

use fleetbench_lwm2m::codec::Record;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};
use proptest::prelude::*;

/// A type table keyed by resource path without prefix, as the codecs ask for it.
#[derive(Debug, Clone, Default)]
pub struct Types(pub HashMap<Lwm2mPath, ResourceType>);

impl Types {
    /// The types of `records` (by their own values).
    pub fn of(records: &[Record]) -> Self {
        let mut map = HashMap::new();
        for record in records {
            let key = Lwm2mPath {
                prefix: None,
                resource_instance: None,
                ..record.path.clone()
            };
            map.insert(key, record.value.resource_type());
        }
        Self(map)
    }

    /// Looks a path up.
    pub fn get(&self, path: &Lwm2mPath) -> Option<ResourceType> {
        self.0.get(path).copied()
    }
}

pub const ALL_TYPES: [ResourceType; 9] = [
    ResourceType::Integer,
    ResourceType::UnsignedInteger,
    ResourceType::Float,
    ResourceType::Boolean,
    ResourceType::String,
    ResourceType::Opaque,
    ResourceType::Time,
    ResourceType::ObjectLink,
    ResourceType::CoreLink,
];

/// Finite floats (JSON cannot carry the others), including subnormals and zero.
pub fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        (-1000i32..1000).prop_map(|v| f64::from(v) / 4.0),
        any::<f32>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(f64::from),
    ]
}

/// A value of `kind`.
pub fn arb_value(kind: ResourceType) -> BoxedStrategy<Value> {
    match kind {
        ResourceType::Integer => any::<i64>().prop_map(Value::Integer).boxed(),
        ResourceType::UnsignedInteger => any::<u64>().prop_map(Value::UnsignedInteger).boxed(),
        ResourceType::Float => finite_f64().prop_map(Value::Float).boxed(),
        ResourceType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        ResourceType::String => "\\PC{0,20}".prop_map(Value::String).boxed(),
        ResourceType::Opaque => prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(Value::Opaque)
            .boxed(),
        ResourceType::Time => any::<i64>().prop_map(Value::Time).boxed(),
        ResourceType::ObjectLink => (any::<u16>(), any::<u16>())
            .prop_map(|(object, instance)| Value::ObjectLink { object, instance })
            .boxed(),
        ResourceType::CoreLink => "(</[0-9]{1,3}(/[0-9]{1,2})?>,){0,3}"
            .prop_map(Value::CoreLink)
            .boxed(),
        ResourceType::None => Just(Value::Integer(0)).boxed(),
    }
}

pub fn arb_type() -> impl Strategy<Value = ResourceType> {
    prop::sample::select(ALL_TYPES.to_vec())
}

/// A prefix or none.
pub fn arb_prefix() -> impl Strategy<Value = Option<String>> {
    prop::option::of("dev[0-9]{1,2}")
}

/// One resource's values: `(resource instance id, value)` pairs.
type ResourceValues = Vec<(Option<u16>, Value)>;

/// One resource's records: a single value (`None` instance ids) or 1..4 resource instances.
fn arb_resource(kind: ResourceType) -> impl Strategy<Value = ResourceValues> {
    prop_oneof![
        arb_value(kind).prop_map(|value| vec![(None, value)]),
        prop::collection::btree_map(0u16..=65534, arb_value(kind), 1..4).prop_map(|map| map
            .into_iter()
            .map(|(id, value)| (Some(id), value))
            .collect()),
    ]
}

/// Resources of one instance: unique ids, each with its own type.
fn arb_resources() -> impl Strategy<Value = Vec<(u16, ResourceValues)>> {
    prop::collection::btree_map(0u16..=65534, arb_type(), 1..6).prop_flat_map(|types| {
        types
            .into_iter()
            .map(|(id, kind)| arb_resource(kind).prop_map(move |values| (id, values)))
            .collect::<Vec<_>>()
    })
}

fn records_of(
    prefix: &Option<String>,
    object: u16,
    instance: u16,
    resources: Vec<(u16, ResourceValues)>,
) -> Vec<Record> {
    let mut out = Vec::new();
    for (resource, values) in resources {
        for (resource_instance, value) in values {
            let path = Lwm2mPath {
                prefix: prefix.clone(),
                object,
                instance: Some(instance),
                resource: Some(resource),
                resource_instance,
            };
            out.push(Record::new(path, value));
        }
    }
    out
}

/// A request path and records of the shape a read on it returns: object → several instances;
/// instance → several resources; resource → one single or multiple resource.
pub fn arb_payload() -> impl Strategy<Value = (Lwm2mPath, Vec<Record>)> {
    let object = 0u16..=65534;
    prop_oneof![
        // Object level.
        (
            arb_prefix(),
            object.clone(),
            prop::collection::btree_map(0u16..=65534, arb_resources(), 1..4)
        )
            .prop_map(|(prefix, object, instances)| {
                let base = Lwm2mPath {
                    prefix: prefix.clone(),
                    ..Lwm2mPath::object(object)
                };
                let records = instances
                    .into_iter()
                    .flat_map(|(instance, resources)| {
                        records_of(&prefix, object, instance, resources)
                    })
                    .collect();
                (base, records)
            }),
        // Instance level.
        (arb_prefix(), object.clone(), 0u16..=65534, arb_resources()).prop_map(
            |(prefix, object, instance, resources)| {
                let base = Lwm2mPath {
                    prefix: prefix.clone(),
                    ..Lwm2mPath::instance(object, instance)
                };
                (base, records_of(&prefix, object, instance, resources))
            }
        ),
        // Resource level.
        (
            arb_prefix(),
            object,
            0u16..=65534,
            0u16..=65534,
            arb_type().prop_flat_map(arb_resource)
        )
            .prop_map(|(prefix, object, instance, resource, values)| {
                let base = Lwm2mPath {
                    prefix: prefix.clone(),
                    ..Lwm2mPath::resource(object, instance, resource)
                };
                (
                    base,
                    records_of(&prefix, object, instance, vec![(resource, values)]),
                )
            }),
    ]
}

/// A single typed record at a resource or resource-instance path.
pub fn arb_single() -> impl Strategy<Value = Record> {
    (
        arb_prefix(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
        prop::option::of(any::<u16>()),
        arb_type(),
    )
        .prop_flat_map(|(prefix, o, i, r, ri, kind)| {
            let clamp = |v: u16| v.min(65534);
            let path = Lwm2mPath {
                prefix,
                object: clamp(o),
                instance: Some(clamp(i)),
                resource: Some(clamp(r)),
                resource_instance: ri.map(clamp),
            };
            arb_value(kind).prop_map(move |value| Record::new(path.clone(), value))
        })
}

/// Object 3 (Device) instance 0 as in the LwM2M TS TLV / SenML examples.
pub fn device_object() -> Vec<Record> {
    let r = |res: u16, value: Value| Record::new(Lwm2mPath::resource(3, 0, res), value);
    let ri = |res: u16, inst: u16, value: Value| {
        Record::new(Lwm2mPath::resource_instance(3, 0, res, inst), value)
    };
    vec![
        r(0, Value::String("Open Mobile Alliance".into())),
        r(1, Value::String("Lightweight M2M Client".into())),
        r(2, Value::String("345000123".into())),
        r(3, Value::String("1.0".into())),
        ri(6, 0, Value::Integer(1)),
        ri(6, 1, Value::Integer(5)),
        ri(7, 0, Value::Integer(3800)),
        ri(7, 1, Value::Integer(5000)),
        ri(8, 0, Value::Integer(125)),
        ri(8, 1, Value::Integer(900)),
        r(9, Value::Integer(100)),
        r(10, Value::Integer(15)),
        ri(11, 0, Value::Integer(0)),
        r(13, Value::Time(1367491215)),
        r(14, Value::String("+02:00".into())),
        r(16, Value::String("U".into())),
    ]
}

/// Declared types of Object 3's resources (a subset of the registry's 3.xml).
pub fn device_types(path: &Lwm2mPath) -> Option<ResourceType> {
    if path.object != 3 {
        return None;
    }
    Some(match path.resource? {
        0..=3 | 14 | 15 | 16 | 17 | 18 | 19 => ResourceType::String,
        6..=11 | 20 | 21 => ResourceType::Integer,
        13 => ResourceType::Time,
        4 | 5 | 12 => ResourceType::None,
        _ => return None,
    })
}

/// Hex to bytes (whitespace ignored).
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}
