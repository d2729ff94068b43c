//! The standard objects of a simulated device, one file per object, and their ids.
//!
//! | object | who has it |
//! |---|---|
//! | 0 Security | every LwM2M client (gateway, per-endpoint sub-device); never listed, never readable by the DM server |
//! | 1 Server | every LwM2M client |
//! | 3 Device | every data model |
//! | 4 Connectivity Monitoring | every LwM2M client |
//! | 5 Firmware Update | every data model |
//! | 25 LwM2M Gateway | the gateway (one instance per sub-device) |
//! | 3303 Temperature | every data model |
//! | 3304 Humidity, 3311 Light Control | sub-devices |
//! | 33000 fleetbench agent | every data model |

mod agent;
pub mod connectivity;
pub mod device;
mod firmware;
mod gateway;
mod ipso;
mod security;
mod server;

pub use agent::agent;
pub use connectivity::{ConnectivityInfo, connectivity};
pub use device::{DeviceInfo, device};
pub use firmware::firmware;
pub use gateway::{GatewayEntry, gateway};
pub use ipso::{humidity, ipso_instance, light_control, temperature};
pub use security::security;
pub use server::{ServerSettings, server};

use std::collections::BTreeMap;

use fleetbench_lwm2m::value::Value;

use super::tree::{Instance, Object, Resource};

/// Object 0, Security.
pub const SECURITY: u16 = 0;
/// Object 1, Server.
pub const SERVER: u16 = 1;
/// Object 3, Device.
pub const DEVICE: u16 = 3;
/// Object 4, Connectivity Monitoring.
pub const CONNECTIVITY: u16 = 4;
/// Object 5, Firmware Update.
pub const FIRMWARE: u16 = 5;
/// Object 21, OSCORE (never listed in a registration either).
pub const OSCORE: u16 = 21;
/// Object 25, LwM2M Gateway.
pub const GATEWAY: u16 = 25;
/// Object 3303, Temperature.
pub const TEMPERATURE: u16 = 3303;
/// Object 3304, Humidity.
pub const HUMIDITY: u16 = 3304;
/// Object 3311, Light Control.
pub const LIGHT_CONTROL: u16 = 3311;
/// Object 33000, the fleetbench agent (docs/gateway-api.md §1.1).
pub const AGENT: u16 = 33000;

/// `/1/0/1` Lifetime.
pub const SERVER_LIFETIME: u16 = 1;
/// `/1/0/2` Default Minimum Period.
pub const SERVER_DEFAULT_PMIN: u16 = 2;
/// `/1/0/3` Default Maximum Period.
pub const SERVER_DEFAULT_PMAX: u16 = 3;
/// `/1/0/7` Binding.
pub const SERVER_BINDING: u16 = 7;
/// `/1/0/8` Registration Update Trigger.
pub const SERVER_UPDATE_TRIGGER: u16 = 8;

/// `/3/0/3` Firmware Version.
pub const DEVICE_FIRMWARE_VERSION: u16 = 3;
/// `/3/0/4` Reboot.
pub const DEVICE_REBOOT: u16 = 4;
/// `/3/0/9` Battery Level.
pub const DEVICE_BATTERY: u16 = 9;
/// `/3/0/10` Memory Free.
pub const DEVICE_MEMORY_FREE: u16 = 10;
/// `/3/0/13` Current Time.
pub const DEVICE_CURRENT_TIME: u16 = 13;

/// `/4/0/2` Radio Signal Strength.
pub const CONNECTIVITY_RSSI: u16 = 2;
/// `/4/0/3` Link Quality.
pub const CONNECTIVITY_LINK_QUALITY: u16 = 3;
/// `/4/0/4` IP Addresses.
pub const CONNECTIVITY_IP: u16 = 4;

/// `/5/0/0` Package.
pub const FIRMWARE_PACKAGE: u16 = 0;
/// `/5/0/1` Package URI.
pub const FIRMWARE_PACKAGE_URI: u16 = 1;
/// `/5/0/2` Update.
pub const FIRMWARE_UPDATE: u16 = 2;
/// `/5/0/3` State: 0 Idle, 1 Downloading, 2 Downloaded, 3 Updating.
pub const FIRMWARE_STATE: u16 = 3;
/// `/5/0/5` Update Result: 0 initial, 1 success, 2..11 failures.
pub const FIRMWARE_RESULT: u16 = 5;
/// `/5/0/6` Package Name.
pub const FIRMWARE_PACKAGE_NAME: u16 = 6;
/// `/5/0/7` Package Version.
pub const FIRMWARE_PACKAGE_VERSION: u16 = 7;
/// `/5/0/10` Cancel.
pub const FIRMWARE_CANCEL: u16 = 10;

/// IPSO `5700` Sensor Value.
pub const SENSOR_VALUE: u16 = 5700;
/// IPSO `5601` Min Measured Value.
pub const SENSOR_MIN: u16 = 5601;
/// IPSO `5602` Max Measured Value.
pub const SENSOR_MAX: u16 = 5602;
/// IPSO `5605` Reset Min and Max Measured Values.
pub const SENSOR_RESET_EXTREMES: u16 = 5605;
/// IPSO `5850` On/Off.
pub const LIGHT_ON_OFF: u16 = 5850;
/// IPSO `5851` Dimmer.
pub const LIGHT_DIMMER: u16 = 5851;
/// IPSO `5852` On Time.
pub const LIGHT_ON_TIME: u16 = 5852;
/// IPSO `5805` Cumulative Active Power.
pub const LIGHT_ENERGY: u16 = 5805;

/// `/33000/0/8` File Path.
pub const AGENT_FILE_PATH: u16 = 8;
/// `/33000/0/9` File Data.
pub const AGENT_FILE_DATA: u16 = 9;

/// The firmware version every simulated device starts with.
pub const FIRMWARE_VERSION: &str = "1.0.0";

/// An object with instance 0 only.
pub(crate) fn single_instance(version: Option<&'static str>, resources: Instance) -> Object {
    Object {
        version,
        instances: BTreeMap::from([(0, resources)]),
    }
}

/// Builds an instance from `(id, resource)` pairs.
pub(crate) fn instance(resources: impl IntoIterator<Item = (u16, Resource)>) -> Instance {
    resources.into_iter().collect()
}

/// A string value.
pub(crate) fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

/// Whether `object` may hold several instances created and deleted by the server.
pub fn is_creatable(object: u16) -> bool {
    matches!(object, TEMPERATURE | HUMIDITY | LIGHT_CONTROL)
}
