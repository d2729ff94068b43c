//! Codec benchmarks: TLV, SenML JSON and SenML CBOR encode and decode of an Object 3 (Device)
//! instance, and coap-lite packet decode/encode of a typical LwM2M Read request and response.
//!
//! Run: `cargo bench -p fleetbench-benches --bench codecs` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use coap_lite::{
    CoapOption, ContentFormat as CoapContentFormat, MessageClass, MessageType, Packet, RequestType,
    ResponseType,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fleetbench_lwm2m::codec::{self, Record};
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::{ResourceType, Value};

/// Object 3 instance 0 as in the LwM2M TS examples (16 records, 3 multiple resources).
fn device_object() -> Vec<Record> {
    let r = |res: u16, value: Value| Record::new(Lwm2mPath::resource(3, 0, res), value);
    let ri = |res: u16, inst: u16, value: Value| {
        Record::new(Lwm2mPath::resource_instance(3, 0, res, inst), value)
    };
    vec![
        r(0, Value::String("Open Mobile Alliance".into())),
        r(1, Value::String("Lightweight M2M Client".into())),
        r(2, Value::String("345000123".into())),
        r(3, Value::String("1.0".into())),
        ri(6, 0, Value::Integer(1)),
        ri(6, 1, Value::Integer(5)),
        ri(7, 0, Value::Integer(3800)),
        ri(7, 1, Value::Integer(5000)),
        ri(8, 0, Value::Integer(125)),
        ri(8, 1, Value::Integer(900)),
        r(9, Value::Integer(100)),
        r(10, Value::Integer(15)),
        ri(11, 0, Value::Integer(0)),
        r(13, Value::Time(1_367_491_215)),
        r(14, Value::String("+02:00".into())),
        r(16, Value::String("U".into())),
    ]
}

fn device_types(path: &Lwm2mPath) -> Option<ResourceType> {
    Some(match path.resource? {
        0..=3 | 14..=16 => ResourceType::String,
        6..=11 => ResourceType::Integer,
        13 => ResourceType::Time,
        _ => return None,
    })
}

fn bench_formats(c: &mut Criterion) {
    let base = Lwm2mPath::instance(3, 0);
    let records = device_object();
    for (name, format) in [
        ("tlv", ContentFormat::Tlv),
        ("senml_json", ContentFormat::SenmlJson),
        ("senml_cbor", ContentFormat::SenmlCbor),
    ] {
        let Ok(payload) = codec::encode(format, &base, &records) else {
            panic!("{name}: the Device object must encode");
        };
        let mut group = c.benchmark_group(format!("device_object/{name}"));
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function("encode", |b| {
            b.iter(|| codec::encode(format, black_box(&base), black_box(&records)))
        });
        group.bench_function("decode", |b| {
            b.iter(|| codec::decode(format, black_box(&base), black_box(&payload), &device_types))
        });
        group.finish();
    }
}

/// A Read of /3/0 as an LwM2M server sends it: CON GET, 4-byte token, Uri-Path, Accept TLV.
fn read_request() -> Packet {
    let mut packet = Packet::new();
    packet.header.set_type(MessageType::Confirmable);
    packet.header.code = MessageClass::Request(RequestType::Get);
    packet.header.message_id = 0x7d34;
    packet.set_token(vec![0x1a, 0x2b, 0x3c, 0x4d]);
    packet.add_option(CoapOption::UriPath, b"3".to_vec());
    packet.add_option(CoapOption::UriPath, b"0".to_vec());
    packet.add_option(CoapOption::Accept, 11542u16.to_be_bytes().to_vec());
    packet
}

/// The device's piggy-backed answer: ACK 2.05 Content, Content-Format TLV, the Device object.
fn read_response(payload: Vec<u8>) -> Packet {
    let mut packet = Packet::new();
    packet.header.set_type(MessageType::Acknowledgement);
    packet.header.code = MessageClass::Response(ResponseType::Content);
    packet.header.message_id = 0x7d34;
    packet.set_token(vec![0x1a, 0x2b, 0x3c, 0x4d]);
    packet.set_content_format(CoapContentFormat::ApplicationVndOmaLwm2mTlv);
    packet.payload = payload;
    packet
}

fn bench_coap(c: &mut Criterion) {
    let Ok(tlv) = codec::encode(
        ContentFormat::Tlv,
        &Lwm2mPath::instance(3, 0),
        &device_object(),
    ) else {
        panic!("the Device object must encode");
    };
    for (name, packet) in [
        ("read_request", read_request()),
        ("read_response", read_response(tlv)),
    ] {
        let Ok(bytes) = packet.to_bytes() else {
            panic!("{name} must encode");
        };
        let mut group = c.benchmark_group(format!("coap/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("encode", |b| b.iter(|| black_box(&packet).to_bytes()));
        group.bench_function("decode", |b| {
            b.iter(|| Packet::from_bytes(black_box(&bytes)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_formats, bench_coap);
criterion_main!(benches);
