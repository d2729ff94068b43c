//! A Register payload over one block goes out with Block1 (RFC 7959): a reassembling server
//! gets the whole link list and the query on every block; 2.31, a smaller SZX and 4.13 are
//! followed; a broken transfer counts as a failed Register.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use fleetbench_lwm2m::block::BlockOption;

fn long_links() -> String {
    let mut links = String::from("</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.1,</1/0>,</3/0>");
    for k in 0..300 {
        links.push_str(&format!(",</25/{k}>"));
    }
    links
}

fn block1(packet: &Packet) -> Option<BlockOption> {
    packet
        .get_first_option(CoapOption::Block1)
        .map(|raw| BlockOption::decode(raw).unwrap())
}

fn answer(code: ResponseType, block: Option<BlockOption>, location: &[&str]) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Response(code);
    if let Some(block) = block {
        packet.add_option(CoapOption::Block1, block.encode());
    }
    for segment in location {
        packet.add_option(CoapOption::LocationPath, segment.as_bytes().to_vec());
    }
    packet
}

fn client(start: Instant) -> Registration {
    Registration::new(
        "ep1",
        Duration::from_secs(100),
        start,
        RetryPolicy::default(),
        3,
    )
}

/// Plays a server that reassembles Block1 in order (answering 2.31 in `szx` when given) and
/// answers 2.01 to the last block; returns the body and the number of requests.
fn reassemble(
    reg: &mut Registration,
    now: Instant,
    links: &str,
    szx: Option<u8>,
) -> (Vec<u8>, usize) {
    let (kind, mut packet) = reg.poll_request(now, links).unwrap();
    assert_eq!(kind, RequestKind::Register);
    let mut body = Vec::new();
    let mut requests = 1;
    loop {
        let option = block1(&packet).expect("a payload over 1024 bytes goes with Block1");
        assert!(packet.payload.len() <= option.size());
        assert_eq!(body.len(), option.offset(), "blocks arrive in order");
        assert_eq!(
            packet.get_option(CoapOption::UriQuery).map(|q| q.len()),
            Some(4),
            "every block carries the Register query"
        );
        body.extend_from_slice(&packet.payload);
        if !option.more {
            let outcome = reg.on_response(
                now,
                &answer(ResponseType::Created, Some(option), &["rd", "7"]),
            );
            assert_eq!(outcome, Some(Outcome::Registered));
            return (body, requests);
        }
        let echoed = match szx {
            Some(szx) => BlockOption::with_szx(option.num, true, szx).unwrap(),
            None => option,
        };
        assert_eq!(
            reg.on_response(now, &answer(ResponseType::Continue, Some(echoed), &[])),
            None
        );
        assert_eq!(
            reg.poll_timeout(),
            Some(now),
            "the next block is due at once"
        );
        assert_eq!(reg.in_flight(), Some(RequestKind::Register));
        let (kind, next) = reg.poll_request(now, "ignored").unwrap();
        assert_eq!(kind, RequestKind::Register);
        packet = next;
        requests += 1;
        assert!(requests < 100, "bounded");
    }
}

#[test]
fn long_register_goes_in_1024_byte_blocks() {
    let start = Instant::now();
    let mut reg = client(start);
    let links = long_links();
    assert!(links.len() > 2048, "{}", links.len());
    let (body, requests) = reassemble(&mut reg, start, &links, None);
    assert_eq!(body, links.as_bytes());
    assert_eq!(requests, links.len().div_ceil(1024));
    assert!(reg.is_registered());
    assert_eq!(reg.location(), Some(&["rd".to_owned(), "7".to_owned()][..]));
}

#[test]
fn server_asking_smaller_blocks_is_followed() {
    let start = Instant::now();
    let mut reg = client(start);
    let links = long_links();
    // SZX 4 = 256-byte blocks after the first 1024.
    let (body, requests) = reassemble(&mut reg, start, &links, Some(4));
    assert_eq!(body, links.as_bytes());
    assert_eq!(requests, 1 + (links.len() - 1024).div_ceil(256));
}

#[test]
fn short_register_goes_whole() {
    let start = Instant::now();
    let mut reg = client(start);
    let (_, packet) = reg.poll_request(start, "</1/0>,</3/0>").unwrap();
    assert!(block1(&packet).is_none());
    assert_eq!(packet.payload, b"</1/0>,</3/0>");
}

#[test]
fn too_large_restarts_smaller_or_fails_the_register() {
    let start = Instant::now();
    let mut reg = client(start);
    let links = long_links();
    let (_, first) = reg.poll_request(start, &links).unwrap();
    assert_eq!(block1(&first).unwrap().size(), 1024);
    let smaller = BlockOption::new(0, true, 512).unwrap();
    assert_eq!(
        reg.on_response(
            start,
            &answer(ResponseType::RequestEntityTooLarge, Some(smaller), &[])
        ),
        None
    );
    let (_, again) = reg.poll_request(start, &links).unwrap();
    let option = block1(&again).unwrap();
    assert_eq!((option.num, option.size()), (0, 512));
    assert_eq!(again.payload, links.as_bytes()[..512]);
    // A plain 4.13: the Register failed, a retry is scheduled with back-off.
    let outcome = reg.on_response(
        start,
        &answer(ResponseType::RequestEntityTooLarge, None, &[]),
    );
    assert_eq!(outcome, Some(Outcome::RegisterFailed));
    assert!(reg.poll_timeout().unwrap() > start);
    assert!(reg.in_flight().is_none());
}

#[test]
fn broken_transfer_fails_the_register_and_the_retry_starts_over() {
    let start = Instant::now();
    let mut reg = client(start);
    let links = long_links();
    reg.poll_request(start, &links).unwrap();
    // 2.31 without Block1 breaks RFC 7959.
    let outcome = reg.on_response(start, &answer(ResponseType::Continue, None, &[]));
    assert_eq!(outcome, Some(Outcome::RegisterFailed));
    let retry_at = reg.poll_timeout().unwrap();
    let (_, packet) = reg.poll_request(retry_at, &links).unwrap();
    assert_eq!(
        block1(&packet).unwrap().num,
        0,
        "a retry starts from block 0"
    );
    // A timeout mid-transfer too.
    assert_eq!(reg.on_failure(retry_at), Some(Outcome::RegisterFailed));
    assert!(reg.poll_timeout().unwrap() > retry_at);
}
