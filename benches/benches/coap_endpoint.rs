//! The CoAP message layer's hot path: one CON request/response exchange through two sans-IO
//! endpoints (client sends, server receives and answers piggy-backed, client matches), and a
//! duplicate request answered from the deduplication cache.
//!
//! Run: `cargo bench -p fleetbench-benches --bench coap_endpoint` (add `-- --quick`).

use std::hint::black_box;
use std::net::SocketAddr;

use coap_lite::{RequestType, ResponseType};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fleetbench_lwm2m::coap::{Endpoint, EndpointConfig, Event, RequestOptions};
use fleetbench_lwm2m::packets::{new_request, new_response};
use tokio::time::Instant;

const CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1000);
const SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 2000);

/// One full exchange; returns the response payload length so nothing is optimised away.
fn exchange(now: Instant, client: &mut Endpoint, server: &mut Endpoint) -> usize {
    client.send_request(
        now,
        SERVER,
        new_request(RequestType::Get, &["3303", "0", "5700"]),
        RequestOptions::default(),
    );
    while let Some(transmit) = client.poll_transmit() {
        server.receive(now, CLIENT, &transmit.bytes);
    }
    while let Some(event) = server.poll_event() {
        if let Event::Request { exchange, .. } = event {
            let mut response = new_response(ResponseType::Content);
            response.payload = b"21.5".to_vec();
            server.respond(now, exchange, response);
        }
    }
    while let Some(transmit) = server.poll_transmit() {
        client.receive(now, SERVER, &transmit.bytes);
    }
    let mut answered = 0;
    while let Some(event) = client.poll_event() {
        if let Event::Response { packet, .. } = event {
            answered += packet.payload.len();
        }
    }
    answered
}

fn bench_exchange(c: &mut Criterion) {
    let mut group = c.benchmark_group("coap_endpoint");
    group.throughput(Throughput::Elements(1));
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    group.bench_function("con_request_piggy_backed_response", |b| {
        b.iter(|| black_box(exchange(now, &mut client, &mut server)))
    });

    let mut sender = Endpoint::new(EndpointConfig::default(), 3);
    sender.send_request(
        now,
        SERVER,
        new_request(RequestType::Get, &["3", "0", "0"]),
        RequestOptions::default(),
    );
    let request = sender.poll_transmit().map(|t| t.bytes).unwrap_or_default();
    let mut deduplicating = Endpoint::new(EndpointConfig::default(), 4);
    deduplicating.receive(now, CLIENT, &request);
    if let Some(Event::Request { exchange, .. }) = deduplicating.poll_event() {
        deduplicating.respond(now, exchange, new_response(ResponseType::Content));
    }
    group.bench_function("duplicate_answered_from_cache", |b| {
        b.iter(|| {
            deduplicating.receive(now, CLIENT, black_box(&request));
            black_box(deduplicating.poll_transmit())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_exchange);
criterion_main!(benches);
