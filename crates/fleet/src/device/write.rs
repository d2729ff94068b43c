//! Write (replace or partial update) and Write-Attributes.

use std::collections::BTreeMap;
use std::time::Duration;

use coap_lite::{CoapOption, Packet, ResponseType};
use fleetbench_lwm2m::codec::{self, CodecError, Record};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};
use tokio::time::Instant;

use super::DeviceAction;
use super::handle::Failure;
use super::message::{self, FormatOption};
use crate::model::{Node, ResourceValue, objects};

/// The most instances a multiple-instance resource may hold after a Write.
pub const MAX_RESOURCE_INSTANCES: usize = 64;

/// PUT replaces, POST on an instance updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// PUT: multiple-instance resources lose instances absent from the payload.
    Replace,
    /// POST on an instance: multiple-instance resources are merged.
    Update,
}

/// One validated change.
struct Change {
    instance: u16,
    resource: u16,
    resource_instance: Option<u16>,
    value: Value,
}

/// Writes the request payload under `path` (which exists).
pub(super) fn write(
    node: &mut Node,
    now: Instant,
    path: &Lwm2mPath,
    request: &Packet,
    mode: Mode,
) -> Result<Option<DeviceAction>, Failure> {
    let format = match message::format_option(request, CoapOption::ContentFormat) {
        FormatOption::Known(ContentFormat::LinkFormat) | FormatOption::Unknown(_) => {
            return Err(ResponseType::UnsupportedContentFormat);
        }
        FormatOption::Known(format) => format,
        FormatOption::Absent if path.resource.is_some() => ContentFormat::TextPlain,
        FormatOption::Absent => ContentFormat::Tlv,
    };
    let tree = &node.tree;
    let types = |p: &Lwm2mPath| {
        let resource = tree.resource(p.object, p.instance?, p.resource?)?;
        Some(resource.kind)
    };
    let records = match codec::decode(format, path, &request.payload, &types) {
        Ok(records) => records,
        Err(CodecError::Unsupported { .. }) => {
            return Err(ResponseType::UnsupportedContentFormat);
        }
        Err(CodecError::Malformed { .. }) => return Err(ResponseType::BadRequest),
    };
    if records.is_empty() {
        return Err(ResponseType::BadRequest);
    }
    let changes = records
        .iter()
        .map(|record| validate(node, path, record))
        .collect::<Result<Vec<_>, _>>()?;
    check_special(path.object, &changes)?;
    Ok(apply(node, now, path, mode, changes))
}

fn validate(node: &Node, path: &Lwm2mPath, record: &Record) -> Result<Change, Failure> {
    if record.path.prefix.is_some() && record.path.prefix != path.prefix {
        return Err(ResponseType::BadRequest);
    }
    let target = record.path.without_prefix();
    if !target.starts_with(&path.without_prefix()) {
        return Err(ResponseType::BadRequest);
    }
    let (Some(instance), Some(resource_id)) = (target.instance, target.resource) else {
        return Err(ResponseType::BadRequest);
    };
    let resource = node
        .tree
        .resource(target.object, instance, resource_id)
        .ok_or(ResponseType::NotFound)?;
    if !resource.operations.writable() {
        return Err(ResponseType::MethodNotAllowed);
    }
    if resource.is_multiple() != target.resource_instance.is_some() {
        return Err(ResponseType::BadRequest);
    }
    let value = coerce(&record.value, resource.kind).ok_or(ResponseType::BadRequest)?;
    Ok(Change {
        instance,
        resource: resource_id,
        resource_instance: target.resource_instance,
        value,
    })
}

/// The log levels `/33000/0/4` accepts.
pub const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "critical"];

/// Resource-specific value constraints.
fn check_special(object: u16, changes: &[Change]) -> Result<(), Failure> {
    for change in changes {
        let bad = match (object, change.resource, &change.value) {
            (objects::SERVER, objects::SERVER_LIFETIME, Value::Integer(secs)) => *secs < 1,
            (objects::SERVER, 7, Value::String(binding)) => binding.is_empty(),
            (objects::AGENT, 4, Value::String(level)) => !LOG_LEVELS.contains(&level.as_str()),
            _ => false,
        };
        if bad {
            return Err(ResponseType::BadRequest);
        }
    }
    Ok(())
}

