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

impl Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` rendered without allocating; `None` for years outside
    /// 0..=9999 (rendered by the `time` crate instead).
    fn fixed(&self) -> Option<[u8; 27]> {
        let at = self.0;
        let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |start: usize, width: usize, mut value: u32| {
            for index in (start..start + width).rev() {
                out[index] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, u32::from(u8::from(at.month())));
        put(8, 2, u32::from(at.day()));
        put(11, 2, u32::from(at.hour()));
        put(14, 2, u32::from(at.minute()));
        put(17, 2, u32::from(at.second()));
        put(20, 6, at.microsecond());
        Some(out)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = self.fixed() {
            return f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?);
        }
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
        match self.fixed() {
            Some(text) => match std::str::from_utf8(&text) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => serializer.collect_str(self),
            },
            None => serializer.collect_str(self),
        }
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
        let late = Timestamp::new(datetime!(9999-12-31 23:59:59.999999 UTC));
        assert_eq!(late.to_string(), "9999-12-31T23:59:59.999999Z");
        assert_eq!(
            serde_json::to_string(&late).unwrap(),
            "\"9999-12-31T23:59:59.999999Z\""
        );
        let early = Timestamp::new(datetime!(0001-02-03 04:05:06.000007 UTC));
        assert_eq!(early.to_string(), "0001-02-03T04:05:06.000007Z");
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
