//! Device request-path benchmarks: `Device::handle_request` (the sans-IO simulated device,
//! below the CoAP message layer) for a TLV read of `/3/0`, a text/plain read of a sub-device
//! sensor through its Object 25 prefix, a text/plain write, an Observe evaluation of a
//! sensor at a sample boundary, and a 64-byte Block2 slice of a 20000-byte file served from
//! the device's body cache.
//!
//! Run: `cargo bench -p fleetbench-benches --bench device` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType};
use criterion::{Criterion, criterion_group, criterion_main};
use fleetbench_fleet::device::{Device, DeviceSpec};
use fleetbench_fleet::observe::Observations;
use fleetbench_lwm2m::block::BlockOption;
use tokio::time::Instant;

fn request(method: RequestType, path: &str) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(method);
    packet.set_token(vec![1, 2, 3, 4]);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    packet
}

fn device(now: Instant) -> Device {
    Device::new(
        &DeviceSpec {
            endpoint: "bench-000001".to_owned(),
            seed: 7,
            sub_devices: 2,
            ..DeviceSpec::default()
        },
        now,
    )
}

fn requests(c: &mut Criterion) {
    let now = Instant::now();
    let mut dev = device(now);
    let mut group = c.benchmark_group("device/handle_request");

    let mut read_tlv = request(RequestType::Get, "/3/0");
    read_tlv.add_option(CoapOption::Accept, vec![0x2d, 0x16]);
    group.bench_function("read /3/0 TLV", |b| {
        b.iter(|| black_box(dev.handle_request(now, black_box(&read_tlv))))
    });

    let read_sub = request(RequestType::Get, "/dev1/3303/0/5700");
    group.bench_function("read /dev1/3303/0/5700 text", |b| {
        b.iter(|| black_box(dev.handle_request(now, black_box(&read_sub))))
    });

    let mut write = request(RequestType::Put, "/33000/0/4");
    write.add_option(CoapOption::ContentFormat, Vec::new());
    write.payload = b"debug".to_vec();
    group.bench_function("write /33000/0/4 text", |b| {
        b.iter(|| black_box(dev.handle_request(now, black_box(&write))))
    });

    let mut select = request(RequestType::Put, "/33000/0/8");
    select.add_option(CoapOption::ContentFormat, Vec::new());
    select.payload = b"/sim/20000".to_vec();
    dev.handle_request(now, &select);
    let first = request(RequestType::Get, "/33000/0/9");
    dev.handle_request(now, &first);
    let mut block = request(RequestType::Get, "/33000/0/9");
    block.add_option(
        CoapOption::Block2,
        BlockOption::new(100, false, 64)
            .map(|b| b.encode())
            .unwrap_or_default(),
    );
    group.bench_function("read /33000/0/9 block 100 of 64 B (cached body)", |b| {
        b.iter(|| black_box(dev.handle_request(now, black_box(&block))))
    });
    group.finish();
}

fn observation(c: &mut Criterion) {
    let start = Instant::now();
    let mut dev = device(start);
    let mut observations = Observations::new();
    let mut get = request(RequestType::Get, "/3303/0/5700");
    get.add_option(CoapOption::Observe, Vec::new());
    let peer = SocketAddr::from(([127, 0, 0, 1], 5683));
    let response = dev.handle_request(start, &get).response;
    observations.register(start, peer, &get, &response, &mut dev);
    let mut at = start;
    c.bench_function("observe/evaluate sensor at a sample boundary", |b| {
        b.iter(|| {
            at += Duration::from_secs(5);
            black_box(observations.poll(at, &mut dev))
        })
    });
}

criterion_group!(benches, requests, observation);
criterion_main!(benches);
