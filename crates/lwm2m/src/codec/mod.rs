//! Content-format codecs: text/plain, opaque, TLV, SenML JSON, SenML CBOR (and link format in
//! [`crate::link_format`]).
//!
//! TO BE IMPLEMENTED by the codec work. The public surface below is the contract other crates
//! code against; keep it (adding is fine).

use crate::content_format::ContentFormat;
use crate::path::Lwm2mPath;
use crate::value::{ResourceType, Value};

/// One resource (or resource instance) value at a full path.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Full path (object/instance/resource[/resource instance]), with prefix if any.
    pub path: Lwm2mPath,
    /// The value.
    pub value: Value,
}

/// Why a payload could not be encoded or decoded. Messages name the field and value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The format cannot carry what was asked (e.g. text/plain with two records).
    #[error("{format:?} cannot carry this: {reason}")]
    Unsupported {
        /// The format.
        format: ContentFormat,
        /// Why.
        reason: String,
    },
    /// The payload is malformed.
    #[error("malformed {format:?} payload at byte {offset}: {reason}")]
    Malformed {
        /// The format.
        format: ContentFormat,
        /// Byte offset of the problem.
        offset: usize,
        /// Why.
        reason: String,
    },
}

/// Looks up a resource's declared type (by path without prefix). Used by untyped formats.
pub type TypeLookup<'a> = &'a dyn Fn(&Lwm2mPath) -> Option<ResourceType>;

/// Encodes `records`, all under `base` (the request path), in `format`.
pub fn encode(format: ContentFormat, base: &Lwm2mPath, records: &[Record]) -> Result<Vec<u8>, CodecError> {
    let _ = (base, records);
    Err(CodecError::Unsupported { format, reason: "not implemented yet".into() })
}

/// Decodes `payload` (the answer to a request on `base`) in `format`.
pub fn decode(
    format: ContentFormat,
    base: &Lwm2mPath,
    payload: &[u8],
    types: TypeLookup<'_>,
) -> Result<Vec<Record>, CodecError> {
    let _ = (base, payload, types);
    Err(CodecError::Unsupported { format, reason: "not implemented yet".into() })
}
