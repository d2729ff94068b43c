//! Observation tests against a real device model, in virtual time (instants are computed,
//! nothing sleeps).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use tokio::time::Instant;

use super::*;
use crate::device::{Device, DeviceSpec};

fn peer() -> SocketAddr {
    "127.0.0.1:5683".parse().unwrap()
}

fn device(start: Instant) -> Device {
    Device::new(
        &DeviceSpec {
            sub_devices: 1,
            seed: 11,
            ..DeviceSpec::default()
        },
        start,
    )
}

fn request(method: RequestType, path: &str, query: &[&str]) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(method);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    for item in query {
        packet.add_option(CoapOption::UriQuery, item.as_bytes().to_vec());
    }
    packet
}

fn write_attributes(device: &mut Device, now: Instant, path: &str, query: &[&str]) {
    let reply = device.handle_request(now, &request(RequestType::Put, path, query));
    assert_eq!(
        message::response_code(&reply.response),
        Some(ResponseType::Changed),
        "{path} {query:?}"
    );
}

/// Registers an observation of `path` with token `token` and returns the table.
fn observe(
    table: &mut Observations,
    device: &mut Device,
    now: Instant,
    path: &str,
    token: u8,
) -> u32 {
    let mut get = request(RequestType::Get, path, &[]);
    get.set_token(vec![token]);
    get.add_option(CoapOption::Observe, vec![]);
    let response = device.handle_request(now, &get).response;
    assert_eq!(
        message::response_code(&response),
        Some(ResponseType::Content)
    );
    table
        .register(now, peer(), &get, &response, device)
        .unwrap()
}

fn sequence(packet: &Packet) -> u32 {
    packet
        .get_first_option(CoapOption::Observe)
        .unwrap()
        .iter()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
}

/// Runs the table from `start` to `end`, waking exactly at its deadlines.
fn run(
    table: &mut Observations,
    device: &mut Device,
    start: Instant,
    end: Instant,
) -> Vec<(Duration, Notification)> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let Some(at) = table.poll_timeout() else {
            break;
        };
        if at > end {
            break;
        }
        for notification in table.poll(at, device) {
            out.push((at - start, notification));
        }
    }
    out
}

#[test]
fn reads_and_sets_the_observe_option() {
    let mut get = Packet::new();
    assert_eq!(observe_request(&get), ObserveRequest::None);
    get.add_option(CoapOption::Observe, vec![]);
    assert_eq!(observe_request(&get), ObserveRequest::Register);
    get.clear_option(CoapOption::Observe);
    get.add_option(CoapOption::Observe, vec![1]);
    assert_eq!(observe_request(&get), ObserveRequest::Deregister);
    get.clear_option(CoapOption::Observe);
    get.add_option(CoapOption::Observe, vec![0, 0, 0, 0]);
    assert_eq!(observe_request(&get), ObserveRequest::None);
    let mut packet = Packet::new();
    set_observe(&mut packet, 0x0100_0005);
    assert_eq!(packet.get_first_option(CoapOption::Observe), Some(&vec![5]));
}

#[test]
fn pmax_notifies_an_unchanging_value_with_increasing_sequence() {
    let start = Instant::now();
    let mut device = device(start);
    let mut table = Observations::new();
    write_attributes(&mut device, start, "/3/0/0", &["pmax=5"]);
    assert_eq!(observe(&mut table, &mut device, start, "/3/0/0", 1), 0);
    assert_eq!(table.poll_timeout(), Some(start + Duration::from_secs(5)));
    let sent = run(
        &mut table,
        &mut device,
        start,
        start + Duration::from_secs(60),
    );
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_secs()).collect();
    assert_eq!(times, (1..=12).map(|k| k * 5).collect::<Vec<_>>());
    let sequences: Vec<u32> = sent.iter().map(|(_, n)| sequence(&n.response)).collect();
    assert_eq!(sequences, (1..=12).collect::<Vec<_>>());
    let confirmable: Vec<bool> = sent.iter().map(|(_, n)| n.confirmable).collect();
    assert_eq!(confirmable.iter().filter(|c| **c).count(), 1);
    assert!(confirmable[9], "the tenth notification is confirmable");
    assert_eq!(sent[0].1.response.payload, b"fleetbench");
}

