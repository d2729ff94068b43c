//! `fleetbench fleet`: the fleet alone, against any LwM2M server.

use std::time::Duration;

use fleetbench_fleet::{BehaviourProfile, DelayDistribution, FleetConfig, SubDeviceMode};

use crate::cli::{FleetArgs, SubDeviceModeArg};
use crate::coap_url::resolve_coap_url;
use crate::exit_code;

/// Starts the fleet, waits for registrations, and runs until Ctrl-C, then de-registers.
pub async fn run(args: FleetArgs) -> u8 {
    let server = match resolve_coap_url(&args.server).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: --server: {error}");
            return exit_code::INVALID_INPUT;
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
            return exit_code::ERROR;
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
            return exit_code::OK;
        }
    }
    super::shutdown_signal().await;
    println!("de-registering {} devices", fleet.registered());
    fleet.shutdown().await;
    exit_code::OK
}
