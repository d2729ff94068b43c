//! SenML JSON (`application/senml+json`, Content-Format 110; RFC 8428 §4, LwM2M 1.1 §7.4.4).
//!
//! `[{"bn":"/3/0","n":"/0","vs":"Open Mobile Alliance"},{"n":"/9","v":100}]`. Opaque values are
//! base64url without padding (either padding and the standard alphabet are accepted on input).
//! See [`super::senml`] for names and value mapping.

use base64::Engine;
use serde_json::value::RawValue;

use super::senml::{Data, InRecord, OutRecord, Wire, build, resolve};
use super::{CodecError, Record, TypeLookup, b64};
use crate::content_format::ContentFormat;
use crate::path::Lwm2mPath;

const FORMAT: ContentFormat = ContentFormat::SenmlJson;

/// Encodes `records` under `base` as a SenML JSON array.
pub fn encode(base: &Lwm2mPath, records: &[Record]) -> Result<Vec<u8>, CodecError> {
    let out = build(FORMAT, base, records)?;
    write_records(&out)
}

/// Serializes built records as a SenML JSON array.
pub(crate) fn write_records(out: &[OutRecord<'_>]) -> Result<Vec<u8>, CodecError> {
    let wire: Vec<Wire<'_, '_>> = out
        .iter()
        .map(|record| Wire {
            record,
            cbor: false,
        })
        .collect();
    serde_json::to_vec(&wire).map_err(|err| CodecError::unsupported(FORMAT, err.to_string()))
}

/// Decodes a SenML JSON array. Record names resolve to full paths; `types` maps numbers back
/// to their declared types.
pub fn decode(
    _base: &Lwm2mPath,
    payload: &[u8],
    types: TypeLookup<'_>,
) -> Result<Vec<Record>, CodecError> {
    let records = parse_records(payload)?;
    resolve(FORMAT, records, types, data_bytes)
}

/// The records of a SenML JSON array, each with its byte offset (names not yet resolved).
pub(crate) fn parse_records(payload: &[u8]) -> Result<Vec<(usize, InRecord)>, CodecError> {
    let raw: Vec<&RawValue> = serde_json::from_slice(payload)
        .map_err(|err| json_error(payload, 0, &err, "not a SenML JSON array of records"))?;
    let mut records = Vec::with_capacity(raw.len());
    for item in raw {
        let text = item.get();
        let offset = (text.as_ptr() as usize).saturating_sub(payload.as_ptr() as usize);
        let record: InRecord = serde_json::from_str(text)
            .map_err(|err| json_error(text.as_bytes(), offset, &err, "bad record"))?;
        records.push((offset, record));
    }
    Ok(records)
}

/// Turns a JSON `vd` field into bytes: base64url (or standard base64) text.
pub(crate) fn data_bytes(data: Data) -> Result<Vec<u8>, String> {
    match data {
        Data::Text(text) => b64::URL_SAFE
            .decode(text.as_bytes())
            .or_else(|_| b64::STANDARD.decode(text.as_bytes()))
            .map_err(|err| format!("vd is not base64url: {err}")),
        Data::Bytes(_) => Err("vd must be base64url text".into()),
    }
}

/// Turns a serde_json error into a byte offset in the payload: where a syntax error was seen
/// (from its line and column), or the start of the record for a data error (serde_json reports
/// those after the offending value).
fn json_error(
    text: &[u8],
    base_offset: usize,
    err: &serde_json::Error,
    context: &str,
) -> CodecError {
    if err.classify() == serde_json::error::Category::Data {
        return CodecError::malformed(FORMAT, base_offset, format!("{context}: {err}"));
    }
    let line_start = if err.line() <= 1 {
        0
    } else {
        text.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(err.line() - 2)
            .map_or(text.len(), |(index, _)| index + 1)
    };
    let offset = (line_start + err.column().saturating_sub(1)).min(text.len());
    CodecError::malformed(FORMAT, base_offset + offset, format!("{context}: {err}"))
}
