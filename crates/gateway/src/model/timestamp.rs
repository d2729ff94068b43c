//! RFC 3339 UTC timestamps with microseconds, e.g. `2023-04-04T00:52:28.001016Z`.

use std::fmt;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A UTC instant rendered with exactly six fractional digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Wraps a date-time (converted to UTC).
    pub fn new(at: OffsetDateTime) -> Self {
        Self(at.to_offset(time::UtcOffset::UTC))
    }

    /// The date-time.
    pub fn get(self) -> OffsetDateTime {
        self.0
    }

    /// Parses RFC 3339 text (any offset).
    pub fn parse(text: &str) -> Result<Self, String> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Self::new)
            .map_err(|error| format!("{text:?} is not an RFC 3339 date-time ({error})"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        match self.0.format(format) {
            Ok(text) => f.write_str(&text),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn renders_microseconds_in_utc() {
        let at = Timestamp::new(datetime!(2023-04-04 02:52:28.001016 +2));
        assert_eq!(at.to_string(), "2023-04-04T00:52:28.001016Z");
        let whole = Timestamp::new(datetime!(2023-04-04 0:00 UTC));
        assert_eq!(whole.to_string(), "2023-04-04T00:00:00.000000Z");
    }

    #[test]
    fn parse_names_the_bad_text() {
        assert_eq!(
            Timestamp::parse("2025-01-01T02:00:00Z").map(|t| t.get()),
            Ok(datetime!(2025-01-01 2:00 UTC))
        );
        let error = Timestamp::parse("yesterday").unwrap_err();
        assert!(error.contains("\"yesterday\""), "{error}");
    }
}
