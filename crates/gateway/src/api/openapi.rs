//! `GET /openapi.json` [extension].

use axum::response::Response;

use super::json::json;

/// The OpenAPI document.
pub async fn document() -> Response {
    json(
        &serde_json::json!({"openapi": "3.1.0", "info": {"title": "fleetbench gateway", "version": env!("CARGO_PKG_VERSION")}, "paths": {}}),
    )
}
