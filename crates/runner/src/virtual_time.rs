//! Virtual-time runs: the embedded gateway, the fleet and the runner in one current-thread
//! tokio runtime with the paused clock (time jumps to the next timer whenever every task is
//! idle), the fleet talking to the LwM2M server over an in-memory datagram network and the
//! runner calling the gateway's axum router in process. Latencies are modelled (device
//! profiles, link impairments, CoAP retransmission timers, schedule windows), not measured.
//! The same scenario, seed and run directory name give byte-identical `summary.json`,
//! `histograms.hlog` and `timeline.csv`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use fleetbench_lwm2m::transport::MemoryNetwork;
use tokio::time::Instant;

use crate::abort::AbortSignal;
use crate::api::InProcessGateway;
use crate::embedded;
use crate::exec::Pacing;
use crate::metrics::timeline::Progress;
use crate::plan::Plan;
use crate::report::TargetInfo;
use crate::run::{Distribution, Output, RunClock, RunError, RunOutcome, run_with_fleet};
use crate::scenario::Scenario;

/// Said in the summary's warnings (and so in the report) of every virtual-time run.
pub const MODELLED_NOTE: &str = "virtual time: latencies are modelled, not measured";

/// The LwM2M server's address on the in-memory network.
pub const SERVER_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5683);

/// Endpoints per address on the in-memory network (ports 1024..).
const PORTS_PER_ADDRESS: usize = 60_000;

/// The in-memory address of endpoint `index` of device class `class`: `10.<class+1>.x.y`.
pub fn endpoint_addr(class: usize, index: usize) -> SocketAddr {
    let host = (index / PORTS_PER_ADDRESS) as u32 + 1;
    let ip = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + (((class as u32 + 1) & 0xff) << 16) + host;
    let port = 1024 + (index % PORTS_PER_ADDRESS) as u16;
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::from(ip)), port)
}

/// How fast a virtual-time run went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedUp {
    /// Virtual time the run covered (set-up included).
    pub virtual_secs: f64,
    /// Wall time it took.
    pub wall_secs: f64,
}

impl SpeedUp {
    /// Virtual seconds per wall second.
    pub fn ratio(&self) -> f64 {
        if self.wall_secs > 0.0 {
            self.virtual_secs / self.wall_secs
        } else {
            f64::INFINITY
        }
    }
}

/// Runs `scenario` in virtual time on a thread of its own (its own paused-clock runtime)
/// and waits for it. The speed-up goes to the log and the console; it is left out of
/// `summary.json`, which must not depend on the machine.
pub(crate) async fn run(
    scenario: Scenario,
    plan: Plan,
    run_dir: Option<PathBuf>,
    run_id: String,
    abort: AbortSignal,
    progress: Option<tokio::sync::watch::Sender<Progress>>,
) -> Result<RunOutcome, RunError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("fleetbench-virtual".into())
        .spawn(move || {
            let _ = tx.send(run_blocking(
                scenario, plan, run_dir, run_id, abort, progress,
            ));
        });
    if let Err(e) = spawned {
        return Err(RunError::Aborted(format!(
            "cannot start the virtual-time thread: {e}"
        )));
    }
    match rx.await {
        Ok((result, speed)) => {
            if let Some(s) = speed {
                tracing::info!(
                    virtual_secs = s.virtual_secs,
                    wall_secs = s.wall_secs,
                    "virtual time: {:.0} virtual seconds per wall second",
                    s.ratio()
                );
                eprintln!(
                    "virtual time: {:.1} s simulated in {:.2} s wall ({:.0}x); latencies are modelled, not measured",
                    s.virtual_secs,
                    s.wall_secs,
                    s.ratio()
                );
            }
            result
        }
        Err(_) => Err(RunError::Aborted(
            "the virtual-time run ended without a result".into(),
        )),
    }
}

/// Builds the paused-clock runtime and runs in it; also says how fast it went.
pub fn run_blocking(
    scenario: Scenario,
    plan: Plan,
    run_dir: Option<PathBuf>,
    run_id: String,
    mut abort: AbortSignal,
    progress: Option<tokio::sync::watch::Sender<Progress>>,
) -> (Result<RunOutcome, RunError>, Option<SpeedUp>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return (
                Err(RunError::Aborted(format!(
                    "cannot build the virtual-time runtime: {e}"
                ))),
                None,
            );
        }
    };
    let wall = std::time::Instant::now();
    let (result, virtual_elapsed) = runtime.block_on(async {
        let began = Instant::now();
        let result = in_runtime(
            &scenario,
            plan,
            run_dir.as_ref(),
            run_id,
            &mut abort,
            progress,
        )
        .await;
        (result, began.elapsed())
    });
    let speed = SpeedUp {
        virtual_secs: virtual_elapsed.as_secs_f64(),
        wall_secs: wall.elapsed().as_secs_f64(),
    };
    (result, Some(speed))
}

async fn in_runtime(
    scenario: &Scenario,
    plan: Plan,
    run_dir: Option<&PathBuf>,
    run_id: String,
    abort: &mut AbortSignal,
    progress: Option<tokio::sync::watch::Sender<Progress>>,
) -> Result<RunOutcome, RunError> {
    let clock = RunClock {
        pacing: Pacing::Tokio,
        virtual_epoch: Some((Instant::now(), scenario.epoch)),
    };
    let network = MemoryNetwork::new();
    let config = fleetbench_gateway::GatewayConfig {
        seeded_tokens: true,
        ..embedded::gateway_config(scenario.seed)
    };
    let token = config.tokens.first().cloned().unwrap_or_default();
    let socket = network
        .bind(SERVER_ADDR)
        .map_err(|e| RunError::Aborted(format!("in-memory network: {e}")))?;
    let gateway = fleetbench_gateway::start_in_process(
        config,
        socket,
        fleetbench_gateway::clock::Clock::anchored(scenario.epoch),
    )?;
    let mut fleets = Vec::with_capacity(scenario.fleet.classes.len());
    let mut started = Ok(());
    for (index, class) in scenario.fleet.classes.iter().enumerate() {
        let config = embedded::fleet_config(
            &scenario.fleet,
            class,
            index,
            scenario.seed,
            SERVER_ADDR,
            &embedded::FleetPlacement::default(),
        );
        match fleetbench_fleet::start_over(config, |i| network.bind(endpoint_addr(index, i))) {
            Ok(f) => fleets.push(f),
            Err(e) => {
                started = Err(RunError::Fleet(e));
                break;
            }
        }
    }
    let result = match started {
        Ok(()) => {
            let api = InProcessGateway::new(gateway.router.clone(), &token);
            let target = TargetInfo {
                mode: "virtual".to_owned(),
                url: "in-process".to_owned(),
            };
            let output = Output {
                run_dir,
                run_id,
                progress,
                // Live views are wall-clock views: not fed in virtual time.
                live: None,
            };
            run_with_fleet(
                scenario,
                plan,
                api,
                target,
                abort,
                output,
                &fleets,
                &clock,
                &Distribution::whole(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    embedded::stop_fleets(fleets).await;
    gateway.shutdown().await;
    result
}
