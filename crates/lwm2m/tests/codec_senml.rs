//! SenML JSON and SenML CBOR: examples from the LwM2M TS and RFC 8428 usage, name resolution
//! with prefixes, type mapping, malformed input, and encode→decode round trips.
#![allow(clippy::unwrap_used)]

mod codec_support;

use codec_support::{Types, arb_payload, device_object, device_types, hex};
use fleetbench_lwm2m::codec::{self, CodecError, Record, no_types};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};
use proptest::prelude::*;

fn at(path: &str) -> Lwm2mPath {
    path.parse().unwrap()
}

/// LwM2M TS 1.1 §7.4.4 style SenML JSON of Read /3/0 (Device).
const DEVICE_JSON: &str = r#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},
 {"n":"1","vs":"Lightweight M2M Client"},
 {"n":"2","vs":"345000123"},
 {"n":"3","vs":"1.0"},
 {"n":"6/0","v":1},
 {"n":"6/1","v":5},
 {"n":"7/0","v":3800},
 {"n":"7/1","v":5000},
 {"n":"8/0","v":125},
 {"n":"8/1","v":900},
 {"n":"9","v":100},
 {"n":"10","v":15},
 {"n":"11/0","v":0},
 {"n":"13","v":1367491215},
 {"n":"14","vs":"+02:00"},
 {"n":"16","vs":"U"}]"#;

fn json_decode(base: &Lwm2mPath, text: &str) -> Result<Vec<Record>, CodecError> {
    codec::decode(
        ContentFormat::SenmlJson,
        base,
        text.as_bytes(),
        &device_types,
    )
}

#[test]
fn device_example_decodes_with_types() {
    assert_eq!(
        json_decode(&at("/3/0"), DEVICE_JSON).unwrap(),
        device_object()
    );
}

#[test]
fn reference_note_example_and_base_name_carry_over() {
    let text = r#"[{"bn":"/1/","n":"0/0","v":123},{"n":"0/6","vb":false},{"n":"0/7","vs":"U"}]"#;
    let records = codec::decode(
        ContentFormat::SenmlJson,
        &at("/1"),
        text.as_bytes(),
        &no_types,
    )
    .unwrap();
    assert_eq!(
        records,
        vec![
            Record::new(at("/1/0/0"), Value::Integer(123)),
            Record::new(at("/1/0/6"), Value::Boolean(false)),
            Record::new(at("/1/0/7"), Value::String("U".into())),
        ]
    );
    // A later bn replaces the earlier one.
    let text = r#"[{"bn":"/3/0/","n":"9","v":1},{"bn":"/dev0/3303/0/","n":"5700","v":22.5}]"#;
    let records = codec::decode(
        ContentFormat::SenmlJson,
        &at("/3"),
        text.as_bytes(),
        &no_types,
    )
    .unwrap();
    assert_eq!(
        records[1],
        Record::new(at("/dev0/3303/0/5700"), Value::Float(22.5))
    );
}

#[test]
fn encodes_compact_json_with_base_name() {
    let base = at("/dev0/3303/0");
    let records = vec![
        Record::new(at("/dev0/3303/0/5700"), Value::Float(22.5)),
        Record::new(at("/dev0/3303/0/5701"), Value::String("Cel".into())),
        Record::new(at("/dev0/3303/0/5750/0"), Value::Opaque(vec![0xfb, 0xff])),
        Record::new(
            at("/dev0/3303/0/5800"),
            Value::ObjectLink {
                object: 3,
                instance: 0,
            },
        ),
        Record::new(at("/dev0/3303/0/5850"), Value::Boolean(true)),
        Record::new(at("/dev0/3303/0/5851"), Value::UnsignedInteger(u64::MAX)),
    ];
    let bytes = codec::encode(ContentFormat::SenmlJson, &base, &records).unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        r#"[{"bn":"/dev0/3303/0","n":"/5700","v":22.5},{"n":"/5701","vs":"Cel"},{"n":"/5750/0","vd":"-_8"},{"n":"/5800","vlo":"3:0"},{"n":"/5850","vb":true},{"n":"/5851","v":18446744073709551615}]"#
    );
    let types = Types::of(&records);
    let decoded =
        codec::decode(ContentFormat::SenmlJson, &base, &bytes, &|p| types.get(p)).unwrap();
    assert_eq!(decoded, records);
    // A single resource carries the full path in bn and no n.
    let single = at("/3/0/9");
    let bytes = codec::encode(
        ContentFormat::SenmlJson,
        &single,
        &[Record::new(single.clone(), Value::Integer(100))],
    )
    .unwrap();
    assert_eq!(bytes, br#"[{"bn":"/3/0/9","v":100}]"#);
}

