//! RFC 6690 link format: known answers, quoting rules, malformed input and round trips.
#![allow(clippy::unwrap_used)]

use fleetbench_lwm2m::link_format::{Link, format, parse};
use proptest::prelude::*;

#[test]
fn parses_lwm2m_registration_payload() {
    let text =
        r#"</>;rt="oma.lwm2m";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</25>;ver=2.0,</25/0>,</3303/0>"#;
    let links = parse(text).unwrap();
    assert_eq!(links.len(), 7);
    assert_eq!(
        links[0],
        Link::new("/").with("rt", "oma.lwm2m").with("ct", "110")
    );
    assert_eq!(links[1], Link::new("/1").with("ver", "1.1"));
    assert_eq!(links[2], Link::new("/1/0"));
    assert_eq!(links[6].target, "/3303/0");
    assert_eq!(links[0].attribute("rt"), Some(Some("oma.lwm2m")));
    assert_eq!(links[0].attribute("missing"), None);
    // Formatting gives back the exact text: rt quoted, ver and ct not.
    assert_eq!(format(&links), text);
}

#[test]
fn parses_discover_output_with_flags_and_quoted_separators() {
    let text = r#"</3/0>;pmin=10,</3/0/1>,</3/0/6>;dim=2;obs,</a>;title="x, y; \"z\"";ct="60 110""#;
    let links = parse(text).unwrap();
    assert_eq!(links.len(), 4);
    assert_eq!(
        links[2],
        Link::new("/3/0/6").with("dim", "2").with_flag("obs")
    );
    assert_eq!(links[3].attribute("title"), Some(Some(r#"x, y; "z""#)));
    assert_eq!(links[3].attribute("ct"), Some(Some("60 110")));
    assert_eq!(parse(&format(&links)).unwrap(), links);
}

#[test]
fn formats_with_minimal_quoting() {
    let links = vec![
        Link::new("/1").with("ver", "1.1"),
        Link::new("/").with("rt", "oma.lwm2m").with("ct", "60 110"),
        Link::new("/x").with("empty", "").with("bs", "a\\b"),
    ];
    assert_eq!(
        format(&links),
        r#"</1>;ver=1.1,</>;rt="oma.lwm2m";ct="60 110",</x>;empty="";bs="a\\b""#
    );
    assert_eq!(format(&[]), "");
}

#[test]
fn tolerates_whitespace_between_links_and_empty_input() {
    assert_eq!(parse("").unwrap(), vec![]);
    assert_eq!(parse("  \n").unwrap(), vec![]);
    assert_eq!(
        parse("</1/0>,\n </3/0>").unwrap(),
        vec![Link::new("/1/0"), Link::new("/3/0")]
    );
}

#[test]
fn malformed_input_names_offset_and_reason() {
    let cases: &[(&str, usize, &str)] = &[
        ("/1/0", 0, "expected '<'"),
        ("</1/0", 0, "without closing"),
        ("</1/0>;", 7, "attribute name"),
        ("</1/0>;ver=", 11, "no value"),
        (r#"</1/0>;rt="abc"#, 10, "unterminated"),
        ("</1/0>x", 6, "expected ',' or ';'"),
        ("</1/0>,", 7, "expected '<'"),
        ("</1/0>;a=b c", 10, "not allowed"),
        ("</1 0>", 3, "not allowed in link target"),
        ("</1/0>;=3", 7, "attribute name"),
    ];
    for (text, offset, reason) in cases {
        let err = parse(text).unwrap_err();
        assert_eq!(err.offset, *offset, "{text:?}: {err}");
        assert!(err.reason.contains(reason), "{text:?}: {err}");
    }
}

fn arb_link() -> impl Strategy<Value = Link> {
    let target = "/[0-9a-z/]{0,12}";
    let name = "[a-z][a-z0-9]{0,5}";
    let value = proptest::option::of("\\PC{0,8}");
    (target, proptest::collection::vec((name, value), 0..4))
        .prop_map(|(target, attributes)| Link { target, attributes })
}

proptest! {
    #[test]
    fn format_parse_round_trip(links in proptest::collection::vec(arb_link(), 0..5)) {
        let text = format(&links);
        prop_assert_eq!(parse(&text), Ok(links));
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,60}") {
        let _ = parse(&text);
    }

    #[test]
    fn parse_never_panics_on_link_like_text(text in "[<>;,=\"\\\\/a0 ]{0,40}") {
        if let Err(err) = parse(&text) {
            prop_assert!(err.offset <= text.len());
        }
    }
}
