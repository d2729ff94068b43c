//! `text/plain` (Content-Format 0): one resource value as text (LwM2M 1.1 §7.4.1).
//!
//! Integers, unsigned integers and times are decimal, floats use Rust's shortest round-trip
//! notation, booleans are `0`/`1`, object links `3:0`, opaque values standard base64. The
//! wire carries no type: decoding asks the [`TypeLookup`] and falls back to a string.

use base64::Engine;

use super::{
    CodecError, Record, TypeLookup, b64, check_single_base, format_object_link, parse_object_link,
    single_record, type_of,
};
use crate::content_format::ContentFormat;
use crate::path::Lwm2mPath;
use crate::value::{ResourceType, Value};

const FORMAT: ContentFormat = ContentFormat::TextPlain;

/// Formats one value as LwM2M text.
pub fn format_value(value: &Value) -> String {
    match value {
        Value::Integer(v) | Value::Time(v) => v.to_string(),
        Value::UnsignedInteger(v) => v.to_string(),
        Value::Float(v) => v.to_string(),
        Value::Boolean(v) => if *v { "1" } else { "0" }.to_owned(),
        Value::String(v) | Value::CoreLink(v) => v.clone(),
        Value::Opaque(v) => b64::STANDARD.encode(v),
        Value::ObjectLink { object, instance } => format_object_link(*object, *instance),
    }
}

/// Why a text value did not parse: byte offset in the text and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextValueError {
    /// Byte offset of the problem in the text.
    pub offset: usize,
    /// Why, naming the expected type and the offending text.
    pub reason: String,
}

/// Parses LwM2M text as a value of type `kind` (`None` or [`ResourceType::None`]: a string).
pub fn parse_value(text: &str, kind: Option<ResourceType>) -> Result<Value, TextValueError> {
    let bad = |what: &str| TextValueError {
        offset: 0,
        reason: format!("expected {what}, found {:?}", shorten(text)),
    };
    Ok(match kind {
        Some(ResourceType::Integer) => {
            Value::Integer(text.parse().map_err(|_| bad("a signed 64-bit integer"))?)
        }
        Some(ResourceType::Time) => {
            Value::Time(text.parse().map_err(|_| bad("a time in integer seconds"))?)
        }
        Some(ResourceType::UnsignedInteger) => Value::UnsignedInteger(
            text.parse()
                .map_err(|_| bad("an unsigned 64-bit integer"))?,
        ),
        Some(ResourceType::Float) => Value::Float(text.parse().map_err(|_| bad("a float"))?),
        Some(ResourceType::Boolean) => match text {
            "0" => Value::Boolean(false),
            "1" => Value::Boolean(true),
            _ => return Err(bad("a boolean 0 or 1")),
        },
        Some(ResourceType::ObjectLink) => {
            let (object, instance) =
                parse_object_link(text).ok_or_else(|| bad("an object link like 3:0"))?;
            Value::ObjectLink { object, instance }
        }
        Some(ResourceType::Opaque) => Value::Opaque(b64::STANDARD.decode(text).map_err(|err| {
            let offset = match err {
                base64::DecodeError::InvalidByte(offset, _)
                | base64::DecodeError::InvalidLastSymbol(offset, _) => offset,
                _ => text.len(),
            };
            TextValueError {
                offset,
                reason: format!("opaque value is not valid base64: {err}"),
            }
        })?),
        Some(ResourceType::CoreLink) => Value::CoreLink(text.to_owned()),
        Some(ResourceType::String | ResourceType::None) | None => Value::String(text.to_owned()),
    })
}

/// At most 40 characters of `text`, for error messages.
pub(crate) fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Encodes the single record at `base` (a resource or resource instance path).
pub fn encode(base: &Lwm2mPath, records: &[Record]) -> Result<Vec<u8>, CodecError> {
    let record = single_record(FORMAT, base, records)?;
    Ok(format_value(&record.value).into_bytes())
}

/// Decodes the value of the resource at `base`, typed by `types`.
pub fn decode(
    base: &Lwm2mPath,
    payload: &[u8],
    types: TypeLookup<'_>,
) -> Result<Vec<Record>, CodecError> {
    check_single_base(FORMAT, base)?;
    let text = std::str::from_utf8(payload).map_err(|err| {
        CodecError::malformed(
            FORMAT,
            err.valid_up_to(),
            format!("text for {base} is not valid UTF-8"),
        )
    })?;
    let value = parse_value(text, type_of(types, base)).map_err(|err| {
        CodecError::malformed(
            FORMAT,
            err.offset,
            format!("value of {base}: {}", err.reason),
        )
    })?;
    Ok(vec![Record::new(base.clone(), value)])
}
