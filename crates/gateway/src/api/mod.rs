//! The REST API (axum): every route is served bare and under `/api/v1/platform`.

pub mod auth;
pub mod body;
pub mod bulk;
pub mod commands;
pub mod devices;
pub mod error;
pub mod events;
pub mod files;
pub mod json;
pub mod openapi;
pub mod ops;
pub mod query;
pub mod software_updates;

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::{get, post};

use self::body::BodyLimits;
use self::error::ApiError;
use crate::engine::Engine;

/// The EdgeIQ base path every route is also served under.
pub const PLATFORM_PREFIX: &str = "/api/v1/platform";

/// What handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The command engine (and through it the stores).
    pub engine: Engine,
    /// Accepted `Authorization` tokens.
    pub tokens: Arc<HashSet<String>>,
}

/// The full router. Bodies are read whole within `body` (408, 413) after authentication.
pub fn router(state: AppState, body: BodyLimits) -> Router {
    let protected = Router::new()
        .route(
            "/gateway_commands",
            post(commands::create).get(commands::list),
        )
        .route("/gateway_commands/events", get(events::stream))
        .route("/gateway_commands/{id}", get(commands::get_one))
        .route("/gateway_commands/{id}/cancel", post(commands::cancel))
        .route("/devices", get(devices::list).post(devices::create))
        .route("/devices/{id}", get(devices::get_one))
        .route(
            "/devices/{id}/gateway_commands",
            post(commands::create_for_device).get(commands::list_for_device),
        )
        .route("/devices/bulk/{command_type}", post(bulk::create))
        .route("/bulk_responses/{id}", get(bulk::get_one))
        .route("/software_updates", post(software_updates::create))
        .route("/software_updates/{id}", get(software_updates::get_one))
        .route("/files", post(files::create))
        .route("/files/{id}", get(files::get_one))
        .route("/files/{id}/data", get(files::data))
        .route_layer(middleware::from_fn_with_state(body, body::read_within))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let open = Router::new()
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::document));
    let api = protected.merge(open);
    Router::new()
        .merge(api.clone())
        .nest(PLATFORM_PREFIX, api)
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body.max_bytes))
        .with_state(state)
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {method} {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        message: format!("method {method} is not allowed on {}", uri.path()),
        retry_after: None,
    }
}
