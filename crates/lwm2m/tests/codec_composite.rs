//! The composite payloads (path lists and full-name records) in SenML JSON and CBOR: exact
//! bytes, round trips, and errors that name the record and the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fleetbench_lwm2m::codec::composite::{
    CompositePath, decode_paths, decode_records, encode_paths, encode_records,
};
use fleetbench_lwm2m::codec::{CodecError, Record, no_types};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};
use proptest::prelude::*;

fn path(text: &str) -> Lwm2mPath {
    text.parse().unwrap()
}

#[test]
fn path_list_json_exact_bytes_and_back() {
    let paths = vec![
        CompositePath::Root,
        CompositePath::Path(path("/3/0/0")),
        CompositePath::Path(path("/dev0/3303/0")),
    ];
    let bytes = encode_paths(ContentFormat::SenmlJson, &paths).unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        r#"[{"n":"/"},{"n":"/3/0/0"},{"n":"/dev0/3303/0"}]"#
    );
    assert_eq!(
        decode_paths(ContentFormat::SenmlJson, &bytes).unwrap(),
        paths
    );
}

#[test]
fn path_list_cbor_exact_bytes() {
    let paths = vec![CompositePath::Path(path("/3/0"))];
    let bytes = encode_paths(ContentFormat::SenmlCbor, &paths).unwrap();
    // [ {0: "/3/0"} ]
    assert_eq!(bytes, [0x81, 0xa1, 0x00, 0x64, b'/', b'3', b'/', b'0']);
    assert_eq!(
        decode_paths(ContentFormat::SenmlCbor, &bytes).unwrap(),
        paths
    );
}

#[test]
fn path_list_base_names_apply() {
    let body = br#"[{"bn":"/3/0/","n":"0"},{"n":"9"},{"bn":"/dev1","n":"/3303"}]"#;
    assert_eq!(
        decode_paths(ContentFormat::SenmlJson, body).unwrap(),
        vec![
            CompositePath::Path(path("/3/0/0")),
            CompositePath::Path(path("/3/0/9")),
            CompositePath::Path(path("/dev1/3303")),
        ]
    );
}

#[test]
fn path_list_errors_name_record_and_reason() {
    let err = decode_paths(ContentFormat::SenmlJson, br#"[{"n":"/3/0"},{"n":"/3/x"}]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("record 1") && err.contains("/3/x"), "{err}");
    let err = decode_paths(ContentFormat::SenmlJson, br#"[{"n":"/3/0/0","v":1}]"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("carries a value"), "{err}");
    let err = decode_paths(ContentFormat::Tlv, b"").unwrap_err();
    assert!(matches!(err, CodecError::Unsupported { .. }), "{err}");
}

#[test]
fn records_json_exact_bytes() {
    let records = vec![
        Record::new(path("/3/0/0"), Value::String("fleetbench".into())),
        Record::new(path("/dev0/3303/0/5700"), Value::Float(21.5)),
        Record::new(path("/3/0/7/1"), Value::Integer(3800)),
    ];
    let bytes = encode_records(ContentFormat::SenmlJson, &records).unwrap();
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        r#"[{"n":"/3/0/0","vs":"fleetbench"},{"n":"/dev0/3303/0/5700","v":21.5},{"n":"/3/0/7/1","v":3800}]"#
    );
    let types = |p: &Lwm2mPath| match (p.object, p.resource) {
        (3, Some(0)) => Some(ResourceType::String),
        (3303, _) => Some(ResourceType::Float),
        _ => Some(ResourceType::Integer),
    };
    assert_eq!(
        decode_records(ContentFormat::SenmlJson, &bytes, &types).unwrap(),
        records
    );
}

#[test]
fn records_need_resource_paths() {
    let err = encode_records(
        ContentFormat::SenmlCbor,
        &[Record::new(path("/3/0"), Value::Integer(1))],
    )
    .unwrap_err();
    assert!(err.to_string().contains("/3/0"), "{err}");
    let err = decode_records(
        ContentFormat::SenmlJson,
        br#"[{"n":"/3/0","v":1}]"#,
        &no_types,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a resource path"), "{err}");
}

fn arb_path() -> impl Strategy<Value = Lwm2mPath> {
    (
        proptest::option::of("dev[0-9]{1,3}"),
        0u16..=65534,
        proptest::collection::vec(0u16..=65534, 0..=3),
    )
        .prop_map(|(prefix, object, ids)| {
            let mut all = vec![object];
            all.extend(ids);
            Lwm2mPath::from_ids(prefix.as_deref(), &all).unwrap()
        })
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Boolean),
        "[ -~]{0,20}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Opaque),
        (-1.0e9f64..1.0e9).prop_map(Value::Float),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn path_lists_round_trip(paths in proptest::collection::vec(arb_path(), 0..12), cbor in any::<bool>()) {
        let format = if cbor { ContentFormat::SenmlCbor } else { ContentFormat::SenmlJson };
        let list: Vec<CompositePath> = paths.into_iter().map(CompositePath::Path).collect();
        let bytes = encode_paths(format, &list).unwrap();
        prop_assert_eq!(decode_paths(format, &bytes).unwrap(), list);
    }

    #[test]
    fn records_round_trip(
        entries in proptest::collection::vec((arb_path(), 0u16..100, arb_value()), 1..10),
        cbor in any::<bool>(),
    ) {
        let format = if cbor { ContentFormat::SenmlCbor } else { ContentFormat::SenmlJson };
        let records: Vec<Record> = entries
            .into_iter()
            .map(|(p, resource, value)| {
                let mut ids = p.ids();
                ids.truncate(2);
                while ids.len() < 2 { ids.push(0); }
                ids.push(resource);
                Record::new(Lwm2mPath::from_ids(p.prefix.as_deref(), &ids).unwrap(), value)
            })
            .collect();
        let bytes = encode_records(format, &records).unwrap();
        // The declared type of each record's resource, as the receiver would know it.
        let types = |p: &Lwm2mPath| {
            records.iter().find(|r| r.path.without_prefix() == *p).map(|r| r.value.resource_type())
        };
        let back = decode_records(format, &bytes, &types).unwrap();
        prop_assert_eq!(back.len(), records.len());
        for (got, want) in back.iter().zip(&records) {
            prop_assert_eq!(&got.path, &want.path);
            let same_resource = records
                .iter()
                .filter(|r| r.path.without_prefix() == want.path.without_prefix())
                .count();
            if same_resource == 1 {
                prop_assert_eq!(&got.value, &want.value);
            }
        }
    }

    #[test]
    fn path_list_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), cbor in any::<bool>()) {
        let format = if cbor { ContentFormat::SenmlCbor } else { ContentFormat::SenmlJson };
        let _ = decode_paths(format, &bytes);
        let _ = decode_records(format, &bytes, &no_types);
    }
}