fn apply(
    node: &mut Node,
    now: Instant,
    path: &Lwm2mPath,
    mode: Mode,
    changes: Vec<Change>,
) -> Option<DeviceAction> {
    let object = path.object;
    let mut action = None;
    let mut replaced: BTreeMap<(u16, u16), BTreeMap<u16, Value>> = BTreeMap::new();
    let touched: Vec<u16> = changes.iter().map(|change| change.resource).collect();
    for change in changes {
        match change.resource_instance {
            None => {
                if object == objects::DEVICE && change.resource == objects::DEVICE_CURRENT_TIME {
                    if let Value::Time(unix) = change.value {
                        node.set_current_time(now, unix);
                    }
                    continue;
                }
                if let (objects::SERVER, objects::SERVER_LIFETIME, Value::Integer(secs)) =
                    (object, change.resource, &change.value)
                {
                    let secs = u64::try_from(*secs).unwrap_or(1);
                    action = Some(DeviceAction::LifetimeChanged(Duration::from_secs(secs)));
                }
                node.tree
                    .set(object, change.instance, change.resource, change.value);
            }
            Some(id) => {
                replaced
                    .entry((change.instance, change.resource))
                    .or_default()
                    .insert(id, change.value);
            }
        }
    }
    if object == objects::FIRMWARE {
        for resource in [objects::FIRMWARE_PACKAGE, objects::FIRMWARE_PACKAGE_URI] {
            if touched.contains(&resource) {
                node.firmware_written(resource);
            }
        }
    }
    if object == objects::AGENT {
        if touched.contains(&objects::AGENT_FILE_DATA) {
            node.store_file();
        } else if touched.contains(&objects::AGENT_FILE_PATH) {
            node.select_file();
        }
    }
    let whole_resource = path.resource.is_some() && path.resource_instance.is_none();
    for ((instance, resource), values) in replaced {
        let Some(res) = node.tree.resource_mut(object, instance, resource) else {
            continue;
        };
        if let ResourceValue::Multiple(current) = &mut res.value {
            if mode == Mode::Replace && (whole_resource || path.resource.is_none()) {
                current.clear();
            }
            for (id, value) in values {
                if current.len() < MAX_RESOURCE_INSTANCES || current.contains_key(&id) {
                    current.insert(id, value);
                }
            }
        }
    }
    action
}

/// Converts a decoded value to the resource's declared type, when it is lossless.
pub(crate) fn coerce(value: &Value, kind: ResourceType) -> Option<Value> {
    Some(match (kind, value) {
        (ResourceType::Integer, Value::Integer(v)) => Value::Integer(*v),
        (ResourceType::Integer, Value::UnsignedInteger(v)) => {
            Value::Integer(i64::try_from(*v).ok()?)
        }
        (ResourceType::Integer, Value::Time(v)) => Value::Integer(*v),
        (ResourceType::Integer, Value::Float(v)) => Value::Integer(float_to_int(*v)?),
        (ResourceType::UnsignedInteger, Value::UnsignedInteger(v)) => Value::UnsignedInteger(*v),
        (ResourceType::UnsignedInteger, Value::Integer(v)) => {
            Value::UnsignedInteger(u64::try_from(*v).ok()?)
        }
        (ResourceType::UnsignedInteger, Value::Float(v)) => {
            Value::UnsignedInteger(u64::try_from(float_to_int(*v)?).ok()?)
        }
        (ResourceType::Float, Value::Float(v)) => Value::Float(*v),
        (ResourceType::Float, Value::Integer(v)) => Value::Float(*v as f64),
        (ResourceType::Float, Value::UnsignedInteger(v)) => Value::Float(*v as f64),
        (ResourceType::Time, Value::Time(v) | Value::Integer(v)) => Value::Time(*v),
        (ResourceType::Time, Value::Float(v)) => Value::Time(float_to_int(*v)?),
        (ResourceType::Boolean, Value::Boolean(v)) => Value::Boolean(*v),
        (ResourceType::String, Value::String(v)) => Value::String(v.clone()),
        (ResourceType::Opaque, Value::Opaque(v)) => Value::Opaque(v.clone()),
        (ResourceType::ObjectLink, Value::ObjectLink { object, instance }) => Value::ObjectLink {
            object: *object,
            instance: *instance,
        },
        (ResourceType::CoreLink, Value::CoreLink(v) | Value::String(v)) => {
            Value::CoreLink(v.clone())
        }
        _ => return None,
    })
}

fn float_to_int(v: f64) -> Option<i64> {
    let in_range = v.is_finite() && v.fract() == 0.0 && (-9.2e18..=9.2e18).contains(&v);
    #[allow(clippy::cast_possible_truncation)]
    in_range.then_some(v as i64)
}

/// The attributes Write-Attributes accepts (LwM2M 1.1 §5.1.2).
const ATTRIBUTES: [&str; 7] = ["pmin", "pmax", "gt", "lt", "st", "epmin", "epmax"];

/// What a Write-Attributes request says about `pmax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pmax {
    /// Not mentioned.
    Unchanged,
    /// Bare `pmax`: remove it.
    Cleared,
    /// `pmax=N` seconds.
    Set(u32),
}

/// Validates Write-Attributes query parameters (`pmin=10`, `gt=3.5`, bare `pmax` clears) and
/// returns what they say about `pmax` (the notification period the device uses).
pub(super) fn write_attributes(query: &[String]) -> Result<Pmax, Failure> {
    let mut pmax = Pmax::Unchanged;
    for parameter in query {
        let (key, value) = match parameter.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (parameter.as_str(), None),
        };
        if !ATTRIBUTES.contains(&key) {
            return Err(ResponseType::BadRequest);
        }
        let Some(value) = value else {
            if key == "pmax" {
                pmax = Pmax::Cleared;
            }
            continue;
        };
        let number: f64 = value.parse().map_err(|_| ResponseType::BadRequest)?;
        let integral = matches!(key, "pmin" | "pmax" | "epmin" | "epmax");
        if !number.is_finite() || (integral && (number < 0.0 || number.fract() != 0.0)) {
            return Err(ResponseType::BadRequest);
        }
        if key == "pmax" {
            let seconds = value.parse::<u32>().map_err(|_| ResponseType::BadRequest)?;
            pmax = Pmax::Set(seconds);
        }
    }
    Ok(pmax)
}
