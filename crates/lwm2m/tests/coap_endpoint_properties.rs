//! Properties of the sans-IO message layer over *generated, well-formed* messages (random
//! types, methods, tokens, options and payloads), so that requests reach the application and
//! the answers are checked for correctness, not only for the absence of a panic:
//! - a CON request gets exactly one ACK (piggy-backed response or error) with its message ID
//!   and token, before anything else;
//! - a request with a known method and no unrecognised critical option reaches the
//!   application intact; one with an unrecognised critical option gets 4.02, an unknown method
//!   4.05, and neither reaches it;
//! - over a lossy link, whenever a response datagram reached the client, the client reports
//!   that response (and never a timeout for it).
//!
//! Seeds are fixed, so every run explores the same cases.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::collections::HashMap;
use std::net::SocketAddr;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use fleetbench_lwm2m::coap::{Endpoint, EndpointConfig, Event, RequestOptions};
use fleetbench_lwm2m::packets::{new_request, new_response};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::RngSeed;
use tokio::time::Instant;

mod endpoint_support;

use endpoint_support::events;

const CLIENT: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    endpoint_support::CLIENT,
);
const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    endpoint_support::SERVER,
);

/// A generated message and what the layer must do with it.
#[derive(Debug, Clone)]
struct Generated {
    packet: Packet,
    /// A request method the layer knows (GET, POST, PUT, DELETE, FETCH, PATCH, iPATCH).
    known_method: bool,
    /// It carries an odd option number coap-lite does not know.
    unknown_critical: bool,
}

fn method() -> impl Strategy<Value = (MessageClass, bool)> {
    prop_oneof![
        6 => prop_oneof![
            Just(RequestType::Get),
            Just(RequestType::Post),
            Just(RequestType::Put),
            Just(RequestType::Delete),
            Just(RequestType::Fetch),
            Just(RequestType::Patch),
            Just(RequestType::IPatch),
        ].prop_map(|r| (MessageClass::Request(r), true)),
        // Unknown method codes 0.08..0.31.
        1 => (8u8..32).prop_map(|code| (MessageClass::from(code), false)),
    ]
}

fn option() -> impl Strategy<Value = (u16, Vec<u8>)> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..8);
    prop_oneof![
        4 => ("[a-z0-9]{1,8}").prop_map(|s| (11u16, s.into_bytes())), // Uri-Path
        2 => (0u16..2).prop_map(|n| (12u16, vec![[0u8, 40][n as usize]])), // Content-Format
        1 => Just((17u16, vec![110u8])), // Accept
        1 => ("[a-z]{1,4}=[0-9]{1,3}").prop_map(|s| (15u16, s.into_bytes())), // Uri-Query
        1 => bytes.clone().prop_map(|b| (4u16, b)), // ETag (elective)
        // Unknown options: odd ones are critical, even ones elective.
        1 => (2000u16..2100, bytes).prop_map(|(n, b)| (n, b)),
    ]
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        prop_oneof![3 => Just(MessageType::Confirmable), 1 => Just(MessageType::NonConfirmable)],
        method(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..=8),
        proptest::collection::vec(option(), 0..5),
        proptest::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(
            |(kind, (code, known_method), mid, token, options, payload)| {
                let mut packet = Packet::new();
                packet.header.set_type(kind);
                packet.header.code = code;
                packet.header.message_id = mid;
                packet.set_token(token);
                let mut unknown_critical = false;
                for (number, value) in options {
                    let option = CoapOption::from(number);
                    unknown_critical |= number % 2 == 1 && matches!(option, CoapOption::Unknown(_));
                    packet.add_option(option, value);
                }
                packet.payload = payload;
                Generated {
                    packet,
                    known_method,
                    unknown_critical,
                }
            },
        )
}

fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn transmits(endpoint: &mut Endpoint) -> Vec<Packet> {
    std::iter::from_fn(|| endpoint.poll_transmit())
        .map(|t| Packet::from_bytes(&t.bytes).expect("the endpoint sends decodable datagrams"))
        .collect()
}

proptest! {
    #![proptest_config(config(1024, 0x00f1_ee7b))]

    #[test]
    fn generated_requests_get_exactly_the_answer_the_rfc_requires(message in generated()) {
        let now = Instant::now();
        let mut server = Endpoint::new(EndpointConfig::default(), 3);
        let bytes = message.packet.to_bytes().unwrap();
        server.receive(now, CLIENT, &bytes);
        let requests: Vec<Packet> = events(&mut server)
            .into_iter()
            .filter_map(|e| match e {
                Event::Request { exchange, packet, .. } => {
                    server.respond(now, exchange, new_response(ResponseType::Content));
                    Some(packet)
                }
                _ => None,
            })
            .collect();
        let answers = transmits(&mut server);
        let should_reach = message.known_method && !message.unknown_critical;
        if should_reach {
            prop_assert_eq!(requests.len(), 1, "the request reaches the application");
            prop_assert_eq!(requests[0].get_token(), message.packet.get_token());
            prop_assert_eq!(&requests[0].payload, &message.packet.payload);
        } else {
            prop_assert!(requests.is_empty(), "rejected requests never reach the application");
        }
        let confirmable = message.packet.header.get_type() == MessageType::Confirmable;
        let mid = message.packet.header.message_id;
        if confirmable {
            let acks: Vec<&Packet> = answers
                .iter()
                .filter(|p| p.header.get_type() == MessageType::Acknowledgement && p.header.message_id == mid)
                .collect();
            prop_assert_eq!(acks.len(), 1, "exactly one ACK for a CON: {:?}", answers);
            let ack = acks[0];
            prop_assert!(std::ptr::eq(ack, &answers[0]), "the ACK comes first");
            prop_assert_eq!(ack.get_token(), message.packet.get_token());
            let expected = if should_reach {
                ResponseType::Content
            } else if !message.known_method {
                ResponseType::MethodNotAllowed
            } else {
                ResponseType::BadOption
            };
            prop_assert_eq!(ack.header.code, MessageClass::Response(expected));
        } else {
            prop_assert!(
                answers.iter().all(|p| p.header.get_type() == MessageType::NonConfirmable),
                "a NON is never acknowledged: {:?}", answers
            );
            if should_reach {
                prop_assert_eq!(answers.len(), 1, "the NON request gets a NON response");
                prop_assert_eq!(answers[0].get_token(), message.packet.get_token());
            } else {
                prop_assert!(answers.is_empty(), "a rejected NON is silently dropped");
            }
        }
        // A retransmission of the same datagram is answered the same way and not processed.
        server.receive(now, CLIENT, &bytes);
        prop_assert!(events(&mut server).is_empty());
        let replay = transmits(&mut server);
        if confirmable {
            prop_assert_eq!(replay.first().map(|p| p.header.message_id), Some(mid));
        }
    }
}

