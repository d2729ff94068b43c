//! Starting a fleet (one socket and one task per device) and stopping it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fleetbench_lwm2m::clock::{Clock, TokioClock};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::bind::SocketBinder;
use crate::device::{Device, DeviceSpec};
use crate::driver::{DeviceDriver, DriverParts, Shared};
use crate::profile::Behaviour;
use crate::registration::Registration;
use crate::seeds::{self, Purpose};
use crate::stats::FleetStats;
use crate::{FleetConfig, FleetError, limits};

/// Extra time [`RunningFleet::shutdown`] waits for tasks beyond the de-register timeout.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running fleet.
#[derive(Debug)]
pub struct RunningFleet {
    shared: Arc<Shared>,
    expected: usize,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    addresses: Vec<SocketAddr>,
    endpoints: Vec<String>,
    deregister_timeout: Duration,
}

impl RunningFleet {
    /// Devices currently registered.
    pub fn registered(&self) -> usize {
        *self.shared.registered.borrow()
    }

    /// Waits until every device has registered, or fails after `timeout`.
    pub async fn wait_registered(&self, timeout: Duration) -> Result<(), FleetError> {
        let mut registered = self.shared.registered.subscribe();
        let expected = self.expected;
        match tokio::time::timeout(timeout, registered.wait_for(|count| *count >= expected)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(FleetError::RegistrationTimeout {
                registered: self.registered(),
                expected,
                waited: timeout,
            }),
        }
    }

    /// A watch of the registered count (for progress displays).
    pub fn registered_watch(&self) -> watch::Receiver<usize> {
        self.shared.registered.subscribe()
    }

    /// What the devices did so far.
    pub fn stats(&self) -> FleetStats {
        self.shared.counters.snapshot()
    }

    /// A handle that keeps reading the counters after [`Self::shutdown`] consumed the fleet.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The local address of device `index`'s socket.
    pub fn device_address(&self, index: usize) -> Option<SocketAddr> {
        self.addresses.get(index).copied()
    }

    /// The endpoint client names, in device order.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// De-registers every device and stops. Waits at most the de-register timeout plus a
    /// short grace period, then aborts the tasks that are left.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let deadline = self.deregister_timeout + SHUTDOWN_GRACE;
        let drained = tokio::time::timeout(deadline, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = self.tasks.len(),
                "device tasks still running after shutdown timeout; aborting"
            );
            self.tasks.shutdown().await;
        }
    }
}

/// Reads a fleet's counters, also after shutdown.
#[derive(Debug, Clone)]
pub struct StatsHandle {
    shared: Arc<Shared>,
}

impl StatsHandle {
    /// What the devices did so far.
    pub fn snapshot(&self) -> FleetStats {
        self.shared.counters.snapshot()
    }

    /// Devices registered now.
    pub fn registered(&self) -> usize {
        *self.shared.registered.borrow()
    }
}

/// Binds every device socket and starts the devices.
pub async fn start(config: FleetConfig) -> Result<RunningFleet, FleetError> {
    config.validate()?;
    match limits::raise_open_file_limit() {
        Ok(limit) if (limit.soft as usize) < config.devices + 64 => tracing::warn!(
            soft = limit.soft,
            devices = config.devices,
            "the open-file limit may be too low for one socket per device"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "cannot read the open-file limit"),
    }
    let clock: Arc<dyn Clock> = Arc::new(TokioClock);
    let shared = Arc::new(Shared::new());
    let (stop, stop_rx) = watch::channel(false);
    let mut binder = SocketBinder::new(&config.bind_ips);
    let mut tasks = JoinSet::new();
    let mut addresses = Vec::with_capacity(config.devices);
    let mut endpoints = Vec::with_capacity(config.devices);
    let mut sockets = Vec::with_capacity(config.devices);
    for _ in 0..config.devices {
        let socket = binder.bind_next().await?;
        let address = socket.local_addr().map_err(|source| FleetError::Bind {
            addr: SocketAddr::new(binder.ips()[0], 0),
            source,
        })?;
        sockets.push((socket, address));
    }
    // Registration times count from here, after every socket is bound, so that binding many
    // sockets does not eat into the spread.
    let now = clock.now();
    for (index, (socket, address)) in sockets.into_iter().enumerate() {
        let endpoint = config.endpoint_name(index);
        let id = index as u64;
        let spec = DeviceSpec {
            endpoint: endpoint.clone(),
            seed: seeds::derive(config.seed, Purpose::Model, id),
            lifetime: config.lifetime,
            sub_devices: config.sub_devices,
        };
        let registration_seed = seeds::derive(config.seed, Purpose::Registration, id);
        let mut jitter_rng = ChaCha8Rng::seed_from_u64(registration_seed);
        let jitter = if config.registration_spread.is_zero() {
            Duration::ZERO
        } else {
            config
                .registration_spread
                .mul_f64(jitter_rng.random_range(0.0..1.0))
        };
        let registration = Registration::new(
            &endpoint,
            config.lifetime,
            now + jitter,
            config.retry,
            jitter_rng.random(),
        );
        let driver = DeviceDriver::new(DriverParts {
            socket,
            server: config.server,
            endpoint_config: config.coap.clone(),
            endpoint_seed: seeds::derive(config.seed, Purpose::Endpoint, id),
            device: Device::new(&spec, now),
            behaviour: Behaviour::new(
                config.profile.clone(),
                seeds::derive(config.seed, Purpose::Behaviour, id),
            ),
            registration,
            deregister_timeout: config.deregister_timeout,
            shared: Arc::clone(&shared),
            clock: Arc::clone(&clock),
        });
        tasks.spawn(driver.run(stop_rx.clone()));
        addresses.push(address);
        endpoints.push(endpoint);
    }
    Ok(RunningFleet {
        shared,
        expected: config.devices,
        stop,
        tasks,
        addresses,
        endpoints,
        deregister_timeout: config.deregister_timeout,
    })
}
