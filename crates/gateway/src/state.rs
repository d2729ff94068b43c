//! Everything the REST API, the engine and the LwM2M server share.

use crate::clock::Clock;
use crate::config::GatewayConfig;
use crate::engine::events::Events;
use crate::engine::metrics::Metrics;
use crate::model::token::TokenSource;
use crate::model::{IdGenerator, Timestamp};
use std::sync::Arc;

/// Mixed into the gateway seed for download tokens (see [`GatewayConfig::seeded_tokens`]).
const DOWNLOAD_TOKEN_SALT: u64 = 0x646f_776e_6c6f_6164;

use crate::store::{
    BulkStore, CommandStore, DeviceStore, DownloadTokens, FileStore, SoftwareUpdateStore,
};

/// Shared stores, clock, metrics and events.
#[derive(Debug)]
pub struct GatewayState {
    /// Devices.
    pub devices: DeviceStore,
    /// Commands.
    pub commands: CommandStore,
    /// Files.
    pub files: FileStore,
    /// Download tokens opening files over CoAP.
    pub downloads: Arc<DownloadTokens>,
    /// Software updates.
    pub software_updates: SoftwareUpdateStore,
    /// Bulk responses.
    pub bulk: BulkStore,
    /// Id source.
    pub ids: IdGenerator,
    /// Clock.
    pub clock: Clock,
    /// Counters.
    pub metrics: Metrics,
    /// Event hub.
    pub events: Events,
}

impl GatewayState {
    /// Fresh state sized by `config`, on `clock`.
    pub fn new(config: &GatewayConfig, clock: Clock) -> Self {
        let seconds = u32::try_from(clock.now_utc().unix_timestamp().max(0)).unwrap_or(u32::MAX);
        Self {
            devices: DeviceStore::new(config.max_devices),
            commands: CommandStore::new(config.retention),
            files: FileStore::new(config.max_file_bytes),
            downloads: Arc::new(DownloadTokens::with_source(TokenSource::new(
                config.seeded_tokens,
                config.seed ^ DOWNLOAD_TOKEN_SALT,
            ))),
            software_updates: SoftwareUpdateStore::default(),
            bulk: BulkStore::default(),
            ids: IdGenerator::new(seconds, config.seed),
            clock,
            metrics: Metrics::default(),
            events: Events::new(config.events_buffer),
        }
    }

    /// The current time as a timestamp.
    pub fn now(&self) -> Timestamp {
        Timestamp::new(self.clock.now_utc())
    }
}
