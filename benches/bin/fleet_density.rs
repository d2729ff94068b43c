//! Fleet density bench: memory per device, registration-storm time, idle CPU, and CoAP
//! requests answered per second by the fleet, side by side with a raw UDP reflector measured
//! in the same run with the same client (so the figure is a ratio, robust to a noisy machine).
//!
//! ```text
//! cargo run --release -p fleetbench-benches --bin fleet-density -- --devices 10000 --sub-devices 2
//! ```
//! Loopback only; every phase is bounded in time. `--socket-mode per_device|multiplexed|auto`
//! (default auto: multiplexed on loopback) chooses how devices get their sockets; the file
//! descriptors in use after the storm are printed. The raw reflector uses at most
//! [`MAX_REFLECTORS`] sockets, whatever the device count.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, RequestType, ResponseType};
use fleetbench_benches::{cores, cpu_model, cpu_time, rss_kib};
use fleetbench_fleet::limits::open_descriptors;
use fleetbench_fleet::{FleetConfig, SocketMode, start};
use fleetbench_lwm2m::coap::service::{CoapClient, CoapService, ServiceConfig};
use fleetbench_lwm2m::coap::{EndpointConfig, RequestOptions};
use fleetbench_lwm2m::packets::{method, new_request, new_response};

/// Most raw reflector sockets (one per device would exceed the open-file limit at scale).
const MAX_REFLECTORS: usize = 2_048;

struct Options {
    socket_mode: SocketMode,
    devices: usize,
    sub_devices: usize,
    duration: Duration,
    concurrency: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        socket_mode: SocketMode::Auto,
        devices: 10_000,
        sub_devices: 2,
        duration: Duration::from_secs(10),
        concurrency: 256,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: {value:?} is not a whole number"))
        };
        match flag.as_str() {
            "--devices" => options.devices = number()?.clamp(1, 1_000_000),
            "--socket-mode" => {
                options.socket_mode = match value.as_str() {
                    "auto" => SocketMode::Auto,
                    "per_device" => SocketMode::PerDevice,
                    "multiplexed" => SocketMode::Multiplexed,
                    other => {
                        return Err(format!(
                            "--socket-mode: {other:?} is not auto, per_device or multiplexed"
                        ));
                    }
                }
            }
            "--sub-devices" => options.sub_devices = number()?.min(64),
            "--seconds" => options.duration = Duration::from_secs(number()?.clamp(1, 600) as u64),
            "--concurrency" => options.concurrency = number()?.clamp(1, 10_000),
            other => {
                return Err(format!(
                    "unknown flag {other:?} (--devices, --sub-devices, --socket-mode, --seconds, --concurrency)"
                ));
            }
        }
    }
    Ok(options)
}

/// A registrar that accepts every Register/Update/De-register.
async fn registrar() -> std::io::Result<CoapService> {
    let config = ServiceConfig {
        incoming_capacity: 65_536,
        ..ServiceConfig::default()
    };
    let (service, _client, mut incoming) =
        CoapService::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config, 1).await?;
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

/// Raw UDP reflectors: each socket answers a CoAP CON request by flipping it into a
/// piggy-backed 2.05 ACK in place (two header bytes), nothing else.
async fn reflectors(count: usize, stop: Arc<AtomicBool>) -> std::io::Result<Vec<SocketAddr>> {
    let mut addresses = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = tokio::net::UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        addresses.push(socket.local_addr()?);
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut buffer = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                    break;
                };
                if length >= 4 {
                    buffer[0] = (buffer[0] & 0xCF) | 0x20; // type ACK
                    buffer[1] = 0x45; // 2.05 Content
                    let _ = socket.send_to(&buffer[..length], peer).await;
                }
            }
        });
    }
    Ok(addresses)
}

