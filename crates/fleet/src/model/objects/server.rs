//! Object 1, LwM2M Server: lifetime, default notification periods, binding, and the
//! Registration Update Trigger.

use fleetbench_lwm2m::value::Value;

use super::{
    SERVER_BINDING, SERVER_DEFAULT_PMAX, SERVER_DEFAULT_PMIN, SERVER_LIFETIME,
    SERVER_UPDATE_TRIGGER, instance, single_instance, text,
};
use crate::model::tree::{Object, Operations, Resource};

/// The initial values of Object 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Lifetime in seconds (`/1/0/1`).
    pub lifetime_secs: i64,
    /// Default minimum period in seconds (`/1/0/2`).
    pub default_pmin: i64,
    /// Default maximum period in seconds (`/1/0/3`); 0 means none.
    pub default_pmax: i64,
    /// Binding (`/1/0/7`): `U`, or `UQ` in queue mode.
    pub binding: String,
}

/// Object 1 Server (v1.1), one instance, short server id 1.
pub fn server(settings: &ServerSettings) -> Object {
    use Operations::{Read, ReadWrite};
    single_instance(
        Some("1.1"),
        instance([
            (0, Resource::single(Read, Value::Integer(1))),
            (
                SERVER_LIFETIME,
                Resource::single(ReadWrite, Value::Integer(settings.lifetime_secs)),
            ),
            (
                SERVER_DEFAULT_PMIN,
                Resource::single(ReadWrite, Value::Integer(settings.default_pmin)),
            ),
            (
                SERVER_DEFAULT_PMAX,
                Resource::single(ReadWrite, Value::Integer(settings.default_pmax)),
            ),
            (6, Resource::single(ReadWrite, Value::Boolean(false))),
            (
                SERVER_BINDING,
                Resource::single(ReadWrite, text(&settings.binding)),
            ),
            (SERVER_UPDATE_TRIGGER, Resource::executable()),
        ]),
    )
}
