//! Content-format codecs: text/plain, opaque, CBOR (single value), TLV, SenML JSON and SenML
//! CBOR (and link format in [`crate::link_format`]).
//!
//! [`encode`] and [`decode`] dispatch on the [`ContentFormat`]; each format lives in its own
//! module. Every decoder takes untrusted bytes: it never panics, never allocates more than a
//! small multiple of the payload size, and reports the byte offset and the reason of a problem.
//!
//! Formats without type information on the wire (text/plain, TLV) ask a [`TypeLookup`] for
//! the declared type of each resource; SenML uses it to map numbers back to integer, unsigned,
//! float or time.

mod b64;
pub mod cbor;
pub mod composite;
pub mod harness;
pub mod opaque;
pub mod senml;
pub mod senml_cbor;
pub mod senml_json;
pub mod text;
pub mod tlv;

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

impl Record {
    /// A record of `value` at `path`.
    pub fn new(path: Lwm2mPath, value: Value) -> Self {
        Self { path, value }
    }
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

impl CodecError {
    pub(crate) fn unsupported(format: ContentFormat, reason: impl Into<String>) -> Self {
        Self::Unsupported {
            format,
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(
        format: ContentFormat,
        offset: usize,
        reason: impl Into<String>,
    ) -> Self {
        Self::Malformed {
            format,
            offset,
            reason: reason.into(),
        }
    }
}

/// Looks up a resource's declared type (by path without prefix). Used by untyped formats.
///
/// Codecs call it with the resource path `/O/I/R` (no prefix, no resource instance id), also
/// for values of resource instances.
pub type TypeLookup<'a> = &'a dyn Fn(&Lwm2mPath) -> Option<ResourceType>;

/// A [`TypeLookup`] that knows no types.
pub fn no_types(_: &Lwm2mPath) -> Option<ResourceType> {
    None
}

/// The declared type of the resource at `path` (asked without prefix and resource instance).
pub(crate) fn type_of(types: TypeLookup<'_>, path: &Lwm2mPath) -> Option<ResourceType> {
    types(&Lwm2mPath {
        prefix: None,
        resource_instance: None,
        ..path.clone()
    })
}

/// Formats an object link as LwM2M text: `object:instance`.
pub fn format_object_link(object: u16, instance: u16) -> String {
    format!("{object}:{instance}")
}

/// Parses LwM2M object-link text `object:instance` (each 0..=65535).
pub fn parse_object_link(text: &str) -> Option<(u16, u16)> {
    let (object, instance) = text.split_once(':')?;
    let number = |s: &str| -> Option<u16> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    Some((number(object)?, number(instance)?))
}

/// Encodes `records`, all under `base` (the request path), in `format`.
pub fn encode(
    format: ContentFormat,
    base: &Lwm2mPath,
    records: &[Record],
) -> Result<Vec<u8>, CodecError> {
    match format {
        ContentFormat::TextPlain => text::encode(base, records),
        ContentFormat::Opaque => opaque::encode(base, records),
        ContentFormat::Cbor => cbor::encode(base, records),
        ContentFormat::Tlv => tlv::encode(base, records),
        ContentFormat::SenmlJson => senml_json::encode(base, records),
        ContentFormat::SenmlCbor => senml_cbor::encode(base, records),
        ContentFormat::LinkFormat | ContentFormat::Lwm2mJson => Err(CodecError::unsupported(
            format,
            "not a resource-value format here (use link_format for CoRE links; legacy LwM2M JSON is not implemented)",
        )),
    }
}

/// Decodes `payload` (the answer to a request on `base`) in `format`.
pub fn decode(
    format: ContentFormat,
    base: &Lwm2mPath,
    payload: &[u8],
    types: TypeLookup<'_>,
) -> Result<Vec<Record>, CodecError> {
    match format {
        ContentFormat::TextPlain => text::decode(base, payload, types),
        ContentFormat::Opaque => opaque::decode(base, payload),
        ContentFormat::Cbor => cbor::decode(base, payload, types),
        ContentFormat::Tlv => tlv::decode(base, payload, types),
        ContentFormat::SenmlJson => senml_json::decode(base, payload, types),
        ContentFormat::SenmlCbor => senml_cbor::decode(base, payload, types),
        ContentFormat::LinkFormat | ContentFormat::Lwm2mJson => Err(CodecError::unsupported(
            format,
            "not a resource-value format here (use link_format for CoRE links; legacy LwM2M JSON is not implemented)",
        )),
    }
}

/// Checks that a single-value format is asked for exactly one record at `base`, a resource or
/// resource instance path, and returns that record.
pub(crate) fn single_record<'r>(
    format: ContentFormat,
    base: &Lwm2mPath,
    records: &'r [Record],
) -> Result<&'r Record, CodecError> {
    check_single_base(format, base)?;
    let [record] = records else {
        return Err(CodecError::unsupported(
            format,
            format!("exactly one record is needed, got {}", records.len()),
        ));
    };
    if &record.path != base {
        return Err(CodecError::unsupported(
            format,
            format!(
                "record path {} differs from request path {base}",
                record.path
            ),
        ));
    }
    Ok(record)
}

/// Checks that `base` addresses a single resource (or resource instance).
pub(crate) fn check_single_base(format: ContentFormat, base: &Lwm2mPath) -> Result<(), CodecError> {
    if base.resource.is_none() {
        return Err(CodecError::unsupported(
            format,
            format!("a single value needs a resource path, got {base}"),
        ));
    }
    Ok(())
}
