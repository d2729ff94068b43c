//! LwM2M paths such as `/3/0/4`, optionally behind a sub-device prefix (`/dev0/3303/0/5700`).
//!
//! TO BE IMPLEMENTED by the codec work (see ARCHITECTURE.md). The public surface below is the
//! contract other crates code against; keep it.

use std::fmt;
use std::str::FromStr;

/// A parsed LwM2M path. `prefix` is the Object 25 sub-device prefix, the first Uri-Path
/// segment when it is not numeric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lwm2mPath {
    /// Sub-device prefix (e.g. `dev0`), without slashes.
    pub prefix: Option<String>,
    /// Object id.
    pub object: u16,
    /// Object instance id.
    pub instance: Option<u16>,
    /// Resource id.
    pub resource: Option<u16>,
    /// Resource instance id.
    pub resource_instance: Option<u16>,
}

/// Why a path did not parse. The message names the offending segment and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path was empty or `/`.
    #[error("LwM2M path is empty")]
    Empty,
    /// A segment was not a number in 0..=65534.
    #[error("LwM2M path segment {position} ({name}) is {value:?}: expected an integer 0..=65534")]
    BadSegment {
        /// 1-based segment position after any prefix.
        position: usize,
        /// What the segment means: object, instance, resource or resource instance.
        name: &'static str,
        /// The offending text.
        value: String,
    },
    /// More than four numeric segments.
    #[error("LwM2M path has {count} numeric segments: at most 4 (object/instance/resource/resource instance)")]
    TooLong {
        /// How many numeric segments there were.
        count: usize,
    },
    /// A prefix that is not a valid sub-device prefix (empty, or with characters outside `[A-Za-z0-9_-]`).
    #[error("sub-device prefix {value:?} is invalid: expected [A-Za-z0-9_-]+ not starting with a digit")]
    BadPrefix {
        /// The offending text.
        value: String,
    },
}

impl Lwm2mPath {
    /// A path to a whole object.
    pub fn object(object: u16) -> Self {
        Self { prefix: None, object, instance: None, resource: None, resource_instance: None }
    }

    /// Parses Uri-Path segments (as carried in CoAP options).
    pub fn from_segments<S: AsRef<str>>(segments: &[S]) -> Result<Self, PathError> {
        todo_path(segments)
    }

    /// The Uri-Path segments of this path, prefix first.
    pub fn segments(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(5);
        if let Some(prefix) = &self.prefix {
            out.push(prefix.clone());
        }
        out.push(self.object.to_string());
        for id in [self.instance, self.resource, self.resource_instance].into_iter().flatten() {
            out.push(id.to_string());
        }
        out
    }

    /// The same path without its prefix.
    pub fn without_prefix(&self) -> Self {
        Self { prefix: None, ..self.clone() }
    }
}

fn todo_path<S: AsRef<str>>(_segments: &[S]) -> Result<Lwm2mPath, PathError> {
    Err(PathError::Empty)
}

impl FromStr for Lwm2mPath {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let segments: Vec<&str> = text.split('/').filter(|s| !s.is_empty()).collect();
        Self::from_segments(&segments)
    }
}

impl fmt::Display for Lwm2mPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in self.segments() {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}
