//! Starting the fleet (and, in embedded mode, the mock gateway) for a run, and stopping them.
//! The runner links the gateway and fleet crates only for this; it measures over HTTP.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use fleetbench_fleet::{FleetConfig, RunningFleet};
use fleetbench_gateway::{GatewayConfig, RunningGateway};

use crate::plan::Shard;
use crate::plan::rng::{Purpose, derive_seed};
use crate::scenario::limits::MAX_PACKAGE_BYTES;
use crate::scenario::{DeviceClass, Fleet};

/// Bound on each shutdown step.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// The embedded gateway's REST base URL, token and CoAP address.
#[derive(Debug)]
pub struct EmbeddedGateway {
    /// The running gateway.
    pub gateway: RunningGateway,
    /// `http://<addr>`.
    pub url: String,
    /// A token it accepts.
    pub token: String,
}

/// The embedded gateway's configuration: loopback, free ports, a seed derived from the
/// scenario seed, and a request-body limit that admits the largest package a scenario may
/// push (`package.bytes` up to [`MAX_PACKAGE_BYTES`]).
pub fn gateway_config(seed: u64) -> GatewayConfig {
    let defaults = GatewayConfig::default();
    let package_body = usize::try_from(MAX_PACKAGE_BYTES)
        .unwrap_or(usize::MAX)
        .saturating_add(PACKAGE_BODY_SLACK);
    GatewayConfig {
        seed: derive_seed(seed, Purpose::Gateway, &[]),
        max_body_bytes: defaults.max_body_bytes.max(package_body),
        ..defaults
    }
}

/// Room for headers and encoding around a pushed package in the upload request body.
const PACKAGE_BODY_SLACK: usize = 64 << 10;

/// Starts the mock gateway on loopback with free ports (see [`gateway_config`]).
pub async fn start_gateway(seed: u64) -> Result<EmbeddedGateway, fleetbench_gateway::GatewayError> {
    let config = gateway_config(seed);
    let token = config.tokens.first().cloned().unwrap_or_default();
    let gateway = fleetbench_gateway::start(config).await?;
    let url = format!("http://{}", gateway.http_addr());
    Ok(EmbeddedGateway {
        gateway,
        url,
        token,
    })
}

/// Where this process's share of the fleet lives: its shard and local addresses.
#[derive(Debug, Clone, Default)]
pub struct FleetPlacement {
    /// The devices of each class this process runs (see [`crate::plan::shard`]).
    pub shard: Shard,
    /// Local addresses the device sockets bind to (empty: 127.0.0.1, loopback only).
    pub bind_ips: Vec<IpAddr>,
}

/// The fleet configuration of device class `index`, registering with `server`; `placement`
/// picks this shard's devices (same names and seeds as in the single run) and addresses.
pub fn fleet_config(
    fleet: &Fleet,
    class: &DeviceClass,
    index: usize,
    seed: u64,
    server: SocketAddr,
    placement: &FleetPlacement,
) -> FleetConfig {
    let defaults = FleetConfig::default();
    FleetConfig {
        server,
        devices: class.count,
        sub_devices: class.sub_devices,
        endpoint_prefix: class.endpoint_prefix.clone(),
        seed: derive_seed(seed, Purpose::Fleet, &[index as u64]),
        profile: class.profile.to_behaviour(),
        lifetime: fleet.lifetime,
        registration_spread: fleet.registration_spread,
        sub_device_mode: class.sub_device_mode,
        queue_mode: class.queue_mode,
        queue_awake_window: class.queue_awake_window,
        update_period: class.update_period,
        shard: placement.shard.devices(),
        bind_ips: if placement.bind_ips.is_empty() {
            defaults.bind_ips.clone()
        } else {
            placement.bind_ips.clone()
        },
        ..defaults
    }
}

/// Starts one fleet per device class (this shard's devices of it; a class of which the
/// shard owns no device is skipped); on failure stops the ones already started.
pub async fn start_fleets(
    fleet: &Fleet,
    seed: u64,
    server: SocketAddr,
    placement: &FleetPlacement,
) -> Result<Vec<RunningFleet>, fleetbench_fleet::FleetError> {
    let mut running = Vec::with_capacity(fleet.classes.len());
    for (index, class) in fleet.classes.iter().enumerate() {
        let config = fleet_config(fleet, class, index, seed, server, placement);
        if config.shard.is_empty(config.devices) {
            continue;
        }
        match fleetbench_fleet::start(config).await {
            Ok(f) => running.push(f),
            Err(e) => {
                stop_fleets(running).await;
                return Err(e);
            }
        }
    }
    Ok(running)
}

