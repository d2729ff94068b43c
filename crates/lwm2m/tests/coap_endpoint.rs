//! The sans-IO message layer, driven with explicit instants: no sockets, no sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, ResponseType};
use fleetbench_lwm2m::coap::{Endpoint, EndpointConfig, Event, FailureReason, RequestOptions};
use fleetbench_lwm2m::packets::{new_response, observe, set_observe};
use proptest::prelude::*;
use tokio::time::Instant;

mod endpoint_support;

use endpoint_support::*;

#[test]
fn con_request_gets_piggy_backed_response() {
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    let id = client.send_request(
        now,
        addr(SERVER),
        get(&["3", "0", "0"]),
        RequestOptions::default(),
    );
    assert_eq!(pump(now, &mut client, CLIENT, &mut server), 1);
    let (exchange, request) = request_event(&mut server);
    assert_eq!(request.header.get_type(), MessageType::Confirmable);
    let mut response = new_response(ResponseType::Content);
    response.payload = b"fleetbench".to_vec();
    server.respond(now, exchange, response);
    let sent = transmits(&mut server);
    assert_eq!(sent.len(), 1);
    let ack = decode(&sent[0]);
    assert_eq!(ack.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(ack.header.message_id, request.header.message_id);
    assert_eq!(ack.get_token(), request.get_token());
    client.receive(now, addr(SERVER), &sent[0].bytes);
    match events(&mut client).as_slice() {
        [
            Event::Response {
                request, packet, ..
            },
        ] => {
            assert_eq!(*request, id);
            assert_eq!(packet.payload, b"fleetbench");
        }
        other => panic!("expected the response, got {other:?}"),
    }
    assert_eq!(client.outstanding_requests(), 0);
}

#[test]
fn unanswered_con_is_retransmitted_with_doubling_timeouts_then_times_out() {
    let start = Instant::now();
    let config = EndpointConfig::default();
    let mut client = Endpoint::new(config.clone(), 7);
    let id = client.send_request(start, addr(SERVER), get(&["1"]), RequestOptions::default());
    let first = transmits(&mut client);
    assert_eq!(first.len(), 1);
    let mut now = start;
    let mut send_times = vec![start];
    for _ in 0..50 {
        let Some(deadline) = client.poll_timeout() else {
            break;
        };
        now = deadline;
        client.handle_timeout(now);
        let sent = transmits(&mut client);
        if !sent.is_empty() {
            assert_eq!(
                sent[0].bytes, first[0].bytes,
                "a retransmission is the same message"
            );
            send_times.push(now);
        }
        if let Some(event) = client.poll_event() {
            assert_eq!(
                event,
                Event::Failed {
                    request: id,
                    peer: addr(SERVER),
                    reason: FailureReason::Timeout
                }
            );
            break;
        }
    }
    assert_eq!(
        send_times.len(),
        1 + config.max_retransmit as usize,
        "1 transmission + MAX_RETRANSMIT"
    );
    let gaps: Vec<Duration> = send_times.windows(2).map(|w| w[1] - w[0]).collect();
    let initial = gaps[0];
    assert!(
        initial >= config.ack_timeout
            && initial <= config.ack_timeout.mul_f64(config.ack_random_factor)
    );
    for (n, gap) in gaps.iter().enumerate() {
        assert_eq!(*gap, initial * (1 << n), "timeout doubles each time");
    }
    let gave_up_after = now - start;
    assert_eq!(
        gave_up_after,
        initial * ((1 << (config.max_retransmit + 1)) - 1)
    );
    assert!(gave_up_after <= config.max_transmit_wait());
    assert_eq!(
        client.stats().retransmissions,
        u64::from(config.max_retransmit)
    );
}

#[test]
fn duplicate_request_replays_the_cached_response_without_a_second_event() {
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    client.send_request(now, addr(SERVER), get(&["3"]), RequestOptions::default());
    let request = transmits(&mut client);
    server.receive(now, addr(CLIENT), &request[0].bytes);
    let (exchange, _) = request_event(&mut server);
    server.respond(now, exchange, new_response(ResponseType::Content));
    let answer = transmits(&mut server);
    // The ACK was lost; the client retransmits the same datagram.
    server.receive(
        now + Duration::from_secs(2),
        addr(CLIENT),
        &request[0].bytes,
    );
    assert!(
        events(&mut server).is_empty(),
        "a duplicate is not processed twice"
    );
    assert_eq!(
        transmits(&mut server),
        answer,
        "the cached response is replayed"
    );
    assert_eq!(server.stats().duplicates, 1);
    // After EXCHANGE_LIFETIME the message ID is forgotten.
    let later = now + server.config().exchange_lifetime + Duration::from_secs(1);
    server.handle_timeout(later);
    server.receive(later, addr(CLIENT), &request[0].bytes);
    assert_eq!(events(&mut server).len(), 1);
}

#[test]
fn slow_handler_sends_empty_ack_then_separate_con_response() {
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    let id = client.send_request(
        now,
        addr(SERVER),
        get(&["5", "0", "3"]),
        RequestOptions::default(),
    );
    pump(now, &mut client, CLIENT, &mut server);
    let (exchange, request) = request_event(&mut server);
    server.accept_later(exchange);
    let ack = transmits(&mut server);
    assert_eq!(ack[0].bytes.len(), 4, "an empty ACK");
    client.receive(now, addr(SERVER), &ack[0].bytes);
    assert!(events(&mut client).is_empty());
    // No more retransmissions after the empty ACK.
    client.handle_timeout(now + Duration::from_secs(10));
    assert!(transmits(&mut client).is_empty());

    let later = now + Duration::from_secs(5);
    server.respond(later, exchange, new_response(ResponseType::Content));
    let separate = transmits(&mut server);
    let separate_packet = decode(&separate[0]);
    assert_eq!(separate_packet.header.get_type(), MessageType::Confirmable);
    assert_ne!(separate_packet.header.message_id, request.header.message_id);
    assert_eq!(separate_packet.get_token(), request.get_token());
    client.receive(later, addr(SERVER), &separate[0].bytes);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == id)
    );
    let client_ack = transmits(&mut client);
    assert_eq!(
        decode(&client_ack[0]).header.get_type(),
        MessageType::Acknowledgement
    );
    assert_eq!(
        decode(&client_ack[0]).header.message_id,
        separate_packet.header.message_id
    );
    // The server stops retransmitting the separate response once acknowledged.
    server.receive(later, addr(CLIENT), &client_ack[0].bytes);
    server.handle_timeout(later + Duration::from_secs(100));
    assert!(transmits(&mut server).is_empty());
}

