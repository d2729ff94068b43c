//! Helpers shared by the sans-IO endpoint tests: two endpoints on fixed loopback ports,
//! draining their transmits and events, and delivering datagrams between them.
#![allow(dead_code)] // each test file uses its own subset
#![allow(clippy::expect_used)] // test helpers may panic

use std::net::SocketAddr;

use coap_lite::{Packet, RequestType};
use fleetbench_lwm2m::coap::{Endpoint, Event, ExchangeId, Transmit};
use fleetbench_lwm2m::packets::new_request;
use tokio::time::Instant;

/// The client's port.
pub const CLIENT: u16 = 1000;
/// The server's (or device's) port.
pub const SERVER: u16 = 2000;

/// `127.0.0.1:port`.
pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Every datagram the endpoint has to send.
pub fn transmits(endpoint: &mut Endpoint) -> Vec<Transmit> {
    std::iter::from_fn(|| endpoint.poll_transmit()).collect()
}

/// Every event the endpoint has to report.
pub fn events(endpoint: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| endpoint.poll_event()).collect()
}

/// A sent datagram, decoded.
pub fn decode(transmit: &Transmit) -> Packet {
    Packet::from_bytes(&transmit.bytes).expect("endpoint emits valid CoAP")
}

/// A GET of `path`.
pub fn get(path: &[&str]) -> Packet {
    new_request(RequestType::Get, path)
}

/// Delivers every datagram `from` emits to `to`, returning how many were delivered.
pub fn pump(now: Instant, from: &mut Endpoint, from_port: u16, to: &mut Endpoint) -> usize {
    let sent = transmits(from);
    for transmit in &sent {
        to.receive(now, addr(from_port), &transmit.bytes);
    }
    sent.len()
}

/// The one request event `endpoint` has; panics on anything else.
pub fn request_event(endpoint: &mut Endpoint) -> (ExchangeId, Packet) {
    match events(endpoint).as_slice() {
        [
            Event::Request {
                exchange, packet, ..
            },
        ] => (*exchange, packet.clone()),
        other => panic!("expected one request, got {other:?}"),
    }
}
