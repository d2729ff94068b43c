//! The command engine: validation, one task per command target, schedules, timeouts,
//! retries, fan-out to attached devices. It reaches devices only through [`DeviceLink`].

pub mod decode;
pub mod events;
pub mod link;
pub mod locks;
pub mod metrics;
pub mod observations;
mod plan;
pub mod request;
mod target;
pub mod transmission;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

pub use link::{
    DeviceLink, DeviceOperation, DeviceRoute, LinkError, Observation, OperationOutcome,
};
pub use request::CommandRequest;
pub use validate::Rejection;

use self::link::DynDeviceLink;
use self::observations::Observations;
use self::validate::Lookups;
use crate::model::{Device, Status, Timestamp};
use crate::state::GatewayState;
use crate::store::CommandRecord;

/// Engine limits.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// `timeout` when a command gives none.
    pub default_timeout: Duration,
    /// Most commands with a non-terminal target.
    pub max_in_flight: usize,
    /// Most active observations.
    pub max_observations: usize,
    /// How far ahead `schedule.start_datetime` and `end_datetime` may be.
    pub max_schedule_ahead: Duration,
}

/// Why a command was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Invalid request (400) or unknown device (404).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Too many commands in flight (429).
    #[error("too many commands in flight (limit {0}); retry later")]
    Busy(usize),
}

/// The command engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

pub(crate) struct EngineInner {
    state: Arc<GatewayState>,
    link: Arc<dyn DynDeviceLink>,
    observations: Observations,
    device_locks: locks::DeviceLocks,
    config: EngineConfig,
    in_flight: AtomicUsize,
    seq: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl Engine {
    /// An engine over `state` reaching devices through `link`.
    pub fn new(state: Arc<GatewayState>, link: impl DeviceLink, config: EngineConfig) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(EngineInner {
                state,
                link: Arc::new(link),
                observations: Observations::new(config.max_observations),
                device_locks: locks::DeviceLocks::default(),
                config,
                in_flight: AtomicUsize::new(0),
                seq: AtomicU64::new(1),
                shutdown,
            }),
        }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<GatewayState> {
        &self.inner.state
    }

    /// Commands with a non-terminal target.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// Active observations.
    pub fn observations(&self) -> usize {
        self.inner.observations.len()
    }

    /// Validates and starts a command. `addressed` is the device named in the URL, if any.
    pub fn submit(
        &self,
        request: CommandRequest,
        addressed: Option<Arc<Device>>,
    ) -> Result<Arc<CommandRecord>, SubmitError> {
        let inner = &self.inner;
        let state = &inner.state;
        let lookups = Lookups {
            devices: &state.devices,
            files: &state.files,
            software_updates: &state.software_updates,
            default_timeout: inner.config.default_timeout,
            now: state.now(),
            max_schedule_ahead: inner.config.max_schedule_ahead,
        };
        let spec = validate::validate(lookups, request, addressed)?;
        if inner.in_flight.fetch_add(1, Ordering::AcqRel) >= inner.config.max_in_flight {
            inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            state.metrics.busy();
            return Err(SubmitError::Busy(inner.config.max_in_flight));
        }
        let now = state.clock.now_utc();
        let enqueued = spec
            .schedule
            .as_ref()
            .and_then(|s| s.start)
            .is_some_and(|start| start.get() > now);
        let initial = if enqueued {
            Status::Enqueued
        } else {
            Status::Sent
        };
        let at = Timestamp::new(now);
        let id = state.ids.next_id();
        let seq = inner.seq.fetch_add(1, Ordering::Relaxed);
        let record = Arc::new(CommandRecord::new(id, seq, spec, initial, at));
        state.commands.insert(record.clone());
        state.metrics.created(record.spec.command_type);
        for (index, device) in record.spec.targets.iter().enumerate() {
            state
                .metrics
                .moved(record.spec.command_type, None, Some(initial));
            state.events.publish(|| events::Event {
                kind: "status",
                command_id: id,
                device_id: *device,
                status: Some(initial),
                status_message: record.entry(index).map(|(_, entry)| entry.status_message),
                value: None,
                record: None,
                at,
            });
            tokio::spawn(target::run(self.inner.clone(), record.clone(), index));
        }
        Ok(record)
    }

    /// A receiver that turns `true` when [`Engine::shutdown`] is called.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Fails every non-terminal target with "the gateway shut down" and stops observations.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }
}
