//! Create (`POST /O` with a TLV or SenML payload): a new instance of a creatable object
//! (3303, 3304, 3311), answered 2.01 with its Location-Path. The instance id comes from the
//! payload (a TLV object-instance entry, SenML record names), else the lowest free one.

use coap_lite::{CoapOption, Packet, ResponseType};
use fleetbench_lwm2m::codec::{self, CodecError, Record};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::Value;
use tokio::time::Instant;

use super::handle::Failure;
use super::message::{self, FormatOption};
use super::write::coerce;
use crate::model::{Node, objects};

/// Creates one instance under `path` (an object path). Returns the 2.01 response and
/// whether an instance was created.
pub(super) fn create(
    node: &mut Node,
    now: Instant,
    path: &Lwm2mPath,
    request: &Packet,
) -> Result<(Packet, bool), Failure> {
    let Some(template) = objects::ipso_instance(path.object) else {
        return Err(ResponseType::MethodNotAllowed);
    };
    let format = match message::format_option(request, CoapOption::ContentFormat) {
        FormatOption::Absent => ContentFormat::Tlv,
        FormatOption::Known(
            format @ (ContentFormat::Tlv | ContentFormat::SenmlJson | ContentFormat::SenmlCbor),
        ) => format,
        FormatOption::Known(_) | FormatOption::Unknown(_) => {
            return Err(ResponseType::UnsupportedContentFormat);
        }
    };
    let types = |p: &Lwm2mPath| template.get(&p.resource?).map(|resource| resource.kind);
    let free = node
        .free_instance(path.object)
        .ok_or(ResponseType::BadRequest)?;
    let records = match codec::decode(format, path, &request.payload, &types) {
        Ok(records) => records,
        // A TLV of bare resources: the client picks the instance id.
        Err(CodecError::Malformed { .. }) if format == ContentFormat::Tlv => {
            let at = Lwm2mPath::instance(path.object, free).with_prefix(path.prefix.as_deref());
            codec::decode(format, &at, &request.payload, &types)
                .map_err(|_| ResponseType::BadRequest)?
        }
        Err(CodecError::Unsupported { .. }) => {
            return Err(ResponseType::UnsupportedContentFormat);
        }
        Err(CodecError::Malformed { .. }) => return Err(ResponseType::BadRequest),
    };
    let mut instance = None;
    let mut values: Vec<(u16, Value)> = Vec::with_capacity(records.len());
    for Record { path: at, value } in &records {
        let (Some(id), Some(resource_id)) = (at.instance, at.resource) else {
            return Err(ResponseType::BadRequest);
        };
        if at.object != path.object || at.resource_instance.is_some() {
            return Err(ResponseType::BadRequest);
        }
        if *instance.get_or_insert(id) != id {
            // One instance per Create.
            return Err(ResponseType::BadRequest);
        }
        let resource = template.get(&resource_id).ok_or(ResponseType::BadRequest)?;
        if resource.operations.executable() {
            return Err(ResponseType::BadRequest);
        }
        let value = coerce(value, resource.kind).ok_or(ResponseType::BadRequest)?;
        values.push((resource_id, value));
    }
    let id = instance.unwrap_or(free);
    if !node.create_instance(now, path.object, id) {
        // It exists already, or the object is full.
        return Err(ResponseType::BadRequest);
    }
    for (resource, value) in values {
        node.tree.set(path.object, id, resource, value);
    }
    if path.object == objects::LIGHT_CONTROL {
        node.lights_written(now);
    }
    let mut response = message::empty(ResponseType::Created);
    let location = Lwm2mPath::instance(path.object, id).with_prefix(path.prefix.as_deref());
    for segment in location.segments() {
        response.add_option(CoapOption::LocationPath, segment.into_bytes());
    }
    Ok((response, true))
}