#[test]
fn unrecognised_critical_option_gets_4_02_and_elective_is_ignored() {
    let now = Instant::now();
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    let mut request = get(&["3"]);
    request.header.set_type(MessageType::Confirmable);
    request.header.message_id = 77;
    request.add_option(CoapOption::Unknown(2049), vec![1]);
    server.receive(now, addr(CLIENT), &request.to_bytes().unwrap());
    assert!(events(&mut server).is_empty());
    let answer = decode(&transmits(&mut server)[0]);
    assert_eq!(
        answer.header.code,
        MessageClass::Response(ResponseType::BadOption)
    );
    assert_eq!(answer.header.message_id, 77);

    let mut elective = get(&["3"]);
    elective.header.message_id = 78;
    elective.add_option(CoapOption::Unknown(2048), vec![1]);
    server.receive(now, addr(CLIENT), &elective.to_bytes().unwrap());
    assert_eq!(events(&mut server).len(), 1, "elective options are ignored");
}

#[test]
fn ping_and_malformed_con_get_rst_other_garbage_is_ignored() {
    let now = Instant::now();
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    server.receive(now, addr(CLIENT), &[0x40, 0x00, 0x12, 0x34]);
    let rst = transmits(&mut server);
    assert_eq!(rst[0].bytes, vec![0x70, 0x00, 0x12, 0x34]);
    // Token length 9 is a message format error: CON → RST.
    server.receive(
        now,
        addr(CLIENT),
        &[0x49, 0x01, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert_eq!(
        transmits(&mut server)[0].bytes,
        vec![0x70, 0x00, 0x00, 0x01]
    );
    // Same as NON, or too short, or version 2: silently ignored.
    server.receive(
        now,
        addr(CLIENT),
        &[0x59, 0x01, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    server.receive(now, addr(CLIENT), &[0x40, 0x01]);
    server.receive(now, addr(CLIENT), &[0x80, 0x01, 0x00, 0x03]);
    assert!(transmits(&mut server).is_empty());
    assert!(events(&mut server).is_empty());
    assert_eq!(server.stats().malformed, 4);
}

#[test]
fn unknown_method_gets_4_05() {
    let now = Instant::now();
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    server.receive(now, addr(CLIENT), &[0x40, 0x1f, 0x00, 0x09]);
    let answer = decode(&transmits(&mut server)[0]);
    assert_eq!(
        answer.header.code,
        MessageClass::Response(ResponseType::MethodNotAllowed)
    );
    assert!(events(&mut server).is_empty());
}

#[test]
fn nstart_queues_the_second_request_until_the_first_completes() {
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    let first = client.send_request(now, addr(SERVER), get(&["1"]), RequestOptions::default());
    let second = client.send_request(now, addr(SERVER), get(&["2"]), RequestOptions::default());
    assert_eq!(pump(now, &mut client, CLIENT, &mut server), 1, "NSTART = 1");
    let (exchange, _) = request_event(&mut server);
    server.respond(now, exchange, new_response(ResponseType::Content));
    pump(now, &mut server, SERVER, &mut client);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == first)
    );
    assert_eq!(
        pump(now, &mut client, CLIENT, &mut server),
        1,
        "the queued request goes out"
    );
    let (exchange, packet) = request_event(&mut server);
    assert_eq!(fleetbench_lwm2m::packets::uri_path(&packet), ["2"]);
    server.respond(now, exchange, new_response(ResponseType::Content));
    pump(now, &mut server, SERVER, &mut client);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == second)
    );
}

