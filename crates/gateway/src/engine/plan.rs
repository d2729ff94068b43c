//! What one attempt does on the wire for each command type (see docs/gateway-api.md §1).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use futures_util::StreamExt;
use serde_json::json;

use super::EngineInner;
use super::decode;
use super::events::Event;
use super::link::{DeviceOperation, DeviceRoute, LinkError, Observation, OperationOutcome};
use crate::lwm2m_server::transfer::BLOCK_SIZE;
use crate::model::software_update::PackageSource;
use crate::model::{CommandType, Lwm2mType, ObjectId};
use crate::store::CommandRecord;
use crate::store::downloads::{DownloadGrant, own_file_link};

/// Object 33000 "fleetbench agent" resources.
pub mod agent {
    /// The object id.
    pub const OBJECT: u16 = 33000;
    /// Send Config (E).
    pub const SEND_CONFIG: u16 = 0;
    /// Data Restriction (RW bool).
    pub const DATA_RESTRICTION: u16 = 1;
    /// Backup (E).
    pub const BACKUP: u16 = 2;
    /// Restore Backup (E, argument 0 = URL).
    pub const RESTORE_BACKUP: u16 = 3;
    /// Log Level (RW string).
    pub const LOG_LEVEL: u16 = 4;
    /// Log Upload (E).
    pub const LOG_UPLOAD: u16 = 5;
    /// Heartbeat (E).
    pub const HEARTBEAT: u16 = 6;
    /// Status (R string).
    pub const STATUS: u16 = 7;
    /// File Path (RW string).
    pub const FILE_PATH: u16 = 8;
    /// File Data (RW opaque).
    pub const FILE_DATA: u16 = 9;
}

/// Object 5 resources and State values.
mod firmware {
    pub const PACKAGE: u16 = 0;
    pub const PACKAGE_URI: u16 = 1;
    pub const UPDATE: u16 = 2;
    pub const STATE: u16 = 3;
    pub const UPDATE_RESULT: u16 = 5;
    /// State 0: Idle.
    pub const IDLE: i64 = 0;
    /// State 2: Downloaded.
    pub const DOWNLOADED: i64 = 2;
}

/// Longest pause between two Update Result reads.
const UPDATE_POLL_MAX: Duration = Duration::from_secs(2);

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Status message.
    pub message: String,
    /// The device never answered at the CoAP layer (attempt outcome `no_answer`).
    pub no_answer: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            no_answer: false,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::from(message.to_owned())
    }
}

