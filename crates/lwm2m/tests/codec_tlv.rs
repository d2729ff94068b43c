//! OMA TLV: the LwM2M TS Object 3 example byte for byte, id/length field sizes, value
//! encodings, malformed input, and encode→decode round trips of generated payloads.
#![allow(clippy::unwrap_used)]

mod codec_support;

use codec_support::{Types, arb_payload, device_object, device_types, hex};
use fleetbench_lwm2m::codec::{self, CodecError, Record, no_types, tlv};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};
use proptest::prelude::*;

/// LwM2M TS 1.0 §6.4.3.1 "Single Object Instance Request Example" (Read /3/0 in TLV).
const DEVICE_TLV: &str = "
    C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65
    C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74
    C8 02 09 33 34 35 30 30 30 31 32 33
    C3 03 31 2E 30
    86 06 41 00 01 41 01 05
    88 07 08 42 00 0E D8 42 01 13 88
    87 08 41 00 7D 42 01 03 84
    C1 09 64
    C1 0A 0F
    83 0B 41 00 00
    C4 0D 51 82 42 8F
    C6 0E 2B 30 32 3A 30 30
    C1 10 55";

fn tlv_decode(base: &Lwm2mPath, payload: &[u8]) -> Result<Vec<Record>, CodecError> {
    codec::decode(ContentFormat::Tlv, base, payload, &device_types)
}

#[test]
fn device_instance_matches_ts_example_both_ways() {
    let base = Lwm2mPath::instance(3, 0);
    let bytes = codec::encode(ContentFormat::Tlv, &base, &device_object()).unwrap();
    assert_eq!(bytes, hex(DEVICE_TLV));
    assert_eq!(
        tlv_decode(&base, &hex(DEVICE_TLV)).unwrap(),
        device_object()
    );
}

#[test]
fn object_level_wraps_instances_and_instance_level_accepts_a_wrapper() {
    let object = Lwm2mPath::object(3);
    let bytes = codec::encode(ContentFormat::Tlv, &object, &device_object()).unwrap();
    let body = hex(DEVICE_TLV);
    // Object instance 0, 16-bit length (body is 121 bytes < 256: 8-bit length field).
    assert_eq!(bytes[..3], [0x08, 0x00, body.len() as u8]);
    assert_eq!(bytes[3..], body[..]);
    assert_eq!(tlv_decode(&object, &bytes).unwrap(), device_object());
    // A payload for /3/0 wrapped in its own object instance is accepted too.
    assert_eq!(
        tlv_decode(&Lwm2mPath::instance(3, 0), &bytes).unwrap(),
        device_object()
    );
}

#[test]
fn resource_and_resource_instance_levels() {
    let records = device_object();
    let power = &records[6..8]; // /3/0/7/0 and /3/0/7/1
    let base = Lwm2mPath::resource(3, 0, 7);
    let bytes = codec::encode(ContentFormat::Tlv, &base, power).unwrap();
    assert_eq!(bytes, hex("88 07 08 42 00 0E D8 42 01 13 88"));
    assert_eq!(tlv_decode(&base, &bytes).unwrap(), power);
    // Bare resource instances for a resource path decode as well.
    assert_eq!(
        tlv_decode(&base, &hex("42 00 0E D8 42 01 13 88")).unwrap(),
        power
    );

    let single = Lwm2mPath::resource_instance(3, 0, 7, 1);
    let bytes = codec::encode(ContentFormat::Tlv, &single, &power[1..]).unwrap();
    assert_eq!(bytes, hex("42 01 13 88"));
    assert_eq!(tlv_decode(&single, &bytes).unwrap(), &power[1..]);

    let battery = Lwm2mPath::resource(3, 0, 9);
    let bytes = codec::encode(
        ContentFormat::Tlv,
        &battery,
        &[Record::new(battery.clone(), Value::Integer(100))],
    )
    .unwrap();
    assert_eq!(bytes, hex("C1 09 64"));
}

#[test]
fn prefix_is_kept_on_decoded_paths() {
    let base: Lwm2mPath = "/dev0/3303/0".parse().unwrap();
    let payload = hex("E4 16 44 41 B4 00 00"); // resource 5700, 16-bit id, float 22.5
    let types = |_: &Lwm2mPath| Some(ResourceType::Float);
    let records = codec::decode(ContentFormat::Tlv, &base, &payload, &types).unwrap();
    assert_eq!(
        records,
        vec![Record::new(
            "/dev0/3303/0/5700".parse().unwrap(),
            Value::Float(22.5)
        )]
    );
    assert_eq!(
        codec::encode(ContentFormat::Tlv, &base, &records).unwrap(),
        payload
    );
}

