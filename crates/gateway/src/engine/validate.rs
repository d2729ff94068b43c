//! Turns a [`CommandRequest`] into a [`CommandSpec`], or an error that names the field.

use std::collections::HashSet;
use std::time::Duration;

use fleetbench_lwm2m::path::Lwm2mPath;
use serde_json::{Map, Number, Value};

use super::request::CommandRequest;
use crate::model::command::{MAX_DELAY, MAX_RETRIES_LIMIT};
use crate::model::kinds::LogLevel;
use crate::model::{
    CommandSpec, CommandType, Device, Lwm2mType, ObjectId, RetryOptions, RetryStrategy, Schedule,
    Timestamp,
};
use crate::store::{DeviceStore, FileStore, SoftwareUpdateStore};

/// Largest accepted `timeout` (one year), in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 365 * 86_400;

/// Longest accepted `filepath`, in bytes.
pub const MAX_FILEPATH: usize = 255;

/// Longest accepted `name`, in bytes.
pub const MAX_NAME: usize = 1024;

/// Longest accepted id-like text field (`device_id`, `command_id`, `company_id`, ...), in
/// bytes.
pub const MAX_ID_FIELD: usize = 255;

/// Most `attached_device_ids` in one command.
pub const MAX_ATTACHED: usize = 10_000;

/// Refuses text fields over their byte limit or holding NUL characters.
fn check_text_fields(request: &CommandRequest) -> Result<(), Rejection> {
    let fields: [(&str, Option<&String>, usize); 12] = [
        ("name", request.name.as_ref(), MAX_NAME),
        ("device_id", request.device_id.as_ref(), MAX_ID_FIELD),
        ("settings_id", request.settings_id.as_ref(), MAX_ID_FIELD),
        ("setting_id", request.setting_id.as_ref(), MAX_ID_FIELD),
        ("command_id", request.command_id.as_ref(), MAX_ID_FIELD),
        (
            "software_update_id",
            request.software_update_id.as_ref(),
            MAX_ID_FIELD,
        ),
        ("endpoint", request.endpoint.as_ref(), MAX_ID_FIELD),
        ("filepath", request.filepath.as_ref(), MAX_FILEPATH),
        ("file_id", request.file_id.as_ref(), MAX_ID_FIELD),
        ("company_id", request.company_id.as_ref(), MAX_ID_FIELD),
        ("user_id", request.user_id.as_ref(), MAX_ID_FIELD),
        ("origin", request.origin.as_ref(), MAX_ID_FIELD),
    ];
    for (field, value, limit) in fields {
        if let Some(value) = value {
            check_text(field, value, limit)?;
        }
    }
    if let Some(ids) = &request.attached_device_ids {
        if ids.len() > MAX_ATTACHED {
            return Err(invalid(
                "attached_device_ids",
                format!("{} ids: at most {MAX_ATTACHED}", ids.len()),
            ));
        }
        for (index, id) in ids.iter().enumerate() {
            check_text(&format!("attached_device_ids[{index}]"), id, MAX_ID_FIELD)?;
        }
    }
    Ok(())
}

