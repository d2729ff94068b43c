//! JSON in and out: a body extractor whose errors name the field path and the position, and
//! a response type for pre-rendered JSON.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, truncated};

/// A JSON request body of type `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json_content_type(request.headers())?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_error)?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// 415 unless `Content-Type` is `application/json` or `application/<x>+json`.
pub fn require_json_content_type(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let essence = given
        .and_then(|text| text.split(';').next())
        .map(|text| text.trim().to_ascii_lowercase());
    let is_json = essence.as_deref().is_some_and(|essence| {
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!(
                "Content-Type: {}: expected application/json",
                given.map_or("missing".to_owned(), |text| format!(
                    "{:?}",
                    truncated(text)
                ))
            ),
            retry_after: None,
        })
    }
}

/// Maps a body-reading failure (413 for an oversize body) to an API error.
pub fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("body: {}", rejection.body_text()),
            retry_after: None,
        }
    } else {
        ApiError::bad_request(format!(
            "body: could not be read: {}",
            rejection.body_text()
        ))
    }
}

/// Parses `bytes` as `T`; errors name the field path (`retry_options.timeout`) and the line
/// and column.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("body: empty; expected a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        describe(&path, &inner)
    })?;
    deserializer.end().map_err(|error| describe(".", &error))?;
    Ok(value)
}

fn describe(path: &str, error: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let position = format!("line {} column {}", error.line(), error.column());
    let text = error.to_string();
    let reason = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(reason, _)| reason);
    let field = if path == "." || path.is_empty() {
        "body"
    } else {
        path
    };
    match error.classify() {
        Category::Syntax => {
            ApiError::bad_request(format!("body: malformed JSON at {position}: {reason}"))
        }
        Category::Eof => {
            ApiError::bad_request(format!("body: JSON ends early at {position}: {reason}"))
        }
        Category::Data | Category::Io => {
            ApiError::bad_request(format!("{field}: {reason} (at {position})"))
        }
    }
}

/// A pre-rendered JSON response body.
#[derive(Debug, Clone)]
pub struct RawJson(pub Vec<u8>);

impl IntoResponse for RawJson {
    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// Serializes `value` as a JSON response.
pub fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => RawJson(bytes).into_response(),
        Err(error) => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("could not render the answer: {error}"),
            retry_after: None,
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::CommandRequest;

    #[test]
    fn syntax_errors_give_line_and_column() {
        let error =
            parse_json::<CommandRequest>(b"{\n  \"command_type\": \"reboot\",,\n}").unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(
            error
                .message
                .starts_with("body: malformed JSON at line 2 column"),
            "{}",
            error.message
        );
    }

    #[test]
    fn type_errors_name_the_field_path() {
        let error =
            parse_json::<CommandRequest>(br#"{"command_type":"reboot","attached_device_ids":[1]}"#)
                .unwrap_err();
        assert!(
            error
                .message
                .starts_with("attached_device_ids[0]: invalid type: integer `1`"),
            "{}",
            error.message
        );
        let error =
            parse_json::<CommandRequest>(br#"{"command_type":"reboot","timout":5}"#).unwrap_err();
        assert!(
            error.message.contains("unknown field `timout`"),
            "{}",
            error.message
        );
        let error = parse_json::<CommandRequest>(b"").unwrap_err();
        assert_eq!(error.message, "body: empty; expected a JSON object");
    }
}
