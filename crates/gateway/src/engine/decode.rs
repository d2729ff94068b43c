//! Turns a device's answer into the `result` of a status entry.

use base64::Engine as _;
use fleetbench_lwm2m::codec;
use fleetbench_lwm2m::content_format::ContentFormat;
use fleetbench_lwm2m::path::Lwm2mPath;
use fleetbench_lwm2m::value::Value;
use serde_json::json;

use super::link::OperationOutcome;

/// `{content_format, values: [{path, value}], text}` for a read answer on `path`.
pub fn read_result(outcome: &OperationOutcome, path: &Lwm2mPath) -> serde_json::Value {
    let text = std::str::from_utf8(&outcome.payload)
        .ok()
        .map(str::to_owned);
    let (values, error) = match outcome.content_format {
        None | Some(0) => (
            vec![json!({"path": path.to_string(), "value": text.clone().unwrap_or_default()})],
            None,
        ),
        Some(42) => (
            vec![json!({"path": path.to_string(), "value": base64(&outcome.payload)})],
            None,
        ),
        Some(number) => match ContentFormat::from_number(number) {
            Some(format) => match codec::decode(format, path, &outcome.payload, &|_| None) {
                Ok(records) => (
                    records
                        .iter()
                        .map(|r| json!({"path": r.path.to_string(), "value": value_json(&r.value)}))
                        .collect(),
                    None,
                ),
                Err(error) => (Vec::new(), Some(error.to_string())),
            },
            None => (Vec::new(), Some(format!("unknown content format {number}"))),
        },
    };
    let mut result = json!({
        "content_format": outcome.content_format,
        "values": values,
        "text": text,
    });
    if let (Some(error), Some(object)) = (error, result.as_object_mut()) {
        object.insert("decode_error".to_owned(), json!(error));
    }
    result
}

/// The first decoded value of a read answer (used for notifications and Update Result).
pub fn first_value(outcome: &OperationOutcome, path: &Lwm2mPath) -> serde_json::Value {
    read_result(outcome, path)
        .get("values")
        .and_then(|values| values.get(0))
        .and_then(|value| value.get("value"))
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// A resource value as JSON.
pub fn value_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Integer(n) | Value::Time(n) => json!(n),
        Value::UnsignedInteger(n) => json!(n),
        Value::Float(f) => json!(f),
        Value::Boolean(b) => json!(b),
        Value::String(s) | Value::CoreLink(s) => json!(s),
        Value::Opaque(bytes) => json!(base64(bytes)),
        Value::ObjectLink { object, instance } => json!(format!("{object}:{instance}")),
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads an integer from a single-resource answer (text/plain, TLV or SenML).
pub fn integer(outcome: &OperationOutcome, path: &Lwm2mPath) -> Option<i64> {
    match first_value(outcome, path) {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn text_plain_read_is_kept_as_text() {
        let outcome = OperationOutcome {
            code: "2.05".into(),
            content_format: Some(0),
            payload: Bytes::from_static(b"21.5"),
        };
        let path: Lwm2mPath = "/3303/0/5700".parse().unwrap();
        let result = read_result(&outcome, &path);
        assert_eq!(result["values"][0]["path"], "/3303/0/5700");
        assert_eq!(result["values"][0]["value"], "21.5");
        assert_eq!(result["text"], "21.5");
        assert_eq!(
            integer(
                &OperationOutcome {
                    payload: Bytes::from_static(b"1"),
                    ..outcome
                },
                &path
            ),
            Some(1)
        );
    }
}
