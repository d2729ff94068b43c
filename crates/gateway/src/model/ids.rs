//! ObjectId-like identifiers: 24 lowercase hex characters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Serialize, Serializer};

/// A 12-byte identifier rendered as 24 lowercase hex characters, like a MongoDB ObjectId.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

impl ObjectId {
    /// Builds an id from its bytes.
    pub fn from_bytes(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }

    /// Parses 24 hex characters (either case); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let raw = text.as_bytes();
        if raw.len() != 24 {
            return None;
        }
        let mut bytes = [0u8; 12];
        for (index, pair) in raw.chunks_exact(2).enumerate() {
            bytes[index] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(Self(bytes))
    }

    /// The 24 lowercase hex characters, rendered without allocating.
    pub fn hex(&self) -> [u8; 24] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 24];
        for (index, byte) in self.0.iter().enumerate() {
            out[2 * index] = DIGITS[usize::from(byte >> 4)];
            out[2 * index + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
        out
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex();
        match std::str::from_utf8(&hex) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => serializer.collect_str(self),
        }
    }
}

/// Hands out unique ids: 4 bytes of start time (seconds), 2 bytes from the seed, and a 6-byte
/// counter. Unique within one generator; deterministic given the seed and start time.
#[derive(Debug)]
pub struct IdGenerator {
    prefix: [u8; 6],
    counter: AtomicU64,
}

impl IdGenerator {
    /// A generator for a gateway started at `unix_seconds` with `seed`.
    pub fn new(unix_seconds: u32, seed: u64) -> Self {
        let mut prefix = [0u8; 6];
        prefix[..4].copy_from_slice(&unix_seconds.to_be_bytes());
        prefix[4..].copy_from_slice(&(seed as u16).to_be_bytes());
        Self {
            prefix,
            counter: AtomicU64::new(1),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> ObjectId {
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 12];
        bytes[..6].copy_from_slice(&self.prefix);
        bytes[6..].copy_from_slice(&count.to_be_bytes()[2..]);
        ObjectId(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_lowercase_hex_and_unique() {
        let ids = IdGenerator::new(0x6560_0000, 7);
        let a = ids.next_id();
        let b = ids.next_id();
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 24);
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_eq!(ObjectId::parse(&text), Some(a));
        assert_eq!(ObjectId::parse(&text.to_uppercase()), Some(a));
    }

    #[test]
    fn parse_rejects_wrong_length_and_non_hex() {
        assert_eq!(ObjectId::parse("abc"), None);
        assert_eq!(ObjectId::parse("zz0feb9a693d3f000115028c"), None);
        assert_eq!(ObjectId::parse("5c0feb9a693d3f000115028c0"), None);
    }

    #[test]
    fn renders_the_bytes_it_parsed() {
        let id = ObjectId::parse("5C0FEB9a693d3f000115028c").unwrap();
        assert_eq!(id.to_string(), "5c0feb9a693d3f000115028c");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"5c0feb9a693d3f000115028c\""
        );
    }
}
