//! `GET /health` and `GET /metrics` [extensions].

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::json::json;
use crate::engine::metrics::Gauges;

/// `GET /health`: `{"status":"ok", ...}`.
pub async fn health(State(state): State<AppState>) -> Response {
    let shared = state.engine.state();
    json(&serde_json::json!({
        "status": "ok",
        "devices": shared.devices.len(),
        "commands_in_flight": state.engine.in_flight(),
        "time": shared.now(),
    }))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let shared = state.engine.state();
    let gauges = Gauges {
        in_flight: state.engine.in_flight(),
        active_devices: shared.devices.active(),
        devices: shared.devices.len(),
        observations: state.engine.observations(),
        stored_commands: shared.commands.len(),
    };
    let body = shared.metrics.render(gauges);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}
