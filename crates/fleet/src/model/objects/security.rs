//! Object 0, LwM2M Security: the keying material for one server. The simulator runs plain
//! UDP, so it has one instance in mode 3 (NoSec). Only a bootstrap server may touch it: it is
//! never listed in a registration and the DM server gets 4.01 on every operation.

use fleetbench_lwm2m::value::Value;

use super::{instance, single_instance, text};
use crate::model::tree::{Object, Operations, Resource};

/// Security Mode 3: NoSec.
pub const NO_SEC: i64 = 3;

/// Object 0 with one instance for `server_uri` (`coap://host:port`) and short server id 1.
pub fn security(server_uri: &str) -> Object {
    use Operations::ReadWrite;
    single_instance(
        None,
        instance([
            (0, Resource::single(ReadWrite, text(server_uri))),
            (1, Resource::single(ReadWrite, Value::Boolean(false))),
            (2, Resource::single(ReadWrite, Value::Integer(NO_SEC))),
            (3, Resource::single(ReadWrite, Value::Opaque(Vec::new()))),
            (4, Resource::single(ReadWrite, Value::Opaque(Vec::new()))),
            (5, Resource::single(ReadWrite, Value::Opaque(Vec::new()))),
            (10, Resource::single(ReadWrite, Value::Integer(1))),
        ]),
    )
}