/// The share of generated messages that reach the application: the generator is useful only
/// if most requests get past the reject paths.
#[test]
fn most_generated_requests_reach_the_application() {
    let mut runner = proptest::test_runner::TestRunner::new(config(1, 7));
    let strategy = generated();
    let mut reached = 0;
    for _ in 0..1000 {
        let message = strategy.new_tree(&mut runner).unwrap().current();
        reached += usize::from(message.known_method && !message.unknown_critical);
    }
    assert!(
        reached >= 600,
        "only {reached} of 1000 generated requests are valid"
    );
}

proptest! {
    #![proptest_config(config(256, 0x10557))]

    /// Over a lossy link: every request ends exactly once, the server processes each at most
    /// once, and whenever a response datagram for it reached the client, that outcome is the
    /// response.
    #[test]
    fn a_response_that_arrived_is_never_reported_as_a_timeout(
        seed in any::<u64>(),
        drops in proptest::collection::vec(prop::bool::weighted(0.4), 64),
        requests in 1usize..5,
    ) {
        let start = Instant::now();
        let config = EndpointConfig { nstart: 2, ..EndpointConfig::default() };
        let mut client = Endpoint::new(config.clone(), seed);
        let mut server = Endpoint::new(config, seed ^ 1);
        let ids: Vec<_> = (0..requests)
            .map(|n| client.send_request(start, SERVER, new_request(RequestType::Get, &[&n.to_string()]), RequestOptions::default()))
            .collect();
        let mut drop_iter = drops.into_iter().cycle();
        let mut outcomes: HashMap<_, bool> = HashMap::new();
        // Tokens of responses that reached the client.
        let mut delivered_tokens: Vec<Vec<u8>> = Vec::new();
        let mut token_of = HashMap::new();
        let mut now = start;
        let mut processed = 0;
        for _ in 0..400 {
            for transmit in std::iter::from_fn(|| client.poll_transmit()) {
                if !drop_iter.next().unwrap_or(false) {
                    server.receive(now, CLIENT, &transmit.bytes);
                }
            }
            for event in events(&mut server) {
                if let Event::Request { exchange, packet, .. } = event {
                    processed += 1;
                    let mut response = new_response(ResponseType::Content);
                    response.payload = packet.get_token().to_vec();
                    server.respond(now, exchange, response);
                }
            }
            for transmit in std::iter::from_fn(|| server.poll_transmit()) {
                if !drop_iter.next().unwrap_or(false) {
                    let packet = Packet::from_bytes(&transmit.bytes).unwrap();
                    if matches!(packet.header.code, MessageClass::Response(_)) {
                        delivered_tokens.push(packet.get_token().to_vec());
                    }
                    client.receive(now, SERVER, &transmit.bytes);
                }
            }
            for event in events(&mut client) {
                let (id, answered) = match event {
                    Event::Response { request, packet, .. } => {
                        token_of.insert(request, packet.get_token().to_vec());
                        (request, true)
                    }
                    Event::Failed { request, .. } => (request, false),
                    other => panic!("unexpected {other:?}"),
                };
                prop_assert!(outcomes.insert(id, answered).is_none(), "two outcomes for one request");
            }
            if outcomes.len() == requests {
                break;
            }
            match client.poll_timeout() {
                Some(deadline) => {
                    now = now.max(deadline);
                    client.handle_timeout(now);
                    server.handle_timeout(now);
                }
                None => break,
            }
        }
        prop_assert_eq!(outcomes.len(), requests);
        let answered = outcomes.values().filter(|a| **a).count();
        let distinct_delivered: std::collections::HashSet<_> = delivered_tokens.into_iter().collect();
        prop_assert_eq!(
            answered, distinct_delivered.len(),
            "a request is answered exactly when a response for its token reached the client"
        );
        prop_assert!(ids.iter().all(|id| outcomes.contains_key(id)));
        prop_assert!(processed <= requests, "deduplication: processed {} of {}", processed, requests);
        for (id, token) in token_of {
            prop_assert!(outcomes.get(&id) == Some(&true) && !token.is_empty());
        }
    }
}
