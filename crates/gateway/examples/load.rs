//! Manual load check: a gateway plus a fleet in one process, commands fired over HTTP with a
//! fixed concurrency, completion polled. Prints throughput and a latency summary.
//!
//! `cargo run --release -p fleetbench-gateway --example load -- [devices] [commands] [concurrency]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fleetbench_fleet::FleetConfig;
use fleetbench_gateway::{GatewayConfig, start};
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let devices = args.first().copied().unwrap_or(1000);
    let commands = args.get(1).copied().unwrap_or(20_000);
    let concurrency = args.get(2).copied().unwrap_or(64);
    let gateway = start(GatewayConfig::default()).await.unwrap();
    let fleet = fleetbench_fleet::start(FleetConfig {
        server: gateway.coap_addr(),
        devices,
        sub_devices: 2,
        registration_spread: Duration::from_secs(2),
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    fleet
        .wait_registered(Duration::from_secs(60))
        .await
        .unwrap();
    let endpoints: Arc<Vec<String>> = Arc::new(fleet.endpoints().to_vec());
    let base = format!("http://{}", gateway.http_addr());
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, next, endpoints, failures) = (
            client.clone(),
            base.clone(),
            next.clone(),
            endpoints.clone(),
            failures.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= commands {
                    return latencies;
                }
                let endpoint = &endpoints[n % endpoints.len()];
                let begin = Instant::now();
                let created: Value = client
                    .post(format!("{base}/devices/{endpoint}/gateway_commands"))
                    .header("authorization", "fleetbench-token")
                    .json(&json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3303/0/5700"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = created["_id"].as_str().unwrap().to_owned();
                loop {
                    let command: Value = client
                        .get(format!("{base}/gateway_commands/{id}"))
                        .header("authorization", "fleetbench-token")
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let entry = command["statuses"].as_object().unwrap().values().next().unwrap().clone();
                    match entry["status"].as_str() {
                        Some("success") => break,
                        Some("fail") => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        _ => tokio::time::sleep(Duration::from_millis(2)).await,
                    }
                }
                latencies.push(begin.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "{commands} commands to {devices} devices in {elapsed:?}: {:.0}/s, failures {}, p50 {:?} p99 {:?} max {:?}",
        commands as f64 / elapsed.as_secs_f64(),
        failures.load(Ordering::Relaxed),
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
    fleet.shutdown().await;
    gateway.shutdown().await;
}
