//! The tokio driver over real UDP sockets on loopback. Waits are events, bounded by timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::net::SocketAddr;
use std::time::Duration;

use coap_lite::{RequestType, ResponseType};
use fleetbench_lwm2m::coap::service::{CoapService, RequestError, ServiceConfig};
use fleetbench_lwm2m::coap::{EndpointConfig, FailureReason, RequestOptions};
use fleetbench_lwm2m::packets::{
    new_request, new_response, observe, response_code, set_observe, uri_path,
};
use tokio::time::timeout;

const BOUND: Duration = Duration::from_secs(10);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test]
async fn request_and_response_over_udp() {
    let (server, _, mut incoming) = CoapService::bind(loopback(), ServiceConfig::default(), 1)
        .await
        .unwrap();
    let (client_service, client, _) = CoapService::bind(loopback(), ServiceConfig::default(), 2)
        .await
        .unwrap();
    let server_addr = server.local_addr();
    let answering = tokio::spawn(async move {
        for _ in 0..3 {
            let request = incoming.recv().await.unwrap();
            let mut response = new_response(ResponseType::Content);
            response.payload = uri_path(&request.packet).join("/").into_bytes();
            request.respond(response);
        }
    });
    for path in [["3", "0", "0"], ["3", "0", "1"], ["1", "0", "1"]] {
        let response = timeout(
            BOUND,
            client.request(
                server_addr,
                new_request(RequestType::Get, &path),
                RequestOptions::default(),
            ),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(response_code(&response), Some(ResponseType::Content));
        assert_eq!(response.payload, path.join("/").into_bytes());
    }
    timeout(BOUND, answering).await.unwrap().unwrap();
    assert_eq!(client_service.stats().retransmissions, 0);
    client_service.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn observation_streams_notifications() {
    let (server, server_client, mut incoming) =
        CoapService::bind(loopback(), ServiceConfig::default(), 1)
            .await
            .unwrap();
    let (client_service, client, _) = CoapService::bind(loopback(), ServiceConfig::default(), 2)
        .await
        .unwrap();
    let server_addr = server.local_addr();
    drop(server_client);
    let device = tokio::spawn(async move {
        let request = incoming.recv().await.unwrap();
        assert_eq!(observe(&request.packet), Some(0));
        let mut first = new_response(ResponseType::Content);
        set_observe(&mut first, 1);
        first.payload = b"20.5".to_vec();
        request.respond(first);
    });
    let (first, _notifications) = timeout(
        BOUND,
        client.observe(
            server_addr,
            new_request(RequestType::Get, &["3303", "0", "5700"]),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(first.payload, b"20.5");
    assert_eq!(observe(&first), Some(1));
    timeout(BOUND, device).await.unwrap().unwrap();
    client_service.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn silent_peer_times_out_after_the_rfc_back_off() {
    // A bound socket that never answers.
    let silent = tokio::net::UdpSocket::bind(loopback()).await.unwrap();
    let config = ServiceConfig {
        endpoint: EndpointConfig::default(),
        ..ServiceConfig::default()
    };
    let max_wait = config.endpoint.max_transmit_wait();
    let (service, client, _) = CoapService::bind(loopback(), config, 3).await.unwrap();
    let started = tokio::time::Instant::now();
    let result = client
        .request(
            silent.local_addr().unwrap(),
            new_request(RequestType::Get, &["3"]),
            RequestOptions::default(),
        )
        .await;
    assert_eq!(result, Err(RequestError::Failed(FailureReason::Timeout)));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2 * 31) && waited <= max_wait,
        "gave up after {waited:?}"
    );
    assert_eq!(service.stats().retransmissions, 4);
    service.shutdown().await;
}

/// With NSTART = 1 a second request to the same peer waits in the endpoint's queue: its
/// probe stays empty until the first is answered, then notes a later first transmission.
#[tokio::test]
async fn a_probe_notes_the_first_transmission_after_nstart_queueing() {
    use fleetbench_lwm2m::coap::service::TransmissionProbe;

    let (server, _, mut incoming) = CoapService::bind(loopback(), ServiceConfig::default(), 1)
        .await
        .unwrap();
    let (client_service, client, _) = CoapService::bind(loopback(), ServiceConfig::default(), 2)
        .await
        .unwrap();
    let server_addr = server.local_addr();
    let (first_probe, second_probe) = (TransmissionProbe::new(), TransmissionProbe::new());
    let sent = |path: &'static str, probe: &TransmissionProbe| {
        let (client, probe) = (client.clone(), probe.clone());
        tokio::spawn(async move {
            client
                .request_probed(
                    server_addr,
                    new_request(RequestType::Get, &["3", "0", path]),
                    RequestOptions::default(),
                    Some(probe),
                )
                .await
        })
    };
    let before = tokio::time::Instant::now();
    let first = sent("0", &first_probe);
    let second = sent("1", &second_probe);
    let request = timeout(BOUND, incoming.recv()).await.unwrap().unwrap();
    assert_eq!(uri_path(&request.packet), ["3", "0", "0"]);
    let first_at = first_probe
        .first()
        .expect("the first request went on the wire");
    assert!(first_at >= before);
    assert_eq!(second_probe.first(), None, "queued behind NSTART, not sent");
    request.respond(new_response(ResponseType::Content));
    let request = timeout(BOUND, incoming.recv()).await.unwrap().unwrap();
    assert_eq!(uri_path(&request.packet), ["3", "0", "1"]);
    let second_at = second_probe
        .first()
        .expect("sent once the first was answered");
    assert!(second_at >= first_at, "{second_at:?} < {first_at:?}");
    request.respond(new_response(ResponseType::Content));
    for task in [first, second] {
        let response = timeout(BOUND, task).await.unwrap().unwrap().unwrap();
        assert_eq!(response_code(&response), Some(ResponseType::Content));
    }
    // A probe keeps its first note.
    first_probe.note(tokio::time::Instant::now());
    assert_eq!(first_probe.first(), Some(first_at));
    client_service.shutdown().await;
    server.shutdown().await;
}