#[test]
fn queue_overflow_fails_at_once() {
    let now = Instant::now();
    let config = EndpointConfig {
        max_queued_per_peer: 1,
        ..EndpointConfig::default()
    };
    let mut client = Endpoint::new(config, 1);
    client.send_request(now, addr(SERVER), get(&["1"]), RequestOptions::default());
    client.send_request(now, addr(SERVER), get(&["2"]), RequestOptions::default());
    let third = client.send_request(now, addr(SERVER), get(&["3"]), RequestOptions::default());
    assert_eq!(
        events(&mut client),
        [Event::Failed {
            request: third,
            peer: addr(SERVER),
            reason: FailureReason::Overloaded
        }]
    );
}

#[test]
fn observe_delivers_notifications_until_cancelled_then_rsts_them() {
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut device = Endpoint::new(EndpointConfig::default(), 2);
    let id = client.send_request(
        now,
        addr(SERVER),
        get(&["3303", "0", "5700"]),
        RequestOptions {
            confirmable: true,
            observe: true,
        },
    );
    pump(now, &mut client, CLIENT, &mut device);
    let (exchange, request) = request_event(&mut device);
    assert_eq!(observe(&request), Some(0));
    let token = request.get_token().to_vec();
    let mut first = new_response(ResponseType::Content);
    set_observe(&mut first, 1);
    device.respond(now, exchange, first);
    pump(now, &mut device, SERVER, &mut client);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == id)
    );
    for sequence in 2..5 {
        let mut notification = new_response(ResponseType::Content);
        set_observe(&mut notification, sequence);
        device
            .send_notification(now, addr(CLIENT), &token, notification, sequence % 2 == 0)
            .unwrap();
        pump(now, &mut device, SERVER, &mut client);
        match events(&mut client).as_slice() {
            [
                Event::Response {
                    request, packet, ..
                },
            ] => {
                assert_eq!(*request, id);
                assert_eq!(observe(packet), Some(sequence));
            }
            other => panic!("expected notification {sequence}, got {other:?}"),
        }
        pump(now, &mut client, CLIENT, &mut device); // ACKs of CON notifications
    }
    client.cancel(now, id);
    let mut late = new_response(ResponseType::Content);
    set_observe(&mut late, 9);
    device
        .send_notification(now, addr(CLIENT), &token, late, false)
        .unwrap();
    pump(now, &mut device, SERVER, &mut client);
    assert!(events(&mut client).is_empty());
    let rst = transmits(&mut client);
    assert_eq!(decode(&rst[0]).header.get_type(), MessageType::Reset);
    device.receive(now, addr(CLIENT), &rst[0].bytes);
    assert_eq!(
        events(&mut device),
        [Event::NotificationRejected {
            peer: addr(CLIENT),
            token
        }]
    );
}

