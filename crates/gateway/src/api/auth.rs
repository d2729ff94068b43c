//! Authentication: the raw token in `Authorization` (no `Bearer` prefix), as EdgeIQ does.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

/// Lets the request through only with a configured token.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    match token {
        Some(token) if state.tokens.contains(token) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}