/// `value` has at most `limit` bytes and no NUL character.
pub fn check_text(field: &str, value: &str, limit: usize) -> Result<(), Rejection> {
    if value.len() > limit {
        return Err(invalid(
            field,
            format!("{} bytes: at most {limit} are accepted", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(invalid(field, "contains a NUL character"));
    }
    Ok(())
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// 400: the message names the field and the reason.
    #[error("{0}")]
    Invalid(String),
    /// 404: an addressed device does not exist.
    #[error("{0}")]
    NotFound(String),
}

fn invalid(field: &str, reason: impl std::fmt::Display) -> Rejection {
    Rejection::Invalid(format!("{field}: {reason}"))
}

/// What validation needs to look up.
#[derive(Debug, Clone, Copy)]
pub struct Lookups<'a> {
    /// Devices.
    pub devices: &'a DeviceStore,
    /// Files.
    pub files: &'a FileStore,
    /// Software updates.
    pub software_updates: &'a SoftwareUpdateStore,
    /// `timeout` when none is given.
    pub default_timeout: Duration,
    /// The time now (to bound `schedule`).
    pub now: Timestamp,
    /// How far ahead `schedule` may start or end.
    pub max_schedule_ahead: Duration,
}

/// Validates `request`. `addressed` is the device named in the URL path, if any.
pub fn validate(
    lookups: Lookups<'_>,
    request: CommandRequest,
    addressed: Option<std::sync::Arc<Device>>,
) -> Result<CommandSpec, Rejection> {
    check_text_fields(&request)?;
    let command_type = match &request.command_type {
        None => return Err(invalid("command_type", "required")),
        Some(text) => CommandType::parse(text).map_err(|e| invalid("command_type", e))?,
    };
    if request.device_ids.is_some() {
        return Err(invalid(
            "device_ids",
            "only accepted by POST /devices/bulk/{command_type}",
        ));
    }
    let device = resolve_device(lookups.devices, request.device_id.as_deref(), addressed)?;
    let timeout = parse_timeout(request.timeout.as_ref(), lookups.default_timeout)?;
    let attached = resolve_attached(
        lookups.devices,
        &device,
        request.attached_device_ids.as_deref(),
    )?;
    let targets = if attached.is_empty() {
        vec![device.id]
    } else {
        attached.clone()
    };
    let schedule = request
        .schedule
        .as_ref()
        .map(|raw| parse_schedule(raw, &lookups))
        .transpose()?;
    let retry_options = request
        .retry_options
        .as_ref()
        .map(parse_retry_options)
        .transpose()?;
    let settings_id = match (request.settings_id.clone(), request.setting_id.clone()) {
        (Some(a), Some(b)) if a != b => {
            return Err(invalid(
                "settings_id",
                format!("{a:?} conflicts with setting_id {b:?}"),
            ));
        }
        (a, b) => a.or(b),
    };
    let mut spec = CommandSpec {
        command_type,
        device_id: device.id,
        payload: request.payload.clone().unwrap_or_default(),
        schedule,
        timeout,
        settings_id,
        command_id: request.command_id.clone(),
        software_update_id: None,
        attached_device_ids: attached,
        retry_options,
        lwm2m_type: None,
        endpoint: None,
        data: None,
        filepath: None,
        file_id: None,
        company_id: request.company_id.clone(),
        user_id: request.user_id.clone(),
        name: request.name.clone(),
        origin: "cloud",
        targets,
        path: None,
    };
    let typed = TypedValues {
        enable: request.enable.clone(),
        url: request.url.clone(),
        level: request.level.clone(),
    };
    check_type_specific(lookups, &mut spec, &typed, &request)?;
    Ok(spec)
}

struct TypedValues {
    enable: Option<Value>,
    url: Option<Value>,
    level: Option<Value>,
}

fn resolve_device(
    devices: &DeviceStore,
    device_id: Option<&str>,
    addressed: Option<std::sync::Arc<Device>>,
) -> Result<std::sync::Arc<Device>, Rejection> {
    match (addressed, device_id) {
        (Some(device), None) => Ok(device),
        (Some(device), Some(given)) => {
            if given == device.id.to_string() || given == device.unique_id {
                Ok(device)
            } else {
                Err(invalid(
                    "device_id",
                    format!(
                        "{given:?} does not match the device in the path ({})",
                        device.id
                    ),
                ))
            }
        }
        (None, None) => Err(invalid("device_id", "required")),
        (None, Some(given)) => devices.find(given).ok_or_else(|| {
            Rejection::NotFound(format!(
                "device_id: no device with _id or unique_id {given:?}"
            ))
        }),
    }
}

fn parse_timeout(value: Option<&Number>, default: Duration) -> Result<u64, Rejection> {
    let Some(number) = value else {
        return Ok(default.as_secs().max(1));
    };
    positive_seconds("timeout", number).and_then(|secs| {
        if secs > MAX_TIMEOUT_SECS {
            Err(invalid(
                "timeout",
                format!("{secs} is over the maximum of {MAX_TIMEOUT_SECS} seconds"),
            ))
        } else {
            Ok(secs)
        }
    })
}

fn positive_seconds(field: &str, number: &Number) -> Result<u64, Rejection> {
    match number.as_u64() {
        Some(0) => Err(invalid(
            field,
            "must be a positive number of seconds, got 0",
        )),
        Some(secs) => Ok(secs),
        None if number.is_i64() => Err(invalid(
            field,
            format!("must be a positive number of seconds, got {number}"),
        )),
        None => Err(invalid(
            field,
            format!("must be a whole number of seconds, got {number}"),
        )),
    }
}

fn resolve_attached(
    devices: &DeviceStore,
    gateway: &Device,
    given: Option<&[String]>,
) -> Result<Vec<ObjectId>, Rejection> {
    let Some(given) = given else {
        return Ok(Vec::new());
    };
    let mut seen = HashSet::new();
    let mut ids = Vec::with_capacity(given.len());
    for (index, key) in given.iter().enumerate() {
        let field = format!("attached_device_ids[{index}]");
        let device = devices
            .find(key)
            .ok_or_else(|| invalid(&field, format!("no device with _id or unique_id {key:?}")))?;
        if !gateway.attached_device_ids.contains(&device.id) {
            return Err(invalid(
                &field,
                format!(
                    "device {} ({:?}) is not attached to gateway {} ({:?})",
                    device.id, device.unique_id, gateway.id, gateway.unique_id
                ),
            ));
        }
        if !seen.insert(device.id) {
            return Err(invalid(
                &field,
                format!("device {} is listed twice", device.id),
            ));
        }
        ids.push(device.id);
    }
    Ok(ids)
}

fn parse_schedule(raw: &Value, lookups: &Lookups<'_>) -> Result<Schedule, Rejection> {
    let Value::Object(object) = raw else {
        return Err(invalid(
            "schedule",
            format!("must be an object, got {}", kind_of(raw)),
        ));
    };
    only_fields(
        "schedule",
        object,
        &["start_datetime", "end_datetime", "retry_interval"],
    )?;
    let date = |name: &str| -> Result<Option<Timestamp>, Rejection> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Timestamp::parse(text)
                .map(Some)
                .map_err(|e| invalid(&format!("schedule.{name}"), e)),
            Some(other) => Err(invalid(
                &format!("schedule.{name}"),
                format!("must be an RFC 3339 string, got {}", kind_of(other)),
            )),
        }
    };
    let start = date("start_datetime")?;
    let end = date("end_datetime")?;
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        return Err(invalid(
            "schedule.end_datetime",
            format!("{end} is not after schedule.start_datetime {start}"),
        ));
    }
    let latest = lookups.now.get() + lookups.max_schedule_ahead;
    for (name, at) in [("start_datetime", start), ("end_datetime", end)] {
        if let Some(at) = at
            && at.get() > latest
        {
            return Err(invalid(
                &format!("schedule.{name}"),
                format!(
                    "{at} is more than {} s ahead (the gateway's max_schedule_ahead)",
                    lookups.max_schedule_ahead.as_secs()
                ),
            ));
        }
    }
    let retry_interval = match object.get("retry_interval") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_interval("schedule.retry_interval", value)?),
    };
    Ok(Schedule {
        raw: raw.clone(),
        start,
        end,
        retry_interval,
    })
}

