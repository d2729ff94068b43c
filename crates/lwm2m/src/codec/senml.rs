//! The SenML record model (RFC 8428) shared by SenML JSON and SenML CBOR, as LwM2M 1.1 uses it
//! (§7.4.4, §7.4.5).
//!
//! A record's name is the running base name `bn` followed by its name `n`; it resolves to a full
//! LwM2M path, prefix included (`/dev0/3303/0/5700`). Values: `v` number, `vs` string, `vb`
//! boolean, `vd` opaque (base64url text in JSON, a byte string in CBOR), `vlo` object link
//! `3:0`. Time fields (`bt`, `t`), units and `bver` are accepted and ignored; base values and
//! sums (`bv`, `bs`, `s`) and must-understand fields (names ending in `_`) are rejected.
//!
//! Numbers map back to the declared type from the [`TypeLookup`]: integer, unsigned integer,
//! float or time; without a type an integral number is an integer and anything else a float.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

use super::{CodecError, Record, TypeLookup, format_object_link, parse_object_link, type_of};
use crate::content_format::ContentFormat;
use crate::path::Lwm2mPath;
use crate::value::{ResourceType, Value};

/// A SenML number as it came off the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    /// An integer (CBOR integers reach 65 bits, hence i128).
    Int(i128),
    /// A float.
    Float(f64),
}

/// Opaque data as it came off the wire: JSON carries base64url text, CBOR a byte string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    /// Text (to be base64url-decoded).
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

/// The value field of one incoming SenML record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WireValue {
    /// `v`.
    Number(Number),
    /// `vs`.
    Text(String),
    /// `vb`.
    Bool(bool),
    /// `vd`.
    Data(Data),
    /// `vlo`.
    ObjectLink(String),
}

impl WireValue {
    fn field(&self) -> &'static str {
        match self {
            WireValue::Number(_) => "v",
            WireValue::Text(_) => "vs",
            WireValue::Bool(_) => "vb",
            WireValue::Data(_) => "vd",
            WireValue::ObjectLink(_) => "vlo",
        }
    }
}

/// One incoming SenML record (only the fields LwM2M uses).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct InRecord {
    pub(crate) base_name: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) value: Option<WireValue>,
}

enum Field {
    BaseName,
    Name,
    Value,
    StringValue,
    BoolValue,
    DataValue,
    ObjectLinkValue,
    Ignored,
    Rejected(String),
}

impl Field {
    fn from_label(label: i128) -> Self {
        match label {
            -2 => Field::BaseName,
            0 => Field::Name,
            2 => Field::Value,
            3 => Field::StringValue,
            4 => Field::BoolValue,
            8 => Field::DataValue,
            -5 => Field::Rejected("bv (base value)".into()),
            -6 => Field::Rejected("bs (base sum)".into()),
            5 => Field::Rejected("s (sum)".into()),
            _ => Field::Ignored,
        }
    }

