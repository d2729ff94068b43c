//! One device driver on an in-memory transport against a scripted server, under tokio's
//! paused clock: firmware pull over Block2 and the reboot into the new version, pull
//! failures, queue mode, Create/Delete followed by an Update with the object list,
//! non-confirmable notifications, and churn (spontaneous reboots with a fresh endpoint,
//! offline periods).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use common::{
    Options, Server, code, request, start_device, start_device_with, uri_path, uri_query,
};
use fleetbench_fleet::profile::{BehaviourProfile, ChurnProfile, DelayDistribution};
use fleetbench_lwm2m::block::BlockOption;
use fleetbench_lwm2m::coap::RequestOptions;
use tokio::time::Instant;

const PACKAGE_SIZE: usize = 3000;

fn package() -> Vec<u8> {
    (0..PACKAGE_SIZE).map(|i| (i * 7 % 251) as u8).collect()
}

async fn read_text(server: &mut Server, path: &str) -> String {
    let answer = server.ask(request(RequestType::Get, path, &[], None)).await;
    assert_eq!(code(&answer), ResponseType::Content, "{path}");
    String::from_utf8(answer.payload).unwrap()
}

/// Serves the package to the device's Block2 requests in 512-byte blocks; returns the
/// block numbers and sizes the device asked for.
async fn serve_package(server: &mut Server, etag: &[u8]) -> Vec<(u32, usize)> {
    let body = package();
    let mut asked = Vec::new();
    loop {
        let (_, exchange, get) = server
            .next_request(Duration::from_secs(30))
            .await
            .expect("a block request");
        assert_eq!(get.header.code, MessageClass::Request(RequestType::Get));
        assert_eq!(uri_path(&get), ["fw", "pkg.bin"]);
        let want = BlockOption::decode(get.get_first_option(CoapOption::Block2).unwrap()).unwrap();
        asked.push((want.num, want.size()));
        let size = want.size().min(512);
        let start = want.num as usize * want.size();
        let end = (start + size).min(body.len());
        let more = end < body.len();
        let mut response = Packet::new();
        response.header.code = MessageClass::Response(ResponseType::Content);
        response.add_option(CoapOption::ETag, etag.to_vec());
        let block = BlockOption::new(u32::try_from(start / size).unwrap(), more, size).unwrap();
        response.add_option(CoapOption::Block2, block.encode());
        response.payload = body[start..end].to_vec();
        server.reply(exchange, response).await;
        if !more {
            return asked;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn firmware_pull_over_block2_then_the_update_reboots_into_the_new_version() {
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(600));
    server.register().await;
    let uri = b"coap://10.0.0.1:5683/fw/pkg.bin";
    let answer = server
        .ask(request(RequestType::Put, "/5/0/1", &[], Some(uri)))
        .await;
    assert_eq!(code(&answer), ResponseType::Changed);
    let asked = serve_package(&mut server, b"v2").await;
    // Early negotiation: block 0 of 1024 bytes; then the server's 512-byte blocks.
    assert_eq!(asked[0], (0, 1024));
    assert_eq!(
        &asked[1..],
        [(1, 512), (2, 512), (3, 512), (4, 512), (5, 512)]
    );
    assert_eq!(read_text(&mut server, "/5/0/3").await, "2");
    assert_eq!(read_text(&mut server, "/5/0/5").await, "0");
    let answer = server
        .ask(request(RequestType::Post, "/5/0/2", &[], None))
        .await;
    assert_eq!(code(&answer), ResponseType::Changed);
    // The device reboots into the new firmware and registers again.
    let (_, register) = server
        .answer_next(Duration::from_secs(10), ResponseType::Created, &["rd", "8"])
        .await;
    assert_eq!(uri_path(&register), ["rd"]);
    assert_eq!(read_text(&mut server, "/5/0/3").await, "0");
    assert_eq!(read_text(&mut server, "/5/0/5").await, "1");
    assert_eq!(read_text(&mut server, "/3/0/3").await, "1.0.1");
    let stats = server.shared.counters.snapshot();
    assert_eq!((stats.firmware_downloads, stats.firmware_updates), (1, 1));
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn firmware_pull_failures_report_update_results() {
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(600));
    server.register().await;
    // Another protocol: 9, at once.
    server
        .ask(request(
            RequestType::Put,
            "/5/0/1",
            &[],
            Some(b"https://10.0.0.1/fw"),
        ))
        .await;
    assert_eq!(read_text(&mut server, "/5/0/5").await, "9");
    // The package server answers 4.04: invalid URI (7).
    server
        .ask(request(
            RequestType::Put,
            "/5/0/1",
            &[],
            Some(b"coap://10.0.0.1/fw/pkg.bin"),
        ))
        .await;
    let (_, exchange, _) = server.next_request(Duration::from_secs(10)).await.unwrap();
    let mut not_found = Packet::new();
    not_found.header.code = MessageClass::Response(ResponseType::NotFound);
    server.reply(exchange, not_found).await;
    assert_eq!(read_text(&mut server, "/5/0/3").await, "0");
    assert_eq!(read_text(&mut server, "/5/0/5").await, "7");
    // The package server never answers: connection lost (4) after the CoAP timeout.
    server
        .ask(request(
            RequestType::Put,
            "/5/0/1",
            &[],
            Some(b"coap://10.0.0.1/fw/pkg.bin"),
        ))
        .await;
    assert_eq!(read_text(&mut server, "/5/0/3").await, "1", "downloading");
    let started = Instant::now();
    while server.shared.counters.snapshot().firmware_download_failures < 3 {
        assert!(Instant::now() - started < Duration::from_secs(300));
        // Requests for the package go unanswered (dropped here).
        server.next_request(Duration::from_secs(300)).await;
    }
    assert!(Instant::now() - started >= Duration::from_secs(45));
    assert_eq!(read_text(&mut server, "/5/0/5").await, "4");
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn queue_mode_ignores_the_server_while_asleep() {
    let mut server = start_device_with(Options {
        queue_window: Some(Duration::from_secs(10)),
        update_period: Some(Duration::from_secs(120)),
        ..Options::default()
    });
    let (registered_at, register) = server
        .answer_next(Duration::from_secs(30), ResponseType::Created, &["rd", "7"])
        .await;
    let query = uri_query(&register);
    assert!(
        query.contains(&"b=U".to_owned()) && query.contains(&"Q".to_owned()),
        "{query:?}"
    );
    // Awake right after the Register: answered.
    let answer = server
        .ask(request(RequestType::Get, "/1/0/7", &[], None))
        .await;
    assert_eq!(answer.payload, b"UQ");
    // Asleep 20 s later: the request and its retransmissions are ignored.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let id = server
        .send_packet(request(RequestType::Get, "/3/0/0", &[], None))
        .await;
    let (_, outcome) = server.outcome(id, Duration::from_secs(200)).await;
    assert!(outcome.unwrap_err().contains("timeout"));
    assert!(server.shared.counters.snapshot().dropped_while_asleep >= 5);
    // It wakes on its own for an Update about 120 s after registering...
    let (update_at, update) = server
        .answer_next(Duration::from_secs(200), ResponseType::Changed, &[])
        .await;
    assert_eq!(uri_path(&update), ["rd", "7"]);
    let slept = update_at - registered_at;
    assert!(
        slept >= Duration::from_secs(114) && slept <= Duration::from_secs(126),
        "{slept:?}"
    );
    // ...and is reachable for the awake window after it.
    let answer = server
        .ask(request(RequestType::Get, "/3/0/0", &[], None))
        .await;
    assert_eq!(answer.payload, b"fleetbench");
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn create_and_delete_send_an_update_with_the_object_list() {
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(600));
    server.register().await;
    // TLV: object instance 4 holding resource 5750 (Application Type) = "boiler".
    let mut create = request(RequestType::Post, "/3303", &[], None);
    create.add_option(CoapOption::ContentFormat, vec![0x2d, 0x16]);
    let resource = [&[0xe6u8, 0x16, 0x76][..], b"boiler"].concat();
    let instance_header = [0x08u8, 4, u8::try_from(resource.len()).unwrap()];
    create.payload = [&instance_header[..], &resource].concat();
    let answer = server.ask(create).await;
    assert_eq!(code(&answer), ResponseType::Created);
    let location: Vec<String> = answer
        .get_option(CoapOption::LocationPath)
        .unwrap()
        .iter()
        .map(|s| String::from_utf8(s.clone()).unwrap())
        .collect();
    assert_eq!(location, ["3303", "4"]);
    let (_, update) = server
        .answer_next(Duration::from_secs(5), ResponseType::Changed, &[])
        .await;
    let links = String::from_utf8(update.payload.clone()).unwrap();
    assert!(links.contains("</3303/0>,</3303/4>"), "{links}");
    assert_eq!(
        update.get_first_option(CoapOption::ContentFormat),
        Some(&vec![40])
    );
    assert_eq!(read_text(&mut server, "/3303/4/5750").await, "boiler");
    // Delete it: another Update, without the instance.
    let answer = server
        .ask(request(RequestType::Delete, "/3303/4", &[], None))
        .await;
    assert_eq!(code(&answer), ResponseType::Deleted);
    let (_, update) = server
        .answer_next(Duration::from_secs(5), ResponseType::Changed, &[])
        .await;
    let links = String::from_utf8(update.payload).unwrap();
    assert!(!links.contains("/3303/4"), "{links}");
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn notifications_are_non_confirmable_except_every_tenth() {
    let mut server = start_device(BehaviourProfile::default(), Duration::from_secs(600));
    server.register().await;
    let answer = server
        .ask(request(RequestType::Put, "/3/0/0", &["pmax=1"], None))
        .await;
    assert_eq!(code(&answer), ResponseType::Changed);
    let id = server.endpoint.send_request(
        Instant::now(),
        common::device_addr(),
        request(RequestType::Get, "/3/0/0", &[], None),
        RequestOptions {
            confirmable: true,
            observe: true,
        },
    );
    server.flush().await;
    server.wire.clear();
    for _ in 0..21 {
        let (_, answer) = server.outcome(id, Duration::from_secs(5)).await;
        assert_eq!(answer.unwrap().payload, b"fleetbench");
    }
    let kinds: Vec<MessageType> = server
        .wire
        .iter()
        .filter(|(_, p)| p.header.code == MessageClass::Response(ResponseType::Content))
        .map(|(_, p)| p.header.get_type())
        .filter(|kind| *kind != MessageType::Acknowledgement)
        .collect();
    let confirmable: Vec<usize> = kinds
        .iter()
        .enumerate()
        .filter(|(_, kind)| **kind == MessageType::Confirmable)
        .map(|(index, _)| index)
        .collect();
    assert_eq!(kinds.len(), 20, "{kinds:?}");
    assert_eq!(confirmable, [9, 19], "{kinds:?}");
    server.endpoint.cancel(Instant::now(), id);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn spontaneous_reboots_register_again_from_a_fresh_endpoint() {
    let profile = BehaviourProfile {
        churn: ChurnProfile {
            reboot_rate_per_hour: 30.0,
            ..ChurnProfile::default()
        },
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(3600));
    let mut registers: Vec<(Instant, Packet)> = Vec::new();
    let started = Instant::now();
    while registers.len() < 3 {
        assert!(Instant::now() - started < Duration::from_secs(4 * 3600));
        let (at, packet) = server
            .serve_registration(Duration::from_secs(4 * 3600))
            .await;
        if uri_path(&packet) == ["rd"] {
            registers.push((at, packet));
        }
    }
    assert_eq!(server.shared.counters.snapshot().reboots, 2);
    // Each boot has its own message IDs and tokens.
    let ids: Vec<(u16, Vec<u8>)> = registers
        .iter()
        .map(|(_, p)| (p.header.message_id, p.get_token().to_vec()))
        .collect();
    assert_ne!(ids[0].0.wrapping_add(1), ids[1].0);
    assert_ne!(ids[0].1, ids[1].1);
    assert_ne!(ids[1].1, ids[2].1);
    let shared = std::sync::Arc::clone(&server.shared);
    server.stop().await;
    assert_eq!(shared.counters.snapshot().registrations, 3);
}

#[tokio::test(start_paused = true)]
async fn offline_periods_lose_updates_and_the_device_registers_again() {
    let profile = BehaviourProfile {
        churn: ChurnProfile {
            offline_rate_per_hour: 6.0,
            offline_duration: DelayDistribution::Fixed(Duration::from_secs(300)),
            ..ChurnProfile::default()
        },
        ..BehaviourProfile::default()
    };
    let mut server = start_device(profile, Duration::from_secs(120));
    let started = Instant::now();
    let mut registers = 0;
    while registers < 2 || server.shared.counters.snapshot().offline_periods == 0 {
        assert!(Instant::now() - started < Duration::from_secs(6 * 3600));
        let (_, packet) = server
            .serve_registration(Duration::from_secs(6 * 3600))
            .await;
        if uri_path(&packet) == ["rd"] {
            registers += 1;
        }
    }
    let stats = server.shared.counters.snapshot();
    assert!(stats.offline_periods >= 1);
    assert!(stats.dropped_while_offline >= 1);
    assert!(stats.update_failures >= 1, "{stats:?}");
    server.stop().await;
}
