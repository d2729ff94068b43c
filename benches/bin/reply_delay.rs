//! Reply-delay accuracy bench: two fleets whose devices answer after a fixed 0 ms and 50 ms,
//! read over real UDP at a steady total rate; prints the delay each fleet applied (request
//! arrival at the device to reply handed to the socket) minus the intended delay, from the
//! fleet's own histograms (`RunningFleet::delay_histograms`), and the process CPU time.
//!
//! ```text
//! cargo run --release -p fleetbench-benches --bin fleet-reply-delay -- --rate 200 --seconds 8
//! ```
//! Loopback only; bounded in time and in requests in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, RequestType, ResponseType};
use fleetbench_benches::{cores, cpu_model, cpu_time};
use fleetbench_fleet::{
    BehaviourProfile, DelayDistribution, DelayHistograms, FleetConfig, RunningFleet, start,
};
use fleetbench_lwm2m::coap::RequestOptions;
use fleetbench_lwm2m::coap::service::{CoapClient, CoapService, ServiceConfig};
use fleetbench_lwm2m::packets::{method, new_request, new_response};
use tokio::sync::Semaphore;

/// Most requests in flight; beyond it a tick is skipped (and counted).
const MAX_IN_FLIGHT: usize = 4_096;

struct Options {
    rate: u64,
    seconds: u64,
    devices: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        rate: 200,
        seconds: 8,
        devices: 100,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = value
            .parse::<u64>()
            .map_err(|_| format!("{flag}: {value:?} is not a whole number"))?;
        match flag.as_str() {
            "--rate" => options.rate = number.clamp(1, 20_000),
            "--seconds" => options.seconds = number.clamp(1, 600),
            "--devices" => options.devices = usize::try_from(number).unwrap_or(1).clamp(1, 5_000),
            other => {
                return Err(format!(
                    "unknown flag {other:?} (--rate, --seconds, --devices)"
                ));
            }
        }
    }
    Ok(options)
}

/// A registrar that accepts every Register/Update/De-register.
async fn registrar() -> std::io::Result<CoapService> {
    let (service, _client, mut incoming) = CoapService::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServiceConfig::default(),
        1,
    )
    .await?;
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            let code = match method(&request.packet) {
                Some(RequestType::Post)
                    if request.packet.get_option(CoapOption::UriQuery).is_some() =>
                {
                    ResponseType::Created
                }
                Some(RequestType::Delete) => ResponseType::Deleted,
                _ => ResponseType::Changed,
            };
            let mut response = new_response(code);
            response.add_option(CoapOption::LocationPath, b"rd".to_vec());
            response.add_option(CoapOption::LocationPath, b"1".to_vec());
            request.respond(response);
        }
    });
    Ok(service)
}

async fn fleet(
    server: SocketAddr,
    devices: usize,
    delay: Duration,
    seed: u64,
) -> Result<RunningFleet, String> {
    let fleet = start(FleetConfig {
        server,
        devices,
        sub_devices: 0,
        seed,
        endpoint_prefix: format!("delay{}-", delay.as_millis()),
        registration_spread: Duration::from_millis(200),
        profile: BehaviourProfile {
            delay: DelayDistribution::Fixed(delay),
            ..BehaviourProfile::default()
        },
        ..FleetConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    fleet
        .wait_registered(Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    Ok(fleet)
}

fn print_class(name: &str, delays: &DelayHistograms) {
    let error = &delays.error_us;
    println!(
        "{name:>6}: {:>6} replies  error (applied - intended) µs: p50 {:>5}  p90 {:>5}  p99 {:>6}  max {:>6}   applied p50 {:.3} ms",
        error.len(),
        error.value_at_quantile(0.5),
        error.value_at_quantile(0.9),
        error.value_at_quantile(0.99),
        error.max(),
        delays.applied.value_at_quantile(0.5) as f64 / 1000.0,
    );
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let options = parse_options()?;
    let service = registrar().await.map_err(|e| e.to_string())?;
    let server = service.local_addr();
    let instant = fleet(server, options.devices, Duration::ZERO, 1).await?;
    let delayed = fleet(server, options.devices, Duration::from_millis(50), 2).await?;
    let (client_service, client, _) = CoapService::bind(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        ServiceConfig::default(),
        3,
    )
    .await
    .map_err(|e| e.to_string())?;
    // Alternate classes, round-robin over devices.
    let mut targets = Vec::new();
    for index in 0..options.devices {
        for fleet in [&instant, &delayed] {
            if let Some(address) = fleet.device_address(index) {
                targets.push(address);
            }
        }
    }
    let cpu_before = cpu_time();
    let sent = pace(&client, &targets, &options).await;
    let cpu = cpu_time().saturating_sub(cpu_before);
    println!(
        "fleet reply delays: {} req/s for {} s over {} + {} devices ({} requests sent, {} skipped); {} cores ({}), process CPU {:.1} % of one core",
        options.rate,
        options.seconds,
        options.devices,
        options.devices,
        sent.0,
        sent.1,
        cores(),
        cpu_model(),
        100.0 * cpu.as_secs_f64() / options.seconds as f64,
    );
    print_class("0 ms", &instant.delay_histograms());
    print_class("50 ms", &delayed.delay_histograms());
    instant.shutdown().await;
    delayed.shutdown().await;
    client_service.shutdown().await;
    service.shutdown().await;
    Ok(())
}

/// Sends one GET per tick at `rate` for `seconds`, round-robin over `targets`, then waits
/// (bounded) for the answers. Returns (sent, skipped for too many in flight).
async fn pace(client: &CoapClient, targets: &[SocketAddr], options: &Options) -> (u64, u64) {
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let period = Duration::from_nanos(1_000_000_000 / options.rate);
    let total = options.rate * options.seconds;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut skipped) = (0u64, 0u64);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        ticks.tick().await;
        let Some(&target) = targets.get((n as usize) % targets.len().max(1)) else {
            break;
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let client = client.clone();
        sent += 1;
        tasks.spawn(async move {
            let request = new_request(RequestType::Get, &["3", "0", "0"]);
            let _ = tokio::time::timeout(
                Duration::from_secs(10),
                client.request(target, request, RequestOptions::default()),
            )
            .await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    (sent, skipped)
}