/// Parses an interval: a number of seconds, or text `"90"`, `"90s"`, `"15m"`, `"2h"`.
fn parse_interval(field: &str, value: &Value) -> Result<Duration, Rejection> {
    let bad = || {
        invalid(
            field,
            format!(
                "{value} is not an interval: expected seconds (e.g. 90) or text like \"90s\", \"15m\", \"2h\""
            ),
        )
    };
    let seconds = match value {
        Value::Number(number) => number.as_f64().ok_or_else(bad)?,
        Value::String(text) => {
            let text = text.trim();
            let (digits, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
                Some((at, _)) => text.split_at(at),
                None => (text, "s"),
            };
            let scale = match unit {
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(bad()),
            };
            digits.trim().parse::<f64>().map_err(|_| bad())? * scale
        }
        _ => return Err(bad()),
    };
    if !seconds.is_finite() || seconds < 0.0 || seconds > MAX_DELAY.as_secs_f64() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_retry_options(raw: &Value) -> Result<RetryOptions, Rejection> {
    let Value::Object(object) = raw else {
        return Err(invalid(
            "retry_options",
            format!("must be an object, got {}", kind_of(raw)),
        ));
    };
    only_fields(
        "retry_options",
        object,
        &["timeout", "max_retries", "retry_strategy"],
    )?;
    let attempt_timeout = match object.get("timeout") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => {
            let secs = positive_seconds("retry_options.timeout", number)?;
            Some(Duration::from_secs(secs.min(MAX_TIMEOUT_SECS)))
        }
        Some(other) => {
            return Err(invalid(
                "retry_options.timeout",
                format!("must be a number of seconds, got {}", kind_of(other)),
            ));
        }
    };
    let max_retries = match object.get("max_retries") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => match number.as_u64() {
            Some(n) if n <= u64::from(MAX_RETRIES_LIMIT) => Some(n as u32),
            _ => {
                return Err(invalid(
                    "retry_options.max_retries",
                    format!("must be a whole number 0..={MAX_RETRIES_LIMIT}, got {number}"),
                ));
            }
        },
        Some(other) => {
            return Err(invalid(
                "retry_options.max_retries",
                format!("must be a number, got {}", kind_of(other)),
            ));
        }
    };
    let strategy = match object.get("retry_strategy") {
        None | Some(Value::Null) => None,
        Some(value) => parse_strategy(value)?,
    };
    Ok(RetryOptions {
        raw: raw.clone(),
        attempt_timeout,
        max_retries,
        strategy,
    })
}

