//! `POST /devices/bulk/{command_type}` and `GET /bulk_responses/{id}`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::json::{JsonBody, json};
use crate::engine::{CommandRequest, Rejection, SubmitError};
use crate::model::{CommandType, ObjectId, Status};
use crate::store::bulk::{BulkError, BulkItem, BulkResponse};

/// Most devices per bulk request.
pub const MAX_BULK_DEVICES: usize = 1000;

/// `POST /devices/bulk/{command_type}`: body = a command without `device_id`, plus
/// `device_ids` (1..=1000 device `_id`s or `unique_id`s). Creates one command per device.
pub async fn create(
    State(state): State<AppState>,
    Path(command_type): Path<String>,
    JsonBody(mut request): JsonBody<CommandRequest>,
) -> Result<Response, ApiError> {
    let kind = CommandType::parse(&command_type)
        .map_err(|e| ApiError::bad_request(format!("command_type: {e}")))?;
    if let Some(given) = &request.command_type
        && given != kind.as_str()
    {
        return Err(ApiError::bad_request(format!(
            "command_type: {given:?} conflicts with {:?} in the path",
            kind.as_str()
        )));
    }
    if request.device_id.is_some() {
        return Err(ApiError::bad_request(
            "device_id: not accepted in a bulk request; use device_ids",
        ));
    }
    let device_ids = request
        .device_ids
        .take()
        .ok_or_else(|| ApiError::bad_request("device_ids: required"))?;
    if device_ids.is_empty() || device_ids.len() > MAX_BULK_DEVICES {
        return Err(ApiError::bad_request(format!(
            "device_ids: must list 1..={MAX_BULK_DEVICES} devices, got {}",
            device_ids.len()
        )));
    }
    request.command_type = Some(kind.as_str().to_owned());
    let shared = state.engine.state();
    let mut created = Vec::new();
    let mut errors = Vec::new();
    let mut invalid = Vec::new();
    let mut busy = None;
    for key in &device_ids {
        let Some(device) = shared.devices.find(key) else {
            errors.push(BulkError {
                device_id: key.clone(),
                message: format!("no device with _id or unique_id {key:?}"),
            });
            continue;
        };
        let device_id = device.id;
        match state.engine.submit(request.clone(), Some(device)) {
            Ok(record) => created.push(BulkItem {
                device_id,
                gateway_command_id: record.id,
            }),
            Err(error) => {
                match &error {
                    SubmitError::Rejected(Rejection::Invalid(message)) => {
                        invalid.push(message.clone());
                    }
                    SubmitError::Busy(_) => busy = Some(error.to_string()),
                    SubmitError::Rejected(Rejection::NotFound(_)) => {}
                }
                errors.push(BulkError {
                    device_id: key.clone(),
                    message: error.to_string(),
                });
            }
        }
    }
    // The same validation error for every device is an error in the shared body: answer 400.
    if created.is_empty()
        && invalid.len() == device_ids.len()
        && invalid.iter().all(|m| *m == invalid[0])
    {
        return Err(ApiError::bad_request(invalid[0].clone()));
    }
    // Nothing created because the in-flight limit is reached: the whole request is refused
    // as a single create would be (429 + Retry-After), and no bulk response is stored. A
    // request that created at least one command answers 200 listing every failure.
    if created.is_empty()
        && let Some(message) = busy
    {
        return Err(ApiError::busy(
            format!(
                "device_ids: no command created for any of {} devices: {message}",
                device_ids.len()
            ),
            1,
        ));
    }
    let id = shared.ids.next_id();
    let response = BulkResponse {
        id,
        bulk_response_id: id,
        command_type: kind,
        status: "complete",
        total: device_ids.len(),
        succeeded: created.len(),
        failed: errors.len(),
        gateway_commands: created,
        errors,
        created_at: shared.now(),
    };
    let stored = shared.bulk.insert(response);
    Ok(view(&state, &stored))
}

/// `GET /bulk_responses/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let response = ObjectId::parse(&id)
        .and_then(|oid| state.engine.state().bulk.get(&oid))
        .ok_or_else(|| ApiError::not_found(format!("no bulk response with _id {id:?}")))?;
    Ok(view(&state, &response))
}

/// A bulk response as served: the stored response plus the live `progress` of its commands.
#[derive(Debug, Serialize)]
struct BulkView<'a> {
    #[serde(flatten)]
    response: &'a BulkResponse,
    progress: Progress,
}

/// How far the commands of a bulk request have got, read when the response is served.
#[derive(Debug, Default, Serialize)]
pub struct Progress {
    /// Commands created.
    pub commands: usize,
    /// Commands whose every target is terminal.
    pub complete: usize,
    /// Commands no longer stored (evicted after completing, beyond the retention).
    pub evicted: usize,
    /// Targets of the stored commands by current status.
    pub targets: TargetCounts,
}

/// Targets by status.
#[derive(Debug, Default, Serialize)]
pub struct TargetCounts {
    /// `sent`.
    pub sent: usize,
    /// `enqueued`.
    pub enqueued: usize,
    /// `success`.
    pub success: usize,
    /// `fail`.
    pub fail: usize,
}

fn view(state: &AppState, response: &BulkResponse) -> Response {
    let commands = &state.engine.state().commands;
    let mut progress = Progress {
        commands: response.gateway_commands.len(),
        ..Progress::default()
    };
    for item in &response.gateway_commands {
        let Some(record) = commands.get(&item.gateway_command_id) else {
            progress.evicted += 1;
            continue;
        };
        let statuses = record.target_statuses();
        if statuses.iter().all(|status| status.is_terminal()) {
            progress.complete += 1;
        }
        for status in statuses {
            let count = match status {
                Status::Sent => &mut progress.targets.sent,
                Status::Enqueued => &mut progress.targets.enqueued,
                Status::Success => &mut progress.targets.success,
                Status::Fail => &mut progress.targets.fail,
            };
            *count += 1;
        }
    }
    json(&BulkView { response, progress })
}
