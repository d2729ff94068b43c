//! The body of `POST /gateway_commands` as received, before validation.

use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// A gateway command request. Every field is optional here so that validation, not the
/// JSON decoder, names what is missing. Unknown fields are rejected.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// Command type (required).
    pub command_type: Option<String>,
    /// Addressed device `_id` (or `unique_id`).
    pub device_id: Option<String>,
    /// Values for the device.
    pub payload: Option<Map<String, Value>>,
    /// `{start_datetime, end_datetime, retry_interval}`.
    pub schedule: Option<Value>,
    /// Whole-command deadline in seconds.
    pub timeout: Option<Number>,
    /// Setting `_id`.
    pub settings_id: Option<String>,
    /// Alternative spelling of `settings_id`.
    pub setting_id: Option<String>,
    /// User-defined command `_id`.
    pub command_id: Option<String>,
    /// Software update `_id`.
    pub software_update_id: Option<String>,
    /// Attached devices to target through the addressed gateway.
    pub attached_device_ids: Option<Vec<String>>,
    /// `{timeout, max_retries, retry_strategy}`.
    pub retry_options: Option<Value>,
    /// LwM2M sub-command.
    #[serde(rename = "type")]
    pub lwm2m_type: Option<String>,
    /// LwM2M path.
    pub endpoint: Option<String>,
    /// Write value or execute arguments.
    pub data: Option<Value>,
    /// File path on the device.
    pub filepath: Option<String>,
    /// File to push.
    pub file_id: Option<String>,
    /// `data_restriction` value (also accepted in `payload`).
    pub enable: Option<Value>,
    /// `restore_backup` value (also accepted in `payload`).
    pub url: Option<Value>,
    /// `log_level` value (also accepted in `payload`).
    pub level: Option<Value>,
    /// Company, echoed.
    pub company_id: Option<String>,
    /// User, echoed.
    pub user_id: Option<String>,
    /// Name, echoed.
    pub name: Option<String>,
    /// Accepted and ignored (always `cloud`).
    pub origin: Option<String>,
    /// Devices of a bulk request (`POST /devices/bulk/{command_type}` only).
    pub device_ids: Option<Vec<String>>,
}
