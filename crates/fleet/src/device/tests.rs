//! Unit tests of the device model: no sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::value::Value;
use std::time::Duration;
use tokio::time::Instant;

use super::message::{response_code, uint_option};
use super::*;
use fleetbench_lwm2m::path::Lwm2mPath;

fn spec(sub_devices: usize) -> DeviceSpec {
    DeviceSpec {
        endpoint: "ep000001".to_owned(),
        seed: 42,
        lifetime: Duration::from_secs(300),
        sub_devices,
        ..DeviceSpec::default()
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
    let mut device = Device::new(&spec(2), now);
    assert_eq!(device.sub_device_count(), 2);
    assert_eq!(
        device.registration_links(),
        "</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</4/0>,</5>;ver=1.1,</5/0>,\
         </25>;ver=2.0,</25/0>,</25/1>,</3303/0>,</33000/0>"
    );
    let tree = &device.gateway().tree;
    assert!(
        tree.object(0).is_some(),
        "Object 0 exists but is never listed"
    );
    assert_eq!(
        tree.get(25, 1, 0),
        Some(&Value::String("ep000001-sub1".into()))
    );
    assert_eq!(tree.get(25, 1, 1), Some(&Value::String("dev1".into())));
    assert_eq!(
        tree.get(25, 0, 3),
        Some(&Value::CoreLink(
            "</3/0>,</5>;ver=1.1,</5/0>,</3303/0>,</3304/0>,</3311/0>,</33000/0>".into()
        ))
    );
    assert_eq!(tree.get(1, 0, 1), Some(&Value::Integer(300)));
    assert_eq!(device.lifetime(), Duration::from_secs(300));
    // Sub-device models are created on first use.
    assert_eq!(device.materialised_sub_devices(), 0);
    let sub = device.sub_device_mut(0).unwrap();
    assert!(sub.tree.object(25).is_none() && sub.tree.object(1).is_none());
    assert!(sub.tree.object(0).is_none() && sub.tree.object(4).is_none());
    assert_eq!(
        sub.tree.get(3, 0, 17),
        Some(&Value::String("sensor".into()))
    );
    assert_eq!(device.materialised_sub_devices(), 1);
    // Several content formats in the root link are quoted and space-separated.
    let several = Device::new(
        &DeviceSpec {
            root_content_formats: vec![110, 112],
            ..spec(0)
        },
        now,
    );
    assert!(
        several
            .registration_links()
            .starts_with("</>;rt=\"oma.lwm2m\";ct=\"110 112\","),
        "{}",
        several.registration_links()
    );
}

#[test]
fn sub_devices_created_late_read_like_early_ones() {
    let start = Instant::now();
    let later = start + Duration::from_secs(600);
    let read = |device: &mut Device, at| {
        device
            .handle_request(at, &request(RequestType::Get, "/dev1/3304/0/5700"))
            .response
            .payload
    };
    let mut early = Device::new(&spec(2), start);
    let _ = read(&mut early, start);
    let mut late = Device::new(&spec(2), start);
    assert_eq!(read(&mut early, later), read(&mut late, later));
}

#[test]
fn security_object_is_unauthorized_for_the_dm_server() {
    let now = Instant::now();
    let mut device = Device::new(&spec(1), now);
    for (method, path) in [
        (RequestType::Get, "/0"),
        (RequestType::Get, "/0/0"),
        (RequestType::Get, "/0/0/0"),
        (RequestType::Put, "/0/0/0"),
        (RequestType::Post, "/0/0"),
        (RequestType::Post, "/0"),
        (RequestType::Delete, "/0/0"),
        (RequestType::Get, "/0/9"),
    ] {
        let reply = device.handle_request(now, &request(method, path));
        assert_eq!(
            code(&reply),
            ResponseType::Unauthorized,
            "{method:?} {path}"
        );
    }
    let discover = with_accept(request(RequestType::Get, "/0"), 40);
    assert_eq!(
        code(&device.handle_request(now, &discover)),
        ResponseType::Unauthorized
    );
    assert_eq!(
        device.gateway().tree.get(0, 0, 0),
        Some(&Value::String("coap://127.0.0.1:5683".into()))
    );
    assert_eq!(device.gateway().tree.get(0, 0, 2), Some(&Value::Integer(3)));
    // Sub-devices have no Security object at all.
    let reply = device.handle_request(now, &request(RequestType::Get, "/dev0/0/0"));
    assert_eq!(code(&reply), ResponseType::NotFound);
}

#[test]
fn unknown_paths_are_not_found() {
    let now = Instant::now();
    let mut device = Device::new(&spec(2), now);
    for path in [
        "/6",
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
        "</dev0/3303/0>,</dev0/3303/0/5601>,</dev0/3303/0/5602>,</dev0/3303/0/5603>,\
         </dev0/3303/0/5604>,</dev0/3303/0/5605>,</dev0/3303/0/5700>,</dev0/3303/0/5701>,\
         </dev0/3303/0/5750>"
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

mod formats {
    use super::*;
    use fleetbench_lwm2m::codec::{self, Record};
    use fleetbench_lwm2m::content_format::ContentFormat;
    use fleetbench_lwm2m::path::Lwm2mPath;
    use fleetbench_lwm2m::value::ResourceType;

    fn types(path: &Lwm2mPath) -> Option<ResourceType> {
        let device = Device::new(&spec(1), Instant::now());
        let node = device.gateway();
        node.tree
            .resource(path.object, path.instance?, path.resource?)
            .map(|r| r.kind)
    }

    fn decode_reply(reply: &Reply, path: &str) -> Vec<Record> {
        let cf = content_format(reply).unwrap_or_default();
        let number = cf.iter().fold(0u16, |acc, &b| (acc << 8) | u16::from(b));
        let format = ContentFormat::from_number(number).unwrap();
        let base: Lwm2mPath = path.parse().unwrap();
        codec::decode(format, &base, &reply.response.payload, &types).unwrap()
    }

    #[test]
    fn single_resource_defaults_to_text_plain() {
        let now = Instant::now();
        let mut device = Device::new(&spec(1), now);
        let reply = device.handle_request(now, &request(RequestType::Get, "/3/0/0"));
        assert_eq!(code(&reply), ResponseType::Content);
        assert_eq!(content_format(&reply), Some(vec![]));
        assert_eq!(reply.response.payload, b"fleetbench");
        let reply = device.handle_request(now, &request(RequestType::Get, "/1/0/1"));
        assert_eq!(reply.response.payload, b"300");
    }

    #[test]
    fn instance_and_object_default_to_tlv() {
        let now = Instant::now();
        let mut device = Device::new(&spec(1), now);
        let reply = device.handle_request(now, &request(RequestType::Get, "/3/0"));
        assert_eq!(code(&reply), ResponseType::Content);
        assert_eq!(content_format(&reply), Some(vec![0x2d, 0x16]));
        let records = decode_reply(&reply, "/3/0");
        let find = |r: u16, ri: Option<u16>| {
            records
                .iter()
                .find(|rec| rec.path.resource == Some(r) && rec.path.resource_instance == ri)
                .map(|rec| rec.value.clone())
        };
        assert_eq!(find(0, None), Some(Value::String("fleetbench".into())));
        assert_eq!(find(11, Some(0)), Some(Value::Integer(0)));
        assert_eq!(find(4, None), None, "executable resources are not read");
        let reply = device.handle_request(now, &request(RequestType::Get, "/25"));
        let records = decode_reply(&reply, "/25");
        assert!(records.contains(&Record::new(
            Lwm2mPath::resource(25, 0, 1),
            Value::String("dev0".into())
        )));
        // A multiple-instance resource cannot go out as text/plain.
        let reply = device.handle_request(now, &request(RequestType::Get, "/3/0/11"));
        assert_eq!(content_format(&reply), Some(vec![0x2d, 0x16]));
        let reply =
            device.handle_request(now, &with_accept(request(RequestType::Get, "/3/0/11"), 0));
        assert_eq!(code(&reply), ResponseType::NotAcceptable);
        let reply = device.handle_request(now, &with_accept(request(RequestType::Get, "/3/0"), 0));
        assert_eq!(code(&reply), ResponseType::NotAcceptable);
        let reply =
            device.handle_request(now, &with_accept(request(RequestType::Get, "/3/0/11/0"), 0));
        assert_eq!(reply.response.payload, b"0");
    }

    #[test]
    fn every_accept_format_round_trips() {
        let now = Instant::now();
        let mut device = Device::new(&spec(1), now);
        for format in [11542u16, 110, 112] {
            let reply = device.handle_request(
                now,
                &with_accept(request(RequestType::Get, "/3303/0"), format),
            );
            assert_eq!(code(&reply), ResponseType::Content, "{format}");
            assert_eq!(
                content_format(&reply),
                Some(uint_option(u32::from(format))),
                "{format}"
            );
            let records = decode_reply(&reply, "/3303/0");
            assert_eq!(records.len(), 7, "{format}: {records:?}");
            assert!(
                records
                    .iter()
                    .any(|r| r.path == Lwm2mPath::resource(3303, 0, 5701)
                        && r.value == Value::String("Cel".into()))
            );
        }
        let reply =
            device.handle_request(now, &with_accept(request(RequestType::Get, "/3/0/2"), 42));
        assert_eq!(
            code(&reply),
            ResponseType::NotAcceptable,
            "a string is not opaque"
        );
        let reply = device.handle_request(now, &with_accept(request(RequestType::Get, "/3/0"), 42));
        assert_eq!(code(&reply), ResponseType::NotAcceptable);
        let reply =
            device.handle_request(now, &with_accept(request(RequestType::Get, "/3/0"), 11543));
        assert_eq!(code(&reply), ResponseType::NotAcceptable);
    }

    #[test]
    fn sub_device_reads_go_through_the_prefix() {
        let now = Instant::now();
        let mut device = Device::new(&spec(2), now);
        let reply = device.handle_request(now, &request(RequestType::Get, "/dev1/3/0/17"));
        assert_eq!(code(&reply), ResponseType::Content);
        assert_eq!(reply.response.payload, b"sensor");
        let reply = device.handle_request(now, &request(RequestType::Get, "/dev1/3/0/2"));
        assert_eq!(reply.response.payload, b"SN-ep000001-SUB1");
        let reply = device.handle_request(
            now,
            &with_accept(request(RequestType::Get, "/dev0/3303/0"), 110),
        );
        let text = String::from_utf8(reply.response.payload.clone()).unwrap();
        assert!(
            text.contains("\"bn\":\"/dev0/3303/0"),
            "SenML names carry the prefix: {text}"
        );
        let reply = device.handle_request(now, &request(RequestType::Get, "/dev0/3303/0/5700"));
        let sub_temp: f64 = String::from_utf8(reply.response.payload)
            .unwrap()
            .parse()
            .unwrap();
        let reply = device.handle_request(now, &request(RequestType::Get, "/3303/0/5700"));
        let own_temp: f64 = String::from_utf8(reply.response.payload)
            .unwrap()
            .parse()
            .unwrap();
        assert_ne!(sub_temp, own_temp, "sub-devices have their own sensors");
    }

    #[test]
    fn writes_in_text_tlv_and_senml() {
        let now = Instant::now();
        let mut device = Device::new(&spec(1), now);
        let reply = device.handle_request(
            now,
            &with_payload(request(RequestType::Put, "/1/0/1"), 0, b"120"),
        );
        assert_eq!(code(&reply), ResponseType::Changed);
        assert_eq!(
            reply.action,
            Some(DeviceAction::LifetimeChanged(Duration::from_secs(120)))
        );
        assert_eq!(device.lifetime(), Duration::from_secs(120));
        // No Content-Format on a resource: text/plain.
        let mut put = request(RequestType::Put, "/33000/0/4");
        put.payload = b"debug".to_vec();
        assert_eq!(
            code(&device.handle_request(now, &put)),
            ResponseType::Changed
        );
        assert_eq!(
            device.gateway().tree.get(33000, 0, 4),
            Some(&Value::String("debug".into()))
        );
        // TLV partial update of an instance.
        let records = [
            Record::new(Lwm2mPath::resource(1, 0, 7), Value::String("UQ".into())),
            Record::new(Lwm2mPath::resource(1, 0, 6), Value::Boolean(true)),
        ];
        let tlv = codec::encode(ContentFormat::Tlv, &Lwm2mPath::instance(1, 0), &records).unwrap();
        let reply = device.handle_request(
            now,
            &with_payload(request(RequestType::Post, "/1/0"), 11542, &tlv),
        );
        assert_eq!(code(&reply), ResponseType::Changed);
        assert_eq!(reply.action, None);
        assert_eq!(
            device.gateway().tree.get(1, 0, 6),
            Some(&Value::Boolean(true))
        );
        assert_eq!(
            device.gateway().tree.get(1, 0, 7),
            Some(&Value::String("UQ".into()))
        );
        // SenML JSON on a sub-device, names carrying the prefix.
        let base: Lwm2mPath = "/dev0/33000/0/1".parse().unwrap();
        let senml = codec::encode(
            ContentFormat::SenmlJson,
            &base,
            &[Record::new(base.clone(), Value::Boolean(true))],
        )
        .unwrap();
        let reply = device.handle_request(
            now,
            &with_payload(request(RequestType::Put, "/dev0/33000/0/1"), 110, &senml),
        );
        assert_eq!(code(&reply), ResponseType::Changed);
        assert_eq!(
            device.sub_device(0).unwrap().tree.get(33000, 0, 1),
            Some(&Value::Boolean(true))
        );
        assert_eq!(
            device.gateway().tree.get(33000, 0, 1),
            Some(&Value::Boolean(false))
        );
    }

    #[test]
    fn current_time_write_moves_the_clock() {
        let now = Instant::now();
        let mut device = Device::new(&spec(0), now);
        let put = with_payload(request(RequestType::Put, "/3/0/13"), 0, b"2000000000");
        assert_eq!(
            code(&device.handle_request(now, &put)),
            ResponseType::Changed
        );
        let later = now + Duration::from_secs(10);
        let reply = device.handle_request(later, &request(RequestType::Get, "/3/0/13"));
        assert_eq!(reply.response.payload, b"2000000010");
    }

    #[test]
    fn bad_writes_get_lwm2m_errors() {
        let now = Instant::now();
        let mut device = Device::new(&spec(1), now);
        let cases: [(&str, u16, &[u8], ResponseType); 8] = [
            ("/1/0/1", 0, b"soon", ResponseType::BadRequest),
            ("/1/0/1", 0, b"0", ResponseType::BadRequest),
            ("/33000/0/4", 0, b"loud", ResponseType::BadRequest),
            ("/3/0/0", 0, b"acme", ResponseType::MethodNotAllowed),
            ("/3/0/4", 0, b"1", ResponseType::MethodNotAllowed),
            ("/1/0", 11542, &[0xff, 0x01], ResponseType::BadRequest),
            ("/1/0/1", 110, b"{not json", ResponseType::BadRequest),
            ("/1/0", 0, b"5", ResponseType::UnsupportedContentFormat),
        ];
        for (path, format, payload, expected) in cases {
            let put = with_payload(request(RequestType::Put, path), format, payload);
            let reply = device.handle_request(now, &put);
            assert_eq!(code(&reply), expected, "{path} cf {format} {payload:?}");
            assert!(reply.action.is_none());
        }
        assert_eq!(
            device.lifetime(),
            Duration::from_secs(300),
            "failed writes change nothing"
        );
        // A record outside the request path is refused, atomically.
        // Written by hand: our encoders refuse records outside the base path, a peer may not.
        let senml = br#"[{"n":"/1/0/7","vs":"T"},{"n":"/3/0/13","v":5}]"#;
        let reply = device.handle_request(
            now,
            &with_payload(request(RequestType::Post, "/1/0"), 110, senml),
        );
        assert_eq!(code(&reply), ResponseType::BadRequest);
        assert_eq!(
            device.gateway().tree.get(1, 0, 7),
            Some(&Value::String("U".into())),
            "the record inside the path is not written either"
        );
        let alone = br#"[{"n":"/1/0/7","vs":"T"}]"#;
        let reply = device.handle_request(
            now,
            &with_payload(request(RequestType::Post, "/1/0"), 110, alone),
        );
        assert_eq!(
            code(&reply),
            ResponseType::Changed,
            "the same record alone is fine"
        );
        assert_eq!(
            device.gateway().tree.get(1, 0, 7),
            Some(&Value::String("T".into()))
        );
    }

    #[test]
    fn agent_files_follow_the_selected_path() {
        let now = Instant::now();
        let mut device = Device::new(&spec(0), now);
        let select = |name: &[u8]| with_payload(request(RequestType::Put, "/33000/0/8"), 0, name);
        assert_eq!(
            code(&device.handle_request(now, &select(b"/tmp/a"))),
            ResponseType::Changed
        );
        let upload = with_payload(request(RequestType::Put, "/33000/0/9"), 42, &[1, 2, 3]);
        assert_eq!(
            code(&device.handle_request(now, &upload)),
            ResponseType::Changed
        );
        device.handle_request(now, &select(b"/tmp/b"));
        let reply = device.handle_request(now, &request(RequestType::Get, "/33000/0/9"));
        assert_eq!(content_format(&reply), Some(vec![42]));
        assert!(reply.response.payload.is_empty());
        device.handle_request(now, &select(b"/tmp/a"));
        let reply = device.handle_request(now, &request(RequestType::Get, "/33000/0/9"));
        assert_eq!(reply.response.payload, [1, 2, 3]);
        for resource in [0, 2, 3, 5, 6] {
            let exec = request(RequestType::Post, &format!("/33000/0/{resource}"));
            assert_eq!(
                code(&device.handle_request(now, &exec)),
                ResponseType::Changed
            );
        }
        let reply = device.handle_request(now, &request(RequestType::Get, "/33000/0/7"));
        assert_eq!(reply.response.payload, b"ok");
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("3".to_owned()),
            Just("0".to_owned()),
            Just("1".to_owned()),
            Just("25".to_owned()),
            Just("3303".to_owned()),
            Just("33000".to_owned()),
            Just("dev0".to_owned()),
            Just("dev1".to_owned()),
            "[0-9]{1,6}",
            "\\PC{0,8}",
        ]
    }

    fn method() -> impl Strategy<Value = RequestType> {
        prop_oneof![
            Just(RequestType::Get),
            Just(RequestType::Post),
            Just(RequestType::Put),
            Just(RequestType::Delete),
            Just(RequestType::Fetch),
        ]
    }

    proptest! {
        #[test]
        fn structured_requests(
            method in method(),
            segments in proptest::collection::vec(segment(), 0..6),
            accept in proptest::option::of(prop_oneof![Just(0u16), Just(40), Just(42), Just(60), Just(110), Just(112), Just(11542), any::<u16>()]),
            format in proptest::option::of(prop_oneof![Just(0u16), Just(42), Just(60), Just(110), Just(112), Just(11542), any::<u16>()]),
            query in proptest::collection::vec("\\PC{0,10}", 0..3),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let now = Instant::now();
            let mut device = Device::new(&spec(2), now);
            let mut packet = request(method, "");
            for segment in &segments {
                packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
            }
            for q in &query {
                packet.add_option(CoapOption::UriQuery, q.as_bytes().to_vec());
            }
            if let Some(accept) = accept {
                packet.add_option(CoapOption::Accept, uint_option(u32::from(accept)));
            }
            if let Some(format) = format {
                packet.add_option(CoapOption::ContentFormat, uint_option(u32::from(format)));
            }
            packet.payload = payload;
            let reply = device.handle_request(now, &packet);
            prop_assert!(response_code(&reply.response).is_some());
            // The answer always encodes.
            prop_assert!(reply.response.to_bytes().is_ok());
        }

        #[test]
        fn arbitrary_datagrams(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let now = Instant::now();
            let mut device = Device::new(&spec(1), now);
            if let Ok(packet) = Packet::from_bytes(&bytes) {
                let reply = device.handle_request(now, &packet);
                prop_assert!(response_code(&reply.response).is_some());
            }
        }
    }
}

#[test]
fn attributes_are_stored_inherited_and_discovered() {
    let now = Instant::now();
    let mut device = Device::new(&spec(1), now);
    let put = |path: &str, query: &[&str]| {
        let mut packet = request(RequestType::Put, path);
        for item in query {
            packet.add_option(CoapOption::UriQuery, item.as_bytes().to_vec());
        }
        packet
    };
    let ok = |device: &mut Device, packet: &Packet| code(&device.handle_request(now, packet));
    assert_eq!(
        ok(&mut device, &put("/dev0/3303", &["pmax=30", "pmin=2"])),
        ResponseType::Changed
    );
    let path: Lwm2mPath = "/dev0/3303/0/5700".parse().unwrap();
    let attributes = device.observation_attributes(&path);
    assert_eq!((attributes.pmin, attributes.pmax), (Some(2), Some(30)));
    assert_eq!(
        device
            .observation_attributes(&"/3303/0/5700".parse().unwrap())
            .pmax,
        None,
        "the gateway's own model is separate (and /1/0/3 is 0 here)"
    );
    assert_eq!(
        ok(
            &mut device,
            &put("/dev0/3303/0/5700", &["pmax=5", "gt=21.5"])
        ),
        ResponseType::Changed
    );
    let attributes = device.observation_attributes(&path);
    assert_eq!(
        (attributes.pmin, attributes.pmax, attributes.gt),
        (Some(2), Some(5), Some(21.5))
    );
    assert_eq!(
        ok(&mut device, &put("/dev0/3303/0/5700", &["pmax"])),
        ResponseType::Changed
    );
    assert_eq!(device.observation_attributes(&path).pmax, Some(30));
    // gt/lt/st only on numeric resources; lt must stay below gt.
    assert_eq!(
        ok(&mut device, &put("/dev0/3303/0", &["gt=1"])),
        ResponseType::BadRequest
    );
    assert_eq!(
        ok(&mut device, &put("/dev0/3303/0/5701", &["gt=1"])),
        ResponseType::BadRequest
    );
    assert_eq!(
        ok(&mut device, &put("/dev0/3303/0/5700", &["lt=30"])),
        ResponseType::BadRequest
    );
    // Discover shows what is attached at each level.
    let reply = device.handle_request(
        now,
        &with_accept(request(RequestType::Get, "/dev0/3303"), 40),
    );
    let text = String::from_utf8(reply.response.payload).unwrap();
    assert!(
        text.starts_with("</dev0/3303>;pmin=2;pmax=30,</dev0/3303/0>,"),
        "{text}"
    );
    assert!(text.contains("</dev0/3303/0/5700>;gt=21.5,"), "{text}");
    // Server defaults (/1/0/2, /1/0/3) apply where nothing is attached.
    let write = with_payload(request(RequestType::Put, "/1/0/3"), 0, b"120");
    assert_eq!(ok(&mut device, &write), ResponseType::Changed);
    let attributes = device.observation_attributes(&"/3/0/9".parse().unwrap());
    assert_eq!(attributes.pmax, Some(120));
}

#[test]
fn firmware_update_push_and_pull() {
    let now = Instant::now();
    let mut device = Device::new(&spec(1), now);
    let read = |device: &mut Device, path: &str| {
        device
            .handle_request(now, &request(RequestType::Get, path))
            .response
            .payload
    };
    // Update before any package: not allowed.
    let exec = request(RequestType::Post, "/5/0/2");
    assert_eq!(
        code(&device.handle_request(now, &exec)),
        ResponseType::MethodNotAllowed
    );
    // Push: package bytes -> Downloaded.
    let push = with_payload(request(RequestType::Put, "/5/0/0"), 42, &[1, 2, 3, 4]);
    assert_eq!(
        code(&device.handle_request(now, &push)),
        ResponseType::Changed
    );
    assert_eq!(read(&mut device, "/5/0/3"), b"2");
    assert_eq!(read(&mut device, "/5/0/7"), b"1.0.1");
    let reply = device.handle_request(now, &exec);
    assert_eq!(code(&reply), ResponseType::Changed);
    assert_eq!(
        reply.action,
        Some(DeviceAction::FirmwareUpdate { sub_device: None })
    );
    assert_eq!(read(&mut device, "/5/0/3"), b"3");
    assert_eq!(read(&mut device, "/5/0/5"), b"0");
    // No new package while updating.
    assert_eq!(
        code(&device.handle_request(now, &push)),
        ResponseType::MethodNotAllowed
    );
    device.finish_firmware_update(None);
    assert_eq!(read(&mut device, "/5/0/3"), b"0");
    assert_eq!(read(&mut device, "/5/0/5"), b"1");
    assert_eq!(read(&mut device, "/3/0/3"), b"1.0.1");
    // Pull on a sub-device: the URI starts a download (State 1) the driver carries out.
    let pull = with_payload(
        request(RequestType::Put, "/dev0/5/0/1"),
        0,
        b"coap://127.0.0.1/fw.bin",
    );
    let reply = device.handle_request(now, &pull);
    assert_eq!(code(&reply), ResponseType::Changed);
    assert_eq!(
        reply.action,
        Some(DeviceAction::DownloadFirmware {
            sub_device: Some(0),
            uri: "coap://127.0.0.1/fw.bin".into()
        })
    );
    assert_eq!(read(&mut device, "/dev0/5/0/3"), b"1");
    device.firmware_download_finished(Some(0), Ok(2048));
    assert_eq!(read(&mut device, "/dev0/5/0/3"), b"2");
    let reply = device.handle_request(now, &request(RequestType::Post, "/dev0/5/0/2"));
    assert_eq!(
        reply.action,
        Some(DeviceAction::FirmwareUpdate {
            sub_device: Some(0)
        })
    );
    device.finish_firmware_update(Some(0));
    assert_eq!(read(&mut device, "/dev0/5/0/5"), b"1");
    assert_eq!(read(&mut device, "/dev0/3/0/3"), b"1.0.1");
    // A failed pull reports its result; an empty URI resets to Idle; Cancel gives 10.
    device.handle_request(now, &pull);
    device.firmware_download_finished(Some(0), Err(7));
    assert_eq!(read(&mut device, "/dev0/5/0/3"), b"0");
    assert_eq!(read(&mut device, "/dev0/5/0/5"), b"7");
    device.handle_request(now, &pull);
    let reset = with_payload(request(RequestType::Put, "/dev0/5/0/1"), 0, b"");
    let reply = device.handle_request(now, &reset);
    assert_eq!(
        reply.action,
        Some(DeviceAction::CancelDownload {
            sub_device: Some(0)
        })
    );
    assert_eq!(read(&mut device, "/dev0/5/0/3"), b"0");
    assert_eq!(read(&mut device, "/dev0/5/0/5"), b"0");
    device.handle_request(now, &push);
    let cancel = device.handle_request(now, &request(RequestType::Post, "/5/0/10"));
    assert_eq!(code(&cancel), ResponseType::Changed);
    assert_eq!(read(&mut device, "/5/0/3"), b"0");
    assert_eq!(read(&mut device, "/5/0/5"), b"10");
    // The package resource is write-only.
    let reply = device.handle_request(now, &request(RequestType::Get, "/5/0/0"));
    assert_eq!(code(&reply), ResponseType::MethodNotAllowed);
}

#[test]
fn injected_firmware_failures_follow_the_profile() {
    use crate::profile::FirmwareFailure;
    let now = Instant::now();
    let failing = |result, ratio| DeviceSpec {
        firmware_failures: vec![FirmwareFailure { result, ratio }],
        ..spec(0)
    };
    let push = with_payload(request(RequestType::Put, "/5/0/0"), 42, &[1, 2, 3]);
    let exec = request(RequestType::Post, "/5/0/2");
    let read = |device: &mut Device, path: &str| {
        device
            .handle_request(now, &request(RequestType::Get, path))
            .response
            .payload
    };
    // Integrity failure: the download ends in Idle with result 5.
    let mut device = Device::new(&failing(5, 1.0), now);
    device.handle_request(now, &push);
    assert_eq!(read(&mut device, "/5/0/3"), b"0");
    assert_eq!(read(&mut device, "/5/0/5"), b"5");
    // Update failure: the package stays (State 2) with result 8.
    let mut device = Device::new(&failing(8, 1.0), now);
    device.handle_request(now, &push);
    assert_eq!(read(&mut device, "/5/0/3"), b"2");
    device.handle_request(now, &exec);
    device.finish_firmware_update(None);
    assert_eq!(read(&mut device, "/5/0/3"), b"2");
    assert_eq!(read(&mut device, "/5/0/5"), b"8");
    assert_eq!(read(&mut device, "/3/0/3"), b"1.0.0", "no new firmware");
    // A ratio of one half fails about half of the packages, reproducibly.
    let outcomes = |seed| {
        let mut device = Device::new(
            &DeviceSpec {
                seed,
                ..failing(8, 0.5)
            },
            now,
        );
        (0..200)
            .map(|_| {
                device.handle_request(now, &push);
                device.handle_request(now, &exec);
                device.finish_firmware_update(None);
                read(&mut device, "/5/0/5") == b"1"
            })
            .collect::<Vec<bool>>()
    };
    let successes = outcomes(1).iter().filter(|ok| **ok).count();
    assert!((70..130).contains(&successes), "{successes}");
    assert_eq!(outcomes(1), outcomes(1));
}

mod blockwise_transfers {
    use super::*;
    use fleetbench_lwm2m::block::BlockOption;

    fn block(packet: &Packet, option: CoapOption) -> Option<BlockOption> {
        packet
            .get_first_option(option)
            .map(|raw| BlockOption::decode(raw).unwrap())
    }

    fn upload_block(num: u32, more: bool, size: usize, data: &[u8]) -> Packet {
        let mut put = with_payload(request(RequestType::Put, "/dev0/33000/0/9"), 42, data);
        put.add_option(
            CoapOption::Block1,
            BlockOption::new(num, more, size).unwrap().encode(),
        );
        put
    }

    #[test]
    fn block1_upload_then_block2_download() {
        let now = Instant::now();
        let mut device = Device::new(&spec(1), now);
        let select = with_payload(request(RequestType::Put, "/dev0/33000/0/8"), 0, b"big.bin");
        assert_eq!(
            code(&device.handle_request(now, &select)),
            ResponseType::Changed
        );
        let file: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
        let chunks: Vec<&[u8]> = file.chunks(1024).collect();
        for (num, chunk) in chunks.iter().enumerate() {
            let more = num + 1 < chunks.len();
            let reply = device.handle_request(now, &upload_block(num as u32, more, 1024, chunk));
            let expected = if more {
                ResponseType::Continue
            } else {
                ResponseType::Changed
            };
            assert_eq!(code(&reply), expected, "block {num}");
            let echo = block(&reply.response, CoapOption::Block1).unwrap();
            assert_eq!((echo.num, echo.more), (num as u32, more));
        }
        assert_eq!(
            device.sub_device(0).unwrap().file("big.bin"),
            Some(file.clone())
        );
        // Download: unasked, the first 1024 bytes come with Block2 and Size2.
        let reply = device.handle_request(now, &request(RequestType::Get, "/dev0/33000/0/9"));
        assert_eq!(reply.response.payload, file[..1024]);
        let first = block(&reply.response, CoapOption::Block2).unwrap();
        assert_eq!((first.num, first.more, first.size()), (0, true, 1024));
        assert_eq!(
            reply.response.get_first_option(CoapOption::Size2),
            Some(&uint_option(2500))
        );
        let mut downloaded = Vec::new();
        for num in 0..5u32 {
            let mut get = request(RequestType::Get, "/dev0/33000/0/9");
            get.add_option(
                CoapOption::Block2,
                BlockOption::new(num, false, 512).unwrap().encode(),
            );
            let reply = device.handle_request(now, &get);
            assert_eq!(code(&reply), ResponseType::Content);
            downloaded.extend_from_slice(&reply.response.payload);
            let option = block(&reply.response, CoapOption::Block2).unwrap();
            assert_eq!(option.more, num < 4, "block {num}");
        }
        assert_eq!(downloaded, file);
        let mut beyond = request(RequestType::Get, "/dev0/33000/0/9");
        beyond.add_option(
            CoapOption::Block2,
            BlockOption::new(5, false, 512).unwrap().encode(),
        );
        assert_eq!(
            code(&device.handle_request(now, &beyond)),
            ResponseType::BadOption
        );
    }

    #[test]
    fn block1_errors() {
        let now = Instant::now();
        let mut device = Device::new(&spec(1), now);
        // A block out of order: 4.08, and the upload is forgotten.
        assert_eq!(
            code(&device.handle_request(now, &upload_block(0, true, 16, &[0; 16]))),
            ResponseType::Continue
        );
        assert_eq!(
            code(&device.handle_request(now, &upload_block(2, true, 16, &[0; 16]))),
            ResponseType::RequestEntityIncomplete
        );
        assert_eq!(
            code(&device.handle_request(now, &upload_block(1, false, 16, &[0; 4]))),
            ResponseType::RequestEntityIncomplete
        );
        // A non-final block of the wrong size: 4.00.
        assert_eq!(
            code(&device.handle_request(now, &upload_block(0, true, 32, &[0; 16]))),
            ResponseType::BadRequest
        );
        // A malformed Block1 value: 4.02.
        let mut bad = upload_block(0, true, 16, &[0; 16]);
        bad.clear_option(CoapOption::Block1);
        bad.add_option(CoapOption::Block1, vec![1, 2, 3, 4]);
        assert_eq!(
            code(&device.handle_request(now, &bad)),
            ResponseType::BadOption
        );
        // A firmware push that breaks off goes back to Idle with result 4.
        let mut put = with_payload(request(RequestType::Put, "/5/0/0"), 42, &[7; 64]);
        put.add_option(
            CoapOption::Block1,
            BlockOption::new(0, true, 64).unwrap().encode(),
        );
        device.handle_request(now, &put);
        let state = device.handle_request(now, &request(RequestType::Get, "/5/0/3"));
        assert_eq!(state.response.payload, b"1", "downloading");
        let mut skip = with_payload(request(RequestType::Put, "/5/0/0"), 42, &[7; 64]);
        skip.add_option(
            CoapOption::Block1,
            BlockOption::new(2, true, 64).unwrap().encode(),
        );
        assert_eq!(
            code(&device.handle_request(now, &skip)),
            ResponseType::RequestEntityIncomplete
        );
        let state = device.handle_request(now, &request(RequestType::Get, "/5/0/3"));
        assert_eq!(state.response.payload, b"0");
        let result = device.handle_request(now, &request(RequestType::Get, "/5/0/5"));
        assert_eq!(result.response.payload, b"4");
        // An upload announcing more than the limit: 4.13 with Size1 at once.
        let mut huge = upload_block(0, true, 16, &[0; 16]);
        huge.add_option(CoapOption::Size1, uint_option(u32::MAX));
        let reply = device.handle_request(now, &huge);
        assert_eq!(code(&reply), ResponseType::RequestEntityTooLarge);
        assert_eq!(
            reply.response.get_first_option(CoapOption::Size1),
            Some(&uint_option(8 * 1024 * 1024))
        );
        // A firmware package pushed in blocks completes the download.
        for (num, more) in [(0u32, true), (1, false)] {
            let mut put = with_payload(request(RequestType::Put, "/5/0/0"), 42, &[7; 64]);
            put.add_option(
                CoapOption::Block1,
                BlockOption::new(num, more, 64).unwrap().encode(),
            );
            device.handle_request(now, &put);
        }
        let reply = device.handle_request(now, &request(RequestType::Get, "/5/0/3"));
        assert_eq!(reply.response.payload, b"2");
    }
}
