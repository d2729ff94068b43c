//! `application/octet-stream` (Content-Format 42): one opaque resource value, raw bytes.

use super::{CodecError, Record, check_single_base, single_record};
use crate::content_format::ContentFormat;
use crate::path::Lwm2mPath;
use crate::value::Value;

const FORMAT: ContentFormat = ContentFormat::Opaque;

/// Encodes the single opaque record at `base`.
pub fn encode(base: &Lwm2mPath, records: &[Record]) -> Result<Vec<u8>, CodecError> {
    match &single_record(FORMAT, base, records)?.value {
        Value::Opaque(bytes) => Ok(bytes.clone()),
        other => Err(CodecError::unsupported(
            FORMAT,
            format!(
                "only opaque values, got {:?} at {base}",
                other.resource_type()
            ),
        )),
    }
}

/// Decodes `payload` as the opaque value of the resource at `base`.
pub fn decode(base: &Lwm2mPath, payload: &[u8]) -> Result<Vec<Record>, CodecError> {
    check_single_base(FORMAT, base)?;
    Ok(vec![Record::new(
        base.clone(),
        Value::Opaque(payload.to_vec()),
    )])
}
