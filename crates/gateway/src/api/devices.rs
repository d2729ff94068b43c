//! `/devices`.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::commands::no_device;
use super::error::ApiError;
use super::json::{JsonBody, json};
use super::query::Query;
use crate::engine::validate::{MAX_NAME, check_text};
use crate::model::ObjectId;
use crate::store::DeviceFilter;
use crate::store::devices::DeviceStoreError;

const LIST_PARAMS: &[&str] = &[
    "unique_id",
    "parent_device_id",
    "page",
    "per_page",
    "page_meta",
];

/// `GET /devices`.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut query = Query::parse(raw.as_deref())?;
    let unique_id = query.take("unique_id");
    let parent = query.take("parent_device_id");
    let (page, meta) = query.take_paging()?;
    query.finish(LIST_PARAMS)?;
    let devices = &state.engine.state().devices;
    let parent_device_id = match parent {
        None => None,
        Some(key) if key.is_empty() => {
            return Err(ApiError::bad_request(
                "parent_device_id: empty; give a device _id or unique_id",
            ));
        }
        Some(key) => match devices.find(&key) {
            Some(device) => Some(device.id),
            None => return Ok(page_response(Vec::new(), 0, page, meta)),
        },
    };
    let (total, items) = devices.list(
        &DeviceFilter {
            unique_id,
            parent_device_id,
        },
        page,
    );
    Ok(page_response(items, total, page, meta))
}

fn page_response(
    items: Vec<std::sync::Arc<crate::model::Device>>,
    total: usize,
    page: crate::store::Page,
    meta: bool,
) -> Response {
    if meta {
        json(
            &serde_json::json!({"total": total, "page": page.page, "per_page": page.per_page, "resources": items}),
        )
    } else {
        json(&items)
    }
}

/// `GET /devices/{id}`: `{id}` is the `_id` or the `unique_id`.
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let device = state
        .engine
        .state()
        .devices
        .find(&id)
        .ok_or_else(|| no_device(&id))?;
    Ok(json(&device))
}

/// Body of `POST /devices` [extension].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    /// Unique id (required).
    pub unique_id: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

/// `POST /devices` [extension]: a device with no LwM2M registration (commands to it fail
/// with "has no LwM2M registration").
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateDevice>,
) -> Result<Response, ApiError> {
    let unique_id = body
        .unique_id
        .ok_or_else(|| ApiError::bad_request("unique_id: required"))?;
    if unique_id.is_empty() || unique_id.len() > 255 || ObjectId::parse(&unique_id).is_some() {
        return Err(ApiError::bad_request(format!(
            "unique_id: {unique_id:?} must be 1..=255 bytes and not look like a 24-hex-digit _id"
        )));
    }
    let bad = |e: crate::engine::validate::Rejection| ApiError::bad_request(e.to_string());
    check_text("unique_id", &unique_id, 255).map_err(bad)?;
    if let Some(name) = &body.name {
        check_text("name", name, MAX_NAME).map_err(bad)?;
    }
    let shared = state.engine.state();
    let device = shared
        .devices
        .create(&shared.ids, &unique_id, body.name.as_deref(), shared.now())
        .map_err(|error| match error {
            DeviceStoreError::Full(_) => ApiError::busy(error.to_string(), 60),
            DeviceStoreError::Duplicate(_) => ApiError::bad_request(error.to_string()),
        })?;
    Ok(json(&device))
}
