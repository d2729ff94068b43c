//! The LwM2M 1.1 composite operations on the root path `/` (TS Core 1.1 §6.3.8, §6.3.9;
//! TS Transport 1.1 §6.4, RFC 8132 FETCH/iPATCH), in SenML JSON (110) or SenML CBOR (112).
//!
//! - **Read-Composite**: `FETCH /`, Content-Format = the path list's format, optional Accept
//!   for the answer (default: the request's format). The path list may name `/`, objects,
//!   instances, resources and resource instances, on the device or behind an Object 25
//!   prefix (`/dev0/3303/0`: with SenML the prefix is part of the record names, Gateway TS
//!   §9). The answer is 2.05 with one record per readable value, named by its full path,
//!   each value once even when paths overlap, in the order of the list. As Leshan's client
//!   does, a path that does not exist (or may not be read: Security, an executable resource)
//!   is left out of the answer; only when *no* path exists is the answer 4.04, and 4.05
//!   when paths exist but none may be read. `/` reads the device's own objects (not the
//!   sub-devices'; name a prefix for those). A FETCH with Observe gets the same answer
//!   without an Observe option: Observe-Composite is not implemented, which RFC 7641 §4.1
//!   tells the server by that absence.
//! - **Write-Composite**: `iPATCH /` with records (full names). Atomic: every record is
//!   decoded and checked against the model first (4.00 bad value or name, 4.04 unknown
//!   instance or resource, 4.05 not writable, 4.01 Security); only if all pass is anything
//!   written, each instance as a partial update (POST semantics: resource instances merge).
//!   2.04. Side effects (lifetime, firmware URI) follow as for a Write; when several records
//!   have one, the first is carried out.
//! - Request formats other than SenML JSON/CBOR: 4.15; no Content-Format: 4.00; an Accept
//!   other than SenML JSON/CBOR: 4.06.

use std::collections::{BTreeMap, BTreeSet};

use coap_lite::{CoapOption, Packet, ResponseType};
use fleetbench_lwm2m::codec::composite::{self, CompositePath};
use fleetbench_lwm2m::codec::{CodecError, Record, no_types};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use tokio::time::Instant;

use super::handle::{Failure, finish_write};
use super::message::{self, FormatOption};
use super::{Device, DeviceAction, read, write};
use crate::model::{Node, objects};

/// The format of a composite request body: SenML JSON or CBOR.
fn body_format(request: &Packet) -> Result<ContentFormat, Failure> {
    match message::format_option(request, CoapOption::ContentFormat) {
        FormatOption::Known(format @ (ContentFormat::SenmlJson | ContentFormat::SenmlCbor)) => {
            Ok(format)
        }
        FormatOption::Absent => Err(ResponseType::BadRequest),
        FormatOption::Known(_) | FormatOption::Unknown(_) => {
            Err(ResponseType::UnsupportedContentFormat)
        }
    }
}

fn codec_failure(err: &CodecError) -> Failure {
    match err {
        CodecError::Unsupported { .. } => ResponseType::UnsupportedContentFormat,
        CodecError::Malformed { .. } => ResponseType::BadRequest,
    }
}

/// How one listed path fared.
enum Lookup {
    Records(Vec<Record>),
    Missing,
    Forbidden,
}

fn lookup(node: &mut Node, now: Instant, path: &Lwm2mPath) -> Lookup {
    if path.object == objects::SECURITY && node.role().is_client() {
        return Lookup::Forbidden;
    }
    node.refresh(now);
    if read::check_exists(&node.tree, path).is_err() {
        return Lookup::Missing;
    }
    match read::readable_records(node, path) {
        Ok(records) => Lookup::Records(records),
        Err(ResponseType::NotFound) => Lookup::Missing,
        Err(_) => Lookup::Forbidden,
    }
}

/// The records under a path list, and how many listed paths existed and were readable.
pub(super) struct Collected {
    pub(super) records: Vec<Record>,
    existing: usize,
    readable: usize,
}

