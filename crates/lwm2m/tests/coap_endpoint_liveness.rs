//! Liveness and exact boundaries of the sans-IO message layer: a peer stays reachable after an
//! observation is established or cancelled, and duplicates are remembered for exactly
//! EXCHANGE_LIFETIME (RFC 7252 §4.8.2). Explicit instants, no sockets, no sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::time::Duration;

use coap_lite::{RequestType, ResponseType};
use fleetbench_lwm2m::coap::{Endpoint, EndpointConfig, Event, RequestOptions};
use fleetbench_lwm2m::packets::{new_request, new_response, set_observe, uri_path};
use tokio::time::Instant;

mod endpoint_support;

use endpoint_support::{CLIENT, SERVER, addr, events, pump, request_event};

/// A client with an established observation of `/3303/0/5700` on the device.
fn observed(
    now: Instant,
) -> (
    Endpoint,
    Endpoint,
    fleetbench_lwm2m::coap::RequestId,
    Vec<u8>,
) {
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut device = Endpoint::new(EndpointConfig::default(), 2);
    let id = client.send_request(
        now,
        addr(SERVER),
        new_request(RequestType::Get, &["3303", "0", "5700"]),
        RequestOptions {
            confirmable: true,
            observe: true,
        },
    );
    pump(now, &mut client, CLIENT, &mut device);
    let (exchange, request) = request_event(&mut device);
    let token = request.get_token().to_vec();
    let mut first = new_response(ResponseType::Content);
    set_observe(&mut first, 1);
    device.respond(now, exchange, first);
    pump(now, &mut device, SERVER, &mut client);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == id),
        "the observation is established"
    );
    (client, device, id, token)
}

/// Sends a GET of `path` from `client` and checks it goes on the wire at once, is answered,
/// and completes.
fn read_goes_through(now: Instant, client: &mut Endpoint, device: &mut Endpoint, path: &str) {
    let read = client.send_request(
        now,
        addr(SERVER),
        new_request(RequestType::Get, &["3", "0", path]),
        RequestOptions::default(),
    );
    assert_eq!(
        pump(now, client, CLIENT, device),
        1,
        "the request to {path} goes out at once: the NSTART slot is free"
    );
    let (exchange, packet) = request_event(device);
    assert_eq!(uri_path(&packet), ["3", "0", path]);
    device.respond(now, exchange, new_response(ResponseType::Content));
    pump(now, device, SERVER, client);
    assert!(
        matches!(events(client).as_slice(), [Event::Response { request, .. }] if *request == read),
        "the read of {path} completes"
    );
}

#[test]
fn a_request_after_an_established_observation_goes_out_at_once() {
    let now = Instant::now();
    let (mut client, mut device, _, _) = observed(now);
    read_goes_through(now, &mut client, &mut device, "0");
    // And again: the slot is freed each time, not only once.
    read_goes_through(now, &mut client, &mut device, "1");
}

#[test]
fn notifications_keep_flowing_while_other_requests_complete() {
    let now = Instant::now();
    let (mut client, mut device, id, token) = observed(now);
    read_goes_through(now, &mut client, &mut device, "0");
    let mut notification = new_response(ResponseType::Content);
    set_observe(&mut notification, 2);
    device
        .send_notification(now, addr(CLIENT), &token, notification, false)
        .unwrap();
    pump(now, &mut device, SERVER, &mut client);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == id),
        "the observation still delivers after an unrelated exchange"
    );
}

#[test]
fn a_request_after_cancelling_an_observation_goes_out_at_once() {
    let now = Instant::now();
    let (mut client, mut device, id, _) = observed(now);
    client.cancel(now, id);
    read_goes_through(now, &mut client, &mut device, "0");
}

#[test]
fn a_request_queued_behind_an_observe_request_goes_out_when_it_is_answered() {
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut device = Endpoint::new(EndpointConfig::default(), 2);
    let observe = client.send_request(
        now,
        addr(SERVER),
        new_request(RequestType::Get, &["3303", "0", "5700"]),
        RequestOptions {
            confirmable: true,
            observe: true,
        },
    );
    let read = client.send_request(
        now,
        addr(SERVER),
        new_request(RequestType::Get, &["3", "0", "0"]),
        RequestOptions::default(),
    );
    assert_eq!(pump(now, &mut client, CLIENT, &mut device), 1, "NSTART = 1");
    let (exchange, _) = request_event(&mut device);
    let mut first = new_response(ResponseType::Content);
    set_observe(&mut first, 1);
    device.respond(now, exchange, first);
    pump(now, &mut device, SERVER, &mut client);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == observe)
    );
    assert_eq!(
        pump(now, &mut client, CLIENT, &mut device),
        1,
        "the queued read goes out once the observation is established"
    );
    let (exchange, packet) = request_event(&mut device);
    assert_eq!(uri_path(&packet), ["3", "0", "0"]);
    device.respond(now, exchange, new_response(ResponseType::Content));
    pump(now, &mut device, SERVER, &mut client);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == read)
    );
}

/// A server that answered one CON request from the client; returns the request's bytes.
fn answered_once(now: Instant, server: &mut Endpoint) -> Vec<u8> {
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    client.send_request(
        now,
        addr(SERVER),
        new_request(RequestType::Get, &["3"]),
        RequestOptions::default(),
    );
    let request = client.poll_transmit().expect("a request").bytes;
    server.receive(now, addr(CLIENT), &request);
    let (exchange, _) = request_event(server);
    server.respond(now, exchange, new_response(ResponseType::Content));
    while server.poll_transmit().is_some() {}
    request
}

#[test]
fn the_default_exchange_lifetime_is_rfc_7252s_247_seconds() {
    assert_eq!(
        EndpointConfig::default().exchange_lifetime,
        Duration::from_secs(247)
    );
}

#[test]
fn a_duplicate_just_before_exchange_lifetime_is_replayed_not_processed() {
    let now = Instant::now();
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    let request = answered_once(now, &mut server);
    let lifetime = server.config().exchange_lifetime;
    let just_before = now + lifetime - Duration::from_millis(1);
    server.handle_timeout(just_before);
    server.receive(just_before, addr(CLIENT), &request);
    assert!(
        events(&mut server).is_empty(),
        "a duplicate within EXCHANGE_LIFETIME is not processed again"
    );
    assert_eq!(
        std::iter::from_fn(|| server.poll_transmit()).count(),
        1,
        "the cached answer is replayed"
    );
    assert_eq!(server.stats().duplicates, 1);
}

#[test]
fn a_message_id_is_forgotten_exactly_at_exchange_lifetime() {
    let now = Instant::now();
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    let request = answered_once(now, &mut server);
    let lifetime = server.config().exchange_lifetime;
    assert_eq!(
        server.poll_timeout(),
        Some(now + lifetime),
        "the endpoint asks to be woken when the message ID expires"
    );
    server.handle_timeout(now + lifetime);
    assert_eq!(server.remembered_messages(), 0);
    server.receive(now + lifetime, addr(CLIENT), &request);
    assert_eq!(
        events(&mut server).len(),
        1,
        "after EXCHANGE_LIFETIME the same message ID is a new request"
    );
}
