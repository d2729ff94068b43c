//! LwM2M paths such as `/3/0/4`, optionally behind a sub-device prefix (`/dev0/3303/0/5700`).
//!
//! A path is an optional Object 25 sub-device prefix (the first segment when it does not start
//! with a digit) followed by one to four numeric ids in `0..=65534` (65535 is reserved by LwM2M
//! as "no id").

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
    #[error(
        "LwM2M path has {count} numeric segments: at most 4 (object/instance/resource/resource instance)"
    )]
    TooLong {
        /// How many numeric segments there were.
        count: usize,
    },
    /// A prefix that is not a valid sub-device prefix (empty, or with characters outside `[A-Za-z0-9_-]`).
    #[error(
        "sub-device prefix {value:?} is invalid: expected [A-Za-z0-9_-]+ not starting with a digit"
    )]
    BadPrefix {
        /// The offending text.
        value: String,
    },
    /// A sub-device prefix with no object id after it (e.g. `/dev0`).
    #[error("LwM2M path has sub-device prefix {prefix:?} but no object id after it")]
    MissingObject {
        /// The prefix.
        prefix: String,
    },
}

/// The largest id LwM2M allows in a path segment (65535 is reserved).
pub const MAX_ID: u16 = 65534;

/// Longest accepted sub-device prefix, in bytes.
pub const MAX_PREFIX_LEN: usize = 64;

const SEGMENT_NAMES: [&str; 4] = ["object", "instance", "resource", "resource instance"];

impl Lwm2mPath {
    /// A path to a whole object.
    pub fn object(object: u16) -> Self {
        Self {
            prefix: None,
            object,
            instance: None,
            resource: None,
            resource_instance: None,
        }
    }

    /// Parses Uri-Path segments (as carried in CoAP options).
    ///
    /// The first segment is a sub-device prefix when it does not start with an ASCII digit;
    /// then come one to four numeric ids in `0..=65534`.
    pub fn from_segments<S: AsRef<str>>(segments: &[S]) -> Result<Self, PathError> {
        let (prefix, ids) = match segments.split_first() {
            None => return Err(PathError::Empty),
            Some((first, rest)) if !first.as_ref().starts_with(|c: char| c.is_ascii_digit()) => {
                (Some(parse_prefix(first.as_ref())?), rest)
            }
            Some(_) => (None, segments),
        };
        if ids.len() > 4 {
            return Err(PathError::TooLong { count: ids.len() });
        }
        let mut numbers = [None; 4];
        for (index, segment) in ids.iter().enumerate() {
            numbers[index] = Some(parse_id(index, segment.as_ref())?);
        }
        let [Some(object), instance, resource, resource_instance] = numbers else {
            return Err(match prefix {
                Some(prefix) => PathError::MissingObject { prefix },
                None => PathError::Empty,
            });
        };
        Ok(Self {
            prefix,
            object,
            instance,
            resource,
            resource_instance,
        })
    }

    /// A path to an object instance.
    pub fn instance(object: u16, instance: u16) -> Self {
        Self {
            instance: Some(instance),
            ..Self::object(object)
        }
    }

    /// A path to a resource.
    pub fn resource(object: u16, instance: u16, resource: u16) -> Self {
        Self {
            resource: Some(resource),
            ..Self::instance(object, instance)
        }
    }

    /// A path to a resource instance.
    pub fn resource_instance(
        object: u16,
        instance: u16,
        resource: u16,
        resource_instance: u16,
    ) -> Self {
        Self {
            resource_instance: Some(resource_instance),
            ..Self::resource(object, instance, resource)
        }
    }

    /// The same path behind sub-device prefix `prefix` (not validated; use [`Self::from_segments`]
    /// for untrusted text).
    pub fn with_prefix(&self, prefix: Option<&str>) -> Self {
        Self {
            prefix: prefix.map(str::to_owned),
            ..self.clone()
        }
    }

    /// How many numeric ids the path has (1 to 4).
    pub fn depth(&self) -> usize {
        1 + [self.instance, self.resource, self.resource_instance]
            .iter()
            .filter(|id| id.is_some())
            .count()
    }

    /// The numeric ids, object first.
    pub fn ids(&self) -> Vec<u16> {
        std::iter::once(self.object)
            .chain(
                [self.instance, self.resource, self.resource_instance]
                    .into_iter()
                    .flatten(),
            )
            .collect()
    }

    /// Whether `self` equals `other` or lies below it (same prefix, `other`'s ids are a prefix
    /// of `self`'s).
    pub fn starts_with(&self, other: &Lwm2mPath) -> bool {
        self.prefix == other.prefix && self.ids().starts_with(&other.ids())
    }

    /// Builds a path from a prefix and 1..=4 ids, checking ids against [`MAX_ID`].
    pub fn from_ids(prefix: Option<&str>, ids: &[u16]) -> Result<Self, PathError> {
        let text: Vec<String> = prefix
            .map(str::to_owned)
            .into_iter()
            .chain(ids.iter().map(u16::to_string))
            .collect();
        let path = Self::from_segments(&text)?;
        if path.prefix.as_deref() != prefix {
            return Err(PathError::BadPrefix {
                value: prefix.unwrap_or_default().to_owned(),
            });
        }
        Ok(path)
    }

    /// The Uri-Path segments of this path, prefix first.
    pub fn segments(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(5);
        if let Some(prefix) = &self.prefix {
            out.push(prefix.clone());
        }
        out.push(self.object.to_string());
        for id in [self.instance, self.resource, self.resource_instance]
            .into_iter()
            .flatten()
        {
            out.push(id.to_string());
        }
        out
    }

