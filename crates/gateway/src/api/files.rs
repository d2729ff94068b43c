//! `/files`: raw body or JSON `{name, data_base64}`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::json::{body_error, json, parse_json};
use super::query::Query;
use crate::model::ObjectId;

/// JSON form of an upload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonUpload {
    name: Option<String>,
    data_base64: Option<String>,
}

/// `POST /files`: a JSON body (`Content-Type: application/json`) `{name, data_base64}`, or
/// the raw bytes with an optional `?name=`.
pub async fn create(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Result<Response, ApiError> {
    let mut query = Query::parse(raw.as_deref())?;
    let query_name = query.take("name");
    query.finish(&["name"])?;
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let body = Bytes::from_request(request, &state)
        .await
        .map_err(body_error)?;
    let (name, data) = if is_json {
        let upload: JsonUpload = parse_json(&body)?;
        let encoded = upload
            .data_base64
            .ok_or_else(|| ApiError::bad_request("data_base64: required"))?;
        let data = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|error| {
                ApiError::bad_request(format!("data_base64: not valid base64: {error}"))
            })?;
        (upload.name.or(query_name), Bytes::from(data))
    } else {
        (query_name, body)
    };
    let shared = state.engine.state();
    let file = shared
        .files
        .insert(
            &shared.ids,
            name.unwrap_or_else(|| "upload".to_owned()),
            data,
            "upload",
            shared.now(),
        )
        .map_err(|error| ApiError::bad_request(format!("body: {error}")))?;
    Ok(json(&*file))
}

/// `GET /files/{id}`: metadata.
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let file = find(&state, &id)?;
    Ok(json(&*file))
}

/// `GET /files/{id}/data` [extension]: the bytes.
pub async fn data(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let file = find(&state, &id)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        file.data.clone(),
    )
        .into_response())
}

fn find(
    state: &AppState,
    id: &str,
) -> Result<std::sync::Arc<crate::model::file::StoredFile>, ApiError> {
    ObjectId::parse(id)
        .and_then(|oid| state.engine.state().files.get(&oid))
        .ok_or_else(|| ApiError::not_found(format!("no file with _id {id:?}")))
}
