//! Entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and the corpus
//! replay test (`tests/corpus_replay.rs`), so both exercise exactly the same code.
//!
//! Each function feeds raw bytes to a decoder and, when the decoder accepts them, checks a
//! round-trip invariant (encode what was decoded, decode again, compare). It never panics: it
//! reports [`Check::Violated`] and the fuzz target turns that into a crash.

use super::{Record, decode, encode};
use crate::block::BlockOption;
use crate::content_format::ContentFormat;
use crate::link_format;
use crate::path::Lwm2mPath;
use crate::value::ResourceType;

/// What a harness saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The decoder accepted the input and the round trip held.
    Accepted,
    /// The decoder rejected the input with this error (fine: bad input, clear error).
    Rejected(String),
    /// An invariant broke: a bug.
    Violated(String),
}

/// Declared types of a few Object 3 (Device) resources, so typed decoding paths are fuzzed.
pub fn device_types(path: &Lwm2mPath) -> Option<ResourceType> {
    if path.object != 3 {
        return None;
    }
    Some(match path.resource? {
        0..=3 | 14..=19 => ResourceType::String,
        6..=11 | 20 | 21 => ResourceType::Integer,
        13 => ResourceType::Time,
        22 => ResourceType::Float,
        23 => ResourceType::Boolean,
        24 => ResourceType::ObjectLink,
        25 => ResourceType::UnsignedInteger,
        _ => return None,
    })
}

fn no_types(_: &Lwm2mPath) -> Option<ResourceType> {
    None
}

/// Compares record lists, treating NaN floats with the same Debug text as equal.
fn same(a: &[Record], b: &[Record]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Decodes `payload` under `base`, re-encodes what came out (when the format can carry it) and
/// checks that decoding the re-encoding gives the same records.
fn round_trip(format: ContentFormat, base: &Lwm2mPath, payload: &[u8], typed: bool) -> Check {
    let types: &dyn Fn(&Lwm2mPath) -> Option<ResourceType> =
        if typed { &device_types } else { &no_types };
    let records = match decode(format, base, payload, types) {
        Ok(records) => records,
        Err(err) => return Check::Rejected(err.to_string()),
    };
    // Encoding may legitimately refuse (e.g. a resource given twice); only a successful
    // encoding must decode back to the same records.
    let Ok(bytes) = encode(format, base, &records) else {
        return Check::Accepted;
    };
    match decode(format, base, &bytes, types) {
        Ok(again) if same(&again, &records) => Check::Accepted,
        Ok(again) => Check::Violated(format!(
            "{format:?} under {base}: decoded {records:?}, re-decoded {again:?}"
        )),
        Err(err) => Check::Violated(format!(
            "{format:?} under {base}: re-encoding of {records:?} fails to decode: {err}"
        )),
    }
}

/// Merges checks of one input under several bases: any violation wins, then any acceptance.
fn merge(checks: impl IntoIterator<Item = Check>) -> Check {
    let mut result = Check::Rejected(String::from("no base accepted the input"));
    for check in checks {
        match check {
            Check::Violated(_) => return check,
            Check::Accepted => result = Check::Accepted,
            Check::Rejected(why) if result != Check::Accepted => result = Check::Rejected(why),
            Check::Rejected(_) => {}
        }
    }
    result
}

/// TLV: decodes under `/3`, `/3/0`, `/3/0/7` and `/3/0/7/1`, typed and untyped.
pub fn tlv_decode(data: &[u8]) -> Check {
    let bases = [
        Lwm2mPath::object(3),
        Lwm2mPath::instance(3, 0),
        Lwm2mPath::resource(3, 0, 7),
        Lwm2mPath::resource_instance(3, 0, 7, 1),
    ];
    merge(bases.iter().flat_map(|base| {
        [true, false].map(|typed| round_trip(ContentFormat::Tlv, base, data, typed))
    }))
}

fn senml(format: ContentFormat, data: &[u8]) -> Check {
    merge([true, false].map(|typed| {
        let types: &dyn Fn(&Lwm2mPath) -> Option<ResourceType> =
            if typed { &device_types } else { &no_types };
        let records = match decode(format, &Lwm2mPath::object(3), data, types) {
            Ok(records) => records,
            Err(err) => return Check::Rejected(err.to_string()),
        };
        // Re-encode under the common object when all records share one (and one prefix).
        match records.first() {
            Some(first)
                if records.iter().all(|r| {
                    r.path.object == first.path.object && r.path.prefix == first.path.prefix
                }) =>
            {
                let base = Lwm2mPath {
                    prefix: first.path.prefix.clone(),
                    ..Lwm2mPath::object(first.path.object)
                };
                round_trip(format, &base, data, typed)
            }
            _ => Check::Accepted,
        }
    }))
}

/// SenML JSON: decodes typed and untyped, round-trips when all records share an object.
pub fn senml_json_decode(data: &[u8]) -> Check {
    senml(ContentFormat::SenmlJson, data)
}

/// SenML CBOR: decodes typed and untyped, round-trips when all records share an object.
pub fn senml_cbor_decode(data: &[u8]) -> Check {
    senml(ContentFormat::SenmlCbor, data)
}

/// Link format: parses UTF-8 text, formats the links and parses them again.
pub fn link_format_parse(data: &[u8]) -> Check {
    let Ok(text) = std::str::from_utf8(data) else {
        return Check::Rejected(String::from("not UTF-8"));
    };
    let links = match link_format::parse(text) {
        Ok(links) => links,
        Err(err) => return Check::Rejected(err.to_string()),
    };
    let formatted = link_format::format(&links);
    match link_format::parse(&formatted) {
        Ok(again) if again == links => Check::Accepted,
        Ok(again) => Check::Violated(format!(
            "{text:?} parsed to {links:?}, formatted {formatted:?}, re-parsed {again:?}"
        )),
        Err(err) => Check::Violated(format!(
            "{text:?} formatted as {formatted:?}, which does not parse: {err}"
        )),
    }
}

/// Block option: decodes the value, checks the fields against the raw integer, re-encodes
/// (minimal length) and decodes again.
pub fn block_option(data: &[u8]) -> Check {
    let option = match BlockOption::decode(data) {
        Ok(option) => option,
        Err(err) => return Check::Rejected(err.to_string()),
    };
    let raw = data.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    let expected = (option.num << 4) | (u32::from(option.more) << 3) | u32::from(option.szx);
    if raw != expected {
        return Check::Violated(format!(
            "{data:02x?} decoded to {option:?}, which is {expected:#x}, not {raw:#x}"
        ));
    }
    let bytes = option.encode();
    let minimal = bytes.first() != Some(&0) && bytes.len() <= 3;
    match BlockOption::decode(&bytes) {
        Ok(again) if again == option && minimal => Check::Accepted,
        other => Check::Violated(format!(
            "{data:02x?} -> {option:?} -> {bytes:02x?} -> {other:?}"
        )),
    }
}
