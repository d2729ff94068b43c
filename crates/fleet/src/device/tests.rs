//! Unit tests of the device model: no sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::value::Value;
use std::time::Duration;
use tokio::time::Instant;

use super::message::{response_code, uint_option};
use super::*;

fn spec(sub_devices: usize) -> DeviceSpec {
    DeviceSpec {
        endpoint: "ep000001".to_owned(),
        seed: 42,
        lifetime: Duration::from_secs(300),
        sub_devices,
    }
}

fn request(method: RequestType, path: &str) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(method);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    packet
}

fn with_accept(mut packet: Packet, format: u16) -> Packet {
    packet.add_option(CoapOption::Accept, uint_option(u32::from(format)));
    packet
}

fn with_payload(mut packet: Packet, format: u16, payload: &[u8]) -> Packet {
    packet.add_option(CoapOption::ContentFormat, uint_option(u32::from(format)));
    packet.payload = payload.to_vec();
    packet
}

fn code(reply: &Reply) -> ResponseType {
    response_code(&reply.response).unwrap()
}

fn content_format(reply: &Reply) -> Option<Vec<u8>> {
    reply
        .response
        .get_first_option(CoapOption::ContentFormat)
        .cloned()
}

#[test]
fn builds_objects_and_registration_links() {
    let now = Instant::now();
    let device = Device::new(&spec(2), now);
    assert_eq!(device.sub_device_count(), 2);
    assert_eq!(
        device.registration_links(),
        "</1/0>,</3/0>,</25>;ver=2.0,</25/0>,</25/1>,</3303/0>,</33000/0>"
    );
    let tree = &device.gateway().tree;
    assert_eq!(
        tree.get(25, 1, 0),
        Some(&Value::String("ep000001-sub1".into()))
    );
    assert_eq!(tree.get(25, 1, 1), Some(&Value::String("dev1".into())));
    assert_eq!(
        tree.get(25, 0, 3),
        Some(&Value::CoreLink("</3/0>,</3303/0>,</33000/0>".into()))
    );
    assert_eq!(tree.get(1, 0, 1), Some(&Value::Integer(300)));
    assert_eq!(device.lifetime(), Duration::from_secs(300));
    let sub = device.sub_device(0).unwrap();
    assert!(sub.tree.object(25).is_none() && sub.tree.object(1).is_none());
    assert_eq!(
        sub.tree.get(3, 0, 17),
        Some(&Value::String("sensor".into()))
    );
}

#[test]
fn unknown_paths_are_not_found() {
    let now = Instant::now();
    let mut device = Device::new(&spec(2), now);
    for path in [
        "/4",
        "/3/1",
        "/3/0/99",
        "/3/0/11/5",
        "/3/0/0/0",
        "/dev2/3/0",
        "/dev01/3/0",
        "/foo/3",
        "/",
        "/rd",
        "/3/70000",
        "/dev0/25",
    ] {
        let reply = device.handle_request(now, &request(RequestType::Get, path));
        assert_eq!(code(&reply), ResponseType::NotFound, "{path}");
        assert!(reply.action.is_none());
    }
}

#[test]
fn method_not_allowed() {
    let now = Instant::now();
    let mut device = Device::new(&spec(1), now);
    let cases = [
        (RequestType::Get, "/3/0/4"),
        (RequestType::Post, "/3/0/0"),
        (RequestType::Post, "/3/0/11/0"),
        (RequestType::Post, "/3"),
        (RequestType::Put, "/3"),
        (RequestType::Delete, "/3/0"),
        (RequestType::Fetch, "/3/0"),
        (RequestType::IPatch, "/3/0"),
        (RequestType::Post, "/dev0/3303/0/5700"),
    ];
    for (method, path) in cases {
        let reply = device.handle_request(now, &request(method, path));
        assert_eq!(
            code(&reply),
            ResponseType::MethodNotAllowed,
            "{method:?} {path}"
        );
    }
}

#[test]
fn execute_reports_actions() {
    let now = Instant::now();
    let mut device = Device::new(&spec(2), now);
    let cases = [
        ("/3/0/4", Some(DeviceAction::Reboot)),
        ("/1/0/8", Some(DeviceAction::RegistrationUpdate)),
        ("/dev1/3/0/4", Some(DeviceAction::SubDeviceReboot(1))),
    ];
    for (path, action) in cases {
        let reply = device.handle_request(now, &request(RequestType::Post, path));
        assert_eq!(code(&reply), ResponseType::Changed, "{path}");
        assert_eq!(reply.action, action, "{path}");
    }
}