#[test]
fn a_static_value_notifies_only_when_written_and_not_before_pmin() {
    let start = Instant::now();
    let mut device = device(start);
    let mut table = Observations::new();
    let path = "/dev0/3311/0/5850";
    write_attributes(&mut device, start, path, &["pmin=10"]);
    observe(&mut table, &mut device, start, path, 1);
    assert_eq!(
        table.poll_timeout(),
        None,
        "nothing changes by itself, no pmax"
    );
    // Switched on at t=2: the change waits for pmin (t=10).
    let at = start + Duration::from_secs(2);
    let mut put = request(RequestType::Put, path, &[]);
    put.add_option(CoapOption::ContentFormat, vec![]);
    put.payload = b"1".to_vec();
    device.handle_request(at, &put);
    table.values_changed();
    assert!(table.poll(at, &mut device).is_empty());
    assert_eq!(table.poll_timeout(), Some(start + Duration::from_secs(10)));
    let sent = table.poll(start + Duration::from_secs(10), &mut device);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].response.payload, b"1");
    assert_eq!(table.poll_timeout(), None);
    // A write that changes nothing notifies nothing.
    let later = start + Duration::from_secs(30);
    device.handle_request(later, &put);
    table.values_changed();
    assert!(table.poll(later, &mut device).is_empty());
}

#[test]
fn sensor_values_are_looked_at_only_at_sample_boundaries() {
    let start = Instant::now();
    let mut device = device(start);
    let mut table = Observations::new();
    observe(&mut table, &mut device, start, "/3303/0/5700", 1);
    // Samples every 5 s (the default): the next look is at the next sample.
    assert_eq!(table.poll_timeout(), Some(start + Duration::from_secs(5)));
    let sent = run(
        &mut table,
        &mut device,
        start,
        start + Duration::from_secs(120),
    );
    assert!(!sent.is_empty());
    for (at, notification) in &sent {
        assert_eq!(at.as_secs() % 5, 0, "only at sample boundaries: {at:?}");
        assert_eq!(at.subsec_nanos(), 0);
        let value: f64 = std::str::from_utf8(&notification.response.payload)
            .unwrap()
            .parse()
            .unwrap();
        assert!((-40.0..=85.0).contains(&value));
    }
    // Consecutive notifications carry different values (a change triggered each).
    for pair in sent.windows(2) {
        assert_ne!(pair[0].1.response.payload, pair[1].1.response.payload);
    }
}

#[test]
fn step_and_thresholds_filter_changes() {
    let attributes = |gt, lt, st| Attributes {
        gt,
        lt,
        st,
        ..Attributes::default()
    };
    let met = |a: &Attributes, last, current| condition_met(a, 1, 2, Some(last), Some(current));
    // Step: at least 1.0 away from the last notified value.
    let step = attributes(None, None, Some(1.0));
    assert!(!met(&step, 20.0, 20.9));
    assert!(met(&step, 20.0, 21.0));
    assert!(met(&step, 20.0, 18.5));
    // Thresholds: crossings in either direction, nothing else.
    let gt = attributes(Some(25.0), None, None);
    assert!(!met(&gt, 20.0, 24.0));
    assert!(met(&gt, 24.0, 26.0));
    assert!(met(&gt, 26.0, 24.0));
    assert!(!met(&gt, 26.0, 30.0));
    let lt = attributes(None, Some(10.0), None);
    assert!(met(&lt, 11.0, 9.0));
    assert!(!met(&lt, 9.0, 8.0));
    // Without conditions any change counts; an identical representation never does.
    assert!(met(&Attributes::default(), 1.0, 1.0));
    assert!(!condition_met(&Attributes::default(), 7, 7, None, None));
}

