//! OMA TLV (`application/vnd.oma.lwm2m+tlv`, Content-Format 11542; LwM2M 1.1 §7.4.3).
//!
//! Each entry is a header byte (bits 7-6: identifier type, bit 5: 16-bit identifier, bits
//! 4-3: length field size, bits 2-0: length when the size is 0), the identifier (8 or 16 bits),
//! an optional 8/16/24-bit length, then the value. Object instances hold resources and multiple
//! resources; multiple resources hold resource instances.
//!
//! Values: integers and times are big-endian two's complement in the shortest of 1/2/4/8 bytes,
//! unsigned integers are written like signed ones (so peers that read them as signed agree)
//! unless they exceed `i64::MAX`, floats take 4 bytes when that is exact and 8 otherwise,
//! booleans 1 byte, object links 4 bytes (object, instance), strings UTF-8, opaque raw.
//! Decoding takes the types from the [`TypeLookup`]; unknown resources decode as opaque.

use std::collections::{HashMap, HashSet};

use super::{CodecError, Record, TypeLookup, type_of};
use crate::content_format::ContentFormat;
use crate::path::{Lwm2mPath, MAX_ID};
use crate::value::{ResourceType, Value};

const FORMAT: ContentFormat = ContentFormat::Tlv;

/// The largest value a TLV entry can carry (24-bit length field).
pub const MAX_VALUE_LEN: usize = 0xff_ffff;

/// What a TLV entry identifies (bits 7-6 of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlvKind {
    /// Object instance, holding resources (`00`).
    ObjectInstance,
    /// Resource instance, holding a value (`01`).
    ResourceInstance,
    /// Multiple resource, holding resource instances (`10`).
    MultipleResource,
    /// Resource with a value (`11`).
    Resource,
}

impl TlvKind {
    fn bits(self) -> u8 {
        match self {
            TlvKind::ObjectInstance => 0b00,
            TlvKind::ResourceInstance => 0b01,
            TlvKind::MultipleResource => 0b10,
            TlvKind::Resource => 0b11,
        }
    }

    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0b00 => TlvKind::ObjectInstance,
            0b01 => TlvKind::ResourceInstance,
            0b10 => TlvKind::MultipleResource,
            _ => TlvKind::Resource,
        }
    }

    fn name(self) -> &'static str {
        match self {
            TlvKind::ObjectInstance => "object instance",
            TlvKind::ResourceInstance => "resource instance",
            TlvKind::MultipleResource => "multiple resource",
            TlvKind::Resource => "resource",
        }
    }
}

/// One parsed TLV entry, borrowing its value from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlvEntry<'a> {
    /// What the entry identifies.
    pub kind: TlvKind,
    /// Its identifier.
    pub id: u16,
    /// Its value (nested entries for object instances and multiple resources).
    pub value: &'a [u8],
    /// Byte offset of the header in the whole payload.
    pub offset: usize,
    /// Byte offset of the value in the whole payload.
    pub value_offset: usize,
}

/// Parses the entries of one TLV level. `base_offset` is where `bytes` starts in the payload
/// (for error offsets). Lengths are checked against the bytes left, so a lying length field
/// is an error, never an allocation.
pub fn parse_entries(bytes: &[u8], base_offset: usize) -> Result<Vec<TlvEntry<'_>>, CodecError> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let (entry, next) = parse_entry(bytes, pos, base_offset)?;
        entries.push(entry);
        pos = next;
    }
    Ok(entries)
}