#[test]
fn non_request_gets_non_response_with_its_own_message_id() {
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let mut server = Endpoint::new(EndpointConfig::default(), 2);
    let id = client.send_request(
        now,
        addr(SERVER),
        get(&["3"]),
        RequestOptions {
            confirmable: false,
            observe: false,
        },
    );
    pump(now, &mut client, CLIENT, &mut server);
    let (exchange, request) = request_event(&mut server);
    assert_eq!(request.header.get_type(), MessageType::NonConfirmable);
    server.respond(now, exchange, new_response(ResponseType::Content));
    let sent = transmits(&mut server);
    let response = decode(&sent[0]);
    assert_eq!(response.header.get_type(), MessageType::NonConfirmable);
    client.receive(now, addr(SERVER), &sent[0].bytes);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Response { request, .. }] if *request == id)
    );
}

#[test]
fn non_request_without_response_times_out() {
    let now = Instant::now();
    let mut client = Endpoint::new(EndpointConfig::default(), 1);
    let id = client.send_request(
        now,
        addr(SERVER),
        get(&["3"]),
        RequestOptions {
            confirmable: false,
            observe: false,
        },
    );
    transmits(&mut client);
    let deadline = now + client.config().response_timeout;
    client.handle_timeout(deadline - Duration::from_millis(1));
    assert!(events(&mut client).is_empty());
    client.handle_timeout(deadline);
    assert_eq!(
        events(&mut client),
        [Event::Failed {
            request: id,
            peer: addr(SERVER),
            reason: FailureReason::Timeout
        }]
    );
    assert!(
        transmits(&mut client).is_empty(),
        "NON is never retransmitted"
    );
}

proptest! {
    /// Any datagram: no panic, and at most one answer datagram.
    #[test]
    fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut server = Endpoint::new(EndpointConfig::default(), 3);
        server.receive(Instant::now(), addr(CLIENT), &bytes);
        prop_assert!(transmits(&mut server).len() <= 1);
    }

}

/// A rebuilt endpoint (a rebooted device) must not reuse its predecessor's first message ID
/// towards the same server, or the server's deduplication drops its new Register.
#[test]
fn first_message_id_towards_a_peer_is_seeded_not_zero() {
    let now = Instant::now();
    let first_mid = |seed: u64| {
        let mut endpoint = Endpoint::new(EndpointConfig::default(), seed);
        endpoint.send_request(now, addr(SERVER), get(&["rd"]), RequestOptions::default());
        decode(&transmits(&mut endpoint)[0]).header.message_id
    };
    assert_eq!(first_mid(5), first_mid(5), "deterministic for a seed");
    assert_ne!(
        first_mid(5),
        first_mid(6),
        "different seeds, different first MID"
    );
    assert!(
        (1..20).map(first_mid).any(|mid| mid > 1000),
        "not a counter starting at 0"
    );
}

/// A request the application never answers is forgotten after EXCHANGE_LIFETIME, and the
/// number of unanswered requests is bounded by the deduplication capacity.
#[test]
fn unanswered_requests_are_forgotten_and_bounded() {
    let now = Instant::now();
    let config = EndpointConfig {
        dedup_capacity: 8,
        ..EndpointConfig::default()
    };
    let lifetime = config.exchange_lifetime;
    let mut server = Endpoint::new(config, 2);
    for mid in 0..20u16 {
        let mut request = get(&["3"]);
        request.header.set_type(MessageType::Confirmable);
        request.header.message_id = mid;
        server.receive(now, addr(CLIENT), &request.to_bytes().unwrap());
    }
    assert_eq!(events(&mut server).len(), 20);
    assert_eq!(
        server.unanswered_requests(),
        8,
        "bounded by the dedup capacity"
    );
    assert_eq!(server.remembered_messages(), 8);
    server.handle_timeout(now + lifetime);
    assert_eq!(
        server.unanswered_requests(),
        0,
        "forgotten after EXCHANGE_LIFETIME"
    );
    assert_eq!(server.remembered_messages(), 0);
}
