//! The device model: object trees, the standard objects a simulated device carries, and
//! simulated sensor signals. No I/O, no clock.

pub mod node;
pub mod objects;
pub mod sensor;
pub mod tree;

pub use node::Node;
pub use tree::{Instance, Object, ObjectTree, Operations, Resource, ResourceValue};
