//! `fleetbench fleet`: the fleet alone, against any LwM2M server.

use std::time::Duration;

use fleetbench_fleet::{BehaviourProfile, DelayDistribution, FleetConfig, SubDeviceMode};

use crate::cli::{FleetArgs, SubDeviceModeArg};
use crate::coap_url::resolve_coap_url;
use fleetbench_runner::ExitStatus;
use fleetbench_runner::plan::Shard;

/// Starts the fleet, waits for registrations, and runs until Ctrl-C, then de-registers.
pub async fn run(args: FleetArgs) -> ExitStatus {
    let server = match resolve_coap_url(&args.server).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: --server: {error}");
            return ExitStatus::InvalidInput;
        }
    };
    let shard = match args.shard.as_deref().map(Shard::from_arg).transpose() {
        Ok(shard) => shard.unwrap_or(Shard::WHOLE),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::InvalidInput;
        }
    };
    let devices = shard.devices().len(args.devices as usize);
    if devices == 0 {
        eprintln!(
            "error: --shard {shard}: no device of --devices {} falls in this shard",
            args.devices
        );
        return ExitStatus::InvalidInput;
    }
    let config = FleetConfig {
        server,
        devices: args.devices as usize,
        shard: shard.devices(),
        bind_ips: if args.bind.is_empty() {
            FleetConfig::default().bind_ips
        } else {
            args.bind.clone()
        },
        sub_devices: args.sub_devices as usize,
        endpoint_prefix: args.endpoint_prefix,
        seed: args.seed,
        profile: BehaviourProfile {
            delay: DelayDistribution::Fixed(args.delay),
            failure_ratio: args.failure_ratio,
            ..BehaviourProfile::default()
        },
        lifetime: args.lifetime,
        registration_spread: args.spread,
        sub_device_mode: match args.sub_device_mode {
            SubDeviceModeArg::Object25 => SubDeviceMode::Object25,
            SubDeviceModeArg::PerEndpoint => SubDeviceMode::PerEndpoint,
        },
        queue_mode: args.queue_mode,
        ..FleetConfig::default()
    };
    let fleet = match fleetbench_fleet::start(config).await {
        Ok(fleet) => fleet,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::Error;
        }
    };
    println!("fleetbench fleet: {devices} devices registering with coap://{server}");
    let registration_wait = args.spread + Duration::from_secs(60);
    tokio::select! {
        result = fleet.wait_registered(registration_wait) => match result {
            Ok(()) => println!("all {devices} devices registered; press Ctrl-C to de-register and stop"),
            Err(error) => eprintln!("warning: {error}; devices keep trying"),
        },
        () = super::shutdown_signal() => {
            fleet.shutdown().await;
            return ExitStatus::Passed;
        }
    }
    super::shutdown_signal().await;
    println!("de-registering {} devices", fleet.registered());
    fleet.shutdown().await;
    ExitStatus::Passed
}
