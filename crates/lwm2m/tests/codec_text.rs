//! text/plain, opaque and single-value CBOR: known answers per type, malformed input, and
//! round trips of generated single records.
#![allow(clippy::unwrap_used)]

mod codec_support;

use codec_support::{Types, arb_single, device_types, hex};
use fleetbench_lwm2m::codec::{self, CodecError, Record, no_types, text};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};
use proptest::prelude::*;

fn at(path: &str) -> Lwm2mPath {
    path.parse().unwrap()
}

#[test]
fn text_known_answers() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::Integer(-42), "-42"),
        (Value::UnsignedInteger(u64::MAX), "18446744073709551615"),
        (Value::Float(22.5), "22.5"),
        (Value::Float(0.1), "0.1"),
        (Value::Boolean(true), "1"),
        (Value::Boolean(false), "0"),
        (
            Value::String("Open Mobile Alliance".into()),
            "Open Mobile Alliance",
        ),
        (
            Value::Opaque(vec![0xde, 0xad, 0xbe, 0xef, 0x00]),
            "3q2+7wA=",
        ),
        (Value::Time(1367491215), "1367491215"),
        (
            Value::ObjectLink {
                object: 3,
                instance: 0,
            },
            "3:0",
        ),
        (Value::CoreLink("</3/0>".into()), "</3/0>"),
    ];
    for (value, expected) in cases {
        let base = at("/dev0/3303/0/5700");
        let record = Record::new(base.clone(), value.clone());
        let bytes = codec::encode(
            ContentFormat::TextPlain,
            &base,
            std::slice::from_ref(&record),
        )
        .unwrap();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        let kind = value.resource_type();
        let decoded =
            codec::decode(ContentFormat::TextPlain, &base, &bytes, &|_| Some(kind)).unwrap();
        assert_eq!(decoded, vec![record]);
    }
    // Without a type, text decodes as a string; unpadded base64 is accepted.
    let base = at("/3/0/0");
    let decoded = codec::decode(ContentFormat::TextPlain, &base, b"42", &no_types).unwrap();
    assert_eq!(decoded[0].value, Value::String("42".into()));
    assert_eq!(
        text::parse_value("3q2+7wA", Some(ResourceType::Opaque)).unwrap(),
        Value::Opaque(vec![0xde, 0xad, 0xbe, 0xef, 0])
    );
    // Device object types reach the decoder.
    let decoded = codec::decode(
        ContentFormat::TextPlain,
        &at("/3/0/9"),
        b"100",
        &device_types,
    )
    .unwrap();
    assert_eq!(decoded[0].value, Value::Integer(100));
}

#[test]
fn text_errors_name_value_and_offset() {
    let int = |_: &Lwm2mPath| Some(ResourceType::Integer);
    let base = at("/3/0/9");
    let err = codec::decode(ContentFormat::TextPlain, &base, b"12a", &int).unwrap_err();
    assert!(
        err.to_string().contains("\"12a\"") && err.to_string().contains("/3/0/9"),
        "{err}"
    );
    let boolean = |_: &Lwm2mPath| Some(ResourceType::Boolean);
    assert!(codec::decode(ContentFormat::TextPlain, &base, b"true", &boolean).is_err());
    let link = |_: &Lwm2mPath| Some(ResourceType::ObjectLink);
    assert!(codec::decode(ContentFormat::TextPlain, &base, b"3:65536", &link).is_err());
    assert!(codec::decode(ContentFormat::TextPlain, &base, b"3", &link).is_err());
    let opaque = |_: &Lwm2mPath| Some(ResourceType::Opaque);
    match codec::decode(ContentFormat::TextPlain, &base, b"ab*d", &opaque) {
        Err(CodecError::Malformed { offset: 2, .. }) => {}
        other => panic!("expected invalid byte at 2, got {other:?}"),
    }
    match codec::decode(ContentFormat::TextPlain, &base, b"ab\xffcd", &no_types) {
        Err(CodecError::Malformed {
            offset: 2, reason, ..
        }) => assert!(reason.contains("UTF-8")),
        other => panic!("expected UTF-8 error at 2, got {other:?}"),
    }
    // Single-value formats need a resource path and exactly one record at it.
    assert!(matches!(
        codec::decode(ContentFormat::TextPlain, &at("/3/0"), b"1", &no_types),
        Err(CodecError::Unsupported { .. })
    ));
    let two = [
        Record::new(base.clone(), Value::Integer(1)),
        Record::new(base.clone(), Value::Integer(2)),
    ];
    assert!(codec::encode(ContentFormat::TextPlain, &base, &two).is_err());
    let elsewhere = [Record::new(at("/3/0/10"), Value::Integer(1))];
    assert!(codec::encode(ContentFormat::TextPlain, &base, &elsewhere).is_err());
}