fn parse_strategy(raw: &Value) -> Result<Option<RetryStrategy>, Rejection> {
    const FIELD: &str = "retry_options.retry_strategy";
    let Value::Object(object) = raw else {
        return Err(invalid(
            FIELD,
            format!("must be an object, got {}", kind_of(raw)),
        ));
    };
    only_fields(
        FIELD,
        object,
        &[
            "type",
            "fixed_interval",
            "exponential_base_interval",
            "exponential_multiplier",
            "exponential_max_interval",
        ],
    )?;
    let interval = |name: &str| -> Result<Option<Duration>, Rejection> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => parse_interval(&format!("{FIELD}.{name}"), value).map(Some),
        }
    };
    let kind = match object.get("type") {
        None | Some(Value::Null) => "",
        Some(Value::String(text)) => text.as_str(),
        Some(other) => {
            return Err(invalid(
                &format!("{FIELD}.type"),
                format!("must be a string, got {}", kind_of(other)),
            ));
        }
    };
    match kind {
        "" => Ok(interval("fixed_interval")?.map(|interval| RetryStrategy::Fixed { interval })),
        "fixed" | "fixed_interval" => {
            let interval = interval("fixed_interval")?.ok_or_else(|| {
                invalid(
                    &format!("{FIELD}.fixed_interval"),
                    "required when type is \"fixed\"",
                )
            })?;
            Ok(Some(RetryStrategy::Fixed { interval }))
        }
        "exponential" => {
            let base = interval("exponential_base_interval")?.ok_or_else(|| {
                invalid(
                    &format!("{FIELD}.exponential_base_interval"),
                    "required when type is \"exponential\"",
                )
            })?;
            let multiplier = match object.get("exponential_multiplier") {
                None | Some(Value::Null) => 2.0,
                Some(Value::Number(number)) => match number.as_f64() {
                    Some(m) if (1.0..=1000.0).contains(&m) => m,
                    _ => {
                        return Err(invalid(
                            &format!("{FIELD}.exponential_multiplier"),
                            format!("must be 1..=1000, got {number}"),
                        ));
                    }
                },
                Some(other) => {
                    return Err(invalid(
                        &format!("{FIELD}.exponential_multiplier"),
                        format!("must be a number, got {}", kind_of(other)),
                    ));
                }
            };
            let max = interval("exponential_max_interval")?;
            Ok(Some(RetryStrategy::Exponential {
                base,
                multiplier,
                max,
            }))
        }
        other => Err(invalid(
            &format!("{FIELD}.type"),
            format!("unknown value {other:?}; expected one of fixed, exponential"),
        )),
    }
}

