//! `/software_updates`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::json::{JsonBody, json};
use crate::engine::validate::{MAX_NAME, check_text};
use crate::model::ObjectId;
use crate::model::software_update::{SoftwareFile, SoftwareUpdate};

/// Body of `POST /software_updates`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSoftwareUpdate {
    name: Option<String>,
    device_type_id: Option<String>,
    script: Option<String>,
    files: Option<Vec<FileEntry>>,
    reboot: Option<bool>,
    company_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: Option<String>,
    link: Option<String>,
    file_id: Option<String>,
}

/// Longest accepted package URI (Object 5 resource 1 is a string of 0..255 bytes).
pub const MAX_LINK: usize = 255;

/// `POST /software_updates`.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateSoftwareUpdate>,
) -> Result<Response, ApiError> {
    let shared = state.engine.state();
    let _ = body.company_id;
    let mut files = Vec::new();
    for (index, entry) in body.files.unwrap_or_default().into_iter().enumerate() {
        let field = format!("files[{index}]");
        let file_id = match entry.file_id {
            None => None,
            Some(text) => {
                let id = ObjectId::parse(&text).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{field}.file_id: {text:?} is not a 24-hex-digit id"
                    ))
                })?;
                if shared.files.get(&id).is_none() {
                    return Err(ApiError::bad_request(format!(
                        "{field}.file_id: no file with _id {text:?}"
                    )));
                }
                Some(id)
            }
        };
        if let Some(link) = &entry.link
            && (link.is_empty() || link.len() > MAX_LINK || link.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(format!(
                "{field}.link: must be 1..={MAX_LINK} bytes without control characters"
            )));
        }
        if file_id.is_none() && entry.link.is_none() {
            return Err(ApiError::bad_request(format!(
                "{field}: needs a link (device pulls) or a file_id (gateway pushes)"
            )));
        }
        files.push(SoftwareFile {
            name: entry.name.unwrap_or_default(),
            link: entry.link,
            file_id,
        });
    }
    let name = match body.name {
        None => return Err(ApiError::bad_request("name: required")),
        Some(name) if name.trim().is_empty() => {
            return Err(ApiError::bad_request("name: must not be empty"));
        }
        Some(name) => name,
    };
    check_text("name", &name, MAX_NAME).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let now = shared.now();
    let update = SoftwareUpdate {
        id: shared.ids.next_id(),
        name,
        device_type_id: body.device_type_id,
        script: body.script,
        files,
        reboot: body.reboot.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    let stored = shared.software_updates.insert(update);
    Ok(json(&*stored))
}

/// `GET /software_updates/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let update = ObjectId::parse(&id)
        .and_then(|oid| state.engine.state().software_updates.get(&oid))
        .ok_or_else(|| ApiError::not_found(format!("no software update with _id {id:?}")))?;
    Ok(json(&*update))
}