    /// The same path without its prefix.
    pub fn without_prefix(&self) -> Self {
        Self {
            prefix: None,
            ..self.clone()
        }
    }
}

fn parse_prefix(text: &str) -> Result<String, PathError> {
    let valid = !text.is_empty()
        && text.len() <= MAX_PREFIX_LEN
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(text.to_owned())
    } else {
        Err(PathError::BadPrefix {
            value: text.to_owned(),
        })
    }
}

fn parse_id(index: usize, text: &str) -> Result<u16, PathError> {
    let bad = || PathError::BadSegment {
        position: index + 1,
        name: SEGMENT_NAMES[index],
        value: text.to_owned(),
    };
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match text.parse::<u32>() {
        Ok(id) if id <= u32::from(MAX_ID) => u16::try_from(id).map_err(|_| bad()),
        _ => Err(bad()),
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_plain_and_prefixed_paths() {
        let path: Lwm2mPath = "/3/0/4".parse().unwrap();
        assert_eq!(path, Lwm2mPath::resource(3, 0, 4));
        let path: Lwm2mPath = "/dev0/3303/0/5700".parse().unwrap();
        assert_eq!(path.prefix.as_deref(), Some("dev0"));
        assert_eq!(path.without_prefix(), Lwm2mPath::resource(3303, 0, 5700));
        assert_eq!(path.to_string(), "/dev0/3303/0/5700");
        assert_eq!(
            "/1/0/7/2".parse::<Lwm2mPath>().unwrap(),
            Lwm2mPath::resource_instance(1, 0, 7, 2)
        );
        assert_eq!(
            Lwm2mPath::from_segments(&["65534"]).unwrap(),
            Lwm2mPath::object(65534)
        );
    }

    #[test]
    fn errors_name_segment_and_value() {
        let err = "/3/65535".parse::<Lwm2mPath>().unwrap_err();
        assert_eq!(
            err,
            PathError::BadSegment {
                position: 2,
                name: "instance",
                value: "65535".into()
            }
        );
        assert!(err.to_string().contains("instance") && err.to_string().contains("65535"));
        let err = "/dev0/3/0/x".parse::<Lwm2mPath>().unwrap_err();
        assert_eq!(
            err,
            PathError::BadSegment {
                position: 3,
                name: "resource",
                value: "x".into()
            }
        );
        assert!(matches!(
            "/3/+1".parse::<Lwm2mPath>(),
            Err(PathError::BadSegment { position: 2, .. })
        ));
        assert!(matches!(
            "/3/-1".parse::<Lwm2mPath>(),
            Err(PathError::BadSegment { position: 2, .. })
        ));
        assert!(matches!(
            "/3/999999".parse::<Lwm2mPath>(),
            Err(PathError::BadSegment { .. })
        ));
        assert!(matches!(
            "/3x".parse::<Lwm2mPath>(),
            Err(PathError::BadSegment {
                position: 1,
                name: "object",
                ..
            })
        ));
        assert_eq!(
            "/1/2/3/4/5".parse::<Lwm2mPath>(),
            Err(PathError::TooLong { count: 5 })
        );
        assert_eq!("/".parse::<Lwm2mPath>(), Err(PathError::Empty));
        assert_eq!("".parse::<Lwm2mPath>(), Err(PathError::Empty));
        assert_eq!(
            "/dev0".parse::<Lwm2mPath>(),
            Err(PathError::MissingObject {
                prefix: "dev0".into()
            })
        );
        assert_eq!(
            "/de v/3".parse::<Lwm2mPath>(),
            Err(PathError::BadPrefix {
                value: "de v".into()
            })
        );
        assert_eq!(
            Lwm2mPath::from_segments(&["", "3"]),
            Err(PathError::BadPrefix {
                value: String::new()
            })
        );
        assert!(matches!(
            Lwm2mPath::from_segments(&["3", ""]),
            Err(PathError::BadSegment { position: 2, .. })
        ));
    }

    #[test]
    fn helpers() {
        let path = Lwm2mPath::resource(3, 0, 4).with_prefix(Some("dev1"));
        assert_eq!(path.depth(), 3);
        assert_eq!(path.ids(), vec![3, 0, 4]);
        assert!(path.starts_with(&Lwm2mPath::instance(3, 0).with_prefix(Some("dev1"))));
        assert!(!path.starts_with(&Lwm2mPath::instance(3, 0)));
        assert!(!path.starts_with(&Lwm2mPath::instance(3, 1).with_prefix(Some("dev1"))));
        assert_eq!(Lwm2mPath::from_ids(Some("dev1"), &[3, 0, 4]).unwrap(), path);
        assert!(Lwm2mPath::from_ids(Some("9x"), &[3]).is_err());
        assert!(Lwm2mPath::from_ids(None, &[65535]).is_err());
    }

    fn arb_path() -> impl Strategy<Value = Lwm2mPath> {
        (
            proptest::option::of("[A-Za-z_-][A-Za-z0-9_-]{0,10}"),
            proptest::collection::vec(0..=MAX_ID, 1..=4),
        )
            .prop_map(|(prefix, ids)| Lwm2mPath::from_ids(prefix.as_deref(), &ids).unwrap())
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(path in arb_path()) {
            let text = path.to_string();
            prop_assert_eq!(text.parse::<Lwm2mPath>(), Ok(path.clone()));
            prop_assert_eq!(Lwm2mPath::from_segments(&path.segments()), Ok(path));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = text.parse::<Lwm2mPath>();
        }
    }
}
