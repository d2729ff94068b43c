//! Read: collect the records under a path and encode them in the requested format.

use coap_lite::ResponseType;
use fleetbench_lwm2m::codec::{self, CodecError, Record};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::ResourceType;

use super::handle::Failure;
use super::message;
use crate::model::{Instance, Node, ObjectTree, Resource, ResourceValue, objects};

/// 4.04 unless every id on `path` exists in `tree`.
pub(super) fn check_exists(tree: &ObjectTree, path: &Lwm2mPath) -> Result<(), Failure> {
    let object = tree.object(path.object).ok_or(ResponseType::NotFound)?;
    let Some(instance) = path.instance else {
        return Ok(());
    };
    let instance = object
        .instances
        .get(&instance)
        .ok_or(ResponseType::NotFound)?;
    let Some(resource) = path.resource else {
        return Ok(());
    };
    let resource = instance.get(&resource).ok_or(ResponseType::NotFound)?;
    match (path.resource_instance, &resource.value) {
        (None, _) => Ok(()),
        (Some(id), ResourceValue::Multiple(values)) if values.contains_key(&id) => Ok(()),
        (Some(_), _) => Err(ResponseType::NotFound),
    }
}

/// Reads `path` (which exists) in `accept`, or in the default format when `None`: text/plain
/// (opaque for opaque resources) for a single value, TLV otherwise.
pub(super) fn read(
    node: &Node,
    path: &Lwm2mPath,
    accept: Option<ContentFormat>,
) -> Result<coap_lite::Packet, Failure> {
    let tree = &node.tree;
    let records = readable_records(node, path)?;
    let format = accept.unwrap_or_else(|| default_format(tree, path));
    match format {
        ContentFormat::LinkFormat => return Err(ResponseType::NotAcceptable),
        ContentFormat::TextPlain | ContentFormat::Opaque | ContentFormat::Cbor
            if records.len() != 1 || !is_single_value(tree, path) =>
        {
            return Err(ResponseType::NotAcceptable);
        }
        _ => {}
    }
    match codec::encode(format, path, &records) {
        Ok(payload) => Ok(message::content(format, payload)),
        Err(CodecError::Unsupported { .. }) => Err(ResponseType::NotAcceptable),
        Err(CodecError::Malformed { .. }) => Err(ResponseType::InternalServerError),
    }
}

/// The records a Read of `path` (which exists) returns: [`collect`], with the agent's File
/// Data showing the file selected in File Path.
pub(super) fn readable_records(node: &Node, path: &Lwm2mPath) -> Result<Vec<Record>, Failure> {
    let mut records = collect(&node.tree, path)?;
    let file_data = Lwm2mPath::resource(objects::AGENT, 0, objects::AGENT_FILE_DATA);
    for record in &mut records {
        if record.path.without_prefix() == file_data {
            record.value = fleetbench_lwm2m::value::Value::Opaque(node.selected_file_data());
        }
    }
    Ok(records)
}

/// Whether `path` designates exactly one value (a single-instance resource or a resource
/// instance).
fn is_single_value(tree: &ObjectTree, path: &Lwm2mPath) -> bool {
    match (path.instance, path.resource, path.resource_instance) {
        (Some(_), Some(_), Some(_)) => true,
        (Some(instance), Some(resource), None) => tree
            .resource(path.object, instance, resource)
            .is_some_and(|r| !r.is_multiple()),
        _ => false,
    }
}

fn default_format(tree: &ObjectTree, path: &Lwm2mPath) -> ContentFormat {
    if !is_single_value(tree, path) {
        return ContentFormat::Tlv;
    }
    let kind = path
        .instance
        .zip(path.resource)
        .and_then(|(i, r)| tree.resource(path.object, i, r))
        .map(|r| r.kind);
    if kind == Some(ResourceType::Opaque) {
        ContentFormat::Opaque
    } else {
        ContentFormat::TextPlain
    }
}

/// The readable records under `path` (which exists): 4.05 when `path` is a resource that is
/// not readable.
pub(super) fn collect(tree: &ObjectTree, path: &Lwm2mPath) -> Result<Vec<Record>, Failure> {
    let prefix = path.prefix.as_deref();
    let mut records = Vec::new();
    let Some(object) = tree.object(path.object) else {
        return Err(ResponseType::NotFound);
    };
    match (path.instance, path.resource) {
        (None, _) => {
            for (id, instance) in &object.instances {
                push_instance(&mut records, prefix, path.object, *id, instance);
            }
        }
        (Some(id), None) => {
            let instance = object.instances.get(&id).ok_or(ResponseType::NotFound)?;
            push_instance(&mut records, prefix, path.object, id, instance);
        }
        (Some(instance), Some(resource_id)) => {
            let resource = tree
                .resource(path.object, instance, resource_id)
                .ok_or(ResponseType::NotFound)?;
            if !resource.operations.readable() {
                return Err(ResponseType::MethodNotAllowed);
            }
            let at = Lwm2mPath::resource(path.object, instance, resource_id).with_prefix(prefix);
            push_resource(&mut records, &at, resource, path.resource_instance);
        }
    }
    Ok(records)
}

fn push_instance(
    records: &mut Vec<Record>,
    prefix: Option<&str>,
    object: u16,
    instance_id: u16,
    instance: &Instance,
) {
    for (resource_id, resource) in instance {
        if resource.operations.readable() {
            let at = Lwm2mPath::resource(object, instance_id, *resource_id).with_prefix(prefix);
            push_resource(records, &at, resource, None);
        }
    }
}

fn push_resource(
    records: &mut Vec<Record>,
    at: &Lwm2mPath,
    resource: &Resource,
    only: Option<u16>,
) {
    match &resource.value {
        ResourceValue::Single(value) => records.push(Record {
            path: at.clone(),
            value: value.clone(),
        }),
        ResourceValue::Multiple(values) => {
            for (id, value) in values {
                if only.is_none_or(|only| only == *id) {
                    records.push(Record {
                        path: Lwm2mPath {
                            resource_instance: Some(*id),
                            ..at.clone()
                        },
                        value: value.clone(),
                    });
                }
            }
        }
        ResourceValue::Executable => {}
    }
}