    fn from_name(name: &str) -> Self {
        match name {
            "bn" => Field::BaseName,
            "n" => Field::Name,
            "v" => Field::Value,
            "vs" => Field::StringValue,
            "vb" => Field::BoolValue,
            "vd" => Field::DataValue,
            "vlo" => Field::ObjectLinkValue,
            "bv" => Field::Rejected("bv (base value)".into()),
            "bs" => Field::Rejected("bs (base sum)".into()),
            "s" => Field::Rejected("s (sum)".into()),
            other if other.ends_with('_') => {
                Field::Rejected(format!("{other} (must-understand field)"))
            }
            _ => Field::Ignored,
        }
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SenML field name or label")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(Field::from_name(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field, E> {
                Ok(Field::from_label(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field, E> {
                Ok(Field::from_label(i128::from(v)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Field, E> {
                Ok(Field::from_label(v))
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Field, E> {
                Ok(Field::Ignored)
            }
        }
        deserializer.deserialize_any(FieldVisitor)
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::Int(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number::Int(i128::from(v)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Number, E> {
                Ok(Number::Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Number, E> {
                i128::try_from(v)
                    .map(Number::Int)
                    .map_err(|_| E::custom(format!("number {v} is too large")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl Visitor<'_> for DataVisitor {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64url text or a byte string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Data, E> {
                Ok(Data::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Data, E> {
                Ok(Data::Text(v))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Data, E> {
                Ok(Data::Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Data, E> {
                Ok(Data::Bytes(v))
            }
        }
        deserializer.deserialize_any(DataVisitor)
    }
}

impl<'de> Deserialize<'de> for InRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RecordVisitor;
        impl<'de> Visitor<'de> for RecordVisitor {
            type Value = InRecord;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SenML record (a map)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InRecord, A::Error> {
                let mut record = InRecord::default();
                let set_value = |record: &mut InRecord, value: WireValue| -> Result<(), A::Error> {
                    match &record.value {
                        Some(old) => Err(de::Error::custom(format!(
                            "record has two value fields: {} and {}",
                            old.field(),
                            value.field()
                        ))),
                        None => {
                            record.value = Some(value);
                            Ok(())
                        }
                    }
                };
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::BaseName => {
                            if record.base_name.replace(map.next_value()?).is_some() {
                                return Err(de::Error::custom("duplicate field bn"));
                            }
                        }
                        Field::Name => {
                            if record.name.replace(map.next_value()?).is_some() {
                                return Err(de::Error::custom("duplicate field n"));
                            }
                        }
                        Field::Value => {
                            set_value(&mut record, WireValue::Number(map.next_value()?))?
                        }
                        Field::StringValue => {
                            set_value(&mut record, WireValue::Text(map.next_value()?))?
                        }
                        Field::BoolValue => {
                            set_value(&mut record, WireValue::Bool(map.next_value()?))?
                        }
                        Field::DataValue => {
                            set_value(&mut record, WireValue::Data(map.next_value()?))?
                        }
                        Field::ObjectLinkValue => {
                            set_value(&mut record, WireValue::ObjectLink(map.next_value()?))?
                        }
                        Field::Ignored => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        Field::Rejected(what) => {
                            return Err(de::Error::custom(format!(
                                "unsupported SenML field {what}"
                            )));
                        }
                    }
                }
                Ok(record)
            }
        }
        deserializer.deserialize_map(RecordVisitor)
    }
}

/// Resolves incoming records (each with its byte offset) to LwM2M records. `data` turns a `vd`
/// field into bytes (format-specific) or says why it cannot.
pub(crate) fn resolve(
    format: ContentFormat,
    records: Vec<(usize, InRecord)>,
    types: TypeLookup<'_>,
    data: impl Fn(Data) -> Result<Vec<u8>, String>,
) -> Result<Vec<Record>, CodecError> {
    let mut out = Vec::with_capacity(records.len());
    let mut base_name = String::new();
    for (index, (offset, record)) in records.into_iter().enumerate() {
        let fail = |reason: String| {
            CodecError::malformed(format, offset, format!("record {index}: {reason}"))
        };
        if let Some(bn) = record.base_name {
            base_name = bn;
        }
        let name = format!("{base_name}{}", record.name.as_deref().unwrap_or(""));
        if name.is_empty() {
            return Err(fail("no name (bn + n is empty)".into()));
        }
        let path: Lwm2mPath = name
            .parse()
            .map_err(|err| fail(format!("name {name:?}: {err}")))?;
        if path.resource.is_none() {
            return Err(fail(format!("name {name:?} is not a resource path")));
        }
        let Some(wire) = record.value else {
            return Err(fail(format!("{path} has no value (v, vs, vb, vd or vlo)")));
        };
        let value = to_value(wire, type_of(types, &path), &data)
            .map_err(|reason| fail(format!("{path}: {reason}")))?;
        out.push(Record::new(path, value));
    }
    Ok(out)
}

fn to_value(
    wire: WireValue,
    kind: Option<ResourceType>,
    data: &impl Fn(Data) -> Result<Vec<u8>, String>,
) -> Result<Value, String> {
    let field = wire.field();
    let mismatch = || {
        Err(format!(
            "declared type {kind:?} cannot come in field {field}"
        ))
    };
    match (wire, kind) {
        (WireValue::Number(n), Some(ResourceType::Integer)) => {
            Ok(Value::Integer(integral(n, "integer")?))
        }
        (WireValue::Number(n), Some(ResourceType::Time)) => Ok(Value::Time(integral(n, "time")?)),
        (WireValue::Number(n), Some(ResourceType::UnsignedInteger)) => {
            Ok(Value::UnsignedInteger(integral(n, "unsigned integer")?))
        }
        (WireValue::Number(Number::Float(v)), Some(ResourceType::Float)) => Ok(Value::Float(v)),
        (WireValue::Number(Number::Int(v)), Some(ResourceType::Float)) => {
            Ok(Value::Float(v as f64))
        }
        (WireValue::Number(Number::Float(v)), None | Some(ResourceType::None)) => {
            Ok(Value::Float(v))
        }
        (WireValue::Number(Number::Int(v)), None | Some(ResourceType::None)) => i64::try_from(v)
            .map(Value::Integer)
            .or_else(|_| u64::try_from(v).map(Value::UnsignedInteger))
            .map_err(|_| format!("number {v} does not fit 64 bits")),
        (WireValue::Text(v), None | Some(ResourceType::String | ResourceType::None)) => {
            Ok(Value::String(v))
        }
        (WireValue::Text(v), Some(ResourceType::CoreLink)) => Ok(Value::CoreLink(v)),
        (WireValue::Bool(v), None | Some(ResourceType::Boolean | ResourceType::None)) => {
            Ok(Value::Boolean(v))
        }
        (WireValue::Data(v), None | Some(ResourceType::Opaque | ResourceType::None)) => {
            Ok(Value::Opaque(data(v)?))
        }
        (WireValue::ObjectLink(v), None | Some(ResourceType::ObjectLink | ResourceType::None)) => {
            parse_object_link(&v)
                .map(|(object, instance)| Value::ObjectLink { object, instance })
                .ok_or_else(|| {
                    format!(
                        "vlo {:?} is not an object link like 3:0",
                        super::text::shorten(&v)
                    )
                })
        }
        _ => mismatch(),
    }
}

/// A number that must be integral and fit `T` (i64 or u64).
fn integral<T: TryFrom<i128>>(number: Number, what: &str) -> Result<T, String> {
    let wide = match number {
        Number::Int(v) => v,
        // Integral floats within ±2^64 convert exactly; the range check keeps the cast honest.
        Number::Float(v) if v.fract() == 0.0 && v.abs() < 1.9e19 => v as i128,
        Number::Float(v) => return Err(format!("number {v} is not an {what}")),
    };
    T::try_from(wide).map_err(|_| format!("number {wide} does not fit an {what}"))
}

/// One outgoing SenML record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutRecord<'a> {
    pub(crate) base_name: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) value: &'a Value,
}

/// Builds outgoing records for `records` under `base`: the first record carries `bn` = the
/// base path, every record `n` = the rest of its path (omitted when empty).
pub(crate) fn build<'r>(
    format: ContentFormat,
    base: &Lwm2mPath,
    records: &'r [Record],
) -> Result<Vec<OutRecord<'r>>, CodecError> {
    let base_text = base.to_string();
    let mut out = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        if !record.path.starts_with(base) || record.path.resource.is_none() {
            return Err(CodecError::unsupported(
                format,
                format!(
                    "record path {} is not a resource under request path {base}",
                    record.path
                ),
            ));
        }
        let full = record.path.to_string();
        let rest = full.get(base_text.len()..).unwrap_or_default();
        out.push(OutRecord {
            base_name: (index == 0).then(|| base_text.clone()),
            name: (!rest.is_empty()).then(|| rest.to_owned()),
            value: &record.value,
        });
    }
    Ok(out)
}

/// Serializes an outgoing record with SenML JSON names (`cbor == false`) or SenML CBOR labels.
pub(crate) struct Wire<'r, 'a> {
    pub(crate) record: &'r OutRecord<'a>,
    pub(crate) cbor: bool,
}

struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl Serialize for Wire<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = self.record;
        let len = 1 + usize::from(record.base_name.is_some()) + usize::from(record.name.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        let cbor = self.cbor;
        let key = |label: i64, name: &'static str| -> Key {
            if cbor {
                Key::Label(label)
            } else {
                Key::Name(name)
            }
        };
        if let Some(bn) = &record.base_name {
            map.serialize_entry(&key(-2, "bn"), bn)?;
        }
        if let Some(n) = &record.name {
            map.serialize_entry(&key(0, "n"), n)?;
        }
        match record.value {
            Value::Integer(v) | Value::Time(v) => map.serialize_entry(&key(2, "v"), v)?,
            Value::UnsignedInteger(v) => map.serialize_entry(&key(2, "v"), v)?,
            Value::Float(v) => {
                if !cbor && !v.is_finite() {
                    return Err(serde::ser::Error::custom(format!(
                        "SenML JSON cannot carry the float {v}"
                    )));
                }
                map.serialize_entry(&key(2, "v"), v)?
            }
            Value::Boolean(v) => map.serialize_entry(&key(4, "vb"), v)?,
            Value::String(v) | Value::CoreLink(v) => map.serialize_entry(&key(3, "vs"), v)?,
            Value::Opaque(v) if cbor => map.serialize_entry(&key(8, "vd"), &Bytes(v))?,
            Value::Opaque(v) => {
                use base64::Engine;
                map.serialize_entry("vd", &super::b64::URL_SAFE.encode(v))?
            }
            Value::ObjectLink { object, instance } => {
                map.serialize_entry("vlo", &format_object_link(*object, *instance))?
            }
        }
        map.end()
    }
}

enum Key {
    Label(i64),
    Name(&'static str),
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Key::Label(label) => serializer.serialize_i64(*label),
            Key::Name(name) => serializer.serialize_str(name),
        }
    }
}
