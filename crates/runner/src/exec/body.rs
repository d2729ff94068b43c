//! Request bodies of `POST /devices/{id}/gateway_commands`.

use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::scenario::{CommandSpec, RetryOptions};

/// The part of the body that is the same for every send of `spec`.
pub fn base_body(spec: &CommandSpec) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("command_type".into(), json!(spec.command_type));
    if let Some(kind) = &spec.kind {
        body.insert("type".into(), json!(kind));
    }
    if let Some(endpoint) = &spec.endpoint {
        body.insert("endpoint".into(), json!(endpoint));
    }
    if let Some(data) = &spec.data {
        body.insert("data".into(), json!(data));
    }
    if let Some(timeout) = spec.timeout {
        body.insert("timeout".into(), json!(timeout.as_secs()));
    }
    if let Some(retry) = &spec.retry_options {
        body.insert("retry_options".into(), retry_json(retry));
    }
    for (k, v) in &spec.extra {
        body.insert(k.clone(), v.clone());
    }
    body
}

fn retry_json(r: &RetryOptions) -> Value {
    let mut out = Map::new();
    if let Some(t) = r.timeout {
        out.insert("timeout".into(), json!(t.as_secs()));
    }
    if let Some(m) = r.max_retries {
        out.insert("max_retries".into(), json!(m));
    }
    if let Some(s) = &r.retry_strategy {
        let mut st = Map::new();
        st.insert("type".into(), json!(s.kind));
        let secs = |d: Option<Duration>| d.map(|d| json!(d.as_secs()));
        for (name, value) in [
            ("fixed_interval", secs(s.fixed_interval)),
            (
                "exponential_base_interval",
                secs(s.exponential_base_interval),
            ),
            (
                "exponential_multiplier",
                s.exponential_multiplier.map(|m| json!(m)),
            ),
            ("exponential_max_interval", secs(s.exponential_max_interval)),
        ] {
            if let Some(v) = value {
                st.insert(name.into(), v);
            }
        }
        out.insert("retry_strategy".into(), Value::Object(st));
    }
    Value::Object(out)
}

/// The full body for one send at wall-clock `now`.
pub fn send_body(
    base: &Map<String, Value>,
    spec: &CommandSpec,
    now: OffsetDateTime,
    attached: Option<&str>,
) -> Value {
    let mut body = base.clone();
    if let Some(s) = spec.schedule {
        let start = now + s.opens_after;
        let end = start + s.lasts;
        body.insert(
            "schedule".into(),
            json!({"start_datetime": rfc3339(start), "end_datetime": rfc3339(end)}),
        );
    }
    if let Some(id) = attached {
        body.insert("attached_device_ids".into(), json!([id]));
    }
    Value::Object(body)
}

/// RFC 3339 UTC with microseconds.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// How long the runner polls a command of `spec` before counting it `unfinished`: the
/// gateway-side worst case (every attempt timing out, every back-off, the schedule window)
/// plus a grace period.
pub fn give_up_after(spec: &CommandSpec, default_timeout: Duration) -> Duration {
    let grace = Duration::from_secs(10);
    let timeout = spec.timeout.unwrap_or(default_timeout);
    let mut total = timeout;
    if let Some(r) = &spec.retry_options {
        let attempt = r.timeout.unwrap_or(timeout);
        let retries = r.max_retries.unwrap_or(0);
        total = attempt * (retries + 1);
        if let Some(s) = &r.retry_strategy {
            let mut pause = s
                .exponential_base_interval
                .or(s.fixed_interval)
                .unwrap_or_default();
            for _ in 0..retries {
                total += pause;
                if s.kind == "exponential" {
                    let grown = pause.mul_f64(s.exponential_multiplier.unwrap_or(2.0));
                    pause = s.exponential_max_interval.map_or(grown, |m| grown.min(m));
                }
            }
        }
        total = total.max(timeout);
    }
    if let Some(s) = spec.schedule {
        total += s.opens_after + s.lasts;
    }
    total + grace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn spec() -> CommandSpec {
        let text = r#"
name = "b"
duration = "1s"
load = { model = "constant", rate = 1 }
[[fleet.classes]]
name = "a"
count = 1
[[commands]]
command_type = "lwm2m_request"
type = "write"
endpoint = "/3311/0/5850"
data = "1"
timeout = "5s"
schedule = { opens_after = "2s", lasts = "1m" }
retry_options = { timeout = "3s", max_retries = 2, retry_strategy = { type = "exponential", exponential_base_interval = "1s", exponential_multiplier = 2, exponential_max_interval = "10s" } }
extra = { name = "x" }
"#;
        Scenario::from_str(text, "b.toml")
            .unwrap()
            .commands
            .remove(0)
    }

    #[test]
    fn body_carries_every_field_in_api_units() {
        let s = spec();
        let now = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let body = send_body(&base_body(&s), &s, now, Some("sub1"));
        assert_eq!(body["command_type"], "lwm2m_request");
        assert_eq!(body["type"], "write");
        assert_eq!(body["endpoint"], "/3311/0/5850");
        assert_eq!(body["data"], "1");
        assert_eq!(body["timeout"], 5);
        assert_eq!(body["retry_options"]["timeout"], 3);
        assert_eq!(body["retry_options"]["max_retries"], 2);
        assert_eq!(
            body["retry_options"]["retry_strategy"]["type"],
            "exponential"
        );
        assert_eq!(
            body["retry_options"]["retry_strategy"]["exponential_max_interval"],
            10
        );
        assert_eq!(body["schedule"]["start_datetime"], "2026-01-01T00:00:02Z");
        assert_eq!(body["schedule"]["end_datetime"], "2026-01-01T00:01:02Z");
        assert_eq!(body["attached_device_ids"], json!(["sub1"]));
        assert_eq!(body["name"], "x");
    }

    #[test]
    fn give_up_covers_retries_backoff_and_schedule() {
        // 3 attempts × 3 s + back-off 1 s + 2 s + schedule 62 s + grace 10 s.
        assert_eq!(
            give_up_after(&spec(), Duration::from_secs(30)),
            Duration::from_secs(9 + 3 + 62 + 10)
        );
    }

    #[test]
    fn timestamps_have_microseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_456_789).unwrap();
        assert_eq!(rfc3339(t), "2026-01-01T00:00:00.123456Z");
    }
}
