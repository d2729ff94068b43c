//! Registration state machine tests (no sockets, explicit instants).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use coap_lite::RequestType;

fn strings(packet: &Packet, option: CoapOption) -> Vec<String> {
    packet
        .get_option(option)
        .map(|values| {
            values
                .iter()
                .map(|v| String::from_utf8(v.clone()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn response(code: ResponseType, location: &[&str]) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Response(code);
    for segment in location {
        packet.add_option(CoapOption::LocationPath, segment.as_bytes().to_vec());
    }
    packet
}

fn client(start: Instant) -> Registration {
    Registration::new(
        "ep1",
        Duration::from_secs(100),
        start + Duration::from_secs(3),
        RetryPolicy::default(),
        9,
    )
}

fn registered(start: Instant) -> Registration {
    let mut reg = client(start);
    let at = start + Duration::from_secs(3);
    reg.poll_request(at, "</1/0>").unwrap();
    assert_eq!(
        reg.on_response(at, &response(ResponseType::Created, &["rd", "a1"])),
        Some(Outcome::Registered)
    );
    reg
}

#[test]
fn register_waits_for_its_time_and_carries_query_and_links() {
    let start = Instant::now();
    let mut reg = client(start);
    assert_eq!(reg.poll_timeout(), Some(start + Duration::from_secs(3)));
    assert!(reg.poll_request(start, "</1/0>").is_none());
    let (kind, packet) = reg
        .poll_request(start + Duration::from_secs(3), "</1/0>,</3/0>")
        .unwrap();
    assert_eq!(kind, RequestKind::Register);
    assert_eq!(packet.header.code, MessageClass::Request(RequestType::Post));
    assert_eq!(strings(&packet, CoapOption::UriPath), ["rd"]);
    assert_eq!(
        strings(&packet, CoapOption::UriQuery),
        ["ep=ep1", "lt=100", "lwm2m=1.1", "b=U"]
    );
    assert_eq!(
        packet.get_first_option(CoapOption::ContentFormat),
        Some(&vec![40])
    );
    assert_eq!(packet.payload, b"</1/0>,</3/0>");
    assert_eq!(reg.in_flight(), Some(RequestKind::Register));
    assert_eq!(reg.poll_timeout(), None);
    assert!(!reg.is_registered());
}

#[test]
fn update_at_about_half_lifetime_to_full_location() {
    let start = Instant::now();
    let mut reg = registered(start);
    assert!(reg.is_registered());
    assert_eq!(reg.location().unwrap(), ["rd", "a1"]);
    let at = start + Duration::from_secs(3);
    let due = reg.poll_timeout().unwrap();
    assert!(due >= at + Duration::from_secs(45) && due <= at + Duration::from_secs(55));
    assert!(
        reg.poll_request(due - Duration::from_millis(1), "")
            .is_none()
    );
    let (kind, packet) = reg.poll_request(due, "").unwrap();
    assert_eq!(kind, RequestKind::Update);
    assert_eq!(strings(&packet, CoapOption::UriPath), ["rd", "a1"]);
    assert!(strings(&packet, CoapOption::UriQuery).is_empty());
    assert!(packet.payload.is_empty());
    assert!(reg.is_registered());
    assert_eq!(
        reg.on_response(due, &response(ResponseType::Changed, &[])),
        Some(Outcome::Updated)
    );
    let next = reg.poll_timeout().unwrap();
    assert!(next >= due + Duration::from_secs(45) && next <= due + Duration::from_secs(55));
}

#[test]
fn trigger_and_lifetime_change_send_update_now() {
    let start = Instant::now();
    let mut reg = registered(start);
    let now = start + Duration::from_secs(10);
    reg.trigger_update(now);
    assert_eq!(reg.poll_timeout(), Some(now));
    let (_, packet) = reg.poll_request(now, "").unwrap();
    assert!(strings(&packet, CoapOption::UriQuery).is_empty());
    reg.on_response(now, &response(ResponseType::Changed, &[]));
    reg.set_lifetime(now, Duration::from_secs(40));
    let (_, packet) = reg.poll_request(now, "").unwrap();
    assert_eq!(strings(&packet, CoapOption::UriQuery), ["lt=40"]);
    reg.on_response(now, &response(ResponseType::Changed, &[]));
    let next = reg.poll_timeout().unwrap();
    assert!(next <= now + Duration::from_secs(22));
    // The lifetime goes out once, not on every Update.
    let (_, packet) = reg.poll_request(next, "").unwrap();
    assert!(strings(&packet, CoapOption::UriQuery).is_empty());
}

#[test]
fn update_not_found_registers_again_at_once() {
    let start = Instant::now();
    let mut reg = registered(start);
    let now = start + Duration::from_secs(60);
    reg.poll_request(now, "").unwrap();
    assert_eq!(
        reg.on_response(now, &response(ResponseType::NotFound, &[])),
        Some(Outcome::UpdateFailed)
    );
    assert!(!reg.is_registered());
    assert_eq!(reg.poll_timeout(), Some(now));
    let (kind, _) = reg.poll_request(now, "").unwrap();
    assert_eq!(kind, RequestKind::Register);
}

#[test]
fn failures_back_off_exponentially_up_to_the_cap() {
    let start = Instant::now();
    let mut reg = client(start);
    let mut now = start + Duration::from_secs(3);
    let mut delays = Vec::new();
    for _ in 0..8 {
        reg.poll_request(now, "").unwrap();
        assert_eq!(reg.on_failure(now), Some(Outcome::RegisterFailed));
        let next = reg.poll_timeout().unwrap();
        delays.push(next - now);
        now = next;
    }
    let secs: Vec<f64> = delays.iter().map(Duration::as_secs_f64).collect();
    for (i, delay) in secs.iter().enumerate() {
        let nominal = (2.0 * f64::from(1u32 << i)).min(60.0);
        assert!(
            *delay >= nominal && *delay < nominal * 1.5,
            "failure {i}: {delay} s"
        );
    }
    // A server error counts as a failure too, and a success resets the back-off.
    reg.poll_request(now, "").unwrap();
    assert_eq!(
        reg.on_response(now, &response(ResponseType::ServiceUnavailable, &[])),
        Some(Outcome::RegisterFailed)
    );
    now = reg.poll_timeout().unwrap();
    reg.poll_request(now, "").unwrap();
    reg.on_response(now, &response(ResponseType::Created, &["rd", "x"]));
    now = reg.poll_timeout().unwrap();
    reg.poll_request(now, "").unwrap();
    assert_eq!(reg.on_failure(now), Some(Outcome::UpdateFailed));
    let delay = reg.poll_timeout().unwrap() - now;
    assert!(delay >= Duration::from_secs(2) && delay < Duration::from_secs(3));
}

#[test]
fn created_without_location_is_a_failure() {
    let start = Instant::now();
    let mut reg = client(start);
    let at = start + Duration::from_secs(3);
    reg.poll_request(at, "").unwrap();
    assert_eq!(
        reg.on_response(at, &response(ResponseType::Created, &[])),
        Some(Outcome::RegisterFailed)
    );
}

#[test]
fn deregister_deletes_the_location_then_stops() {
    let start = Instant::now();
    let mut reg = registered(start);
    let packet = reg.deregister().unwrap();
    assert_eq!(
        packet.header.code,
        MessageClass::Request(RequestType::Delete)
    );
    assert_eq!(strings(&packet, CoapOption::UriPath), ["rd", "a1"]);
    assert_eq!(reg.in_flight(), Some(RequestKind::Deregister));
    assert_eq!(
        reg.on_response(start, &response(ResponseType::Deleted, &[])),
        Some(Outcome::Deregistered)
    );
    assert_eq!(reg.poll_timeout(), None);
    assert!(
        reg.poll_request(start + Duration::from_secs(1000), "")
            .is_none()
    );
    let mut never = client(start);
    assert!(never.deregister().is_none());
    assert!(
        never
            .poll_request(start + Duration::from_secs(1000), "")
            .is_none()
    );
}

#[test]
fn restart_forgets_the_registration() {
    let start = Instant::now();
    let mut reg = registered(start);
    let later = start + Duration::from_secs(30);
    reg.restart(later);
    assert!(!reg.is_registered());
    assert_eq!(reg.poll_timeout(), Some(later));
}
