//! Object 4, Connectivity Monitoring: bearer, signal strength and quality (seeded signals,
//! refreshed by the data model), the device's IP address, APN and cell identity.

use fleetbench_lwm2m::value::{ResourceType, Value};

use super::{
    CONNECTIVITY_IP, CONNECTIVITY_LINK_QUALITY, CONNECTIVITY_RSSI, instance, single_instance, text,
};
use crate::model::tree::{Object, Operations, Resource};

/// Network bearer 6: LTE-FDD.
pub const BEARER_LTE_FDD: i64 = 6;

/// What Object 4 reports about the device's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectivityInfo {
    /// The device's IP address (`/4/0/4/0`).
    pub ip: String,
    /// Its router (`/4/0/5/0`).
    pub router: String,
    /// Cell id (`/4/0/8`).
    pub cell_id: i64,
}

/// Object 4 Connectivity Monitoring, one instance.
pub fn connectivity(info: &ConnectivityInfo, rssi: i64) -> Object {
    use Operations::Read;
    single_instance(
        None,
        instance([
            (0, Resource::single(Read, Value::Integer(BEARER_LTE_FDD))),
            (
                1,
                Resource::multiple(
                    ResourceType::Integer,
                    Read,
                    [(0, Value::Integer(BEARER_LTE_FDD)), (1, Value::Integer(7))],
                ),
            ),
            (
                CONNECTIVITY_RSSI,
                Resource::single(Read, Value::Integer(rssi)),
            ),
            (
                CONNECTIVITY_LINK_QUALITY,
                Resource::single(Read, Value::Integer(link_quality(rssi))),
            ),
            (
                CONNECTIVITY_IP,
                Resource::multiple(ResourceType::String, Read, [(0, text(&info.ip))]),
            ),
            (
                5,
                Resource::multiple(ResourceType::String, Read, [(0, text(&info.router))]),
            ),
            (6, Resource::single(Read, Value::Integer(3))),
            (
                7,
                Resource::multiple(ResourceType::String, Read, [(0, text("fleetbench.apn"))]),
            ),
            (8, Resource::single(Read, Value::Integer(info.cell_id))),
            (9, Resource::single(Read, Value::Integer(1))),
            (10, Resource::single(Read, Value::Integer(1))),
        ]),
    )
}

/// Link quality (0..=100) for a signal strength in dBm: -120 dBm or worse is 0, -50 dBm or
/// better is 100.
pub fn link_quality(rssi: i64) -> i64 {
    ((rssi + 120) * 100 / 70).clamp(0, 100)
}
