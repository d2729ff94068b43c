//! SenML CBOR (`application/senml+cbor`, Content-Format 112; RFC 8428 §6, LwM2M 1.1 §7.4.5).
//!
//! An array of maps keyed by the SenML integer labels (bn -2, n 0, v 2, vs 3, vb 4, vd 8) and
//! the text key `vlo` for object links. Opaque values are CBOR byte strings. See
//! [`super::senml`] for names and value mapping.

use super::cbor::cbor_error;
use super::senml::{Data, InRecord, OutRecord, Wire, build, resolve};
use super::{CodecError, Record, TypeLookup};
use crate::content_format::ContentFormat;
use crate::path::Lwm2mPath;

const FORMAT: ContentFormat = ContentFormat::SenmlCbor;

/// Encodes `records` under `base` as a SenML CBOR array.
pub fn encode(base: &Lwm2mPath, records: &[Record]) -> Result<Vec<u8>, CodecError> {
    let out = build(FORMAT, base, records)?;
    write_records(&out)
}

/// Serializes built records as a SenML CBOR array.
pub(crate) fn write_records(out: &[OutRecord<'_>]) -> Result<Vec<u8>, CodecError> {
    let wire: Vec<Wire<'_, '_>> = out
        .iter()
        .map(|record| Wire { record, cbor: true })
        .collect();
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&wire, &mut bytes)
        .map_err(|err| CodecError::unsupported(FORMAT, err.to_string()))?;
    Ok(bytes)
}

/// Decodes a SenML CBOR array (definite or indefinite length). Record names resolve to full
/// paths; `types` maps numbers back to their declared types.
pub fn decode(
    _base: &Lwm2mPath,
    payload: &[u8],
    types: TypeLookup<'_>,
) -> Result<Vec<Record>, CodecError> {
    let records = parse_records(payload)?;
    resolve(FORMAT, records, types, data_bytes)
}

/// Turns a CBOR `vd` field into bytes: it must be a byte string.
pub(crate) fn data_bytes(data: Data) -> Result<Vec<u8>, String> {
    match data {
        Data::Bytes(bytes) => Ok(bytes),
        Data::Text(_) => Err("vd must be a byte string".into()),
    }
}

/// The records of a SenML CBOR array, each with its byte offset (names not yet resolved).
pub(crate) fn parse_records(payload: &[u8]) -> Result<Vec<(usize, InRecord)>, CodecError> {
    let (count, mut pos) = array_header(payload)?;
    let mut records = Vec::new();
    loop {
        match count {
            Some(count) if records.len() as u64 == count => break,
            None if payload.get(pos) == Some(&0xff) => {
                pos += 1;
                break;
            }
            _ => {}
        }
        if pos >= payload.len() {
            return Err(CodecError::malformed(
                FORMAT,
                pos,
                "payload ends inside the record array",
            ));
        }
        let mut reader = &payload[pos..];
        let record: InRecord = ciborium::de::from_reader(&mut reader).map_err(|err| {
            // Semantic errors (wrong item type) are reported at the start of the record;
            // syntax and truncation errors where the decoder stopped.
            let semantic = matches!(err, ciborium::de::Error::Semantic(..));
            let consumed = payload.len() - pos - reader.len();
            match cbor_error(FORMAT, consumed, err) {
                CodecError::Malformed { reason, .. } if semantic => CodecError::malformed(
                    FORMAT,
                    pos,
                    format!("record {}: {reason}", records.len()),
                ),
                CodecError::Malformed { offset, reason, .. } => CodecError::malformed(
                    FORMAT,
                    pos + offset,
                    format!("record {}: {reason}", records.len()),
                ),
                other => other,
            }
        })?;
        records.push((pos, record));
        pos = payload.len() - reader.len();
    }
    if pos != payload.len() {
        return Err(CodecError::malformed(
            FORMAT,
            pos,
            format!("{} bytes after the record array", payload.len() - pos),
        ));
    }
    Ok(records)
}

/// Reads the CBOR array header: the element count (`None`: indefinite) and where the elements
/// start.
fn array_header(payload: &[u8]) -> Result<(Option<u64>, usize), CodecError> {
    let Some(&initial) = payload.first() else {
        return Err(CodecError::malformed(
            FORMAT,
            0,
            "empty payload: expected a CBOR array",
        ));
    };
    if initial >> 5 != 4 {
        return Err(CodecError::malformed(
            FORMAT,
            0,
            format!(
                "expected a CBOR array, found major type {} (byte 0x{initial:02x})",
                initial >> 5
            ),
        ));
    }
    let extra = match initial & 0x1f {
        small @ 0..=23 => return Ok((Some(u64::from(small)), 1)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        31 => return Ok((None, 1)),
        other => {
            return Err(CodecError::malformed(
                FORMAT,
                0,
                format!("reserved CBOR additional info {other}"),
            ));
        }
    };
    let Some(bytes) = payload.get(1..1 + extra) else {
        return Err(CodecError::malformed(
            FORMAT,
            1,
            "payload ends inside the array header",
        ));
    };
    let count = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok((Some(count), 1 + extra))
}
