//! Manual load check: N devices with K sub-devices register with a minimal in-process LwM2M
//! server (the lwm2m crate's CoAP service), which then sends reads, writes and executes at a
//! fixed rate to devices and sub-devices and reports how many succeeded.
//!
//! `cargo run --release -p fleetbench-fleet --example fleet_load -- 1000 2 500 10`
//! (devices, sub-devices, requests per second, seconds).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, Packet, RequestType, ResponseType};
use fleetbench_fleet::{FleetConfig, start};
use fleetbench_lwm2m::coap::RequestOptions;
use fleetbench_lwm2m::coap::service::{CoapService, ServiceConfig};
use fleetbench_lwm2m::registration::RegistrationParams;

fn arg(index: usize, default: u64) -> u64 {
    std::env::args()
        .nth(index)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn request(method: RequestType, path: &str, payload: &[u8]) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(method);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    if !payload.is_empty() {
        packet.add_option(CoapOption::ContentFormat, Vec::new());
        packet.payload = payload.to_vec();
    }
    packet
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (devices, subs, rate, seconds) = (arg(1, 1000), arg(2, 2), arg(3, 500), arg(4, 10));
    let (service, client, mut incoming) =
        CoapService::bind("127.0.0.1:0".parse()?, ServiceConfig::default(), 1).await?;
    let peers: Arc<Mutex<HashMap<String, SocketAddr>>> = Arc::default();
    let registry = Arc::clone(&peers);
    tokio::spawn(async move {
        let mut next = 0u64;
        while let Some(req) = incoming.recv().await {
            let mut answer = Packet::new();
            let query: Vec<String> = req
                .packet
                .get_option(CoapOption::UriQuery)
                .map(|q| {
                    q.iter()
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .collect()
                })
                .unwrap_or_default();
            match req.packet.header.code {
                MessageClass::Request(RequestType::Post) if !query.is_empty() => {
                    if let (Ok(params), Ok(mut map)) =
                        (RegistrationParams::from_query(&query), registry.lock())
                    {
                        map.insert(params.endpoint, req.peer);
                    }
                    next += 1;
                    answer.header.code = MessageClass::Response(ResponseType::Created);
                    answer.add_option(CoapOption::LocationPath, b"rd".to_vec());
                    answer.add_option(CoapOption::LocationPath, next.to_string().into_bytes());
                }
                MessageClass::Request(RequestType::Delete) => {
                    answer.header.code = MessageClass::Response(ResponseType::Deleted);
                }
                _ => answer.header.code = MessageClass::Response(ResponseType::Changed),
            }
            req.respond(answer);
        }
    });
    let config = FleetConfig {
        server: service.local_addr(),
        devices: usize::try_from(devices)?,
        sub_devices: usize::try_from(subs)?,
        registration_spread: Duration::from_secs(5),
        ..FleetConfig::default()
    };
    let started = std::time::Instant::now();
    let fleet = start(config).await?;
    fleet.wait_registered(Duration::from_secs(60)).await?;
    println!(
        "{} devices registered in {:?}",
        fleet.registered(),
        started.elapsed()
    );
    let targets: Vec<SocketAddr> = peers
        .lock()
        .map_err(|_| "poisoned")?
        .values()
        .copied()
        .collect();
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    let mut tasks = tokio::task::JoinSet::new();
    let load_started = std::time::Instant::now();
    for i in 0..total {
        ticker.tick().await;
        let peer = targets[(i as usize * 7919) % targets.len()];
        let sub = i % (subs + 1);
        let prefix = if sub == 0 {
            String::new()
        } else {
            format!("/dev{}", sub - 1)
        };
        let packet = match i % 3 {
            0 => request(RequestType::Get, &format!("{prefix}/3303/0/5700"), b""),
            1 => request(RequestType::Put, &format!("{prefix}/33000/0/4"), b"debug"),
            _ => request(RequestType::Post, &format!("{prefix}/33000/0/6"), b""),
        };
        let client = client.clone();
        tasks.spawn(async move {
            let sent = std::time::Instant::now();
            let result = client
                .request(peer, packet, RequestOptions::default())
                .await;
            (result.is_ok(), sent.elapsed())
        });
    }
    let mut ok = 0u64;
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((success, latency)) = joined {
            ok += u64::from(success);
            latencies.push(latency);
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "{ok}/{total} requests succeeded in {:?}; p50 {:?} p99 {:?} max {:?}",
        load_started.elapsed(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!("{:?}", fleet.stats());
    let stopping = std::time::Instant::now();
    let stats = fleet.stats_handle();
    fleet.shutdown().await;
    println!(
        "shutdown in {:?}: {} de-registered, {} retransmissions, {} still registered",
        stopping.elapsed(),
        stats.snapshot().deregistrations,
        stats.snapshot().retransmissions,
        stats.registered()
    );
    Ok(())
}