#[test]
fn opaque_carries_raw_bytes_only() {
    let base = at("/5/0/0");
    let record = Record::new(base.clone(), Value::Opaque(vec![0, 1, 2, 255]));
    let bytes = codec::encode(ContentFormat::Opaque, &base, std::slice::from_ref(&record)).unwrap();
    assert_eq!(bytes, vec![0, 1, 2, 255]);
    assert_eq!(
        codec::decode(ContentFormat::Opaque, &base, &bytes, &no_types).unwrap(),
        vec![record]
    );
    let not_opaque = [Record::new(base.clone(), Value::Integer(1))];
    assert!(matches!(
        codec::encode(ContentFormat::Opaque, &base, &not_opaque),
        Err(CodecError::Unsupported { .. })
    ));
}

#[test]
fn cbor_single_values() {
    let base = at("/3303/0/5700");
    // 22.5 as a half float; integers as CBOR integers; tag 1 around a time is accepted.
    let float = |_: &Lwm2mPath| Some(ResourceType::Float);
    let decoded = codec::decode(ContentFormat::Cbor, &base, &hex("F9 4D A0"), &float).unwrap();
    assert_eq!(decoded[0].value, Value::Float(22.5));
    let time = |_: &Lwm2mPath| Some(ResourceType::Time);
    let decoded =
        codec::decode(ContentFormat::Cbor, &base, &hex("C1 1A 51 82 42 8F"), &time).unwrap();
    assert_eq!(decoded[0].value, Value::Time(1367491215));
    let record = Record::new(base.clone(), Value::Integer(-1));
    assert_eq!(
        codec::encode(ContentFormat::Cbor, &base, &[record]).unwrap(),
        hex("20")
    );
    // Trailing bytes, truncation and type mismatches are errors.
    assert!(matches!(
        codec::decode(ContentFormat::Cbor, &base, &hex("01 02"), &no_types),
        Err(CodecError::Malformed { offset: 1, .. })
    ));
    assert!(codec::decode(ContentFormat::Cbor, &base, &hex("1A 00"), &no_types).is_err());
    let err = codec::decode(ContentFormat::Cbor, &base, &hex("63 61 62 63"), &float).unwrap_err();
    assert!(err.to_string().contains("\"abc\""), "{err}");
}

proptest! {
    #[test]
    fn text_round_trip(record in arb_single()) {
        let types = Types::of(std::slice::from_ref(&record));
        let bytes = codec::encode(ContentFormat::TextPlain, &record.path, std::slice::from_ref(&record)).unwrap();
        let decoded = codec::decode(ContentFormat::TextPlain, &record.path, &bytes, &|p| types.get(p)).unwrap();
        prop_assert_eq!(decoded, vec![record]);
    }

    #[test]
    fn cbor_round_trip(record in arb_single()) {
        let types = Types::of(std::slice::from_ref(&record));
        let bytes = codec::encode(ContentFormat::Cbor, &record.path, std::slice::from_ref(&record)).unwrap();
        let decoded = codec::decode(ContentFormat::Cbor, &record.path, &bytes, &|p| types.get(p)).unwrap();
        prop_assert_eq!(decoded, vec![record]);
    }

    #[test]
    fn opaque_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        let base = Lwm2mPath::resource(5, 0, 0);
        let record = Record::new(base.clone(), Value::Opaque(bytes.clone()));
        let encoded = codec::encode(ContentFormat::Opaque, &base, std::slice::from_ref(&record)).unwrap();
        prop_assert_eq!(&encoded, &bytes);
        prop_assert_eq!(codec::decode(ContentFormat::Opaque, &base, &encoded, &no_types).unwrap(), vec![record]);
    }

    #[test]
    fn decoders_never_panic(payload in prop::collection::vec(any::<u8>(), 0..48), kind in codec_support::arb_type()) {
        let base = Lwm2mPath::resource(3, 0, 1);
        let _ = codec::decode(ContentFormat::TextPlain, &base, &payload, &|_| Some(kind));
        let _ = codec::decode(ContentFormat::Cbor, &base, &payload, &|_| Some(kind));
        let _ = codec::decode(ContentFormat::Cbor, &base, &payload, &no_types);
    }
}