fn check_type_specific(
    lookups: Lookups<'_>,
    spec: &mut CommandSpec,
    typed: &TypedValues,
    request: &CommandRequest,
) -> Result<(), Rejection> {
    let lwm2m_type = request
        .lwm2m_type
        .as_deref()
        .map(|text| Lwm2mType::parse(text).map_err(|e| invalid("type", e)))
        .transpose()?;
    match spec.command_type {
        CommandType::Lwm2mRequest | CommandType::Lwm2mFile => {
            let kind = lwm2m_type.ok_or_else(|| {
                invalid(
                    "type",
                    format!("required for command_type {}", spec.command_type),
                )
            })?;
            let family = if kind.is_file() {
                CommandType::Lwm2mFile
            } else {
                CommandType::Lwm2mRequest
            };
            if family != spec.command_type {
                return Err(invalid(
                    "type",
                    format!(
                        "{:?} is not valid with command_type {}; use {family}",
                        kind.as_str(),
                        spec.command_type
                    ),
                ));
            }
            spec.lwm2m_type = Some(kind);
        }
        _ if lwm2m_type.is_some() => {
            return Err(invalid(
                "type",
                "only valid with command_type lwm2m_request or lwm2m_file",
            ));
        }
        _ => {}
    }
    match spec.command_type {
        CommandType::Lwm2mRequest => check_lwm2m_request(lookups, spec, request),
        CommandType::Lwm2mFile => check_lwm2m_file(lookups, spec, request),
        CommandType::SoftwareUpdate => check_software_update(lookups, spec, request),
        CommandType::DataRestriction => {
            let value = merged(&mut spec.payload, "enable", typed.enable.clone());
            match value {
                Some(Value::Bool(_)) => Ok(()),
                None => Err(invalid(
                    "enable",
                    "required for data_restriction (top level or in payload)",
                )),
                Some(other) => Err(invalid(
                    "enable",
                    format!("must be true or false, got {other}"),
                )),
            }
        }
        CommandType::RestoreBackup => {
            let value = merged(&mut spec.payload, "url", typed.url.clone());
            match value {
                Some(Value::String(url)) => check_backup_url(&url),
                None => Err(invalid(
                    "url",
                    "required for restore_backup (top level or in payload)",
                )),
                Some(other) => Err(invalid("url", format!("must be a string, got {other}"))),
            }
        }
        CommandType::LogLevel => {
            let value = merged(&mut spec.payload, "level", typed.level.clone());
            match value {
                Some(Value::String(level)) => LogLevel::parse(&level)
                    .map(|_| ())
                    .map_err(|e| invalid("level", e)),
                None => Err(invalid(
                    "level",
                    "required for log_level (top level or in payload)",
                )),
                Some(other) => Err(invalid("level", format!("must be a string, got {other}"))),
            }
        }
        _ => Ok(()),
    }
}

/// Copies a top-level value into `payload` (top level wins) and returns the effective value.
fn merged(payload: &mut Map<String, Value>, key: &str, top_level: Option<Value>) -> Option<Value> {
    if let Some(value) = top_level.filter(|v| !v.is_null()) {
        payload.insert(key.to_owned(), value);
    }
    payload.get(key).filter(|v| !v.is_null()).cloned()
}

/// The URL travels as LwM2M Execute argument `0='<url>'`, whose value may hold only
/// printable ASCII other than space, `"`, `'` and `\`.
fn check_backup_url(url: &str) -> Result<(), Rejection> {
    if url.is_empty() || url.len() > 255 {
        return Err(invalid(
            "url",
            format!("must be 1..=255 characters, got {}", url.len()),
        ));
    }
    if let Some(bad) = url
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(invalid(
            "url",
            format!(
                "{url:?} contains {bad:?}: LwM2M execute arguments allow printable ASCII except space, quotes and backslash"
            ),
        ));
    }
    Ok(())
}