#[test]
fn numbers_map_to_declared_types() {
    let text = r#"[{"n":"/1/0/1","v":2.0},{"n":"/1/0/2","v":7},{"n":"/1/0/3","v":1e3},{"n":"/1/0/4","v":5}]"#;
    let types = |path: &Lwm2mPath| match path.resource {
        Some(1) => Some(ResourceType::Integer),
        Some(2) => Some(ResourceType::Float),
        Some(3) => Some(ResourceType::Time),
        Some(4) => Some(ResourceType::UnsignedInteger),
        _ => None,
    };
    let values: Vec<Value> = codec::decode(
        ContentFormat::SenmlJson,
        &at("/1/0"),
        text.as_bytes(),
        &types,
    )
    .unwrap()
    .into_iter()
    .map(|r| r.value)
    .collect();
    assert_eq!(
        values,
        vec![
            Value::Integer(2),
            Value::Float(7.0),
            Value::Time(1000),
            Value::UnsignedInteger(5)
        ]
    );
    // Without types: integral JSON numbers are integers, others floats.
    let values: Vec<Value> = codec::decode(
        ContentFormat::SenmlJson,
        &at("/1/0"),
        text.as_bytes(),
        &no_types,
    )
    .unwrap()
    .into_iter()
    .map(|r| r.value)
    .collect();
    assert_eq!(
        values,
        vec![
            Value::Float(2.0),
            Value::Integer(7),
            Value::Float(1000.0),
            Value::Integer(5)
        ]
    );
}

#[test]
fn ignores_time_and_units_accepts_padded_base64() {
    let text = r#"[{"bn":"/3/0/","bt":1.5e9,"bver":10,"n":"9","u":"%","t":-5,"v":100},{"n":"17","vd":"3q2+7w=="}]"#;
    let types = |p: &Lwm2mPath| {
        if p.resource == Some(17) {
            Some(ResourceType::Opaque)
        } else {
            device_types(p)
        }
    };
    let records = codec::decode(
        ContentFormat::SenmlJson,
        &at("/3/0"),
        text.as_bytes(),
        &types,
    )
    .unwrap();
    assert_eq!(records[0].value, Value::Integer(100));
    assert_eq!(
        records[1].value,
        Value::Opaque(vec![0xde, 0xad, 0xbe, 0xef])
    );
}