#[test]
fn non_requests_and_bad_options_are_rejected() {
    let now = Instant::now();
    let mut device = Device::new(&spec(0), now);
    let mut response = Packet::new();
    response.header.code = MessageClass::Response(ResponseType::Content);
    assert_eq!(
        code(&device.handle_request(now, &response)),
        ResponseType::BadRequest
    );
    let mut bad_utf8 = Packet::new();
    bad_utf8.header.code = MessageClass::Request(RequestType::Get);
    bad_utf8.add_option(CoapOption::UriPath, vec![0xff, 0xfe]);
    assert_eq!(
        code(&device.handle_request(now, &bad_utf8)),
        ResponseType::BadRequest
    );
    let unknown_accept = with_accept(request(RequestType::Get, "/3/0/0"), 9999);
    assert_eq!(
        code(&device.handle_request(now, &unknown_accept)),
        ResponseType::NotAcceptable
    );
    let unknown_cf = with_payload(request(RequestType::Put, "/1/0/1"), 9999, b"60");
    assert_eq!(
        code(&device.handle_request(now, &unknown_cf)),
        ResponseType::UnsupportedContentFormat
    );
    let link_cf = with_payload(request(RequestType::Put, "/1/0/1"), 40, b"</1>");
    assert_eq!(
        code(&device.handle_request(now, &link_cf)),
        ResponseType::UnsupportedContentFormat
    );
}

#[test]
fn discover_lists_objects_instances_and_resources() {
    let now = Instant::now();
    let mut device = Device::new(&spec(1), now);
    let reply = device.handle_request(now, &with_accept(request(RequestType::Get, "/25"), 40));
    assert_eq!(code(&reply), ResponseType::Content);
    assert_eq!(content_format(&reply), Some(vec![40]));
    assert_eq!(
        String::from_utf8(reply.response.payload).unwrap(),
        "</25>;ver=2.0,</25/0>,</25/0/0>,</25/0/1>,</25/0/3>"
    );
    let reply = device.handle_request(now, &with_accept(request(RequestType::Get, "/3/0/11"), 40));
    assert_eq!(
        String::from_utf8(reply.response.payload).unwrap(),
        "</3/0/11>;dim=1"
    );
    let reply = device.handle_request(
        now,
        &with_accept(request(RequestType::Get, "/dev0/3303/0"), 40),
    );
    assert_eq!(
        String::from_utf8(reply.response.payload).unwrap(),
        "</dev0/3303/0>,</dev0/3303/0/5601>,</dev0/3303/0/5602>,</dev0/3303/0/5700>,</dev0/3303/0/5701>"
    );
    let reply = device.handle_request(
        now,
        &with_accept(request(RequestType::Get, "/3/0/11/0"), 40),
    );
    assert_eq!(code(&reply), ResponseType::BadRequest);
}

#[test]
fn write_attributes_validates_query() {
    let now = Instant::now();
    let mut device = Device::new(&spec(0), now);
    let with_query = |path: &str, query: &[&str]| {
        let mut packet = request(RequestType::Put, path);
        for q in query {
            packet.add_option(CoapOption::UriQuery, q.as_bytes().to_vec());
        }
        packet
    };
    let ok = with_query("/3303/0/5700", &["pmin=10", "pmax=60", "gt=30.5", "st"]);
    assert_eq!(
        code(&device.handle_request(now, &ok)),
        ResponseType::Changed
    );
    for bad in [&["pmin=-1"][..], &["foo=1"], &["pmin=abc"], &["pmax=1.5"]] {
        let packet = with_query("/3303/0/5700", bad);
        assert_eq!(
            code(&device.handle_request(now, &packet)),
            ResponseType::BadRequest,
            "{bad:?}"
        );
    }
    let missing = with_query("/3303/1", &["pmin=1"]);
    assert_eq!(
        code(&device.handle_request(now, &missing)),
        ResponseType::NotFound
    );
}

#[test]
fn time_dependent_resources_follow_now() {
    let start = Instant::now();
    let mut device = Device::new(&spec(0), start);
    let later = start + Duration::from_secs(3 * 3600 + 17);
    let _ = device.handle_request(later, &request(RequestType::Get, "/3/0/13"));
    let tree = &device.gateway().tree;
    assert_eq!(
        tree.get(3, 0, 13),
        Some(&Value::Time(crate::model::node::EPOCH_UNIX + 3 * 3600 + 17))
    );
    let Some(Value::Integer(battery)) = tree.get(3, 0, 9).cloned() else {
        panic!("battery is not an integer");
    };
    let Some(Value::Float(temp)) = tree.get(3303, 0, 5700).cloned() else {
        panic!("temperature is not a float");
    };
    let Some(Value::Float(min)) = tree.get(3303, 0, 5601).cloned() else {
        panic!("min is not a float");
    };
    assert!(min <= temp);
    let mut again = Device::new(&spec(0), start);
    let _ = again.handle_request(later, &request(RequestType::Get, "/3/0/13"));
    assert_eq!(
        again.gateway().tree.get(3, 0, 9),
        Some(&Value::Integer(battery))
    );
    assert_eq!(
        again.gateway().tree.get(3303, 0, 5700),
        Some(&Value::Float(temp))
    );
}
