//! Issue 15, finding 1: HTTP connections cannot be held without limit. Real loopback TCP;
//! every wait is on a socket event, bounded by `WAIT`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{TOKEN, WAIT};
use fleetbench_gateway::{GatewayConfig, RunningGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: gw\r\n\r\n";

async fn gateway(config: GatewayConfig) -> RunningGateway {
    fleetbench_gateway::start(config)
        .await
        .expect("gateway starts")
}

/// Reads until the peer closes; returns what arrived and how long it took.
async fn read_to_eof(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut received))
        .await
        .expect("the server closed the connection in time")
        .expect("read");
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

/// Sends one request and reads one response (with a content-length) without closing.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).await.expect("request written");
    let mut received = Vec::new();
    let mut chunk = [0_u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "closed early: {}",
                String::from_utf8_lossy(&received)
            );
            received.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&received).to_lowercase();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |value| value.trim().parse().expect("length"));
                if received.len() >= head_end + 4 + length {
                    return;
                }
            }
        }
    })
    .await
    .expect("response in time");
    String::from_utf8_lossy(&received).into_owned()
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

#[tokio::test]
async fn a_half_sent_header_and_an_idle_keep_alive_connection_are_closed() {
    let timeout = Duration::from_millis(300);
    let gw = gateway(GatewayConfig {
        http_header_timeout: timeout,
        ..GatewayConfig::default()
    })
    .await;
    let mut half = connect(gw.http_addr()).await;
    half.write_all(b"GET /health HTTP/1.1\r\nhost: g")
        .await
        .unwrap();
    let mut idle = connect(gw.http_addr()).await;
    let answer = exchange(&mut idle, HEALTH).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let idle_since = Instant::now();

    let (text, waited) = read_to_eof(&mut half).await;
    assert!(waited >= timeout - Duration::from_millis(50), "{waited:?}");
    assert!(!text.contains("200 OK"), "{text}");
    let (text, _) = read_to_eof(&mut idle).await;
    assert!(text.is_empty(), "{text}");
    let waited = idle_since.elapsed();
    assert!(waited >= timeout - Duration::from_millis(50), "{waited:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_slow_body_is_cut_off_with_408() {
    let timeout = Duration::from_millis(300);
    let gw = gateway(GatewayConfig {
        http_body_timeout: timeout,
        ..GatewayConfig::default()
    })
    .await;
    let mut slow = connect(gw.http_addr()).await;
    let head = format!(
        "POST /gateway_commands HTTP/1.1\r\nhost: gw\r\nauthorization: {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"comm"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let (text, waited) = read_to_eof(&mut slow).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body: not received within 300 ms"), "{text}");
    assert!(waited >= timeout - Duration::from_millis(50), "{waited:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_and_health_answers_once_under_it() {
    let gw = gateway(GatewayConfig {
        http_max_connections: 2,
        http_header_timeout: WAIT * 2,
        ..GatewayConfig::default()
    })
    .await;
    let addr = gw.http_addr();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(addr).await;
        let answer = exchange(&mut stream, HEALTH).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(stream);
    }
    for _ in 0..3 {
        let mut refused = connect(addr).await;
        let (text, _) = read_to_eof(&mut refused).await;
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        assert!(text.contains("retry-after: 1"), "{text}");
        let body = text.split("\r\n\r\n").nth(1).expect("body");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert!(json["message"].as_str().unwrap().contains("too many"));
    }
    // One held client leaves: its slot is free once it sees the close.
    let mut leaving = held.pop().unwrap();
    leaving
        .write_all(b"GET /health HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_to_eof(&mut leaving).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let mut fresh = connect(addr).await;
    let answer = exchange(&mut fresh, HEALTH).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    gw.shutdown().await;
}
