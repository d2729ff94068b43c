//! Write (replace with PUT, partial update with POST on an instance), with the side effects
//! of writing the firmware package or URI, the agent's file, the lifetime and the lights.

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
use crate::model::firmware::FirmwareState;
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
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Change {
    pub(super) instance: u16,
    pub(super) resource: u16,
    pub(super) resource_instance: Option<u16>,
    pub(super) value: Value,
}

/// What a write did beyond changing values, for the caller to finish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Written {
    /// A side effect for the driver.
    pub(super) action: Option<DeviceAction>,
    /// A firmware package arrived through `/5/0/0` (true), or was reset with an empty one
    /// or a single NUL byte (false).
    pub(super) package: Option<bool>,
}

/// Writes the request payload under `path` (which exists).
pub(super) fn write(
    node: &mut Node,
    sub_device: Option<usize>,
    now: Instant,
    path: &Lwm2mPath,
    request: &Packet,
    mode: Mode,
) -> Result<Written, Failure> {
    let format = match message::format_option(request, CoapOption::ContentFormat) {
        FormatOption::Known(ContentFormat::LinkFormat) | FormatOption::Unknown(_) => {
            return Err(ResponseType::UnsupportedContentFormat);
        }
        FormatOption::Known(format) => format,
        FormatOption::Absent if path.resource.is_some() => ContentFormat::TextPlain,
        FormatOption::Absent => ContentFormat::Tlv,
    };
    let changes = decode_changes(node, format, path, &request.payload)?;
    check_special(node, path.object, &changes)?;
    Ok(apply(node, sub_device, now, path, mode, changes))
}

/// Decodes and validates the records of a Write (or of a Create into a new instance).
pub(super) fn decode_changes(
    node: &Node,
    format: ContentFormat,
    path: &Lwm2mPath,
    payload: &[u8],
) -> Result<Vec<Change>, Failure> {
    let tree = &node.tree;
    let types = |p: &Lwm2mPath| {
        let resource = tree.resource(p.object, p.instance?, p.resource?)?;
        Some(resource.kind)
    };
    let records = match codec::decode(format, path, payload, &types) {
        Ok(records) => records,
        Err(CodecError::Unsupported { .. }) => {
            return Err(ResponseType::UnsupportedContentFormat);
        }
        Err(CodecError::Malformed { .. }) => return Err(ResponseType::BadRequest),
    };
    if records.is_empty() {
        return Err(ResponseType::BadRequest);
    }
    records
        .iter()
        .map(|record| validate(node, path, record))
        .collect()
}

/// Checks one decoded record against the model (under `path`, which it must be within) and
/// converts its value to the resource's declared type.
pub(super) fn validate(node: &Node, path: &Lwm2mPath, record: &Record) -> Result<Change, Failure> {
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

/// Resource-specific value constraints, checked before anything changes.
pub(super) fn check_special(node: &Node, object: u16, changes: &[Change]) -> Result<(), Failure> {
    let updating = node.firmware_state() == FirmwareState::Updating;
    let selects_file = changes.iter().any(|change| {
        change.resource == objects::AGENT_FILE_PATH
            && matches!(&change.value, Value::String(name) if !name.is_empty())
    });
    let file_selected = matches!(
        node.tree.get(objects::AGENT, 0, objects::AGENT_FILE_PATH),
        Some(Value::String(name)) if !name.is_empty()
    );
    for change in changes {
        let bad = match (object, change.resource, &change.value) {
            (objects::SERVER, objects::SERVER_LIFETIME, Value::Integer(secs)) => *secs < 1,
            (
                objects::SERVER,
                objects::SERVER_DEFAULT_PMIN | objects::SERVER_DEFAULT_PMAX,
                Value::Integer(secs),
            ) => !(0..=i64::from(u32::MAX)).contains(secs),
            (objects::SERVER, objects::SERVER_BINDING, Value::String(binding)) => {
                binding.is_empty() || !binding.chars().all(|c| "UTSNQ".contains(c))
            }
            (objects::AGENT, 4, Value::String(level)) => !LOG_LEVELS.contains(&level.as_str()),
            (objects::AGENT, objects::AGENT_FILE_DATA, _) => !(selects_file || file_selected),
            (objects::LIGHT_CONTROL, objects::LIGHT_DIMMER, Value::Integer(level)) => {
                !(0..=100).contains(level)
            }
            (objects::LIGHT_CONTROL, objects::LIGHT_ON_TIME, Value::Integer(secs)) => *secs < 0,
            (objects::FIRMWARE, objects::FIRMWARE_PACKAGE_URI, Value::String(uri)) => {
                uri.len() > 255
            }
            _ => false,
        };
        if bad {
            return Err(ResponseType::BadRequest);
        }
        let firmware_input = object == objects::FIRMWARE
            && matches!(
                change.resource,
                objects::FIRMWARE_PACKAGE | objects::FIRMWARE_PACKAGE_URI
            );
        if firmware_input && updating {
            return Err(ResponseType::MethodNotAllowed);
        }
    }
    Ok(())
}

/// Applies validated changes under `path` and reports what must follow.
pub(super) fn apply(
    node: &mut Node,
    sub_device: Option<usize>,
    now: Instant,
    path: &Lwm2mPath,
    mode: Mode,
    changes: Vec<Change>,
) -> Written {
    let object = path.object;
    let mut written = Written::default();
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
                if let (objects::SERVER, objects::SERVER_LIFETIME, Value::Integer(secs), None) =
                    (object, change.resource, &change.value, sub_device)
                {
                    let secs = u64::try_from(*secs).unwrap_or(1);
                    written.action = Some(DeviceAction::LifetimeChanged(Duration::from_secs(secs)));
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
        if touched.contains(&objects::FIRMWARE_PACKAGE) {
            let delivered = match node
                .tree
                .get(objects::FIRMWARE, 0, objects::FIRMWARE_PACKAGE)
            {
                Some(Value::Opaque(bytes)) => !bytes.is_empty() && bytes.as_slice() != [0],
                _ => false,
            };
            // The package itself is not kept: only its arrival matters.
            node.tree.set(
                objects::FIRMWARE,
                0,
                objects::FIRMWARE_PACKAGE,
                Value::Opaque(Vec::new()),
            );
            written.package = Some(delivered);
            written.action = Some(DeviceAction::CancelDownload { sub_device });
        } else if touched.contains(&objects::FIRMWARE_PACKAGE_URI) {
            match node
                .tree
                .get(objects::FIRMWARE, 0, objects::FIRMWARE_PACKAGE_URI)
            {
                Some(Value::String(uri)) if !uri.is_empty() => {
                    let uri = uri.clone();
                    node.firmware_download_started();
                    written.action = Some(DeviceAction::DownloadFirmware { sub_device, uri });
                }
                _ => {
                    node.firmware_reset(crate::model::firmware::result::INITIAL);
                    written.action = Some(DeviceAction::CancelDownload { sub_device });
                }
            }
        }
    }
    if object == objects::AGENT && touched.contains(&objects::AGENT_FILE_DATA) {
        node.store_file();
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
    if object == objects::LIGHT_CONTROL {
        node.lights_written(now);
    }
    written
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
