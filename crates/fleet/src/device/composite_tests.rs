//! Unit tests of Read-Composite and Write-Composite on the device model (no sockets): exact
//! payloads and codes, atomicity, and a property: a composite read of any path set holds
//! exactly the records of the individual reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::codec::composite::{self, CompositePath};
use fleetbench_lwm2m::codec::{self, Record};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::Value;
use proptest::prelude::*;
use tokio::time::Instant;

use super::message::{response_code, uint_option};
use super::*;

const JSON: u16 = 110;
const CBOR: u16 = 112;

fn device(sub_devices: usize, now: Instant) -> Device {
    Device::new(
        &DeviceSpec {
            endpoint: "ep000001".to_owned(),
            seed: 7,
            lifetime: Duration::from_secs(300),
            sub_devices,
            ..DeviceSpec::default()
        },
        now,
    )
}

fn root(method: RequestType, format: Option<u16>, payload: &[u8]) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(method);
    if let Some(format) = format {
        packet.add_option(CoapOption::ContentFormat, uint_option(u32::from(format)));
    }
    packet.payload = payload.to_vec();
    packet
}

fn fetch(paths: &[&str]) -> Packet {
    let list: Vec<CompositePath> = paths
        .iter()
        .map(|p| match *p {
            "/" => CompositePath::Root,
            other => CompositePath::Path(other.parse().unwrap()),
        })
        .collect();
    let body = composite::encode_paths(ContentFormat::SenmlJson, &list).unwrap();
    root(RequestType::Fetch, Some(JSON), &body)
}

fn code(reply: &Reply) -> ResponseType {
    response_code(&reply.response).unwrap()
}

fn text(reply: &Reply) -> String {
    String::from_utf8(reply.response.payload.clone()).unwrap()
}

fn single_read(device: &mut Device, now: Instant, path: &str) -> Vec<Record> {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(RequestType::Get);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    packet.add_option(CoapOption::Accept, uint_option(u32::from(JSON)));
    let reply = device.handle_request(now, &packet);
    if code(&reply) != ResponseType::Content {
        return Vec::new();
    }
    let base: Lwm2mPath = path.parse().unwrap();
    codec::decode(
        ContentFormat::SenmlJson,
        &base,
        &reply.response.payload,
        &codec::no_types,
    )
    .unwrap()
}

#[test]
fn read_composite_answers_full_names_in_list_order() {
    let now = Instant::now();
    let mut device = device(1, now);
    let reply = device.handle_request(now, &fetch(&["/3/0/0", "/1/0/1", "/dev0/3/0/17"]));
    assert_eq!(code(&reply), ResponseType::Content);
    assert_eq!(
        reply.response.get_first_option(CoapOption::ContentFormat),
        Some(&uint_option(u32::from(JSON)))
    );
    assert_eq!(
        text(&reply),
        r#"[{"n":"/3/0/0","vs":"fleetbench"},{"n":"/1/0/1","v":300},{"n":"/dev0/3/0/17","vs":"sensor"}]"#
    );
}

#[test]
fn read_composite_answers_in_accept_format_and_dedups_overlaps() {
    let now = Instant::now();
    let mut device = device(0, now);
    let mut request = fetch(&["/3/0/6", "/3/0", "/3/0/0"]);
    request.add_option(CoapOption::Accept, uint_option(u32::from(CBOR)));
    let reply = device.handle_request(now, &request);
    assert_eq!(code(&reply), ResponseType::Content);
    assert_eq!(
        reply.response.get_first_option(CoapOption::ContentFormat),
        Some(&uint_option(u32::from(CBOR)))
    );
    let records = composite::decode_records(
        ContentFormat::SenmlCbor,
        &reply.response.payload,
        &codec::no_types,
    )
    .unwrap();
    // /3/0/6 (two instances) first, then the rest of /3/0 once each.
    let names: Vec<String> = records.iter().map(|r| r.path.to_string()).collect();
    assert_eq!(names[..2], ["/3/0/6/0", "/3/0/6/1"]);
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(records, {
        let mut expected = single_read(&mut device, now, "/3/0/6");
        for record in single_read(&mut device, now, "/3/0") {
            if !expected.contains(&record) {
                expected.push(record);
            }
        }
        expected
    });
}

