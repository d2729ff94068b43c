//! Starting a fleet (one task per device; one socket per device, or a few shared sockets in
//! the multiplexed mode) and stopping it.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use fleetbench_lwm2m::clock::{Clock, TokioClock};
use fleetbench_lwm2m::transport::DatagramTransport;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::bind::SocketBinder;
use crate::device::{Device, DeviceRole, DeviceSpec};
use crate::driver::{DeviceDriver, DriverParts, Shared};
use crate::impaired::ImpairedTransport;
use crate::mux::socket::run_demux;
use crate::mux::{DemuxTable, Inbox, MuxSocket, MuxTransport, address_plan};
use crate::precise_timer::ReplyTimer;
use crate::profile::{Behaviour, BehaviourProfile};
use crate::registration::Registration;
use crate::seeds::{self, Purpose};
use crate::stats::{DelayHistograms, FleetStats};
use crate::{FleetConfig, FleetError, SocketMode, SubDeviceMode, limits};

/// Extra time [`RunningFleet::shutdown`] waits for tasks beyond the de-register timeout.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running fleet.
#[derive(Debug)]
pub struct RunningFleet {
    shared: Arc<Shared>,
    expected: usize,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    /// The demultiplexer tasks of the shared sockets (multiplexed mode); stopped after the
    /// devices, which need them to de-register.
    mux_tasks: JoinSet<()>,
    socket_mode: SocketMode,
    shared_sockets: Vec<SocketAddr>,
    addresses: Vec<SocketAddr>,
    endpoints: Vec<String>,
    sub_device_addresses: Vec<SocketAddr>,
    sub_devices: usize,
    deregister_timeout: Duration,
}

impl RunningFleet {
    /// The reply delays the devices applied so far (µs): `applied` from each request's
    /// arrival at its device to the reply being handed to the socket, and `error_us` =
    /// applied − intended (the profile's delay). Requests answered at once count with an
    /// intended delay of 0.
    pub fn delay_histograms(&self) -> DelayHistograms {
        self.shared.delay_histograms()
    }

    /// Endpoints currently registered (devices, plus sub-devices in per-endpoint mode).
    pub fn registered(&self) -> usize {
        *self.shared.registered.borrow()
    }

    /// How many endpoints register: the devices, plus their sub-devices in per-endpoint mode.
    pub fn endpoint_count(&self) -> usize {
        self.expected
    }

    /// Waits until every endpoint has registered, or fails after `timeout`.
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

    /// The local address of the socket of this fleet's `index`-th device (its position in
    /// this shard's [`Self::endpoints`], which is the device index when unsharded).
    pub fn device_address(&self, index: usize) -> Option<SocketAddr> {
        self.addresses.get(index).copied()
    }

    /// The local address of sub-device `sub_device` of device `index` in per-endpoint mode
    /// (`None` in Object 25 mode, where sub-devices share their gateway's socket).
    pub fn sub_device_address(&self, index: usize, sub_device: usize) -> Option<SocketAddr> {
        if sub_device >= self.sub_devices {
            return None;
        }
        self.sub_device_addresses
            .get(
                index
                    .checked_mul(self.sub_devices)?
                    .checked_add(sub_device)?,
            )
            .copied()
    }

    /// The socket mode in use ([`SocketMode::Auto`] resolved).
    pub fn socket_mode(&self) -> SocketMode {
        self.socket_mode
    }

    /// The bound addresses of the shared sockets (multiplexed mode; empty otherwise).
    pub fn shared_sockets(&self) -> &[SocketAddr] {
        &self.shared_sockets
    }

    /// The endpoint client names of the devices (gateways), in device order.
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
        self.mux_tasks.shutdown().await;
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

    /// The reply delays applied so far (see [`RunningFleet::delay_histograms`]).
    pub fn delay_histograms(&self) -> DelayHistograms {
        self.shared.delay_histograms()
    }
}