fn parse_entry(
    bytes: &[u8],
    start: usize,
    base_offset: usize,
) -> Result<(TlvEntry<'_>, usize), CodecError> {
    let at = |pos: usize| base_offset + pos;
    let header = bytes[start];
    let kind = TlvKind::from_bits(header >> 6);
    let id_len = if header & 0x20 != 0 { 2 } else { 1 };
    let length_len = usize::from((header >> 3) & 0b11);
    let fixed = 1 + id_len + length_len;
    let Some(fields) = bytes.get(start + 1..start + fixed) else {
        return Err(CodecError::malformed(
            FORMAT,
            at(start),
            format!(
                "{} TLV header needs {fixed} bytes, only {} left",
                kind.name(),
                bytes.len() - start
            ),
        ));
    };
    let (id_bytes, length_bytes) = fields.split_at(id_len);
    let id = id_bytes
        .iter()
        .fold(0u16, |acc, &b| (acc << 8) | u16::from(b));
    if id > MAX_ID {
        return Err(CodecError::malformed(
            FORMAT,
            at(start + 1),
            format!("{} id {id} is reserved", kind.name()),
        ));
    }
    let length = if length_len == 0 {
        usize::from(header & 0b111)
    } else {
        length_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let value_start = start + fixed;
    let left = bytes.len() - value_start;
    if length > left {
        return Err(CodecError::malformed(
            FORMAT,
            at(start),
            format!(
                "{} {id} declares {length} value bytes, only {left} left",
                kind.name()
            ),
        ));
    }
    let entry = TlvEntry {
        kind,
        id,
        value: &bytes[value_start..value_start + length],
        offset: at(start),
        value_offset: at(value_start),
    };
    Ok((entry, value_start + length))
}

/// Appends one TLV entry (header, id, length, value) to `out`, using the shortest id and
/// length fields.
pub fn write_entry(
    out: &mut Vec<u8>,
    kind: TlvKind,
    id: u16,
    value: &[u8],
) -> Result<(), CodecError> {
    let length = value.len();
    if length > MAX_VALUE_LEN {
        return Err(CodecError::unsupported(
            FORMAT,
            format!(
                "{} {id} value is {length} bytes: at most {MAX_VALUE_LEN}",
                kind.name()
            ),
        ));
    }
    let mut header = kind.bits() << 6;
    if id > 0xff {
        header |= 0x20;
    }
    let length_len = match length {
        0..=7 => {
            header |= length as u8;
            0
        }
        8..=0xff => 1,
        0x100..=0xffff => 2,
        _ => 3,
    };
    header |= (length_len as u8) << 3;
    out.push(header);
    if id > 0xff {
        out.extend_from_slice(&id.to_be_bytes());
    } else {
        out.push(id as u8);
    }
    out.extend_from_slice(&(length as u32).to_be_bytes()[4 - length_len..]);
    out.extend_from_slice(value);
    Ok(())
}

/// The TLV value bytes of `value`.
pub fn encode_value(value: &Value) -> Vec<u8> {
    match value {
        Value::Integer(v) | Value::Time(v) => encode_signed(*v),
        Value::UnsignedInteger(v) => match i64::try_from(*v) {
            Ok(signed) => encode_signed(signed),
            Err(_) => v.to_be_bytes().to_vec(),
        },
        Value::Float(v) => {
            let narrow = *v as f32;
            if f64::from(narrow) == *v {
                narrow.to_be_bytes().to_vec()
            } else {
                v.to_be_bytes().to_vec()
            }
        }
        Value::Boolean(v) => vec![u8::from(*v)],
        Value::String(v) | Value::CoreLink(v) => v.as_bytes().to_vec(),
        Value::Opaque(v) => v.clone(),
        Value::ObjectLink { object, instance } => {
            let mut out = object.to_be_bytes().to_vec();
            out.extend_from_slice(&instance.to_be_bytes());
            out
        }
    }
}

fn encode_signed(v: i64) -> Vec<u8> {
    if let Ok(v) = i8::try_from(v) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = i16::try_from(v) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = i32::try_from(v) {
        v.to_be_bytes().to_vec()
    } else {
        v.to_be_bytes().to_vec()
    }
}

/// Decodes TLV value bytes as type `kind` (`None`: opaque). `offset` is where `bytes` starts
/// in the payload and `path` names the resource, both for error messages.
pub fn decode_value(
    bytes: &[u8],
    kind: Option<ResourceType>,
    offset: usize,
    path: &Lwm2mPath,
) -> Result<Value, CodecError> {
    let bad = |what: &str| {
        CodecError::malformed(
            FORMAT,
            offset,
            format!("value of {path} ({} bytes) is not {what}", bytes.len()),
        )
    };
    Ok(match kind {
        Some(ResourceType::Integer) => {
            Value::Integer(signed(bytes).ok_or_else(|| bad("a 1/2/4/8-byte integer"))?)
        }
        Some(ResourceType::Time) => {
            Value::Time(signed(bytes).ok_or_else(|| bad("a 1/2/4/8-byte time"))?)
        }
        Some(ResourceType::UnsignedInteger) => Value::UnsignedInteger(
            unsigned(bytes).ok_or_else(|| bad("a 1/2/4/8-byte unsigned integer"))?,
        ),
        Some(ResourceType::Float) => Value::Float(match bytes {
            [a, b, c, d] => f64::from(f32::from_be_bytes([*a, *b, *c, *d])),
            _ => f64::from_be_bytes(bytes.try_into().map_err(|_| bad("a 4/8-byte float"))?),
        }),
        Some(ResourceType::Boolean) => match bytes {
            [0] => Value::Boolean(false),
            [1] => Value::Boolean(true),
            _ => return Err(bad("a boolean (one byte 0 or 1)")),
        },
        Some(ResourceType::ObjectLink) => match bytes {
            [a, b, c, d] => Value::ObjectLink {
                object: u16::from_be_bytes([*a, *b]),
                instance: u16::from_be_bytes([*c, *d]),
            },
            _ => return Err(bad("an object link (4 bytes)")),
        },
        Some(ResourceType::String) => Value::String(utf8(bytes, offset, path)?),
        Some(ResourceType::CoreLink) => Value::CoreLink(utf8(bytes, offset, path)?),
        Some(ResourceType::Opaque | ResourceType::None) | None => Value::Opaque(bytes.to_vec()),
    })
}

fn signed(bytes: &[u8]) -> Option<i64> {
    Some(match bytes.len() {
        1 => i64::from(i8::from_be_bytes(bytes.try_into().ok()?)),
        2 => i64::from(i16::from_be_bytes(bytes.try_into().ok()?)),
        4 => i64::from(i32::from_be_bytes(bytes.try_into().ok()?)),
        8 => i64::from_be_bytes(bytes.try_into().ok()?),
        _ => return None,
    })
}

fn unsigned(bytes: &[u8]) -> Option<u64> {
    matches!(bytes.len(), 1 | 2 | 4 | 8)
        .then(|| bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn utf8(bytes: &[u8], offset: usize, path: &Lwm2mPath) -> Result<String, CodecError> {
    String::from_utf8(bytes.to_vec()).map_err(|err| {
        CodecError::malformed(
            FORMAT,
            offset + err.utf8_error().valid_up_to(),
            format!("string value of {path} is not valid UTF-8"),
        )
    })
}

/// Decodes a TLV payload answering a request on `base` (`/O`: object instances; `/O/I`:
/// resources, or one object instance with id I; `/O/I/R`: the resource R, single or multiple,
/// or its resource instances; `/O/I/R/RI`: the resource instance RI).
pub fn decode(
    base: &Lwm2mPath,
    payload: &[u8],
    types: TypeLookup<'_>,
) -> Result<Vec<Record>, CodecError> {
    let mut records = Vec::new();
    let decoder = Decoder { base, types };
    let entries = parse_entries(payload, 0)?;
    check_level(&entries, &format!("the payload for {base}"))?;
    for entry in entries {
        let expected = |kinds: &str| unexpected(base, &entry, kinds);
        match (
            base.instance,
            base.resource,
            base.resource_instance,
            entry.kind,
        ) {
            (None, _, _, TlvKind::ObjectInstance) => {
                decoder.instance(entry.id, &entry, &mut records)?
            }
            (None, _, _, _) => return Err(expected("object instances")),
            (Some(instance), None, _, TlvKind::ObjectInstance) if entry.id == instance => {
                decoder.instance(instance, &entry, &mut records)?
            }
            (Some(instance), None, _, TlvKind::Resource | TlvKind::MultipleResource) => {
                decoder.resource(instance, &entry, &mut records)?
            }
            (Some(instance), None, _, _) => {
                return Err(expected(&format!(
                    "resources or object instance {instance}"
                )));
            }
            (
                Some(instance),
                Some(resource),
                None,
                TlvKind::Resource | TlvKind::MultipleResource,
            ) if entry.id == resource => decoder.resource(instance, &entry, &mut records)?,
            (Some(instance), Some(resource), None, TlvKind::ResourceInstance) => {
                decoder.resource_instance(instance, resource, &entry, &mut records)?
            }
            (Some(_), Some(resource), None, _) => {
                return Err(expected(&format!(
                    "resource {resource} or its resource instances"
                )));
            }
            (
                Some(instance),
                Some(resource),
                Some(resource_instance),
                TlvKind::ResourceInstance,
            ) if entry.id == resource_instance => {
                decoder.resource_instance(instance, resource, &entry, &mut records)?
            }
            (Some(_), Some(_), Some(resource_instance), _) => {
                return Err(expected(&format!("resource instance {resource_instance}")));
            }
        }
    }
    Ok(records)
}

/// Rejects a level whose entries repeat an id or mix kinds (object instances with resources,
/// resources with resource instances): such payloads have no single meaning and could not be
/// re-encoded in the same order.
fn check_level(entries: &[TlvEntry<'_>], level: &str) -> Result<(), CodecError> {
    let class = |kind: TlvKind| match kind {
        TlvKind::ObjectInstance => 0,
        TlvKind::Resource | TlvKind::MultipleResource => 1,
        TlvKind::ResourceInstance => 2,
    };
    let mut seen = HashSet::with_capacity(entries.len());
    for entry in entries {
        if let Some(first) = entries.first()
            && class(first.kind) != class(entry.kind)
        {
            return Err(CodecError::malformed(
                FORMAT,
                entry.offset,
                format!(
                    "{} TLV {} in {level} mixes with {} TLVs",
                    entry.kind.name(),
                    entry.id,
                    first.kind.name()
                ),
            ));
        }
        if !seen.insert(entry.id) {
            return Err(CodecError::malformed(
                FORMAT,
                entry.offset,
                format!(
                    "{} id {} appears twice in {level}",
                    entry.kind.name(),
                    entry.id
                ),
            ));
        }
    }
    Ok(())
}

fn unexpected(base: &Lwm2mPath, entry: &TlvEntry<'_>, expected: &str) -> CodecError {
    CodecError::malformed(
        FORMAT,
        entry.offset,
        format!(
            "{} TLV with id {} in a payload for {base}: expected {expected}",
            entry.kind.name(),
            entry.id
        ),
    )
}

struct Decoder<'b, 't> {
    base: &'b Lwm2mPath,
    types: TypeLookup<'t>,
}

impl Decoder<'_, '_> {
    fn path(&self, ids: [Option<u16>; 3]) -> Lwm2mPath {
        Lwm2mPath {
            prefix: self.base.prefix.clone(),
            object: self.base.object,
            instance: ids[0],
            resource: ids[1],
            resource_instance: ids[2],
        }
    }

    fn instance(
        &self,
        instance: u16,
        entry: &TlvEntry<'_>,
        out: &mut Vec<Record>,
    ) -> Result<(), CodecError> {
        let children = parse_entries(entry.value, entry.value_offset)?;
        check_level(&children, &format!("object instance {instance}"))?;
        for child in children {
            match child.kind {
                TlvKind::Resource | TlvKind::MultipleResource => {
                    self.resource(instance, &child, out)?
                }
                _ => {
                    return Err(CodecError::malformed(
                        FORMAT,
                        child.offset,
                        format!(
                            "{} TLV with id {} inside object instance {instance}: expected resources",
                            child.kind.name(),
                            child.id
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn resource(
        &self,
        instance: u16,
        entry: &TlvEntry<'_>,
        out: &mut Vec<Record>,
    ) -> Result<(), CodecError> {
        if entry.kind == TlvKind::Resource {
            let path = self.path([Some(instance), Some(entry.id), None]);
            let value = decode_value(
                entry.value,
                type_of(self.types, &path),
                entry.value_offset,
                &path,
            )?;
            out.push(Record::new(path, value));
            return Ok(());
        }
        let children = parse_entries(entry.value, entry.value_offset)?;
        check_level(&children, &format!("multiple resource {}", entry.id))?;
        for child in children {
            if child.kind != TlvKind::ResourceInstance {
                return Err(CodecError::malformed(
                    FORMAT,
                    child.offset,
                    format!(
                        "{} TLV with id {} inside multiple resource {}: expected resource instances",
                        child.kind.name(),
                        child.id,
                        entry.id
                    ),
                ));
            }
            self.resource_instance(instance, entry.id, &child, out)?;
        }
        Ok(())
    }

    fn resource_instance(
        &self,
        instance: u16,
        resource: u16,
        entry: &TlvEntry<'_>,
        out: &mut Vec<Record>,
    ) -> Result<(), CodecError> {
        let path = self.path([Some(instance), Some(resource), Some(entry.id)]);
        let value = decode_value(
            entry.value,
            type_of(self.types, &path),
            entry.value_offset,
            &path,
        )?;
        out.push(Record::new(path, value));
        Ok(())
    }
}

/// Encodes `records` for a request on `base`: object instances for `/O`, resources for `/O/I`,
/// one resource (single or multiple) for `/O/I/R`, one resource instance for `/O/I/R/RI`.
/// Records with a resource instance id are grouped into multiple resources, in order of first
/// appearance.
pub fn encode(base: &Lwm2mPath, records: &[Record]) -> Result<Vec<u8>, CodecError> {
    for record in records {
        if !record.path.starts_with(base) || record.path.resource.is_none() {
            return Err(CodecError::unsupported(
                FORMAT,
                format!(
                    "record path {} is not a resource under request path {base}",
                    record.path
                ),
            ));
        }
    }
    let mut out = Vec::new();
    match (base.instance, base.resource_instance) {
        (None, _) => {
            for (instance, group) in group_by(records, |r| r.path.instance.unwrap_or_default()) {
                let mut body = Vec::new();
                encode_resources(&mut body, &group)?;
                write_entry(&mut out, TlvKind::ObjectInstance, instance, &body)?;
            }
        }
        (Some(_), None) => {
            let all: Vec<&Record> = records.iter().collect();
            encode_resources(&mut out, &all)?;
        }
        (Some(_), Some(resource_instance)) => {
            let [record] = records else {
                return Err(CodecError::unsupported(
                    FORMAT,
                    format!(
                        "a resource instance path {base} takes exactly one record, got {}",
                        records.len()
                    ),
                ));
            };
            write_entry(
                &mut out,
                TlvKind::ResourceInstance,
                resource_instance,
                &encode_value(&record.value),
            )?;
        }
    }
    Ok(out)
}

fn encode_resources(out: &mut Vec<u8>, records: &[&Record]) -> Result<(), CodecError> {
    for (resource, group) in group_by(records.iter().copied(), |r| {
        r.path.resource.unwrap_or_default()
    }) {
        match group.as_slice() {
            [single] if single.path.resource_instance.is_none() => {
                write_entry(
                    out,
                    TlvKind::Resource,
                    resource,
                    &encode_value(&single.value),
                )?;
            }
            _ => {
                let mut body = Vec::new();
                for record in &group {
                    let Some(resource_instance) = record.path.resource_instance else {
                        return Err(CodecError::unsupported(
                            FORMAT,
                            format!(
                                "resource {} appears as a single value alongside other values or instances",
                                record.path
                            ),
                        ));
                    };
                    write_entry(
                        &mut body,
                        TlvKind::ResourceInstance,
                        resource_instance,
                        &encode_value(&record.value),
                    )?;
                }
                write_entry(out, TlvKind::MultipleResource, resource, &body)?;
            }
        }
    }
    Ok(())
}

/// Groups items by key, keeping the order of first appearance.
fn group_by<'r>(
    items: impl IntoIterator<Item = &'r Record>,
    key: impl Fn(&Record) -> u16,
) -> Vec<(u16, Vec<&'r Record>)> {
    let mut groups: Vec<(u16, Vec<&Record>)> = Vec::new();
    let mut index: HashMap<u16, usize> = HashMap::new();
    for item in items {
        let k = key(item);
        let slot = *index.entry(k).or_insert_with(|| {
            groups.push((k, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(item);
    }
    groups
}
