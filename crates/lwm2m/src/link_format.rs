//! CoRE Link Format (RFC 6690), as used by Register, Update, Discover and Object 25.
//!
//! [`parse`] reads `</1/0>,</3/0>;ver=1.1,</>;rt="oma.lwm2m";ct=110`. Quoted values may hold
//! commas, semicolons and backslash escapes; whitespace after a comma is tolerated (some
//! peers wrap long lists). [`format`] writes the inverse and quotes a value only when it holds
//! characters outside RFC 6690's `ptoken` (so `ver=1.1` and `ct=110` stay unquoted), or when the
//! attribute is one of [`ALWAYS_QUOTED`]: LwM2M requires the literal `rt="oma.lwm2m"` and
//! Wakaama compares it byte for byte.

/// One link: `<target>;attr=value;flag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI reference inside `<...>`, e.g. `/3/0`.
    pub target: String,
    /// Attributes in order. `None` is a value-less attribute. Quoted values are stored unquoted.
    pub attributes: Vec<(String, Option<String>)>,
}

impl Link {
    /// A link to `target` without attributes.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            attributes: Vec::new(),
        }
    }

    /// Adds attribute `name=value` (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((name.into(), Some(value.into())));
        self
    }

    /// Adds a value-less attribute (builder style).
    pub fn with_flag(mut self, name: impl Into<String>) -> Self {
        self.attributes.push((name.into(), None));
        self
    }

    /// The value of the first attribute called `name`: `None` when absent, `Some(None)` when
    /// present without a value.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref())
    }
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

/// Attributes whose values [`format`] always quotes: `rt` and `if` (LwM2M writes
/// `rt="oma.lwm2m"`), and `title` and `anchor` (quoted strings in RFC 5988 / RFC 6690).
pub const ALWAYS_QUOTED: [&str; 4] = ["rt", "if", "title", "anchor"];

/// RFC 6690 `ptokenchar`: the characters an unquoted attribute value may hold.
fn is_ptoken_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'()*+-./:<=>?@[]^_`{|}~".contains(c)
}

/// RFC 5987 `attr-char`: the characters of an attribute name (`parmname`), plus `*` for
/// RFC 5987 extended names such as `title*`.
fn is_parmname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$&+-.^_`|~*".contains(c)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error<T>(&self, offset: usize, reason: impl Into<String>) -> Result<T, LinkFormatError> {
        Err(LinkFormatError {
            offset,
            reason: reason.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), LinkFormatError> {
        match self.peek() {
            Some(c) if c == wanted => {
                self.pos += 1;
                Ok(())
            }
            Some(c) => self.error(self.pos, format!("expected {wanted:?}, found {c:?}")),
            None => self.error(self.pos, format!("expected {wanted:?}, found end of input")),
        }
    }

    fn link(&mut self) -> Result<Link, LinkFormatError> {
        self.expect('<')?;
        let start = self.pos;
        let Some(length) = self.text[start..].find('>') else {
            return self.error(start - 1, "'<' without closing '>'");
        };
        let target = &self.text[start..start + length];
        if let Some(bad) = target.find(|c: char| c == '<' || c.is_whitespace() || c.is_control()) {
            return self.error(
                start + bad,
                format!(
                    "character {:?} not allowed in link target",
                    &target[bad..].chars().next().unwrap_or_default()
                ),
            );
        }
        self.pos = start + length + 1;
        let mut link = Link::new(target);
        while self.peek() == Some(';') {
            self.pos += 1;
            link.attributes.push(self.attribute()?);
        }
        Ok(link)
    }

    fn attribute(&mut self) -> Result<(String, Option<String>), LinkFormatError> {
        let start = self.pos;
        while self.peek().is_some_and(is_parmname_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return match self.peek() {
                Some(c) => self.error(start, format!("expected an attribute name, found {c:?}")),
                None => self.error(start, "expected an attribute name, found end of input"),
            };
        }
        let name = self.text[start..self.pos].to_owned();
        if self.peek() != Some('=') {
            return Ok((name, None));
        }
        self.pos += 1;
        let value = if self.peek() == Some('"') {
            self.quoted(&name)?
        } else {
            self.token(&name)?
        };
        Ok((name, Some(value)))
    }

    fn quoted(&mut self, name: &str) -> Result<String, LinkFormatError> {
        let open = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(value),
                Some('\\') => match self.bump() {
                    Some(c) => value.push(c),
                    None => {
                        return self.error(
                            self.pos,
                            format!("escape at end of value of attribute {name:?}"),
                        );
                    }
                },
                Some(c) => value.push(c),
                None => {
                    return self.error(
                        open,
                        format!("unterminated quoted value of attribute {name:?}"),
                    );
                }
            }
        }
    }

    fn token(&mut self, name: &str) -> Result<String, LinkFormatError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ',' || c == ';' {
                break;
            }
            if !is_ptoken_char(c) {
                return self.error(
                    self.pos,
                    format!("character {c:?} not allowed in unquoted value of attribute {name:?}"),
                );
            }
            self.pos += c.len_utf8();
        }
        if self.pos == start {
            return self.error(start, format!("attribute {name:?} has '=' but no value"));
        }
        Ok(self.text[start..self.pos].to_owned())
    }
}

/// Parses a link list. An empty (or all-whitespace) text is an empty list.
pub fn parse(text: &str) -> Result<Vec<Link>, LinkFormatError> {
    let mut parser = Parser { text, pos: 0 };
    let mut links = Vec::new();
    parser.skip_whitespace();
    if parser.peek().is_none() {
        return Ok(links);
    }
    loop {
        links.push(parser.link()?);
        parser.skip_whitespace();
        match parser.bump() {
            None => return Ok(links),
            Some(',') => parser.skip_whitespace(),
            Some(c) => {
                let offset = parser.pos - c.len_utf8();
                return parser.error(
                    offset,
                    format!("expected ',' or ';' after a link, found {c:?}"),
                );
            }
        }
    }
}

/// Formats a link list. Values that need quoting per RFC 6690 are quoted; `ver=1.1` is not.
pub fn format(links: &[Link]) -> String {
    let mut out = String::new();
    for (index, link) in links.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push('<');
        out.push_str(&link.target);
        out.push('>');
        for (name, value) in &link.attributes {
            out.push(';');
            out.push_str(name);
            if let Some(value) = value {
                out.push('=');
                push_value(&mut out, value, ALWAYS_QUOTED.contains(&name.as_str()));
            }
        }
    }
    out
}

fn push_value(out: &mut String, value: &str, always_quote: bool) {
    if !always_quote && !value.is_empty() && value.chars().all(is_ptoken_char) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}