#[test]
fn id_and_length_field_sizes() {
    let mut out = Vec::new();
    tlv::write_entry(&mut out, tlv::TlvKind::Resource, 300, &vec![0xAA; 70_000]).unwrap();
    // 11 1 11 000: resource, 16-bit id, 24-bit length.
    assert_eq!(out[..6], [0xF8, 0x01, 0x2C, 0x01, 0x11, 0x70]);
    assert_eq!(out.len(), 6 + 70_000);
    let entries = tlv::parse_entries(&out, 0).unwrap();
    assert_eq!(
        (
            entries[0].id,
            entries[0].value.len(),
            entries[0].value_offset
        ),
        (300, 70_000, 6)
    );

    let mut out = Vec::new();
    tlv::write_entry(&mut out, tlv::TlvKind::Resource, 1, &[0; 300]).unwrap();
    assert_eq!(out[..4], [0xD0, 0x01, 0x01, 0x2C]); // 16-bit length
    let mut out = Vec::new();
    tlv::write_entry(&mut out, tlv::TlvKind::Resource, 1, &[0; 8]).unwrap();
    assert_eq!(out[..3], [0xC8, 0x01, 0x08]); // 8 bytes no longer fit the 3-bit length
    let mut out = Vec::new();
    assert!(
        tlv::write_entry(
            &mut out,
            tlv::TlvKind::Resource,
            1,
            &vec![0; tlv::MAX_VALUE_LEN + 1]
        )
        .is_err()
    );
}

#[test]
fn value_encodings() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::Integer(-1), "FF"),
        (Value::Integer(127), "7F"),
        (Value::Integer(128), "00 80"),
        (Value::Integer(-32769), "FF FF 7F FF"),
        (Value::Integer(i64::MIN), "80 00 00 00 00 00 00 00"),
        (Value::UnsignedInteger(255), "00 FF"),
        (Value::UnsignedInteger(u64::MAX), "FF FF FF FF FF FF FF FF"),
        (Value::Float(22.5), "41 B4 00 00"),
        (Value::Float(0.1), "3F B9 99 99 99 99 99 9A"),
        (Value::Boolean(true), "01"),
        (
            Value::ObjectLink {
                object: 3,
                instance: 0,
            },
            "00 03 00 00",
        ),
        (Value::Time(1367491215), "51 82 42 8F"),
        (Value::String("U".into()), "55"),
    ];
    for (value, expected) in cases {
        let bytes = tlv::encode_value(&value);
        assert_eq!(bytes, hex(expected), "{value:?}");
        let path = Lwm2mPath::resource(1, 0, 0);
        assert_eq!(
            tlv::decode_value(&bytes, Some(value.resource_type()), 0, &path).unwrap(),
            value
        );
    }
}

#[test]
fn unknown_types_decode_as_opaque() {
    let records = codec::decode(
        ContentFormat::Tlv,
        &Lwm2mPath::instance(3, 0),
        &hex("C1 09 64"),
        &no_types,
    )
    .unwrap();
    assert_eq!(records[0].value, Value::Opaque(vec![0x64]));
}

fn malformed(base: &Lwm2mPath, payload: &str) -> (usize, String) {
    match tlv_decode(base, &hex(payload)) {
        Err(CodecError::Malformed {
            format: ContentFormat::Tlv,
            offset,
            reason,
        }) => (offset, reason),
        other => panic!("{payload}: expected Malformed, got {other:?}"),
    }
}

