//! Reply delays over real UDP: a device with a fixed 50 ms delay never answers early, its
//! median lateness is under a millisecond (tokio's timer alone rounds every deadline up to the
//! next millisecond), and the fleet's histograms count each reply. Bounds are loose for a
//! loaded machine: on the 2 shared cores this was written on (load average 9-11), a thread
//! wake-up was at times 1-26 ms late, so single replies can be late by milliseconds; the
//! precise figures come from the `fleet-reply-delay` bench in release.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_fleet::{BehaviourProfile, DelayDistribution, FleetConfig, start};
use fleetbench_lwm2m::coap::RequestOptions;
use fleetbench_lwm2m::coap::service::{CoapService, ServiceConfig};
use fleetbench_lwm2m::packets::{new_request, response_code};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

const WAIT: Duration = Duration::from_secs(10);
const DELAY: Duration = Duration::from_millis(50);
const REQUESTS: u64 = 20;

/// Up to three rounds (a fresh one-device fleet each): a host stall on this shared machine can
/// delay one wake-up by milliseconds; a real bias fails every round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_delay_is_applied_with_sub_millisecond_median_lateness() {
    let mut failures = Vec::new();
    for round in 0..3 {
        match round_of_requests(round).await {
            Ok(()) => return,
            Err(failure) => failures.push(failure),
        }
    }
    panic!("every round missed the bounds: {failures:#?}");
}

/// One fleet, [`REQUESTS`] sequential reads; `Err` says the median was missed. Counts and the
/// lower bound (never early) are asserted outright: no stall can break them.
async fn round_of_requests(round: u64) -> Result<(), String> {
    let (service, client, mut incoming) =
        CoapService::bind("127.0.0.1:0".parse().unwrap(), ServiceConfig::default(), 3)
            .await
            .unwrap();
    // Accept every Register; report the device's address.
    let (peer_tx, mut peer_rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            let mut answer = Packet::new();
            let register = request.packet.header.code == MessageClass::Request(RequestType::Post);
            answer.header.code = MessageClass::Response(if register {
                ResponseType::Created
            } else {
                ResponseType::Changed
            });
            answer.add_option(CoapOption::LocationPath, b"rd".to_vec());
            answer.add_option(CoapOption::LocationPath, b"d1".to_vec());
            let peer = request.peer;
            request.respond(answer);
            if register {
                let _ = peer_tx.send(peer).await;
            }
        }
    });
    let fleet = start(FleetConfig {
        server: service.local_addr(),
        devices: 1,
        sub_devices: 0,
        seed: 4 + round,
        registration_spread: Duration::from_millis(10),
        profile: BehaviourProfile {
            delay: DelayDistribution::Fixed(DELAY),
            ..BehaviourProfile::default()
        },
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    fleet.wait_registered(WAIT).await.unwrap();
    let device = timeout(WAIT, peer_rx.recv()).await.unwrap().unwrap();
    for _ in 0..REQUESTS {
        let asked = Instant::now();
        let answer = timeout(
            WAIT,
            client.request(
                device,
                new_request(RequestType::Get, &["3", "0", "0"]),
                RequestOptions::default(),
            ),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(response_code(&answer), Some(ResponseType::Content));
        assert!(
            asked.elapsed() >= DELAY,
            "answered after {:?}",
            asked.elapsed()
        );
    }
    let delays = fleet.delay_histograms();
    fleet.shutdown().await;
    service.shutdown().await;
    assert_eq!(delays.applied.len(), REQUESTS);
    assert_eq!(delays.error_us.len(), REQUESTS);
    let intended = u64::try_from(DELAY.as_micros()).unwrap();
    assert!(
        delays.applied.min() >= intended,
        "shortest applied delay {} µs",
        delays.applied.min()
    );
    let median = delays.error_us.value_at_quantile(0.5);
    if median > 1_000 || delays.applied.value_at_quantile(0.5) > intended + 1_000 {
        return Err(format!(
            "median lateness {median} µs; longest applied delay {} µs",
            delays.applied.max(),
        ));
    }
    Ok(())
}
