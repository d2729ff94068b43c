//! Devices: LwM2M endpoints (gateways) and their attached devices (Object 25 sub-devices).

use serde::Serialize;

use super::ids::ObjectId;
use super::timestamp::Timestamp;

/// A device as served by `GET /devices/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Unique name: the LwM2M endpoint name, or the Object 25 Device ID of a sub-device.
    pub unique_id: String,
    /// Display name (defaults to `unique_id`).
    pub name: String,
    /// The gateway this device is attached to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_device_id: Option<ObjectId>,
    /// Devices attached to this one.
    pub attached_device_ids: Vec<ObjectId>,
    /// Whether the device (or its gateway) currently holds a live LwM2M registration.
    pub active: bool,
    /// How the gateway reaches the device over LwM2M.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lwm2m: Option<Lwm2mRegistration>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// `lwm2m` for registered devices, `api` for devices created over REST.
    pub origin: &'static str,
}

/// LwM2M reachability of a device.
#[derive(Debug, Clone, Serialize)]
pub struct Lwm2mRegistration {
    /// Endpoint name requests are sent to (the gateway's, for a sub-device).
    pub endpoint: String,
    /// Object 25 prefix of a sub-device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Registration handle (`rd/<id>`), gateways only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<String>,
    /// The UDP address the registration came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Registration lifetime in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<u64>,
    /// Binding mode (`U`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    /// LwM2M enabler version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lwm2m_version: Option<String>,
    /// Queue mode requested.
    pub queue_mode: bool,
    /// Objects and instances (CoRE link format) as registered.
    pub objects: String,
    /// Last Register.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<Timestamp>,
    /// Last Register or Update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_at: Option<Timestamp>,
    /// When the registration lapses without an Update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}