#[test]
fn malformed_input_names_offset_and_reason() {
    let instance = Lwm2mPath::instance(3, 0);
    let cases: &[(&Lwm2mPath, &str, usize, &str)] = &[
        (&instance, "C8", 0, "header needs 3 bytes"),
        (&instance, "C1 09 64 E8 00", 3, "header needs 4 bytes"),
        (
            &instance,
            "C8 00 14 41",
            0,
            "declares 20 value bytes, only 1 left",
        ),
        (&instance, "D8 00 FF FF FF", 0, "declares 16777215"),
        (&instance, "E1 FF FF 00", 1, "id 65535 is reserved"),
        (&instance, "C3 09 00 00 01", 2, "not a 1/2/4/8-byte integer"),
        (&instance, "C3 0D 00 00 01", 2, "not a 1/2/4/8-byte time"),
        (&instance, "C2 00 C3 28", 2, "not valid UTF-8"),
        (
            &instance,
            "41 00 01",
            0,
            "resource instance TLV with id 0 in a payload for /3/0",
        ),
        (
            &instance,
            "08 01 03 C1 09 64",
            0,
            "expected resources or object instance 0",
        ),
        (&instance, "83 06 C1 00 01", 2, "inside multiple resource 6"),
        (
            &Lwm2mPath::object(3),
            "C1 09 64",
            0,
            "expected object instances",
        ),
        (
            &Lwm2mPath::object(3),
            "03 00 41 00 01",
            2,
            "inside object instance 0",
        ),
        (
            &Lwm2mPath::resource(3, 0, 9),
            "C1 0A 64",
            0,
            "expected resource 9",
        ),
        (
            &Lwm2mPath::resource_instance(3, 0, 6, 1),
            "41 00 01",
            0,
            "expected resource instance 1",
        ),
        (
            &instance,
            "C1 09 64 C1 0A 0F C1 09 65",
            6,
            "resource id 9 appears twice in the payload for /3/0",
        ),
        (
            &Lwm2mPath::object(3),
            "03 00 C1 09 64 03 01 C1 09 64 03 00 C1 0A 0F",
            10,
            "object instance id 0 appears twice",
        ),
        (
            &instance,
            "86 06 41 00 01 41 00 05",
            5,
            "resource instance id 0 appears twice in multiple resource 6",
        ),
        (
            &instance,
            "06 00 C1 09 64 C1 09 64",
            5,
            "resource id 9 appears twice in object instance 0",
        ),
        (
            &Lwm2mPath::resource(3, 0, 9),
            "C1 09 64 41 00 01",
            3,
            "mixes with resource TLVs",
        ),
    ];
    for (base, payload, offset, reason) in cases {
        let (got_offset, got_reason) = malformed(base, payload);
        assert_eq!(got_offset, *offset, "{payload}: {got_reason}");
        assert!(got_reason.contains(reason), "{payload}: {got_reason}");
    }
    let types = |_: &Lwm2mPath| Some(ResourceType::Boolean);
    let err = codec::decode(ContentFormat::Tlv, &instance, &hex("C1 01 02"), &types).unwrap_err();
    assert!(err.to_string().contains("boolean"), "{err}");
    let types = |_: &Lwm2mPath| Some(ResourceType::Float);
    assert!(codec::decode(ContentFormat::Tlv, &instance, &hex("C2 01 00 00"), &types).is_err());
    let types = |_: &Lwm2mPath| Some(ResourceType::ObjectLink);
    assert!(codec::decode(ContentFormat::Tlv, &instance, &hex("C2 01 00 00"), &types).is_err());
}

#[test]
fn encode_rejects_records_outside_the_request() {
    let base = Lwm2mPath::instance(3, 0);
    let outside = [Record::new(Lwm2mPath::resource(3, 1, 0), Value::Integer(1))];
    assert!(matches!(
        codec::encode(ContentFormat::Tlv, &base, &outside),
        Err(CodecError::Unsupported { .. })
    ));
    let mixed = [
        Record::new(Lwm2mPath::resource(3, 0, 6), Value::Integer(1)),
        Record::new(Lwm2mPath::resource_instance(3, 0, 6, 0), Value::Integer(1)),
    ];
    assert!(matches!(
        codec::encode(ContentFormat::Tlv, &base, &mixed),
        Err(CodecError::Unsupported { .. })
    ));
    let prefixed = [Record::new(
        "/dev0/3/0/1".parse().unwrap(),
        Value::Integer(1),
    )];
    assert!(codec::encode(ContentFormat::Tlv, &base, &prefixed).is_err());
}

proptest! {
    #[test]
    fn round_trip((base, records) in arb_payload()) {
        let types = Types::of(&records);
        let bytes = codec::encode(ContentFormat::Tlv, &base, &records).unwrap();
        let decoded = codec::decode(ContentFormat::Tlv, &base, &bytes, &|p| types.get(p)).unwrap();
        prop_assert_eq!(decoded, records);
    }

    #[test]
    fn decode_never_panics(payload in prop::collection::vec(any::<u8>(), 0..64), depth in 1usize..=4) {
        let base = Lwm2mPath::from_ids(None, &[3, 0, 7, 1][..depth]).unwrap();
        let _ = codec::decode(ContentFormat::Tlv, &base, &payload, &device_types);
        let _ = codec::decode(ContentFormat::Tlv, &base, &payload, &no_types);
    }
}
