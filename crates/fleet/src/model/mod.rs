//! The device model: object trees, the standard objects a simulated device carries,
//! notification attributes, simulated sensor signals, the file store and the firmware state
//! machine. No I/O, no clock.

pub mod attributes;
pub mod files;
pub mod firmware;
pub mod node;
pub mod objects;
pub mod sensor;
pub mod tree;

pub use attributes::{AttributeStore, Attributes};
pub use node::{Node, NodeRole, NodeSetup};
pub use tree::{Instance, Object, ObjectTree, Operations, Resource, ResourceValue};
