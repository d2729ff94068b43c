//! `application/cbor` (Content-Format 60): one resource value as a CBOR data item
//! (LwM2M 1.1 §7.4.6).
//!
//! Integers and times are CBOR integers (a time may arrive wrapped in tag 1), floats CBOR
//! floats, booleans CBOR booleans, strings and CoRE links text strings, opaque values byte
//! strings, object links text `3:0`.

use ciborium::Value as Cbor;

use super::{
    CodecError, Record, TypeLookup, check_single_base, format_object_link, parse_object_link,
    single_record, type_of,
};
use crate::content_format::ContentFormat;
use crate::path::Lwm2mPath;
use crate::value::{ResourceType, Value};

const FORMAT: ContentFormat = ContentFormat::Cbor;

/// The CBOR data item for `value`.
pub fn to_cbor(value: &Value) -> Cbor {
    match value {
        Value::Integer(v) | Value::Time(v) => Cbor::Integer((*v).into()),
        Value::UnsignedInteger(v) => Cbor::Integer((*v).into()),
        Value::Float(v) => Cbor::Float(*v),
        Value::Boolean(v) => Cbor::Bool(*v),
        Value::String(v) | Value::CoreLink(v) => Cbor::Text(v.clone()),
        Value::Opaque(v) => Cbor::Bytes(v.clone()),
        Value::ObjectLink { object, instance } => {
            Cbor::Text(format_object_link(*object, *instance))
        }
    }
}

/// Reads a CBOR data item as a value of type `kind` (`None`: the item's own type). On error,
/// returns the reason naming the expected type and what was found.
pub fn from_cbor(item: Cbor, kind: Option<ResourceType>) -> Result<Value, String> {
    let found = |item: &Cbor| -> String {
        match item {
            Cbor::Integer(v) => format!("integer {}", i128::from(*v)),
            Cbor::Float(v) => format!("float {v}"),
            Cbor::Bool(v) => format!("boolean {v}"),
            Cbor::Text(v) => format!("text {:?}", super::text::shorten(v)),
            Cbor::Bytes(v) => format!("{} bytes", v.len()),
            Cbor::Tag(tag, _) => format!("tag {tag}"),
            Cbor::Null => "null".into(),
            Cbor::Array(_) => "an array".into(),
            Cbor::Map(_) => "a map".into(),
            _ => "an unknown item".into(),
        }
    };
    let mismatch = |what: &str, item: &Cbor| Err(format!("expected {what}, found {}", found(item)));
    match (kind, item) {
        (Some(ResourceType::Time), Cbor::Tag(1, inner)) => from_cbor(*inner, kind),
        (Some(ResourceType::Integer | ResourceType::Time), Cbor::Integer(v)) => {
            let v = i64::try_from(i128::from(v))
                .map_err(|_| format!("integer {} does not fit 64 bits", i128::from(v)))?;
            Ok(if kind == Some(ResourceType::Time) {
                Value::Time(v)
            } else {
                Value::Integer(v)
            })
        }
        (Some(ResourceType::UnsignedInteger), Cbor::Integer(v)) => u64::try_from(i128::from(v))
            .map(Value::UnsignedInteger)
            .map_err(|_| {
                format!(
                    "integer {} is not an unsigned 64-bit integer",
                    i128::from(v)
                )
            }),
        (Some(ResourceType::Float), Cbor::Float(v)) => Ok(Value::Float(v)),
        (Some(ResourceType::Float), Cbor::Integer(v)) => Ok(Value::Float(i128::from(v) as f64)),
        (Some(ResourceType::Boolean), Cbor::Bool(v)) => Ok(Value::Boolean(v)),
        (Some(ResourceType::String), Cbor::Text(v)) => Ok(Value::String(v)),
        (Some(ResourceType::CoreLink), Cbor::Text(v)) => Ok(Value::CoreLink(v)),
        (Some(ResourceType::Opaque), Cbor::Bytes(v)) => Ok(Value::Opaque(v)),
        (Some(ResourceType::ObjectLink), Cbor::Text(v)) => parse_object_link(&v)
            .map(|(object, instance)| Value::ObjectLink { object, instance })
            .ok_or_else(|| {
                format!(
                    "expected an object link like 3:0, found {:?}",
                    super::text::shorten(&v)
                )
            }),
        (Some(ResourceType::None) | None, Cbor::Integer(v)) => {
            let wide = i128::from(v);
            i64::try_from(wide)
                .map(Value::Integer)
                .or_else(|_| u64::try_from(wide).map(Value::UnsignedInteger))
                .map_err(|_| format!("integer {wide} does not fit 64 bits"))
        }
        (Some(ResourceType::None) | None, Cbor::Float(v)) => Ok(Value::Float(v)),
        (Some(ResourceType::None) | None, Cbor::Bool(v)) => Ok(Value::Boolean(v)),
        (Some(ResourceType::None) | None, Cbor::Text(v)) => Ok(Value::String(v)),
        (Some(ResourceType::None) | None, Cbor::Bytes(v)) => Ok(Value::Opaque(v)),
        (None | Some(ResourceType::None), item) => {
            mismatch("a number, boolean, text or bytes", &item)
        }
        (Some(kind), item) => mismatch(&format!("{kind:?}"), &item),
    }
}

/// Encodes the single record at `base`.
pub fn encode(base: &Lwm2mPath, records: &[Record]) -> Result<Vec<u8>, CodecError> {
    let record = single_record(FORMAT, base, records)?;
    let mut out = Vec::new();
    ciborium::ser::into_writer(&to_cbor(&record.value), &mut out)
        .map_err(|err| CodecError::unsupported(FORMAT, format!("CBOR encoding failed: {err}")))?;
    Ok(out)
}

/// Decodes the value of the resource at `base`.
pub fn decode(
    base: &Lwm2mPath,
    payload: &[u8],
    types: TypeLookup<'_>,
) -> Result<Vec<Record>, CodecError> {
    check_single_base(FORMAT, base)?;
    let mut reader = payload;
    let item: Cbor = ciborium::de::from_reader(&mut reader)
        .map_err(|err| cbor_error(FORMAT, payload.len() - reader.len(), err))?;
    if !reader.is_empty() {
        return Err(CodecError::malformed(
            FORMAT,
            payload.len() - reader.len(),
            format!("{} bytes after the CBOR data item", reader.len()),
        ));
    }
    let value = from_cbor(item, type_of(types, base))
        .map_err(|reason| CodecError::malformed(FORMAT, 0, format!("value of {base}: {reason}")))?;
    Ok(vec![Record::new(base.clone(), value)])
}

/// Maps a ciborium decoding error to a [`CodecError`], preferring the offset ciborium reports.
pub(crate) fn cbor_error(
    format: ContentFormat,
    fallback_offset: usize,
    err: ciborium::de::Error<std::io::Error>,
) -> CodecError {
    use ciborium::de::Error;
    match err {
        Error::Syntax(offset) => CodecError::malformed(format, offset, "invalid CBOR syntax"),
        Error::Semantic(offset, reason) => CodecError::malformed(
            format,
            offset.unwrap_or(fallback_offset),
            format!("invalid CBOR: {reason}"),
        ),
        Error::Io(err) => {
            CodecError::malformed(format, fallback_offset, format!("truncated CBOR: {err}"))
        }
        Error::RecursionLimitExceeded => {
            CodecError::malformed(format, fallback_offset, "CBOR nested too deeply")
        }
    }
}