/// Sends GETs of /3303/0/5700 round-robin over `targets` from `concurrency` workers for
/// `duration`; returns answered requests per second and failures.
async fn blast(
    client: &CoapClient,
    targets: &[SocketAddr],
    concurrency: usize,
    duration: Duration,
) -> (f64, u64) {
    let answered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let targets: Arc<Vec<SocketAddr>> = Arc::new(targets.to_vec());
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (client, answered, failed, next, targets) = (
            client.clone(),
            Arc::clone(&answered),
            Arc::clone(&failed),
            Arc::clone(&next),
            Arc::clone(&targets),
        );
        workers.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize % targets.len();
                let request = new_request(RequestType::Get, &["3303", "0", "5700"]);
                match tokio::time::timeout_at(
                    deadline,
                    client.request(targets[index], request, RequestOptions::default()),
                )
                .await
                {
                    Ok(Ok(response))
                        if matches!(
                            response.header.code,
                            MessageClass::Response(ResponseType::Content)
                        ) =>
                    {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let rate = answered.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    (rate, failed.load(Ordering::Relaxed))
}

async fn load_client() -> std::io::Result<(CoapService, CoapClient)> {
    let config = ServiceConfig {
        endpoint: EndpointConfig {
            dedup_capacity: 65_536,
            ..EndpointConfig::default()
        },
        ..ServiceConfig::default()
    };
    let (service, client, _incoming) =
        CoapService::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config, 2).await?;
    Ok((service, client))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options()?;
    println!(
        "fleet-density: {} devices x {} sub-devices; machine: {} cores ({}); loopback",
        options.devices,
        options.sub_devices,
        cores(),
        cpu_model()
    );

    let limit = fleetbench_fleet::limits::raise_open_file_limit()?;
    println!("open-file limit: {}", limit.soft);
    let registrar = registrar().await?;
    let rss_before = rss_kib();
    let fds_before = open_descriptors().unwrap_or(0);
    let started = Instant::now();
    let fleet = start(FleetConfig {
        server: registrar.local_addr(),
        devices: options.devices,
        sub_devices: options.sub_devices,
        registration_spread: Duration::ZERO,
        endpoint_prefix: "density-".into(),
        socket_mode: options.socket_mode,
        ..FleetConfig::default()
    })
    .await?;
    fleet.wait_registered(Duration::from_secs(300)).await?;
    let storm = started.elapsed();
    let rss_after = rss_kib();
    let per_device = (rss_after.saturating_sub(rss_before)) as f64 / options.devices as f64;
    println!(
        "registration storm: {} devices in {:.2} s ({:.0} registrations/s), fleet stats {:?}",
        options.devices,
        storm.as_secs_f64(),
        options.devices as f64 / storm.as_secs_f64(),
        fleet.stats().registrations
    );
    let fds_after = open_descriptors().unwrap_or(0);
    println!(
        "sockets: {:?} mode, {} shared sockets; file descriptors in use {fds_after} (fleet opened {})",
        fleet.socket_mode(),
        fleet.shared_sockets().len(),
        fds_after.saturating_sub(fds_before)
    );
    println!(
        "memory: {per_device:.1} KiB RSS per device (with its sub-devices), {} MiB in all",
        rss_after / 1024
    );

    let idle_window = Duration::from_secs(3);
    let cpu_before = cpu_time();
    tokio::time::sleep(idle_window).await;
    let idle_cpu = (cpu_time() - cpu_before).as_secs_f64() / idle_window.as_secs_f64() * 100.0;
    println!("idle CPU: {idle_cpu:.1} % of one core for the whole fleet");

    let targets: Vec<SocketAddr> = (0..options.devices)
        .filter_map(|i| fleet.device_address(i))
        .collect();
    let (client_service, client) = load_client().await?;
    let (fleet_rate, fleet_failed) =
        blast(&client, &targets, options.concurrency, options.duration).await;
    client_service.shutdown().await;
    // Free the fleet's sockets before binding as many reflector sockets.
    fleet.shutdown().await;

    let stop = Arc::new(AtomicBool::new(false));
    let echo_targets = reflectors(options.devices.min(MAX_REFLECTORS), Arc::clone(&stop)).await?;
    let (echo_service, echo_client) = load_client().await?;
    let (echo_rate, echo_failed) = blast(
        &echo_client,
        &echo_targets,
        options.concurrency,
        options.duration,
    )
    .await;
    echo_service.shutdown().await;
    stop.store(true, Ordering::Relaxed);

    println!("fleet answered: {fleet_rate:.0} CoAP requests/s ({fleet_failed} failed)");
    println!(
        "raw UDP reflector: {echo_rate:.0} requests/s ({echo_failed} failed), same client, same run"
    );
    println!(
        "ratio fleet / raw reflector: {:.2}",
        fleet_rate / echo_rate.max(1.0)
    );
    registrar.shutdown().await;
    Ok(())
}