impl From<LinkError> for Failure {
    fn from(error: LinkError) -> Self {
        Self {
            no_answer: error.is_no_answer(),
            message: error.to_string(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A successful attempt.
pub(crate) struct Done {
    /// Status message.
    pub message: String,
    /// Stored result.
    pub result: Option<serde_json::Value>,
    /// An observation to keep running after the command succeeds.
    pub observation: Option<Observation>,
}

impl Done {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            result: None,
            observation: None,
        }
    }
}

fn agent_path(resource: u16) -> Lwm2mPath {
    Lwm2mPath::resource(agent::OBJECT, 0, resource)
}

fn text(text: impl Into<String>) -> Bytes {
    Bytes::from(text.into())
}

/// Runs one attempt of target `index`.
pub(crate) async fn execute(
    engine: &EngineInner,
    record: &CommandRecord,
    index: usize,
) -> Result<Done, Failure> {
    let spec = &record.spec;
    let device_id = *spec.targets.get(index).ok_or("no such target")?;
    let route = route(engine, device_id)?;
    let link = &*engine.link;
    let op = |operation: DeviceOperation| {
        let route = route.clone();
        async move {
            link.execute_boxed(route, operation)
                .await
                .map_err(Failure::from)
        }
    };
    match spec.command_type {
        CommandType::Lwm2mRequest => {
            let path = spec.path.clone().ok_or("lwm2m_request without endpoint")?;
            match spec.lwm2m_type {
                Some(Lwm2mType::Write) => {
                    let payload = text(spec.data.clone().unwrap_or_default());
                    // A write larger than one block is a Block1 exchange, which a device runs
                    // one at a time: two at once would both fail with 4.08.
                    let _exclusive = if payload.len() > BLOCK_SIZE {
                        Some(engine.device_locks.lock(device_id).await)
                    } else {
                        None
                    };
                    let outcome = op(DeviceOperation::Write {
                        path,
                        content_format: ContentFormat::TextPlain,
                        payload,
                    })
                    .await?;
                    Ok(Done::new(answered(&outcome)))
                }
                Some(Lwm2mType::Exec) => {
                    let outcome = op(DeviceOperation::Execute {
                        path,
                        arguments: spec.data.clone(),
                    })
                    .await?;
                    Ok(Done::new(answered(&outcome)))
                }
                Some(Lwm2mType::Observe) => observe(engine, record, &route, path).await,
                Some(Lwm2mType::ObserveStop) => {
                    observe_stop(engine, record, &route, &path).map_err(Failure::from)
                }
                _ => read(
                    op(DeviceOperation::Read { path: path.clone() }).await?,
                    &path,
                ),
            }
        }
        CommandType::Lwm2mFile => {
            // Selecting the path and moving the bytes are two requests: one transfer at a
            // time per device, so that two transfers cannot interleave.
            let _exclusive = engine.device_locks.lock(device_id).await;
            let filepath = spec.filepath.clone().unwrap_or_default();
            let select = DeviceOperation::Write {
                path: agent_path(agent::FILE_PATH),
                content_format: ContentFormat::TextPlain,
                payload: text(filepath.clone()),
            };
            if spec.lwm2m_type == Some(Lwm2mType::FileUpload) {
                let file_id = spec.file_id.ok_or("fileupload without file_id")?;
                let file = engine
                    .state
                    .files
                    .get(&file_id)
                    .ok_or_else(|| format!("file {file_id} no longer exists"))?;
                op(select).await?;
                let outcome = op(DeviceOperation::Write {
                    path: agent_path(agent::FILE_DATA),
                    content_format: ContentFormat::Opaque,
                    payload: file.data.clone(),
                })
                .await?;
                Ok(Done::new(format!(
                    "{} ({} bytes written to {filepath})",
                    answered(&outcome),
                    file.size
                )))
            } else {
                op(select).await?;
                let outcome = op(DeviceOperation::Read {
                    path: agent_path(agent::FILE_DATA),
                })
                .await?;
                let name = filepath
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())
                    .unwrap_or("download")
                    .to_owned();
                let state = &engine.state;
                let file = state
                    .files
                    .insert(
                        &state.ids,
                        name,
                        outcome.payload.clone(),
                        "device",
                        state.now(),
                    )
                    .map_err(|e| Failure::from(e.to_string()))?;
                let mut done = Done::new(format!(
                    "{} ({} bytes read from {filepath})",
                    answered(&outcome),
                    file.size
                ));
                done.result = Some(json!({"file_id": file.id, "size": file.size}));
                Ok(done)
            }
        }
        CommandType::Reboot => {
            let outcome = op(DeviceOperation::Execute {
                path: Lwm2mPath::resource(3, 0, 4),
                arguments: None,
            })
            .await?;
            Ok(Done::new(answered(&outcome)))
        }
        CommandType::SoftwareUpdate => {
            // Object 5 is one state machine per device: one update at a time.
            let _exclusive = engine.device_locks.lock(device_id).await;
            software_update(engine, record, &op).await
        }
        CommandType::Status => {
            let path = agent_path(agent::STATUS);
            read(
                op(DeviceOperation::Read { path: path.clone() }).await?,
                &path,
            )
        }
        CommandType::DataRestriction => {
            let enable = spec
                .payload
                .get("enable")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            let payload = text(if enable { "1" } else { "0" });
            let operation = DeviceOperation::Write {
                path: agent_path(agent::DATA_RESTRICTION),
                content_format: ContentFormat::TextPlain,
                payload,
            };
            Ok(Done::new(answered(&op(operation).await?)))
        }
        CommandType::LogLevel => {
            let level = spec
                .payload
                .get("level")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("info");
            let operation = DeviceOperation::Write {
                path: agent_path(agent::LOG_LEVEL),
                content_format: ContentFormat::TextPlain,
                payload: text(level),
            };
            Ok(Done::new(answered(&op(operation).await?)))
        }
        CommandType::RestoreBackup => {
            let url = spec
                .payload
                .get("url")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            let operation = DeviceOperation::Execute {
                path: agent_path(agent::RESTORE_BACKUP),
                arguments: Some(format!("0='{url}'")),
            };
            Ok(Done::new(answered(&op(operation).await?)))
        }
        CommandType::SendConfig
        | CommandType::Backup
        | CommandType::LogUpload
        | CommandType::Heartbeat => {
            let resource = match spec.command_type {
                CommandType::SendConfig => agent::SEND_CONFIG,
                CommandType::Backup => agent::BACKUP,
                CommandType::LogUpload => agent::LOG_UPLOAD,
                _ => agent::HEARTBEAT,
            };
            let operation = DeviceOperation::Execute {
                path: agent_path(resource),
                arguments: None,
            };
            Ok(Done::new(answered(&op(operation).await?)))
        }
    }
}

/// Where target `device_id` is reached now.
pub(crate) fn route(engine: &EngineInner, device_id: ObjectId) -> Result<DeviceRoute, String> {
    use crate::store::devices::RouteError;
    match engine.state.devices.route_of(&device_id) {
        Ok((endpoint, prefix)) => Ok(DeviceRoute {
            device_id,
            endpoint,
            prefix,
        }),
        Err(RouteError::Unknown) => Err(format!("device {device_id} no longer exists")),
        Err(RouteError::NoRegistration { unique_id }) => {
            Err(format!("device {unique_id:?} has no LwM2M registration"))
        }
        Err(RouteError::Inactive { endpoint }) => {
            Err(LinkError::NotRegistered { endpoint }.to_string())
        }
    }
}

fn answered(outcome: &OperationOutcome) -> String {
    format!("device answered {}", outcome.code)
}

fn read(outcome: OperationOutcome, path: &Lwm2mPath) -> Result<Done, Failure> {
    let mut done = Done::new(answered(&outcome));
    done.result = Some(decode::read_result(&outcome, path));
    Ok(done)
}

async fn software_update<F, Fut>(
    engine: &EngineInner,
    record: &CommandRecord,
    op: &F,
) -> Result<Done, Failure>
where
    F: Fn(DeviceOperation) -> Fut,
    Fut: std::future::Future<Output = Result<OperationOutcome, Failure>>,
{
    let update_id = record
        .spec
        .software_update_id
        .ok_or("software_update without software_update_id")?;
    let update = engine
        .state
        .software_updates
        .get(&update_id)
        .ok_or_else(|| format!("software update {update_id} no longer exists"))?;
    let firmware = |resource| Lwm2mPath::resource(5, 0, resource);
    // Revokes the download token when this target ends, however it ends.
    let mut _download: Option<DownloadGrant> = None;
    let delivery = match update.package().ok_or("software update has no package")? {
        PackageSource::Push(file_id) => {
            let file = engine
                .state
                .files
                .get(&file_id)
                .ok_or_else(|| format!("package file {file_id} no longer exists"))?;
            op(DeviceOperation::Write {
                path: firmware(firmware::PACKAGE),
                content_format: ContentFormat::Opaque,
                payload: file.data.clone(),
            })
            .await?;
            "push"
        }
        PackageSource::Pull(uri) => {
            // A link to one of our files becomes a token URI valid while this runs.
            let uri = match own_file_link(&uri) {
                Some((file_id, prefix)) => {
                    if engine.state.files.get(&file_id).is_none() {
                        return Err(format!("package file {file_id} no longer exists"))?;
                    }
                    let minted = engine
                        .state
                        .downloads
                        .mint(file_id, engine.state.clock.now())
                        .map_err(|error| error.to_string())?;
                    let uri = format!("{prefix}{}", minted.token());
                    _download = Some(minted);
                    uri
                }
                None => uri,
            };
            op(DeviceOperation::Write {
                path: firmware(firmware::PACKAGE_URI),
                content_format: ContentFormat::TextPlain,
                payload: text(uri),
            })
            .await?;
            "pull"
        }
    };
    // Downloading (State 1) until Downloaded (State 2); a failed download goes back to Idle
    // with an Update Result of 2..=9.
    let mut poll = Poll::new(
        op,
        firmware(firmware::STATE),
        firmware(firmware::UPDATE_RESULT),
    );
    loop {
        let (state, result) = poll.next().await;
        match (state, result) {
            (Some(firmware::DOWNLOADED), _) => break,
            (_, Some(code)) if code >= 2 => {
                return Err(format!(
                    "firmware download failed: Update Result {code} ({})",
                    update_result_name(code)
                )
                .into());
            }
            _ => {}
        }
    }
    op(DeviceOperation::Execute {
        path: firmware(firmware::UPDATE),
        arguments: None,
    })
    .await?;
    // Updating (State 3) until Update Result 1 (back to Idle) or an error result. The device
    // may reboot into the new firmware: read errors (no answer, re-registration) are retried
    // until the attempt's deadline.
    let mut poll = Poll::new(
        op,
        firmware(firmware::STATE),
        firmware(firmware::UPDATE_RESULT),
    );
    loop {
        let (state, result) = poll.next().await;
        match result {
            Some(1) => {
                let mut done = Done::new(format!(
                    "firmware updated (Update Result 1, package {delivery}ed)"
                ));
                done.result = Some(json!({
                    "update_result": 1,
                    "state": state.unwrap_or(firmware::IDLE),
                    "delivery": delivery,
                }));
                return Ok(done);
            }
            Some(code) if code >= 2 => {
                return Err(format!(
                    "firmware update failed: Update Result {code} ({})",
                    update_result_name(code)
                )
                .into());
            }
            _ => {}
        }
    }
}

/// Reads Object 5 State and Update Result, pausing between reads (100 ms doubling to
/// [`UPDATE_POLL_MAX`]); unreadable values are `None`.
struct Poll<'a, F> {
    op: &'a F,
    state: Lwm2mPath,
    result: Lwm2mPath,
    pause: Option<Duration>,
}