/// Binds every socket (or the few shared ones in the multiplexed mode) and starts the
/// devices (and, in per-endpoint mode, their sub-devices).
pub async fn start(config: FleetConfig) -> Result<RunningFleet, FleetError> {
    config.validate()?;
    let endpoints_total = config.endpoint_count();
    let mode = config.effective_socket_mode();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock);
    let shared = Arc::new(Shared::new());
    let (stop, stop_rx) = watch::channel(false);
    let mut mux_tasks = JoinSet::new();
    let mut shared_sockets = Vec::new();
    let sockets = if mode == SocketMode::Multiplexed {
        let count = config.multiplexed_socket_count();
        limits::check_socket_budget(count, true)?;
        let (transports, sockets) =
            multiplexed_transports(endpoints_total, count, &shared, &mut mux_tasks)?;
        shared_sockets = sockets;
        EndpointSockets::Shared(transports)
    } else {
        limits::check_socket_budget(endpoints_total, false)?;
        let mut binder = SocketBinder::new(&config.bind_ips).with_cap(config.max_sockets_per_ip);
        let mut sockets = Vec::with_capacity(endpoints_total);
        for _ in 0..endpoints_total {
            let socket = binder.bind_next().await?;
            let address = socket.local_addr().map_err(|source| FleetError::Bind {
                addr: SocketAddr::new(binder.ips()[0], 0),
                source,
            })?;
            sockets.push((socket, address));
        }
        EndpointSockets::Own(sockets)
    };
    let sockets_mode = mode;
    Ok(launch(
        &config,
        Launch {
            clock,
            shared,
            stop,
            stop_rx,
            mux_tasks,
            mode: sockets_mode,
            shared_sockets,
        },
        |starter, tasks| match sockets {
            EndpointSockets::Own(sockets) => starter.spawn_all(tasks, sockets),
            EndpointSockets::Shared(transports) => starter.spawn_all(tasks, transports),
        },
    ))
}

/// Starts the devices over transports made by `bind` (called once per endpoint, in order:
/// each device, followed in per-endpoint mode by its sub-devices) instead of UDP sockets:
/// an in-memory network for virtual-time runs. No open-file limit applies.
pub fn start_over<T: DatagramTransport>(
    config: FleetConfig,
    mut bind: impl FnMut(usize) -> std::io::Result<T>,
) -> Result<RunningFleet, FleetError> {
    config.validate()?;
    let mut sockets = Vec::with_capacity(config.endpoint_count());
    for index in 0..config.endpoint_count() {
        let unbound = SocketAddr::from(([0, 0, 0, 0], 0));
        let socket = bind(index).map_err(|source| FleetError::Bind {
            addr: unbound,
            source,
        })?;
        let address = socket.local_addr().map_err(|source| FleetError::Bind {
            addr: unbound,
            source,
        })?;
        sockets.push((socket, address));
    }
    let (stop, stop_rx) = watch::channel(false);
    Ok(launch(
        &config,
        Launch {
            clock: Arc::new(TokioClock),
            shared: Arc::new(Shared::new()),
            stop,
            stop_rx,
            mux_tasks: JoinSet::new(),
            mode: SocketMode::PerDevice,
            shared_sockets: Vec::new(),
        },
        |starter, tasks| starter.spawn_all(tasks, sockets),
    ))
}

/// What [`launch`] needs besides the endpoints' transports.
struct Launch {
    clock: Arc<dyn Clock>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    mux_tasks: JoinSet<()>,
    mode: SocketMode,
    shared_sockets: Vec<SocketAddr>,
}