/// Collects the records of a Read-Composite of `paths`: each value once, in list order.
pub(super) fn collect(device: &mut Device, now: Instant, paths: &[CompositePath]) -> Collected {
    let mut records = Vec::new();
    let mut seen = BTreeSet::new();
    let (mut existing, mut readable) = (0usize, 0usize);
    for entry in paths {
        let outcomes: Vec<Lookup> = match entry {
            CompositePath::Root => {
                let node = &mut device.gateway;
                let ids: Vec<u16> = node.tree.objects().map(|(id, _)| id).collect();
                ids.iter()
                    .map(|id| lookup(node, now, &Lwm2mPath::object(*id)))
                    .collect()
            }
            CompositePath::Path(path) => match device.node_mut(path.prefix.as_deref()) {
                Some((node, _)) => vec![lookup(node, now, path)],
                None => vec![Lookup::Missing],
            },
        };
        for outcome in outcomes {
            match outcome {
                Lookup::Records(found) => {
                    existing += 1;
                    readable += 1;
                    for record in found {
                        if seen.insert(record.path.clone()) {
                            records.push(record);
                        }
                    }
                }
                Lookup::Forbidden => existing += 1,
                Lookup::Missing => {}
            }
        }
    }
    Collected {
        records,
        existing,
        readable,
    }
}

/// Read-Composite: `FETCH /` with a path list.
pub(super) fn read_composite(
    device: &mut Device,
    now: Instant,
    request: &Packet,
) -> Result<Packet, Failure> {
    let format = body_format(request)?;
    let answer_format = match message::format_option(request, CoapOption::Accept) {
        FormatOption::Absent => format,
        FormatOption::Known(accept @ (ContentFormat::SenmlJson | ContentFormat::SenmlCbor)) => {
            accept
        }
        FormatOption::Known(_) | FormatOption::Unknown(_) => {
            return Err(ResponseType::NotAcceptable);
        }
    };
    let paths =
        composite::decode_paths(format, &request.payload).map_err(|err| codec_failure(&err))?;
    if paths.is_empty() {
        return Err(ResponseType::BadRequest);
    }
    let Collected {
        records,
        existing,
        readable,
    } = collect(device, now, &paths);
    if existing == 0 {
        return Err(ResponseType::NotFound);
    }
    if readable == 0 {
        return Err(ResponseType::MethodNotAllowed);
    }
    match composite::encode_records(answer_format, &records) {
        Ok(payload) => Ok(message::content(answer_format, payload)),
        Err(CodecError::Unsupported { .. }) => Err(ResponseType::NotAcceptable),
        Err(CodecError::Malformed { .. }) => Err(ResponseType::InternalServerError),
    }
}

/// The changes for one instance, validated, waiting to be applied.
struct InstanceChanges {
    path: Lwm2mPath,
    changes: Vec<write::Change>,
}

/// Write-Composite: `iPATCH /` with records. All or nothing.
pub(super) fn write_composite(
    device: &mut Device,
    now: Instant,
    request: &Packet,
) -> Result<Option<DeviceAction>, Failure> {
    let format = body_format(request)?;
    let records = composite::decode_records(format, &request.payload, &no_types)
        .map_err(|err| codec_failure(&err))?;
    if records.is_empty() {
        return Err(ResponseType::BadRequest);
    }
    let mut by_instance: BTreeMap<Lwm2mPath, Vec<Record>> = BTreeMap::new();
    for record in records {
        let Some(instance) = record.path.instance else {
            return Err(ResponseType::BadRequest);
        };
        let key = Lwm2mPath::instance(record.path.object, instance)
            .with_prefix(record.path.prefix.as_deref());
        by_instance.entry(key).or_default().push(record);
    }
    // Check everything before changing anything.
    let mut validated = Vec::with_capacity(by_instance.len());
    for (path, records) in by_instance {
        let (node, _) = device
            .node_mut(path.prefix.as_deref())
            .ok_or(ResponseType::NotFound)?;
        if path.object == objects::SECURITY && node.role().is_client() {
            return Err(ResponseType::Unauthorized);
        }
        node.refresh(now);
        read::check_exists(&node.tree, &path)?;
        let changes = records
            .iter()
            .map(|record| write::validate(node, &path, record))
            .collect::<Result<Vec<_>, _>>()?;
        write::check_special(node, path.object, &changes)?;
        validated.push(InstanceChanges { path, changes });
    }
    let mut action = None;
    for InstanceChanges { path, changes } in validated {
        let prefix = path.prefix.as_deref();
        let Some((node, sub_device)) = device.node_mut(prefix) else {
            continue;
        };
        let written = write::apply(node, sub_device, now, &path, write::Mode::Update, changes);
        let done = finish_write(device, prefix, written);
        if action.is_none() {
            action = done;
        }
    }
    Ok(action)
}
