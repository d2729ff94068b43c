//! The tags of fleetbench's HDR log: `<kind>:phase=<p>;command=<c>;target=<t>[;outcome=<o>]`
//! (or `;attempt=<o>`), `interval:<row>` and `latency:interval`.

use crate::metrics::timeline::RowId;

/// A parsed row tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTag {
    /// `latency`, `service_time`, `sched_lag`, `interval`, ...
    pub kind: String,
    /// The row.
    pub row: RowId,
    /// `("outcome", o)` or `("attempt", o)`, when present.
    pub detail: Option<(String, String)>,
}

/// Parses a row tag; `None` for other tags (e.g. `latency:interval`).
pub fn parse_tag(tag: &str) -> Option<ParsedTag> {
    let (kind, body) = tag.split_once(':')?;
    let row = RowId::parse_tag_body(body)?;
    let detail = body.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        matches!(k, "outcome" | "attempt").then(|| (k.to_owned(), v.to_owned()))
    });
    Some(ParsedTag {
        kind: kind.to_owned(),
        row,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_tags_parse_and_others_do_not() {
        let t = parse_tag("latency:phase=a;command=read-x;target=gateway;outcome=timeout").unwrap();
        assert_eq!(t.kind, "latency");
        assert_eq!(t.row.command, "read-x");
        assert_eq!(t.detail, Some(("outcome".into(), "timeout".into())));
        let t = parse_tag("sched_lag:phase=a;command=c;target=sub_device").unwrap();
        assert_eq!((t.kind.as_str(), t.detail), ("sched_lag", None));
        assert!(parse_tag("latency:interval").is_none());
        assert!(parse_tag("nonsense").is_none());
    }
}