/// Spawns every endpoint's task through `spawn` and assembles the running fleet.
fn launch(
    config: &FleetConfig,
    parts: Launch,
    spawn: impl FnOnce(&Starter<'_>, &mut JoinSet<()>) -> Placed,
) -> RunningFleet {
    // Registration times count from here, after every socket is bound, so that binding many
    // sockets does not eat into the spread.
    let now = parts.clock.now();
    let profile = Arc::new(config.profile.clone());
    let starter = Starter {
        config,
        profile: &profile,
        shared: &parts.shared,
        clock: &parts.clock,
        stop: &parts.stop_rx,
        now,
        reply_timer: ReplyTimer::for_current_runtime(),
    };
    let mut tasks = JoinSet::new();
    let placed = spawn(&starter, &mut tasks);
    let per_endpoint = config.sub_device_mode == SubDeviceMode::PerEndpoint;
    RunningFleet {
        shared: parts.shared,
        expected: config.endpoint_count(),
        stop: parts.stop,
        tasks,
        mux_tasks: parts.mux_tasks,
        socket_mode: parts.mode,
        shared_sockets: parts.shared_sockets,
        addresses: placed.addresses,
        endpoints: placed.endpoints,
        sub_device_addresses: placed.sub_device_addresses,
        sub_devices: if per_endpoint { config.sub_devices } else { 0 },
        deregister_timeout: config.deregister_timeout,
    }
}

/// Every endpoint's handle on a shared socket and its address, in start order.
type SharedEndpoints = Vec<(MuxTransport, SocketAddr)>;

/// Every endpoint's transport, in start order.
enum EndpointSockets {
    Own(Vec<(UdpSocket, SocketAddr)>),
    Shared(SharedEndpoints),
}

/// Where the started endpoints are.
struct Placed {
    addresses: Vec<SocketAddr>,
    endpoints: Vec<String>,
    sub_device_addresses: Vec<SocketAddr>,
}

/// Binds `socket_count` wildcard sockets, gives endpoint `n` the address
/// [`address_plan::endpoint_ip`]`(n)` on socket `n % socket_count`, and starts one
/// demultiplexer task per socket in `mux_tasks`.
fn multiplexed_transports(
    endpoints: usize,
    socket_count: usize,
    shared: &Arc<Shared>,
    mux_tasks: &mut JoinSet<()>,
) -> Result<(SharedEndpoints, Vec<SocketAddr>), FleetError> {
    let wildcard = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut sockets = Vec::with_capacity(socket_count);
    for _ in 0..socket_count.max(1) {
        let socket = MuxSocket::bind(wildcard).map_err(|source| FleetError::Bind {
            addr: wildcard,
            source,
        })?;
        let address = socket.local_addr().map_err(|source| FleetError::Bind {
            addr: wildcard,
            source,
        })?;
        sockets.push((Arc::new(socket), address, DemuxTable::new()));
    }
    let mut transports = Vec::with_capacity(endpoints);
    for index in 0..endpoints {
        let ip = address_plan::endpoint_ip(index).ok_or(FleetError::InvalidConfig {
            field: "devices",
            value: endpoints.to_string(),
            reason: "more endpoints than the multiplexed address plan holds",
        })?;
        let Some((socket, address, table)) = sockets.get_mut(index % socket_count.max(1)) else {
            break;
        };
        let inbox = Arc::new(Inbox::new());
        table.insert(ip, Arc::clone(&inbox));
        let local = SocketAddrV4::new(ip, address.port());
        transports.push((
            MuxTransport::new(local, inbox, Arc::clone(socket)),
            SocketAddr::V4(local),
        ));
    }
    let mut addresses = Vec::with_capacity(sockets.len());
    for (socket, address, table) in sockets {
        addresses.push(address);
        mux_tasks.spawn(run_demux(socket, Arc::new(table), Arc::clone(shared)));
    }
    Ok((transports, addresses))
}

/// The seeds of one endpoint, one per purpose.
struct EndpointSeeds {
    model: u64,
    registration: u64,
    endpoint: u64,
    behaviour: u64,
    churn: u64,
    link: u64,
}

/// What every endpoint of one fleet is started with.
struct Starter<'a> {
    config: &'a FleetConfig,
    profile: &'a Arc<BehaviourProfile>,
    shared: &'a Arc<Shared>,
    clock: &'a Arc<dyn Clock>,
    stop: &'a watch::Receiver<bool>,
    now: Instant,
    reply_timer: ReplyTimer,
}