#[test]
fn read_composite_leaves_out_missing_paths_and_fails_when_none_exists() {
    let now = Instant::now();
    let mut device = device(1, now);
    let reply = device.handle_request(now, &fetch(&["/3/0/0", "/3/9", "/0/0", "/dev7/3/0"]));
    assert_eq!(code(&reply), ResponseType::Content);
    assert_eq!(text(&reply), r#"[{"n":"/3/0/0","vs":"fleetbench"}]"#);
    let reply = device.handle_request(now, &fetch(&["/3/9", "/77"]));
    assert_eq!(code(&reply), ResponseType::NotFound);
    let reply = device.handle_request(now, &fetch(&["/3/0/4", "/0"]));
    assert_eq!(code(&reply), ResponseType::MethodNotAllowed);
}

#[test]
fn read_composite_root_reads_the_device_but_not_security() {
    let now = Instant::now();
    let mut device = device(1, now);
    // The answer is larger than one block: it comes in Block2 slices of the same FETCH
    // (RFC 8132 §2.3.2), all with the same ETag.
    let mut body = Vec::new();
    let mut tags = std::collections::BTreeSet::new();
    for num in 0..16u32 {
        let mut request = fetch(&["/"]);
        if num > 0 {
            let option = fleetbench_lwm2m::block::BlockOption::new(num, false, 1024).unwrap();
            request.add_option(CoapOption::Block2, option.encode());
        }
        let reply = device.handle_request(now, &request);
        assert_eq!(code(&reply), ResponseType::Content);
        body.extend_from_slice(&reply.response.payload);
        tags.insert(reply.response.get_first_option(CoapOption::ETag).cloned());
        let block = reply.response.get_first_option(CoapOption::Block2).unwrap();
        let block = fleetbench_lwm2m::block::BlockOption::decode(block).unwrap();
        if !block.more {
            break;
        }
    }
    assert_eq!(tags.len(), 1, "one representation: {tags:?}");
    let records =
        composite::decode_records(ContentFormat::SenmlJson, &body, &codec::no_types).unwrap();
    assert!(records.iter().any(|r| r.path.to_string() == "/25/0/1"));
    assert!(records.iter().all(|r| r.path.object != 0));
    assert!(records.iter().all(|r| r.path.prefix.is_none()));
}

#[test]
fn composite_format_errors() {
    let now = Instant::now();
    let mut device = device(0, now);
    let body = br#"[{"n":"/3/0/0"}]"#;
    let no_format = root(RequestType::Fetch, None, body);
    assert_eq!(
        code(&device.handle_request(now, &no_format)),
        ResponseType::BadRequest
    );
    let tlv = root(RequestType::Fetch, Some(11542), body);
    assert_eq!(
        code(&device.handle_request(now, &tlv)),
        ResponseType::UnsupportedContentFormat
    );
    let mut text_accept = root(RequestType::Fetch, Some(JSON), body);
    text_accept.add_option(CoapOption::Accept, uint_option(0));
    assert_eq!(
        code(&device.handle_request(now, &text_accept)),
        ResponseType::NotAcceptable
    );
    let garbage = root(RequestType::Fetch, Some(JSON), b"[{\"n\":");
    assert_eq!(
        code(&device.handle_request(now, &garbage)),
        ResponseType::BadRequest
    );
    let empty = root(RequestType::Fetch, Some(JSON), b"[]");
    assert_eq!(
        code(&device.handle_request(now, &empty)),
        ResponseType::BadRequest
    );
    // The root answers nothing but the composite operations.
    let get = root(RequestType::Get, None, b"");
    assert_eq!(
        code(&device.handle_request(now, &get)),
        ResponseType::NotFound
    );
    // FETCH elsewhere than the root is not a composite operation.
    let mut elsewhere = root(RequestType::Fetch, Some(JSON), body);
    elsewhere.add_option(CoapOption::UriPath, b"3".to_vec());
    assert_eq!(
        code(&device.handle_request(now, &elsewhere)),
        ResponseType::MethodNotAllowed
    );
}

#[test]
fn write_composite_changes_several_objects_and_reports_the_action() {
    let now = Instant::now();
    let mut device = device(1, now);
    let body = br#"[{"n":"/1/0/1","v":600},{"n":"/33000/0/4","vs":"debug"},{"n":"/dev0/33000/0/4","vs":"warn"}]"#;
    let reply = device.handle_request(now, &root(RequestType::IPatch, Some(JSON), body));
    assert_eq!(code(&reply), ResponseType::Changed);
    assert_eq!(
        reply.action,
        Some(DeviceAction::LifetimeChanged(Duration::from_secs(600)))
    );
    assert_eq!(device.lifetime(), Duration::from_secs(600));
    assert_eq!(
        device.gateway().tree.get(33000, 0, 4),
        Some(&Value::String("debug".into()))
    );
    assert_eq!(
        device.sub_device(0).unwrap().tree.get(33000, 0, 4),
        Some(&Value::String("warn".into()))
    );
}

#[test]
fn write_composite_is_all_or_nothing() {
    let now = Instant::now();
    let mut device = device(0, now);
    let cases: [(&[u8], ResponseType); 5] = [
        // A bad log level after a good lifetime.
        (
            br#"[{"n":"/1/0/1","v":600},{"n":"/33000/0/4","vs":"loud"}]"#,
            ResponseType::BadRequest,
        ),
        // A read-only resource.
        (
            br#"[{"n":"/1/0/1","v":600},{"n":"/3/0/0","vs":"x"}]"#,
            ResponseType::MethodNotAllowed,
        ),
        // An unknown instance.
        (
            br#"[{"n":"/1/0/1","v":600},{"n":"/33000/5/4","vs":"info"}]"#,
            ResponseType::NotFound,
        ),
        // The Security object.
        (
            br#"[{"n":"/1/0/1","v":600},{"n":"/0/0/0","vs":"coap://x"}]"#,
            ResponseType::Unauthorized,
        ),
        // A wrong type.
        (br#"[{"n":"/1/0/1","vs":"600"}]"#, ResponseType::BadRequest),
    ];
    for (body, expected) in cases {
        let reply = device.handle_request(now, &root(RequestType::IPatch, Some(JSON), body));
        assert_eq!(code(&reply), expected, "{}", String::from_utf8_lossy(body));
        assert_eq!(reply.action, None);
        assert_eq!(device.lifetime(), Duration::from_secs(300));
        assert_eq!(
            device.gateway().tree.get(33000, 0, 4),
            Some(&Value::String("info".into()))
        );
    }
}

#[test]
fn write_composite_in_cbor_then_read_composite_sees_it() {
    let now = Instant::now();
    let mut device = device(0, now);
    let records = vec![
        Record::new("/33000/0/4".parse().unwrap(), Value::String("trace".into())),
        Record::new("/33000/0/1".parse().unwrap(), Value::Boolean(true)),
    ];
    let body = composite::encode_records(ContentFormat::SenmlCbor, &records).unwrap();
    let reply = device.handle_request(now, &root(RequestType::IPatch, Some(CBOR), &body));
    assert_eq!(code(&reply), ResponseType::Changed);
    let reply = device.handle_request(now, &fetch(&["/33000/0/4", "/33000/0/1"]));
    assert_eq!(
        text(&reply),
        r#"[{"n":"/33000/0/4","vs":"trace"},{"n":"/33000/0/1","vb":true}]"#
    );
}

const PATHS: [&str; 12] = [
    "/3/0/0",
    "/3/0/6",
    "/3/0/6/1",
    "/3/0",
    "/1/0",
    "/3303/0/5700",
    "/3303",
    "/25/0/1",
    "/dev0/3/0/17",
    "/dev1/3303/0",
    "/4/0/4",
    "/33000/0/4",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// A composite read of a random path set holds exactly the union of the individual reads
    /// (in list order, each value once), at the same instant.
    #[test]
    fn composite_read_equals_individual_reads(
        picks in proptest::collection::vec(0..PATHS.len(), 1..6),
        elapsed in 0u64..3600,
    ) {
        let born = Instant::now();
        let now = born + Duration::from_secs(elapsed);
        let mut device = device(2, born);
        let paths: Vec<&str> = picks.iter().map(|&i| PATHS[i]).collect();
        let reply = device.handle_request(now, &fetch(&paths));
        prop_assert_eq!(code(&reply), ResponseType::Content);
        let got = composite::decode_records(
            ContentFormat::SenmlJson,
            &reply.response.payload,
            &codec::no_types,
        )
        .unwrap();
        let mut expected: Vec<Record> = Vec::new();
        for path in &paths {
            for record in single_read(&mut device, now, path) {
                if !expected.iter().any(|e| e.path == record.path) {
                    expected.push(record);
                }
            }
        }
        prop_assert_eq!(got, expected);
    }
}
