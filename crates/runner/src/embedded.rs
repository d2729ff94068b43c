//! Starting the fleet (and, in embedded mode, the mock gateway) for a run, and stopping them.
//! The runner links the gateway and fleet crates only for this; it measures over HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use fleetbench_fleet::{BehaviourProfile, DelayDistribution, FleetConfig, RunningFleet};
use fleetbench_gateway::{GatewayConfig, RunningGateway};

use crate::plan::rng::{Purpose, derive_seed};
use crate::scenario::{Delay, DeviceClass, Fleet, Profile};

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

/// Starts the mock gateway on loopback with free ports.
pub async fn start_gateway() -> Result<EmbeddedGateway, fleetbench_gateway::GatewayError> {
    let config = GatewayConfig::default();
    let token = config.tokens.first().cloned().unwrap_or_default();
    let gateway = fleetbench_gateway::start(config).await?;
    let url = format!("http://{}", gateway.http_addr());
    Ok(EmbeddedGateway {
        gateway,
        url,
        token,
    })
}

/// The fleet crate's profile for a scenario profile.
pub fn behaviour(profile: &Profile) -> BehaviourProfile {
    let delay = match profile.delay {
        Delay::Fixed(d) => DelayDistribution::Fixed(d),
        Delay::Uniform { min, max } => DelayDistribution::Uniform { min, max },
        Delay::Normal { mean, std_dev } => DelayDistribution::Normal { mean, std_dev },
        Delay::LogNormal { median, sigma } => DelayDistribution::LogNormal {
            mu: median.as_secs_f64().ln(),
            sigma,
        },
        Delay::Exponential { mean } => DelayDistribution::Exponential { mean },
    };
    BehaviourProfile {
        delay,
        failure_ratio: profile.failure_ratio,
        no_reply_ratio: profile.no_reply_ratio,
        ..BehaviourProfile::default()
    }
}

/// The fleet configuration of device class `index`, registering with `server`.
pub fn fleet_config(
    fleet: &Fleet,
    class: &DeviceClass,
    index: usize,
    seed: u64,
    server: SocketAddr,
) -> FleetConfig {
    FleetConfig {
        server,
        devices: class.count,
        sub_devices: class.sub_devices,
        endpoint_prefix: class.endpoint_prefix.clone(),
        seed: derive_seed(seed, Purpose::Fleet, &[index as u64]),
        profile: behaviour(&class.profile),
        lifetime: fleet.lifetime,
        registration_spread: fleet.registration_spread,
        ..FleetConfig::default()
    }
}

/// Starts one fleet per device class; on failure stops the ones already started.
pub async fn start_fleets(
    fleet: &Fleet,
    seed: u64,
    server: SocketAddr,
) -> Result<Vec<RunningFleet>, fleetbench_fleet::FleetError> {
    let mut running = Vec::with_capacity(fleet.classes.len());
    for (index, class) in fleet.classes.iter().enumerate() {
        match fleetbench_fleet::start(fleet_config(fleet, class, index, seed, server)).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_median_maps_to_mu() {
        let p = Profile {
            delay: Delay::LogNormal {
                median: Duration::from_millis(20),
                sigma: 0.5,
            },
            failure_ratio: 0.1,
            no_reply_ratio: 0.2,
        };
        let b = behaviour(&p);
        match b.delay {
            DelayDistribution::LogNormal { mu, sigma } => {
                assert!((mu.exp() - 0.020).abs() < 1e-12);
                assert_eq!(sigma, 0.5);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((b.failure_ratio, b.no_reply_ratio), (0.1, 0.2));
    }
}
