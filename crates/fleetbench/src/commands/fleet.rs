//! `fleetbench fleet`: the fleet alone, against any LwM2M server.

use std::time::Duration;

use fleetbench_fleet::{BehaviourProfile, DelayDistribution, FleetConfig, SubDeviceMode};

use crate::cli::{FleetArgs, SubDeviceModeArg};
use crate::coap_url::resolve_coap_url;
use fleetbench_runner::ExitStatus;

/// Starts the fleet, waits for registrations, and runs until Ctrl-C, then de-registers.
pub async fn run(args: FleetArgs) -> ExitStatus {
    let server = match resolve_coap_url(&args.server).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: --server: {error}");
            return ExitStatus::InvalidInput;
        }
    };
    let devices = args.devices as usize;
    let config = FleetConfig {
        server,
        devices,
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