fn check_lwm2m_request(
    lookups: Lookups<'_>,
    spec: &mut CommandSpec,
    request: &CommandRequest,
) -> Result<(), Rejection> {
    let kind = spec.lwm2m_type.unwrap_or(Lwm2mType::Read);
    let text = request
        .endpoint
        .as_deref()
        .ok_or_else(|| invalid("endpoint", format!("required for type {kind}")))?;
    let path: Lwm2mPath = text
        .parse()
        .map_err(|e| invalid("endpoint", format!("{text:?}: {e}")))?;
    if path.prefix.is_some()
        && let Some(target) = spec.targets.iter().find(|id| {
            lookups
                .devices
                .get(id)
                .is_some_and(|d| d.parent_device_id.is_some())
        })
    {
        return Err(invalid(
            "endpoint",
            format!(
                "{text:?} carries a sub-device prefix but target {target} is an attached device (its own prefix is added)"
            ),
        ));
    }
    match kind {
        Lwm2mType::Write if path.depth() < 3 => {
            return Err(invalid(
                "endpoint",
                format!("write needs a resource path /object/instance/resource, got {text:?}"),
            ));
        }
        Lwm2mType::Exec if path.depth() != 3 => {
            return Err(invalid(
                "endpoint",
                format!("exec needs a resource path /object/instance/resource, got {text:?}"),
            ));
        }
        _ => {}
    }
    spec.data = match &request.data {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        Some(Value::Bool(flag)) => Some(if *flag { "1" } else { "0" }.to_owned()),
        Some(other) => {
            return Err(invalid(
                "data",
                format!(
                    "must be a string, number or boolean, got {}",
                    kind_of(other)
                ),
            ));
        }
    };
    if kind == Lwm2mType::Write && spec.data.is_none() {
        return Err(invalid("data", "required for type write"));
    }
    spec.endpoint = Some(path.to_string());
    spec.path = Some(path);
    Ok(())
}

fn check_lwm2m_file(
    lookups: Lookups<'_>,
    spec: &mut CommandSpec,
    request: &CommandRequest,
) -> Result<(), Rejection> {
    let kind = spec.lwm2m_type.unwrap_or(Lwm2mType::FileDownload);
    let filepath = request
        .filepath
        .as_deref()
        .ok_or_else(|| invalid("filepath", format!("required for type {kind}")))?;
    if filepath.is_empty() || filepath.len() > MAX_FILEPATH {
        return Err(invalid(
            "filepath",
            format!("must be 1..={MAX_FILEPATH} bytes, got {}", filepath.len()),
        ));
    }
    spec.filepath = Some(filepath.to_owned());
    if kind == Lwm2mType::FileUpload {
        let text = request
            .file_id
            .as_deref()
            .ok_or_else(|| invalid("file_id", "required for type fileupload"))?;
        let id = ObjectId::parse(text)
            .ok_or_else(|| invalid("file_id", format!("{text:?} is not a 24-hex-digit id")))?;
        if lookups.files.get(&id).is_none() {
            return Err(invalid("file_id", format!("no file with _id {text:?}")));
        }
        spec.file_id = Some(id);
    }
    Ok(())
}

fn check_software_update(
    lookups: Lookups<'_>,
    spec: &mut CommandSpec,
    request: &CommandRequest,
) -> Result<(), Rejection> {
    let text = request.software_update_id.as_deref().ok_or_else(|| {
        invalid(
            "software_update_id",
            "required for command_type software_update",
        )
    })?;
    let id = ObjectId::parse(text).ok_or_else(|| {
        invalid(
            "software_update_id",
            format!("{text:?} is not a 24-hex-digit id"),
        )
    })?;
    let update = lookups.software_updates.get(&id).ok_or_else(|| {
        invalid(
            "software_update_id",
            format!("no software update with _id {text:?}"),
        )
    })?;
    if update.package().is_none() {
        return Err(invalid(
            "software_update_id",
            format!("software update {text} has no file with a file_id or link to deliver"),
        ));
    }
    spec.software_update_id = Some(id);
    Ok(())
}

fn only_fields(
    field: &str,
    object: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), Rejection> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(invalid(
            &format!("{field}.{key}"),
            format!("unknown field; expected one of {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
