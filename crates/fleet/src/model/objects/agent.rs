//! Object 33000, the fleetbench agent: a vendor object standing in for an edge agent (send
//! config, data restriction, backup and restore, log level and upload, heartbeat, status,
//! file transfer through the simulated file store).

use fleetbench_lwm2m::value::Value;

use super::{AGENT_FILE_DATA, AGENT_FILE_PATH, instance, single_instance, text};
use crate::model::tree::{Object, Operations, Resource};

/// Object 33000, one instance.
pub fn agent() -> Object {
    use Operations::{Read, ReadWrite};
    single_instance(
        None,
        instance([
            (0, Resource::executable()),
            (1, Resource::single(ReadWrite, Value::Boolean(false))),
            (2, Resource::executable()),
            (3, Resource::executable()),
            (4, Resource::single(ReadWrite, text("info"))),
            (5, Resource::executable()),
            (6, Resource::executable()),
            (7, Resource::single(Read, text("ok"))),
            (AGENT_FILE_PATH, Resource::single(ReadWrite, text(""))),
            (
                AGENT_FILE_DATA,
                Resource::single(ReadWrite, Value::Opaque(Vec::new())),
            ),
        ]),
    )
}
