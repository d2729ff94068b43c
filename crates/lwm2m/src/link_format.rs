//! CoRE Link Format (RFC 6690), as used by Register, Update, Discover and Object 25.
//!
//! TO BE IMPLEMENTED by the codec work. Keep the public surface.

/// One link: `<target>;attr=value;flag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI reference inside `<...>`, e.g. `/3/0`.
    pub target: String,
    /// Attributes in order. `None` is a value-less attribute. Quoted values are stored unquoted.
    pub attributes: Vec<(String, Option<String>)>,
}

/// Why a link list did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed link format at byte {offset}: {reason}")]
pub struct LinkFormatError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// Why.
    pub reason: String,
}

/// Parses a link list.
pub fn parse(text: &str) -> Result<Vec<Link>, LinkFormatError> {
    let _ = text;
    Err(LinkFormatError { offset: 0, reason: "not implemented yet".into() })
}

/// Formats a link list. Values that need quoting per RFC 6690 are quoted; `ver=1.1` is not.
pub fn format(links: &[Link]) -> String {
    let _ = links;
    String::new()
}
