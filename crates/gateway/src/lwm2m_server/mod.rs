//! The LwM2M server: one UDP socket (through the CoAP service) carrying the Registration
//! interface from devices and the gateway's requests to them. Implements the engine's
//! [`DeviceLink`](crate::engine::DeviceLink) as [`CoapLink`].

pub mod discovery;
pub mod link;
pub mod rate_limit;
pub mod rd;
pub mod registry;
pub mod transfer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fleetbench_lwm2m::coap::service::{CoapClient, CoapService, IncomingRequest, ServiceConfig};
use fleetbench_lwm2m::transport::DatagramTransport;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use link::CoapLink;

use self::discovery::Discoveries;
use self::rate_limit::RateLimiter;
use self::rd::RdHandler;
use self::registry::Registry;
use crate::config::GatewayConfig;
use crate::model::Timestamp;
use crate::model::token::TokenSource;
use crate::state::GatewayState;

/// Mixed into the gateway seed for registration locations (see
/// [`GatewayConfig::seeded_tokens`]).
const LOCATION_TOKEN_SALT: u64 = 0x6c6f_6361_7469_6f6e;

/// How often lapsed registrations are swept and CoAP counters copied to the metrics.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How often inactive devices past their retention are looked for (at most).
pub const EVICTION_INTERVAL: Duration = Duration::from_secs(10);

/// Most source addresses whose Register rate is tracked.
pub const RATE_TABLE_CAPACITY: usize = 100_000;

/// A running LwM2M server.
#[derive(Debug)]
pub struct Lwm2mServer {
    local_addr: SocketAddr,
    service: Arc<CoapService>,
    registry: Arc<Registry>,
    link: CoapLink,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Lwm2mServer {
    /// Binds the UDP socket on `addr` and starts serving registrations with the CoAP
    /// parameters, seed, registration grace and discovery bound of `config`. A registration
    /// lapses `lifetime + registration_grace` after its last Register or Update.
    pub async fn bind(
        addr: SocketAddr,
        state: Arc<GatewayState>,
        config: &GatewayConfig,
    ) -> std::io::Result<Self> {
        let (service, client, incoming) =
            CoapService::bind(addr, service_config(config), config.seed).await?;
        Ok(Self::serve(service, client, incoming, state, config))
    }

    /// Like [`Lwm2mServer::bind`], over a given datagram transport (an in-memory network
    /// for virtual-time runs) instead of a UDP socket.
    pub fn start_over<T: DatagramTransport>(
        transport: T,
        state: Arc<GatewayState>,
        config: &GatewayConfig,
    ) -> std::io::Result<Self> {
        let (service, client, incoming) =
            CoapService::start(transport, service_config(config), config.seed)?;
        Ok(Self::serve(service, client, incoming, state, config))
    }

    fn serve(
        service: CoapService,
        client: CoapClient,
        mut incoming: mpsc::Receiver<IncomingRequest>,
        state: Arc<GatewayState>,
        config: &GatewayConfig,
    ) -> Self {
        let local_addr = service.local_addr();
        let service = Arc::new(service);
        let registry = Arc::new(Registry::with_tokens(TokenSource::new(
            config.seeded_tokens,
            config.seed ^ LOCATION_TOKEN_SALT,
        )));
        let (stop, stopped) = watch::channel(false);
        let handler = RdHandler {
            state: state.clone(),
            registry: registry.clone(),
            client: client.clone(),
            grace: config.registration_grace,
            discoveries: Arc::new(Discoveries::new(config.discovery_concurrency)),
            limiter: Arc::new(RateLimiter::new(config.register_rate, RATE_TABLE_CAPACITY)),
            max_payload: config.max_register_payload,
        };
        let mut stop_requests = stopped.clone();
        let requests = tokio::spawn(async move {
            loop {
                tokio::select! {
                    request = incoming.recv() => match request {
                        Some(request) => handler.handle(request),
                        None => break,
                    },
                    _ = stop_requests.wait_for(|stop| *stop) => break,
                }
            }
        });
        let sweeper = tokio::spawn(sweep(
            state,
            registry.clone(),
            service.clone(),
            config.inactive_device_retention,
            stopped,
        ));
        Self {
            local_addr,
            service,
            link: CoapLink::new(client, registry.clone()),
            registry,
            stop,
            tasks: vec![requests, sweeper],
        }
    }

    /// The engine's link to registered devices.
    pub fn link(&self) -> CoapLink {
        self.link.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live registrations.
    pub fn registrations(&self) -> usize {
        self.registry.len()
    }

    /// Ends every registration, stops the tasks and the socket.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        self.registry.stop_all();
        for task in self.tasks {
            let _ = task.await;
        }
        drop(self.link);
        if let Ok(service) = Arc::try_unwrap(self.service) {
            service.shutdown().await;
        }
    }
}

fn service_config(config: &GatewayConfig) -> ServiceConfig {
    ServiceConfig {
        endpoint: config.coap.clone(),
        ..ServiceConfig::default()
    }
}

async fn sweep(
    state: Arc<GatewayState>,
    registry: Arc<Registry>,
    service: Arc<CoapService>,
    retention: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut last_eviction = state.clock.now();
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        for registration in registry.expire(state.clock.now()) {
            state
                .devices
                .set_active(&registration.device_id, false, state.now());
            state
                .metrics
                .registration_expiries
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(endpoint = %registration.endpoint, "registration lifetime expired");
        }
        state
            .metrics
            .coap_retransmissions
            .store(service.stats().retransmissions, Ordering::Relaxed);
        let now = state.clock.now();
        if now.duration_since(last_eviction) >= EVICTION_INTERVAL.min(retention) {
            last_eviction = now;
            let before = state.clock.now_utc() - retention;
            let forgotten = state.devices.evict_inactive(Timestamp::new(before));
            if forgotten > 0 {
                tracing::info!(
                    forgotten,
                    "inactive LwM2M devices forgotten after the retention"
                );
            }
        }
    }
}