impl<'a, F, Fut> Poll<'a, F>
where
    F: Fn(DeviceOperation) -> Fut,
    Fut: std::future::Future<Output = Result<OperationOutcome, Failure>>,
{
    fn new(op: &'a F, state: Lwm2mPath, result: Lwm2mPath) -> Self {
        Self {
            op,
            state,
            result,
            pause: None,
        }
    }

    async fn next(&mut self) -> (Option<i64>, Option<i64>) {
        if let Some(pause) = self.pause {
            tokio::time::sleep(pause).await;
        }
        self.pause = Some(
            self.pause
                .map_or(Duration::from_millis(100), |pause| pause * 2)
                .min(UPDATE_POLL_MAX),
        );
        let state = self.integer(&self.state).await;
        let result = self.integer(&self.result).await;
        (state, result)
    }

    async fn integer(&self, path: &Lwm2mPath) -> Option<i64> {
        match (self.op)(DeviceOperation::Read { path: path.clone() }).await {
            Ok(outcome) => decode::integer(&outcome, path),
            Err(error) => {
                tracing::debug!(%error, %path, "firmware resource not readable yet");
                None
            }
        }
    }
}

fn update_result_name(code: i64) -> &'static str {
    match code {
        2 => "not enough flash",
        3 => "out of RAM",
        4 => "connection lost during download",
        5 => "integrity check failure",
        6 => "unsupported package type",
        7 => "invalid URI",
        8 => "firmware update failed",
        9 => "unsupported protocol",
        10 => "update cancelled",
        11 => "update deferred",
        _ => "unknown result",
    }
}

