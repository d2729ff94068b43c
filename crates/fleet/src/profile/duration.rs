//! Durations as scenario files write them: humantime strings ("250ms", "10s", "1h 30m"),
//! never bare numbers, and at most [`MAX_DURATION`].

use std::borrow::Cow;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserializer;

/// Longest duration of any kind a scenario may give (30 days): keeps every
/// `Instant + Duration` of a run far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);

/// The JSON Schema of a duration string (use with `#[schemars(with = "HumanDuration")]` on a
/// `Duration` field deserialized by [`deserialize`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration;

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^\\s*([0-9]+(\\.[0-9]+)?\\s*[A-Za-zµ]+\\s*)+$",
            "description": "A duration with a unit: \"250ms\", \"10s\", \"1m 30s\"."
        })
    }
}

struct Visitor;

impl serde::de::Visitor<'_> for Visitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a duration string like \"250ms\" or \"10s\"")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
        let d = humantime::parse_duration(v.trim()).map_err(|e| {
            E::custom(format!(
                "expected a duration like \"250ms\" or \"10s\", got \"{v}\" ({e})"
            ))
        })?;
        if d > MAX_DURATION {
            return Err(E::custom(format!(
                "expected a duration of at most {} (30 days), got \"{v}\"",
                humantime::format_duration(MAX_DURATION)
            )));
        }
        Ok(d)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "expected a duration string with a unit like \"{v}s\" or \"{v}ms\", got the bare number {v}"
        )))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "expected a duration string with a unit like \"{v}s\", got the bare number {v}"
        )))
    }
}

/// Deserializes a humantime string (for `#[serde(deserialize_with = ...)]`).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(Visitor)
}

/// Deserializes an optional humantime string (with `#[serde(default)]`).
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize(deserializer).map(Some)
}