impl Starter<'_> {
    /// Starts every endpoint on its transport, in start order: device `i`, then (per-endpoint
    /// mode) its sub-devices.
    fn spawn_all<T: DatagramTransport>(
        &self,
        tasks: &mut JoinSet<()>,
        sockets: Vec<(T, SocketAddr)>,
    ) -> Placed {
        let config = self.config;
        let per_endpoint = config.sub_device_mode == SubDeviceMode::PerEndpoint;
        let mut sockets = sockets.into_iter();
        let mut placed = Placed {
            addresses: Vec::with_capacity(config.devices),
            endpoints: Vec::with_capacity(config.devices),
            sub_device_addresses: Vec::new(),
        };
        for index in config.shard.indices(config.devices) {
            let Some((socket, address)) = sockets.next() else {
                break;
            };
            let endpoint = config.endpoint_name(index);
            let id = index as u64;
            let seeds = EndpointSeeds {
                model: seeds::derive(config.seed, Purpose::Model, id),
                registration: seeds::derive(config.seed, Purpose::Registration, id),
                endpoint: seeds::derive(config.seed, Purpose::Endpoint, id),
                behaviour: seeds::derive(config.seed, Purpose::Behaviour, id),
                churn: seeds::derive(config.seed, Purpose::Churn, id),
                link: seeds::derive(config.seed, Purpose::Link, id),
            };
            let spec = self.spec(&endpoint, seeds.model, address, DeviceRole::Gateway);
            self.spawn(tasks, socket, spec, &seeds);
            placed.addresses.push(address);
            if per_endpoint {
                let parent_seed = seeds::derive(config.seed, Purpose::SubDevice, id);
                for k in 0..config.sub_devices {
                    let Some((socket, address)) = sockets.next() else {
                        break;
                    };
                    let name = crate::sub_device_name(&endpoint, k);
                    let sub = k as u64;
                    let seeds = EndpointSeeds {
                        model: seeds::derive(parent_seed, Purpose::Model, sub),
                        registration: seeds::derive(parent_seed, Purpose::Registration, sub),
                        endpoint: seeds::derive(parent_seed, Purpose::Endpoint, sub),
                        behaviour: seeds::derive(parent_seed, Purpose::Behaviour, sub),
                        churn: seeds::derive(parent_seed, Purpose::Churn, sub),
                        link: seeds::derive(parent_seed, Purpose::Link, sub),
                    };
                    let role = DeviceRole::SubDeviceEndpoint {
                        parent: endpoint.clone(),
                        index: k,
                    };
                    let spec = self.spec(&name, seeds.model, address, role);
                    self.spawn(tasks, socket, spec, &seeds);
                    placed.sub_device_addresses.push(address);
                }
            }
            placed.endpoints.push(endpoint);
        }
        placed
    }

    fn spec(&self, endpoint: &str, seed: u64, address: SocketAddr, role: DeviceRole) -> DeviceSpec {
        let config = self.config;
        let per_endpoint = config.sub_device_mode == SubDeviceMode::PerEndpoint;
        DeviceSpec {
            endpoint: endpoint.to_owned(),
            seed,
            lifetime: config.lifetime,
            sub_devices: if per_endpoint || role != DeviceRole::Gateway {
                0
            } else {
                config.sub_devices
            },
            role,
            server_uri: format!("coap://{}", config.server),
            queue_mode: config.queue_mode,
            sample_period: config.profile.sample_period,
            default_pmin: 0,
            default_pmax: u32::try_from(config.profile.notification_period.as_secs())
                .unwrap_or(u32::MAX),
            firmware_failures: config.profile.firmware_failures.clone(),
            local_ip: Some(address.ip()),
            root_content_formats: config.root_content_formats.clone(),
            send: config.send.clone(),
        }
    }

    fn spawn<T: DatagramTransport>(
        &self,
        tasks: &mut JoinSet<()>,
        socket: T,
        spec: DeviceSpec,
        seeds: &EndpointSeeds,
    ) {
        let config = self.config;
        let mut jitter_rng = ChaCha8Rng::seed_from_u64(seeds.registration);
        let jitter = if config.registration_spread.is_zero() {
            Duration::ZERO
        } else {
            config
                .registration_spread
                .mul_f64(jitter_rng.random_range(0.0..1.0))
        };
        let registration = Registration::new(
            &spec.endpoint,
            config.lifetime,
            self.now + jitter,
            config.retry,
            jitter_rng.random(),
        )
        .with_queue_mode(config.queue_mode)
        .with_update_period(config.update_period);
        let device = Device::new(&spec, self.now);
        let link = &config.profile.link;
        if link.is_perfect() {
            self.spawn_driver(tasks, socket, device, registration, seeds);
        } else {
            let socket =
                ImpairedTransport::new(socket, link.clone(), seeds.link, Arc::clone(self.shared));
            self.spawn_driver(tasks, socket, device, registration, seeds);
        }
    }

    fn spawn_driver<T: DatagramTransport>(
        &self,
        tasks: &mut JoinSet<()>,
        socket: T,
        device: Device,
        registration: Registration,
        seeds: &EndpointSeeds,
    ) {
        let config = self.config;
        let driver = DeviceDriver::new(DriverParts {
            socket,
            server: config.server,
            endpoint_config: config.coap.clone(),
            endpoint_seed: seeds.endpoint,
            device,
            behaviour: Behaviour::new(Arc::clone(self.profile), seeds.behaviour),
            registration,
            deregister_timeout: config.deregister_timeout,
            queue_awake_window: config.queue_mode.then_some(config.queue_awake_window),
            churn_seed: seeds.churn,
            shared: Arc::clone(self.shared),
            clock: Arc::clone(self.clock),
            reply_timer: self.reply_timer,
        });
        tasks.spawn(driver.run(self.stop.clone()));
    }
}
