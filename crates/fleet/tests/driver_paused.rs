//! One device driver on an in-memory datagram transport, against a sans-IO CoAP endpoint
//! playing the server, under tokio's paused clock: registration timing, re-registration,
//! reboot downtime, delayed (piggy-backed and separate) replies, dropped and failed requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use common::{code, device_addr, start_device, start_device_with_receive_failures, uri_path};
use fleetbench_fleet::profile::{BehaviourProfile, DelayDistribution};
use fleetbench_lwm2m::coap::RequestOptions;
use tokio::time::{Instant, timeout};

#[tokio::test(start_paused = true)]
async fn registers_updates_at_half_lifetime_and_reregisters_on_not_found() {
    let start = Instant::now();
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(100));
    let registered_at = server.register().await;
    assert_eq!(registered_at - start, Duration::from_secs(1));
    let (update_at, update) = server
        .answer_next(Duration::from_secs(100), ResponseType::Changed, &[])
        .await;
    assert_eq!(uri_path(&update), ["rd", "7"]);
    let interval = update_at - registered_at;
    assert!(
        interval >= Duration::from_secs(45) && interval <= Duration::from_secs(55),
        "{interval:?}"
    );
    assert_eq!(*server.shared.registered.borrow(), 1);
    // The server lost the registration: the next Update gets 4.04, a Register follows at once.
    let (lost_at, _) = server
        .answer_next(Duration::from_secs(100), ResponseType::NotFound, &[])
        .await;
    let (again_at, packet) = server
        .answer_next(Duration::from_secs(10), ResponseType::Created, &["rd", "8"])
        .await;
    assert_eq!(uri_path(&packet), ["rd"]);
    assert!(again_at - lost_at < Duration::from_millis(10));
    let (_, update) = server
        .answer_next(Duration::from_secs(100), ResponseType::Changed, &[])
        .await;
    assert_eq!(uri_path(&update), ["rd", "8"]);
    let shared = Arc::clone(&server.shared);
    server.stop().await;
    let stats = shared.counters.snapshot();
    assert_eq!(
        (stats.registrations, stats.updates, stats.update_failures),
        (2, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn register_timeouts_back_off() {
    let start = Instant::now();
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(100));
    // Ignore the first Register entirely: CoAP retransmits, then the exchange fails and the
    // device backs off before a fresh Register (new MID).
    let mut first_ids = Vec::new();
    while first_ids.len() < 6 {
        let (bytes, _) = timeout(Duration::from_secs(200), server.from_device.recv())
            .await
            .unwrap()
            .unwrap();
        let packet = Packet::from_bytes(&bytes).unwrap();
        first_ids.push((Instant::now() - start, packet.header.message_id));
    }
    // 1 transmission + 4 retransmissions of the same MID, then a new Register.
    let mid = first_ids[0].1;
    assert!(
        first_ids[..5].iter().all(|(_, m)| *m == mid),
        "{first_ids:?}"
    );
    assert_ne!(first_ids[5].1, mid);
    // The exchange gives up after MAX_TRANSMIT_WAIT (~93 s from the first transmission at 1 s
    // for this seed's timeouts, at most), then waits the 2..3 s back-off.
    let retry_at = first_ids[5].0;
    assert!(
        retry_at > Duration::from_secs(45) && retry_at < Duration::from_secs(100),
        "{first_ids:?}"
    );
    assert_eq!(server.shared.counters.snapshot().registration_failures, 1);
    assert!(server.shared.counters.snapshot().retransmissions >= 4);
    assert_eq!(*server.shared.registered.borrow(), 0);
}

#[tokio::test(start_paused = true)]
async fn trigger_update_and_reboot() {
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(600));
    server.register().await;
    let id = server.send(RequestType::Post, "/1/0/8").await;
    let (_, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(code(&answer.unwrap()), ResponseType::Changed);
    let (_, update) = server
        .answer_next(Duration::from_secs(5), ResponseType::Changed, &[])
        .await;
    assert_eq!(uri_path(&update), ["rd", "7"]);

    let id = server.send(RequestType::Post, "/3/0/4").await;
    let (rebooted_at, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(code(&answer.unwrap()), ResponseType::Changed);
    assert_eq!(*server.shared.registered.borrow(), 0);
    // While down, requests go unanswered.
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let (registered_again, packet) = server
        .answer_next(Duration::from_secs(10), ResponseType::Created, &["rd", "9"])
        .await;
    assert_eq!(uri_path(&packet), ["rd"]);
    let downtime = registered_again - rebooted_at;
    assert!(
        downtime >= Duration::from_secs(2) && downtime < Duration::from_millis(2100),
        "{downtime:?}"
    );
    // The request sent during the downtime is retransmitted by the server's CoAP layer and
    // answered once the device is back.
    let (_, answer) = server.outcome(id, Duration::from_secs(60)).await;
    assert_eq!(answer.unwrap().payload, b"fleetbench");
    assert_eq!(server.shared.counters.snapshot().reboots, 1);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn short_delays_are_piggy_backed_long_delays_are_separate() {
    let profile = BehaviourProfile {
        delay: DelayDistribution::Fixed(Duration::from_millis(300)),
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(600));
    server.register().await;
    server.wire.clear();
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let sent = Instant::now();
    let (at, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(answer.unwrap().payload, b"fleetbench");
    assert_eq!(at - sent, Duration::from_millis(300));
    let (_, ack) = server.wire.last().unwrap();
    assert_eq!(ack.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(code(ack), ResponseType::Content);
    server.stop().await;

    let profile = BehaviourProfile {
        delay: DelayDistribution::Fixed(Duration::from_secs(3)),
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(600));
    server.register().await;
    server.wire.clear();
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let sent = Instant::now();
    let (at, answer) = server.outcome(id, Duration::from_secs(10)).await;
    assert_eq!(answer.unwrap().payload, b"fleetbench");
    assert_eq!(at - sent, Duration::from_secs(3));
    let kinds: Vec<(MessageType, MessageClass)> = server
        .wire
        .iter()
        .map(|(_, p)| (p.header.get_type(), p.header.code))
        .collect();
    assert_eq!(
        kinds,
        [
            (MessageType::Acknowledgement, MessageClass::Empty),
            (
                MessageType::Confirmable,
                MessageClass::Response(ResponseType::Content)
            ),
        ]
    );
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn injected_failures_and_dropped_requests() {
    let profile = BehaviourProfile {
        failure_ratio: 1.0,
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(600));
    server.register().await;
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let (_, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(code(&answer.unwrap()), ResponseType::InternalServerError);
    assert_eq!(server.shared.counters.snapshot().errors_injected, 1);
    server.stop().await;

    let profile = BehaviourProfile {
        no_reply_ratio: 1.0,
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(600));
    server.register().await;
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let (_, answer) = server.outcome(id, Duration::from_secs(200)).await;
    assert!(answer.unwrap_err().contains("timeout"));
    let stats = server.shared.counters.snapshot();
    assert_eq!((stats.requests_received, stats.requests_dropped), (1, 1));
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn observe_notifies_periodically_until_cancelled() {
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(600));
    server.register().await;
    // pmax on the instance applies to its resources (a value that never changes by itself:
    // only pmax makes it notify).
    let mut attributes = Packet::new();
    attributes.header.code = MessageClass::Request(RequestType::Put);
    for segment in ["dev0", "3", "0"] {
        attributes.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    attributes.add_option(CoapOption::UriQuery, b"pmax=3".to_vec());
    let id = server.endpoint.send_request(
        Instant::now(),
        device_addr(),
        attributes,
        RequestOptions::default(),
    );
    server.flush().await;
    let (_, answer) = server.outcome(id, Duration::from_secs(5)).await;
    assert_eq!(code(&answer.unwrap()), ResponseType::Changed);

    let mut observe = Packet::new();
    observe.header.code = MessageClass::Request(RequestType::Get);
    for segment in ["dev0", "3", "0", "0"] {
        observe.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    let id = server.endpoint.send_request(
        Instant::now(),
        device_addr(),
        observe,
        RequestOptions {
            confirmable: true,
            observe: true,
        },
    );
    server.flush().await;
    let mut arrivals = Vec::new();
    for _ in 0..4 {
        let (at, answer) = server.outcome(id, Duration::from_secs(10)).await;
        let packet = answer.unwrap();
        assert_eq!(code(&packet), ResponseType::Content);
        let observe = packet.get_first_option(CoapOption::Observe).cloned();
        arrivals.push((at, observe));
    }
    assert_eq!(
        arrivals[0].1,
        Some(vec![]),
        "first response carries Observe 0"
    );
    assert_eq!(arrivals[1].1, Some(vec![1]));
    assert_eq!(arrivals[3].1, Some(vec![3]));
    assert_eq!(arrivals[2].0 - arrivals[1].0, Duration::from_secs(3));
    // The server forgets the observation: the next notification is answered with RST and
    // the device stops notifying.
    server.endpoint.cancel(Instant::now(), id);
    let sent = server.shared.counters.snapshot().notifications_sent;
    server.wire.clear();
    let quiet = server.next_event(Duration::from_secs(20)).await;
    assert!(quiet.is_none());
    let shared = Arc::clone(&server.shared);
    server.stop().await;
    assert_eq!(shared.counters.snapshot().notifications_sent, sent + 1);
}

#[tokio::test(start_paused = true)]
async fn receive_errors_pause_reading_instead_of_spinning() {
    let mut server = start_device_with_receive_failures(
        BehaviourProfile::default(),
        Duration::from_secs(600),
        50,
    );
    // Each failed receive pauses reading for 10 ms of virtual time: after 205 ms about
    // twenty have happened, not fifty. The device still registers and answers afterwards.
    tokio::time::sleep(Duration::from_millis(205)).await;
    let early = server.shared.counters.snapshot().socket_errors;
    assert!(
        (19..=22).contains(&early),
        "{early} receive errors after 205 ms"
    );
    server.register().await;
    let id = server.send(RequestType::Get, "/3/0/0").await;
    let (_, answer) = server.outcome(id, Duration::from_secs(10)).await;
    assert_eq!(answer.unwrap().payload, b"fleetbench");
    assert_eq!(server.shared.counters.snapshot().socket_errors, 50);
    server.stop().await;
}