async fn observe(
    engine: &EngineInner,
    record: &CommandRecord,
    route: &DeviceRoute,
    path: Lwm2mPath,
) -> Result<Done, Failure> {
    if !engine.observations.has_room() {
        return Err(LinkError::Local(format!(
            "too many active observations (limit {})",
            engine.config.max_observations
        ))
        .into());
    }
    let observation = engine
        .link
        .observe_boxed(route.clone(), path.clone())
        .await
        .map_err(Failure::from)?;
    let _ = record;
    let mut done = Done::new(format!(
        "observing {path}: first notification {}",
        observation.first.code
    ));
    done.result = Some(decode::read_result(&observation.first, &path));
    done.observation = Some(observation);
    Ok(done)
}

fn observe_stop(
    engine: &EngineInner,
    record: &CommandRecord,
    route: &DeviceRoute,
    path: &Lwm2mPath,
) -> Result<Done, String> {
    let key = path.to_string();
    match engine.observations.cancel(
        route.device_id,
        &key,
        format!("cancelled by command {}", record.id),
    ) {
        Some(command) => Ok(Done::new(format!(
            "cancelled the observation of {key} started by command {command}"
        ))),
        None => Err(format!("no active observation of {key} on this device")),
    }
}

/// Keeps consuming an observation after its command succeeded: counts notifications, updates
/// the command's `observation` summary, publishes events; ends on cancel, shutdown or when the
/// device stops notifying.
pub(crate) fn keep_observing(
    engine: Arc<EngineInner>,
    record: Arc<CommandRecord>,
    index: usize,
    observation: Observation,
) {
    let Some(device) = record.spec.targets.get(index).copied() else {
        return;
    };
    let Some(path) = record.spec.path.clone() else {
        return;
    };
    let key = path.to_string();
    let (token, mut stopped) = engine.observations.insert(device, key.clone(), record.id);
    let mut shutdown = engine.shutdown.subscribe();
    let state = engine.state.clone();
    record.observe_update(|_| {}, state.now());
    tokio::spawn(async move {
        let mut notifications = observation.notifications;
        let reason = loop {
            tokio::select! {
                reason = &mut stopped => break reason.unwrap_or_else(|_| "cancelled".to_owned()),
                _ = shutdown.wait_for(|stopped| *stopped) => break "the gateway shut down".to_owned(),
                next = notifications.next() => match next {
                    None => break "the device ended the observation".to_owned(),
                    Some(outcome) => {
                        let value = decode::first_value(&outcome, &path);
                        let at = state.now();
                        state.metrics.notifications.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        record.observe_update(|summary| {
                            summary.notifications += 1;
                            summary.last_value = Some(value.clone());
                            summary.last_at = Some(at);
                        }, at);
                        state.events.publish(|| Event {
                            kind: "notification",
                            command_id: record.id,
                            device_id: device,
                            status: None,
                            status_message: None,
                            value: Some(value),
                            record: None,
                            at,
                        });
                    }
                },
            }
        };
        engine.observations.remove_if(device, &key, token);
        record.observe_update(
            |summary| {
                summary.active = false;
                summary.ended = Some(reason);
            },
            state.now(),
        );
    });
}