/// De-registers and stops every fleet (each bounded by [`SHUTDOWN_TIMEOUT`]).
pub async fn stop_fleets(fleets: Vec<RunningFleet>) {
    for f in fleets {
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, f.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("a fleet did not shut down within {SHUTDOWN_TIMEOUT:?}");
        }
    }
}

/// Stops the embedded gateway (bounded by [`SHUTDOWN_TIMEOUT`]).
pub async fn stop_gateway(gateway: EmbeddedGateway) {
    if tokio::time::timeout(SHUTDOWN_TIMEOUT, gateway.gateway.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("the gateway did not shut down within {SHUTDOWN_TIMEOUT:?}");
    }
}

/// The UDP sockets the scenario's fleet opens: the few shared ones when it talks to a
/// loopback server (embedded), one per endpoint otherwise (counted conservatively for an
/// external server, whose address is not known here).
pub fn fleet_sockets(scenario: &crate::scenario::Scenario, embedded: bool) -> u64 {
    let server = if embedded {
        SocketAddr::from(([127, 0, 0, 1], 5683))
    } else {
        SocketAddr::from(([192, 0, 2, 1], 5683)) // TEST-NET-1: never contacted, not loopback
    };
    scenario
        .fleet
        .classes
        .iter()
        .enumerate()
        .map(|(index, class)| {
            fleet_config(
                &scenario.fleet,
                class,
                index,
                scenario.seed,
                server,
                &FleetPlacement::default(),
            )
            .socket_count() as u64
        })
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use fleetbench_fleet::{DelayDistribution, FirmwareFailure, SubDeviceMode};

    use super::*;

    #[test]
    fn every_profile_and_class_field_reaches_the_fleet() {
        let text = r#"
name = "map"
duration = "1s"
load = { model = "constant", rate = 1 }
[[fleet.classes]]
name = "a"
count = 3
sub_devices = 2
sub_device_mode = "per_endpoint"
queue_mode = true
queue_awake_window = "2s"
update_period = "5s"
profile = { reboot_downtime = "3s", notification_period = "7s", sample_period = "1s", firmware_failures = [{ result = 5, ratio = 0.25 }], link = { loss = 0.1, duplicate = 0.02, reorder = 0.05, reorder_delay = "20ms" }, churn = { offline_rate_per_hour = 2, offline_duration = { distribution = "fixed", value = "30s" }, reboot_rate_per_hour = 1 } }
[[commands]]
command_type = "reboot"
"#;
        let s = crate::Scenario::from_str(text, "map.toml").unwrap();
        let class = &s.fleet.classes[0];
        let server = SocketAddr::from(([127, 0, 0, 1], 5683));
        let c = fleet_config(&s.fleet, class, 0, 1, server, &FleetPlacement::default());
        assert_eq!(c.sub_device_mode, SubDeviceMode::PerEndpoint);
        assert!(c.queue_mode);
        assert_eq!(c.queue_awake_window, Duration::from_secs(2));
        assert_eq!(c.update_period, Some(Duration::from_secs(5)));
        let b = &c.profile;
        assert_eq!(b.reboot_downtime, Duration::from_secs(3));
        assert_eq!(b.notification_period, Duration::from_secs(7));
        assert_eq!(b.sample_period, Duration::from_secs(1));
        assert_eq!(
            b.firmware_failures,
            vec![FirmwareFailure {
                result: 5,
                ratio: 0.25
            }]
        );
        for l in [&b.link.uplink, &b.link.downlink] {
            assert_eq!((l.loss, l.duplicate, l.reorder), (0.1, 0.02, 0.05));
            assert_eq!(l.reorder_delay, Duration::from_millis(20));
        }
        assert_eq!(b.churn.offline_rate_per_hour, 2.0);
        assert_eq!(b.churn.reboot_rate_per_hour, 1.0);
        assert_eq!(
            b.churn.offline_duration,
            DelayDistribution::Fixed(Duration::from_secs(30))
        );
        assert!(b.validate().is_ok(), "the fleet accepts it");
    }
}
