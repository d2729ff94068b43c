//! `/gateway_commands` and `/devices/{id}/gateway_commands`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::json::{JsonBody, RawJson};
use super::query::Query;
use crate::engine::CommandRequest;
use crate::model::{CommandType, ObjectId, Status};
use crate::store::{CommandFilter, CommandRecord, Page};

/// `POST /gateway_commands`.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CommandRequest>,
) -> Result<RawJson, ApiError> {
    let record = state.engine.submit(request, None)?;
    Ok(RawJson(record.to_json()))
}

/// `POST /devices/{id}/gateway_commands`: `{id}` is the device `_id` (or `unique_id`).
pub async fn create_for_device(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<CommandRequest>,
) -> Result<RawJson, ApiError> {
    let device = state
        .engine
        .state()
        .devices
        .find(&id)
        .ok_or_else(|| no_device(&id))?;
    let record = state.engine.submit(request, Some(device))?;
    Ok(RawJson(record.to_json()))
}

/// `GET /gateway_commands/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<RawJson, ApiError> {
    let record = ObjectId::parse(&id)
        .and_then(|oid| state.engine.state().commands.get(&oid))
        .ok_or_else(|| ApiError::not_found(format!("no gateway command with _id {id:?}")))?;
    Ok(RawJson(record.to_json()))
}

/// `POST /gateway_commands/{id}/cancel` [extension]: every non-terminal target ends with
/// status fail, message "cancelled", freeing its in-flight slot. 202 with the command as it
/// is now (targets end right after); 409 when every target is already terminal.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = ObjectId::parse(&id)
        .and_then(|oid| state.engine.state().commands.get(&oid))
        .ok_or_else(|| ApiError::not_found(format!("no gateway command with _id {id:?}")))?;
    if record.is_complete() {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!("gateway command {id} is already complete: nothing to cancel"),
            retry_after: None,
        });
    }
    record.cancel();
    Ok((StatusCode::ACCEPTED, RawJson(record.to_json())).into_response())
}

const LIST_PARAMS: &[&str] = &[
    "device_id",
    "command_type",
    "status",
    "software_update_id",
    "page",
    "per_page",
    "page_meta",
];

/// `GET /gateway_commands`.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut query = Query::parse(raw.as_deref())?;
    let device = query.take("device_id");
    list_with(&state, query, device)
}

/// `GET /devices/{id}/gateway_commands` [extension]: the device's commands.
pub async fn list_for_device(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    state
        .engine
        .state()
        .devices
        .find(&id)
        .ok_or_else(|| no_device(&id))?;
    let query = Query::parse(raw.as_deref())?;
    list_with(&state, query, Some(id))
}

fn list_with(
    state: &AppState,
    mut query: Query,
    device: Option<String>,
) -> Result<Response, ApiError> {
    let store = state.engine.state();
    let command_type = query.take_with("command_type", CommandType::parse)?;
    let status = query.take_with("status", Status::parse)?;
    let software_update_id = query.take_with("software_update_id", |text| {
        ObjectId::parse(text).ok_or_else(|| format!("{text:?} is not a 24-hex-digit id"))
    })?;
    let (page, meta) = query.take_paging()?;
    query.finish(LIST_PARAMS)?;
    let device_id = match device {
        None => None,
        Some(key) => match store.devices.find(&key) {
            Some(device) => Some(device.id),
            None => return render_page(&[], 0, page, meta),
        },
    };
    let filter = CommandFilter {
        device_id,
        command_type,
        status,
        software_update_id,
    };
    let (total, records) = store.commands.list(&filter, page);
    render_page(&records, total, page, meta)
}

/// Largest list response body: a page that would exceed it is refused (400 naming
/// `per_page`) instead of being built whole.
pub const MAX_LIST_BYTES: usize = 16 << 20;

fn render_page(
    records: &[Arc<CommandRecord>],
    total: usize,
    page: Page,
    meta: bool,
) -> Result<Response, ApiError> {
    let mut out = Vec::with_capacity(64 + records.len().min(1000) * 768);
    if meta {
        out.extend_from_slice(
            format!(
                "{{\"total\":{total},\"page\":{},\"per_page\":{},\"resources\":",
                page.page, page.per_page
            )
            .as_bytes(),
        );
    }
    out.push(b'[');
    for (index, record) in records.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        record.write_json(&mut out);
        if out.len() > MAX_LIST_BYTES {
            return Err(ApiError::bad_request(format!(
                "per_page: {}: this page would exceed the {} MiB response cap after {index} \
                 commands; ask for per_page={} or less",
                page.per_page,
                MAX_LIST_BYTES >> 20,
                index.max(1)
            )));
        }
    }
    out.push(b']');
    if meta {
        out.push(b'}');
    }
    Ok(RawJson(out).into_response())
}

pub(crate) fn no_device(id: &str) -> ApiError {
    ApiError::not_found(format!("no device with _id or unique_id {id:?}"))
}