#[test]
fn malformed_json_names_offset_and_reason() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "array of records"),
        (r#"{"n":"/3/0/9"}"#, 0, "array of records"),
        (r#"[{"n":"/3/0/9","v":1},"x"]"#, 22, "bad record"),
        (r#"[{"n":"/3/0/9","v":1}, {"v":1}]"#, 23, "no name"),
        (r#"[{"n":"/3/0","v":1}]"#, 1, "not a resource path"),
        (r#"[{"n":"/3/x/9","v":1}]"#, 1, "instance"),
        (r#"[{"n":"/3/0/9"}]"#, 1, "has no value"),
        (r#"[{"n":"/3/0/9","v":1,"vs":"a"}]"#, 1, "two value fields"),
        (r#"[{"n":"/3/0/9","v":1.5}]"#, 1, "not an integer"),
        (r#"[{"n":"/3/0/9","vs":"1"}]"#, 1, "cannot come in field vs"),
        (r#"[{"n":"/3/0/9","v":1,"bv":2}]"#, 1, "bv (base value)"),
        (r#"[{"n":"/3/0/9","v":1,"x_":2}]"#, 1, "must-understand"),
        (
            r#"[{"n":"/3/0/9","v":1,"n":"/3/0/10"}]"#,
            1,
            "duplicate field n",
        ),
        (r#"[{"n":"/1/0/0","vd":"***"}]"#, 1, "base64"),
        (r#"[{"n":"/1/0/0","vlo":"3-0"}]"#, 1, "object link"),
        ("[{\"n\":\"/3/0/9\",\n\"v\":tru}]", 23, "expected ident"),
    ];
    for (text, offset, reason) in cases {
        match json_decode(&at("/3/0"), text) {
            Err(CodecError::Malformed {
                format: ContentFormat::SenmlJson,
                offset: got,
                reason: why,
            }) => {
                assert!(why.contains(reason), "{text}: {why}");
                assert_eq!(got, *offset, "{text}: {why}");
            }
            other => panic!("{text}: expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn encode_rejects_what_senml_json_cannot_carry() {
    let base = at("/3/0");
    let nan = [Record::new(at("/3/0/1"), Value::Float(f64::NAN))];
    assert!(codec::encode(ContentFormat::SenmlJson, &base, &nan).is_err());
    let outside = [Record::new(at("/4/0/1"), Value::Integer(1))];
    assert!(matches!(
        codec::encode(ContentFormat::SenmlJson, &base, &outside),
        Err(CodecError::Unsupported { .. })
    ));
    // CBOR carries non-finite floats.
    let bytes = codec::encode(
        ContentFormat::SenmlCbor,
        &base,
        &[Record::new(at("/3/0/1"), Value::Float(f64::INFINITY))],
    )
    .unwrap();
    let decoded = codec::decode(ContentFormat::SenmlCbor, &base, &bytes, &no_types).unwrap();
    assert_eq!(decoded[0].value, Value::Float(f64::INFINITY));
}

#[test]
fn cbor_uses_integer_labels() {
    // [{-2: "/3303/0/", 0: "5700", 2: 22.5 (half float)}]
    let payload = hex("81 A3 21 68 2F 33 33 30 33 2F 30 2F 00 64 35 37 30 30 02 F9 4D A0");
    let records = codec::decode(
        ContentFormat::SenmlCbor,
        &at("/3303/0"),
        &payload,
        &no_types,
    )
    .unwrap();
    assert_eq!(
        records,
        vec![Record::new(at("/3303/0/5700"), Value::Float(22.5))]
    );

    let base = at("/3303/0/5700");
    let bytes = codec::encode(ContentFormat::SenmlCbor, &base, &records).unwrap();
    // [{-2: "/3303/0/5700", 2: 22.5}]
    assert_eq!(
        bytes,
        hex("81 A2 21 6C 2F 33 33 30 33 2F 30 2F 35 37 30 30 02 F9 4D A0")
    );

    // vd is a byte string (label 8), vlo a text key; an indefinite-length array decodes too.
    let payload = hex(
        "9F A2 00 66 2F 31 2F 30 2F 30 08 42 DE AD A2 00 66 2F 31 2F 30 2F 31 63 76 6C 6F 63 33 3A 30 FF",
    );
    let records =
        codec::decode(ContentFormat::SenmlCbor, &at("/1/0"), &payload, &no_types).unwrap();
    assert_eq!(
        records,
        vec![
            Record::new(at("/1/0/0"), Value::Opaque(vec![0xde, 0xad])),
            Record::new(
                at("/1/0/1"),
                Value::ObjectLink {
                    object: 3,
                    instance: 0
                }
            ),
        ]
    );
}

#[test]
fn malformed_cbor_names_offset_and_reason() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "empty payload"),
        ("A0", 0, "expected a CBOR array"),
        ("9B 00 00", 1, "array header"),
        ("81 A1 00 66 2F 33 2F 30 2F 39", 1, "has no value"),
        ("81 A1 00", 3, "truncated"),
        (
            "82 A2 00 66 2F 33 2F 30 2F 39 02 01",
            12,
            "inside the record array",
        ),
        (
            "81 A2 00 66 2F 33 2F 30 2F 39 02 01 00",
            12,
            "1 bytes after",
        ),
        (
            "81 A2 00 66 2F 31 2F 30 2F 30 08 61 41",
            1,
            "vd must be a byte string",
        ),
        (
            "9F A2 00 66 2F 33 2F 30 2F 39 02 01",
            12,
            "inside the record array",
        ),
        ("81 01", 1, "record 0"),
    ];
    for (payload, offset, reason) in cases {
        match codec::decode(
            ContentFormat::SenmlCbor,
            &at("/3/0"),
            &hex(payload),
            &device_types,
        ) {
            Err(CodecError::Malformed {
                format: ContentFormat::SenmlCbor,
                offset: got,
                reason: why,
            }) => {
                assert!(why.contains(reason), "{payload}: {why}");
                assert_eq!(got, *offset, "{payload}: {why}");
            }
            other => panic!("{payload}: expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn huge_declared_counts_do_not_allocate() {
    // An array claiming 2^64-1 records, and a byte string claiming 4 GiB: errors, not OOM.
    let payload = hex("9B FF FF FF FF FF FF FF FF A1 08 5A FF FF FF FF");
    assert!(codec::decode(ContentFormat::SenmlCbor, &at("/3/0"), &payload, &no_types).is_err());
}

proptest! {
    #[test]
    fn json_round_trip((base, records) in arb_payload()) {
        let types = Types::of(&records);
        let bytes = codec::encode(ContentFormat::SenmlJson, &base, &records).unwrap();
        let decoded = codec::decode(ContentFormat::SenmlJson, &base, &bytes, &|p| types.get(p)).unwrap();
        prop_assert_eq!(decoded, records);
    }

    #[test]
    fn cbor_round_trip((base, records) in arb_payload()) {
        let types = Types::of(&records);
        let bytes = codec::encode(ContentFormat::SenmlCbor, &base, &records).unwrap();
        let decoded = codec::decode(ContentFormat::SenmlCbor, &base, &bytes, &|p| types.get(p)).unwrap();
        prop_assert_eq!(decoded, records);
    }

    #[test]
    fn decoders_never_panic(payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let base = Lwm2mPath::instance(3, 0);
        let _ = codec::decode(ContentFormat::SenmlCbor, &base, &payload, &device_types);
        let _ = codec::decode(ContentFormat::SenmlJson, &base, &payload, &device_types);
    }

    #[test]
    fn json_decoder_never_panics_on_json_like_text(text in r#"[\[\]{}",:0-9a-z/_. -]{0,60}"#) {
        let _ = codec::decode(ContentFormat::SenmlJson, &Lwm2mPath::object(3), text.as_bytes(), &no_types);
    }
}
