//! `attempts[].transmitted_at` with a real fleet device over real UDP: when the attempt's
//! first datagram went on the wire, after NSTART queueing in the gateway's CoAP endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sse;

use std::time::Duration;

use common::{Api, only_status};
use fleetbench_fleet::{BehaviourProfile, DelayDistribution, FleetConfig};
use fleetbench_gateway::{GatewayConfig, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sse::EventReader;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The device's fixed reply delay: long enough that a queued request visibly waits.
const DELAY: Duration = Duration::from_millis(100);

fn at(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a timestamp"), &Rfc3339).unwrap()
}

/// The only attempt of a finished single-target command, checked for order:
/// `started_at <= transmitted_at <= ended_at`. Returns (started, transmitted, ended).
fn attempt_times(command: &Value) -> (OffsetDateTime, OffsetDateTime, OffsetDateTime) {
    let entry = only_status(command);
    assert_eq!(entry["status"], "success", "{command}");
    let attempts = entry["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{command}");
    let attempt = &attempts[0];
    assert_eq!(attempt["outcome"], "success", "{attempt}");
    let (started, transmitted, ended) = (
        at(&attempt["started_at"]),
        at(&attempt["transmitted_at"]),
        at(&attempt["ended_at"]),
    );
    assert!(started <= transmitted, "{attempt}");
    assert!(transmitted <= ended, "{attempt}");
    (started, transmitted, ended)
}

/// Two reads sent to one device at once: the gateway's CoAP endpoint (NSTART = 1) holds the
/// second until the first is answered, so the second's `transmitted_at` is at least the
/// device's delay after the first's, while both started at about the same time. A simple
/// read's transmission is within its attempt. The terminal events (`terminal_only`) carry the
/// same entries, `transmitted_at` included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_behind_nstart_is_transmitted_later() {
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let api = Api::new(gateway.http_addr());
    let fleet = fleetbench_fleet::start(FleetConfig {
        server: gateway.coap_addr(),
        devices: 1,
        sub_devices: 0,
        registration_spread: Duration::from_millis(10),
        seed: 11,
        profile: BehaviourProfile {
            delay: DelayDistribution::Fixed(DELAY),
            ..BehaviourProfile::default()
        },
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    fleet.wait_registered(common::WAIT).await.unwrap();
    let endpoint = fleet.endpoints()[0].clone();
    api.wait_device(&endpoint, |d| d["active"] == true).await;
    // The gateway reads /25 after each registration; that read (delayed like any other)
    // holds the device's NSTART slot, so wait until no discovery is waiting or running, seen
    // twice in a row (the gauges hand over between waiting and running).
    tokio::time::timeout(common::WAIT, async {
        let mut idle_in_a_row = 0;
        while idle_in_a_row < 2 {
            let (_, _, metrics) = api.call(Method::GET, "/metrics", None, None).await;
            let text = metrics.as_str().unwrap_or_default().to_owned();
            let idle = ["discoveries_waiting", "discoveries_running"]
                .iter()
                .all(|name| text.contains(&format!("fleetbench_gateway_{name} 0\n")));
            idle_in_a_row = if idle { idle_in_a_row + 1 } else { 0 };
            // Polling a gauge (as `common::eventually` does), bounded by WAIT.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the registration's /25 discovery finishes");

    let mut events = EventReader::open(&gateway, "?terminal_only=true").await;
    let read = json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3/0/0"});
    let path = format!("/devices/{endpoint}/gateway_commands");
    let (first, second) = tokio::join!(api.post(&path, read.clone()), api.post(&path, read));
    let mut ids = Vec::new();
    for (status, created) in [first, second] {
        assert_eq!(status, StatusCode::OK, "{created}");
        ids.push(created["_id"].as_str().unwrap().to_owned());
    }
    let mut times = Vec::new();
    let mut details = Vec::new();
    for id in &ids {
        let command = api.wait_command(id).await;
        times.push(attempt_times(&command));
        details.push(command);
    }
    for _ in 0..ids.len() {
        let event = events.next().await;
        let command_id = event.data["command_id"].as_str().unwrap();
        let command = details
            .iter()
            .find(|c| c["_id"] == command_id)
            .expect("an event of one of ours");
        assert_eq!(&event.data["record"], only_status(command), "{event:?}");
        assert!(event.data["record"]["attempts"][0]["transmitted_at"].is_string());
    }
    times.sort_by_key(|(_, transmitted, _)| *transmitted);
    let (first, second) = (times[0], times[1]);
    let delay = time::Duration::try_from(DELAY).unwrap();
    assert!(
        second.1 - first.1 >= delay,
        "the second went out {} after the first; the device holds each for {DELAY:?}",
        second.1 - first.1
    );
    // The queued one waited in the gateway (its link queue) for most of the first's time at
    // the device (the two started within milliseconds); the first did not wait.
    assert!(second.1 - second.0 >= delay / 2, "{times:?}");
    assert!(first.1 - first.0 < delay / 2, "{times:?}");

    fleet.shutdown().await;
    gateway.shutdown().await;
}
