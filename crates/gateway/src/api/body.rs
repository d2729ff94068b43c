//! The request-body deadline: a body must arrive whole within `body_timeout` (408 and the
//! connection closed otherwise), and within `max_body_bytes` (413).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// How much body a request may send, and how fast.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body in bytes (413 beyond).
    pub max_bytes: usize,
    /// Longest time from the end of the head to the end of the body (408 beyond).
    pub timeout: Duration,
}

/// Reads the whole body within the limits before the handler runs, so a client sending
/// it at one byte a second holds its connection for `timeout` at most.
pub async fn read_within(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.max_bytes);
    match tokio::time::timeout(limits.timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(error)) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            let error = if too_large {
                ApiError::too_large(limits.max_bytes)
            } else {
                ApiError::bad_request(format!("body: could not be read: {error}"))
            };
            closing(error)
        }
        Err(_) => closing(ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!(
                "body: not received within {} ms",
                limits.timeout.as_millis()
            ),
            retry_after: None,
        }),
    }
}

/// The error, with the connection closed after it (the rest of the body is not read).
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
