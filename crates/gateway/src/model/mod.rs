//! The gateway's domain: commands, statuses, devices, files, software updates and their ids.

pub mod command;
pub mod device;
pub mod file;
pub mod ids;
pub mod kinds;
pub mod software_update;
pub mod status;
pub mod timestamp;
pub mod token;

pub use command::{CommandSpec, RetryOptions, RetryStrategy, Schedule};
pub use device::{Device, Lwm2mRegistration};
pub use ids::{IdGenerator, ObjectId};
pub use kinds::{CommandType, Lwm2mType};
pub use status::{Attempt, AttemptOutcome, Status, StatusEntry, Transition};
pub use timestamp::Timestamp;