#[test]
fn a_large_step_silences_changes_but_pmax_still_notifies() {
    let start = Instant::now();
    let mut device = device(start);
    let mut table = Observations::new();
    write_attributes(&mut device, start, "/3303/0/5700", &["st=1000", "pmax=30"]);
    observe(&mut table, &mut device, start, "/3303/0/5700", 1);
    let sent = run(
        &mut table,
        &mut device,
        start,
        start + Duration::from_secs(95),
    );
    let times: Vec<u64> = sent.iter().map(|(at, _)| at.as_secs()).collect();
    assert_eq!(times, [30, 60, 90]);
}

#[test]
fn sequence_numbers_wrap_at_24_bits() {
    let start = Instant::now();
    let mut device = device(start);
    let mut table = Observations::with_initial_sequence(0x00ff_fffe);
    write_attributes(&mut device, start, "/3/0/0", &["pmax=1"]);
    assert_eq!(
        observe(&mut table, &mut device, start, "/3/0/0", 1),
        0x00ff_fffe
    );
    let sent = run(
        &mut table,
        &mut device,
        start,
        start + Duration::from_secs(3),
    );
    let sequences: Vec<u32> = sent.iter().map(|(_, n)| sequence(&n.response)).collect();
    assert_eq!(sequences, [0x00ff_ffff, 0, 1]);
    // The option stays within 3 bytes.
    assert_eq!(
        sent[0].1.response.get_first_option(CoapOption::Observe),
        Some(&vec![0xff, 0xff, 0xff])
    );
}

#[test]
fn a_confirmable_notification_at_least_daily() {
    let start = Instant::now();
    let mut device = device(start);
    let mut table = Observations::new();
    write_attributes(&mut device, start, "/3/0/0", &["pmax=32400"]);
    observe(&mut table, &mut device, start, "/3/0/0", 1);
    let sent = run(
        &mut table,
        &mut device,
        start,
        start + Duration::from_secs(4 * 32400),
    );
    let kinds: Vec<bool> = sent.iter().map(|(_, n)| n.confirmable).collect();
    // 9 h, 18 h: NON; 27 h: 24 h since the last CON (the registration) → CON; 36 h: NON.
    assert_eq!(kinds, [false, false, true, false]);
}

#[test]
fn a_deleted_instance_ends_its_observation_with_the_error() {
    let start = Instant::now();
    let mut device = device(start);
    let mut table = Observations::new();
    observe(&mut table, &mut device, start, "/dev0/3311/0", 1);
    let at = start + Duration::from_secs(1);
    let reply = device.handle_request(at, &request(RequestType::Delete, "/dev0/3311/0", &[]));
    assert_eq!(
        message::response_code(&reply.response),
        Some(ResponseType::Deleted)
    );
    table.values_changed();
    let sent = table.poll(at, &mut device);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        message::response_code(&sent[0].response),
        Some(ResponseType::NotFound)
    );
    assert!(table.is_empty());
}

#[test]
fn cancel_and_bounds() {
    let start = Instant::now();
    let mut device = device(start);
    let mut table = Observations::new();
    for token in 0..MAX_OBSERVATIONS {
        observe(
            &mut table,
            &mut device,
            start,
            "/3/0/0",
            u8::try_from(token).unwrap(),
        );
    }
    let mut get = request(RequestType::Get, "/3/0/0", &[]);
    get.set_token(vec![200]);
    let response = device.handle_request(start, &get).response;
    assert!(
        table
            .register(start, peer(), &get, &response, &mut device)
            .is_none()
    );
    // Refreshing an existing observation is still allowed.
    get.set_token(vec![0]);
    assert!(
        table
            .register(start, peer(), &get, &response, &mut device)
            .is_some()
    );
    assert_eq!(table.len(), MAX_OBSERVATIONS);
    assert!(table.cancel(peer(), &[3]));
    assert!(!table.cancel(peer(), &[3]));
    table.clear();
    assert!(table.is_empty() && table.poll_timeout().is_none());
}
