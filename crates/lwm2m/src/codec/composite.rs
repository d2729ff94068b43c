//! The payloads of the LwM2M 1.1 composite operations and of Send (TS Core 1.1 §6.3.8,
//! §6.3.9, §6.4.6; TS Transport §7.4.4, §7.4.5), in SenML JSON (110) or SenML CBOR (112) only.
//!
//! - Read-Composite and Observe-Composite (`FETCH /`) carry a *path list*: SenML records with a
//!   name and no value, `[{"n":"/3/0/0"},{"n":"/3303/0"},{"n":"/"}]`. A name may be the root
//!   `/`, an object, an instance, a resource or a resource instance, behind an Object 25
//!   prefix (`/dev0/3303/0/5700`). Base names (`bn`) apply as in any SenML pack.
//! - Their answers, Write-Composite (`iPATCH /`) and Send (`POST /dp`) carry resource *records*
//!   whose names are full paths (prefix included): `[{"n":"/3/0/0","vs":"fleetbench"}]`. We
//!   write every record with its full name in `n` and no `bn`.

use serde::Serialize;
use serde::ser::SerializeMap;

use super::senml::{InRecord, OutRecord, resolve};
use super::{CodecError, Record, TypeLookup, senml_cbor, senml_json};
use crate::content_format::ContentFormat;
use crate::path::Lwm2mPath;

/// One entry of a composite path list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CompositePath {
    /// `/`: everything the server may read.
    Root,
    /// An object, instance, resource or resource instance (with its prefix, if any).
    Path(Lwm2mPath),
}

impl std::fmt::Display for CompositePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompositePath::Root => f.write_str("/"),
            CompositePath::Path(path) => path.fmt(f),
        }
    }
}

fn check_format(format: ContentFormat) -> Result<(), CodecError> {
    match format {
        ContentFormat::SenmlJson | ContentFormat::SenmlCbor => Ok(()),
        other => Err(CodecError::unsupported(
            other,
            format!(
                "composite operations and Send use SenML JSON (110) or SenML CBOR (112), not {}",
                other.number()
            ),
        )),
    }
}

fn parse(format: ContentFormat, payload: &[u8]) -> Result<Vec<(usize, InRecord)>, CodecError> {
    check_format(format)?;
    if format == ContentFormat::SenmlJson {
        senml_json::parse_records(payload)
    } else {
        senml_cbor::parse_records(payload)
    }
}

/// Decodes a path list (the body of Read-Composite / Observe-Composite). A record that carries
/// a value, or a name that is not a path, is an error naming the record and the name.
pub fn decode_paths(
    format: ContentFormat,
    payload: &[u8],
) -> Result<Vec<CompositePath>, CodecError> {
    let records = parse(format, payload)?;
    let mut paths = Vec::with_capacity(records.len());
    let mut base_name = String::new();
    for (index, (offset, record)) in records.into_iter().enumerate() {
        let fail = |reason: String| {
            CodecError::malformed(format, offset, format!("record {index}: {reason}"))
        };
        if let Some(bn) = record.base_name {
            base_name = bn;
        }
        let name = format!("{base_name}{}", record.name.as_deref().unwrap_or(""));
        if record.value.is_some() {
            return Err(fail(format!(
                "path {name:?} carries a value: a path list has names only"
            )));
        }
        if name == "/" {
            paths.push(CompositePath::Root);
            continue;
        }
        let path: Lwm2mPath = name
            .parse()
            .map_err(|err| fail(format!("name {name:?}: {err}")))?;
        paths.push(CompositePath::Path(path));
    }
    Ok(paths)
}

/// Encodes a path list: one record per path with only its name.
pub fn encode_paths(format: ContentFormat, paths: &[CompositePath]) -> Result<Vec<u8>, CodecError> {
    check_format(format)?;
    let names: Vec<NameOnly> = paths
        .iter()
        .map(|path| NameOnly {
            name: path.to_string(),
            cbor: format == ContentFormat::SenmlCbor,
        })
        .collect();
    if format == ContentFormat::SenmlJson {
        serde_json::to_vec(&names).map_err(|err| CodecError::unsupported(format, err.to_string()))
    } else {
        let mut bytes = Vec::new();
        ciborium::ser::into_writer(&names, &mut bytes)
            .map_err(|err| CodecError::unsupported(format, err.to_string()))?;
        Ok(bytes)
    }
}

/// Encodes resource records with their full paths as names (a composite answer, a
/// Write-Composite body or a Send body). Only resource and resource-instance paths.
pub fn encode_records(format: ContentFormat, records: &[Record]) -> Result<Vec<u8>, CodecError> {
    check_format(format)?;
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        if record.path.resource.is_none() {
            return Err(CodecError::unsupported(
                format,
                format!("record path {} is not a resource", record.path),
            ));
        }
        out.push(OutRecord {
            base_name: None,
            name: Some(record.path.to_string()),
            value: &record.value,
        });
    }
    if format == ContentFormat::SenmlJson {
        senml_json::write_records(&out)
    } else {
        senml_cbor::write_records(&out)
    }
}

/// Decodes resource records whose names are full paths (a Write-Composite or Send body, or a
/// composite answer). `types` maps numbers back to declared types (asked without prefix).
pub fn decode_records(
    format: ContentFormat,
    payload: &[u8],
    types: TypeLookup<'_>,
) -> Result<Vec<Record>, CodecError> {
    let records = parse(format, payload)?;
    if format == ContentFormat::SenmlJson {
        resolve(format, records, types, senml_json::data_bytes)
    } else {
        resolve(format, records, types, senml_cbor::data_bytes)
    }
}

/// A name-only record: `{"n": ...}` or `{0: ...}`.
struct NameOnly {
    name: String,
    cbor: bool,
}

impl Serialize for NameOnly {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        if self.cbor {
            map.serialize_entry(&0i64, &self.name)?;
        } else {
            map.serialize_entry("n", &self.name)?;
        }
        map.end()
    }
}
