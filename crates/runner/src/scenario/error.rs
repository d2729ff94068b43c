//! Scenario errors: every problem found in a scenario file, each naming the line, the field
//! and the reason.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line of the offending text, when known.
    pub line: Option<usize>,
    /// Dotted path of the offending field, e.g. `commands[1].weight` (empty for the document).
    pub field: String,
    /// What is wrong, including the offending value.
    pub message: String,
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid scenario; every problem found is listed.
    #[error("{}", render(origin, diagnostics))]
    Invalid {
        /// The name the scenario was loaded under (usually the file name).
        origin: String,
        /// Every problem, in document order.
        diagnostics: Vec<Diagnostic>,
    },
}

impl ScenarioError {
    /// The problems, if the scenario was invalid (empty for I/O errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ScenarioError::Io { .. } => &[],
            ScenarioError::Invalid { diagnostics, .. } => diagnostics,
        }
    }
}

fn render(origin: &str, diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(|d| d.render(origin)).collect();
    lines.join("\n")
}

impl Diagnostic {
    /// `origin:line: field: message`, leaving out what is unknown.
    pub fn render(&self, origin: &str) -> String {
        let mut out = String::from(origin);
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        out.push_str(": ");
        if !self.field.is_empty() {
            out.push_str(&self.field);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("scenario"))
    }
}

/// Collects diagnostics against one source text.
#[derive(Debug)]
pub(crate) struct Diagnostics<'a> {
    text: &'a str,
    items: Vec<(usize, Diagnostic)>,
}

impl<'a> Diagnostics<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            items: Vec::new(),
        }
    }

    /// Records a problem at `span` (a byte range of the text) for `field`.
    pub(crate) fn push(
        &mut self,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let offset = span.as_ref().map_or(usize::MAX, |s| s.start);
        let line = span.map(|s| line_of(self.text, s.start));
        self.items.push((
            offset,
            Diagnostic {
                line,
                field: field.into(),
                message: message.into(),
            },
        ));
    }

    /// Records a problem of the field at dotted `path`, on the line of its value (or of the
    /// nearest enclosing table written in the text, for a default).
    pub(crate) fn at(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        let span = super::parse::span_of(self.text, &path);
        self.push(span, path, message);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The diagnostics in document order (stable for equal offsets), duplicates removed.
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|(offset, _)| *offset);
        let mut out: Vec<Diagnostic> = Vec::with_capacity(self.items.len());
        for (_, d) in self.items {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }
}

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers_are_one_based() {
        let text = "a = 1\nb = 2\nc = 3\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 6), 2);
        assert_eq!(line_of(text, 12), 3);
        assert_eq!(line_of(text, 10_000), 4);
    }

    #[test]
    fn render_names_origin_line_field_and_reason() {
        let d = Diagnostic {
            line: Some(14),
            field: "commands[1].weight".into(),
            message: "expected a positive number, got -3".into(),
        };
        assert_eq!(
            d.render("smoke.toml"),
            "smoke.toml:14: commands[1].weight: expected a positive number, got -3"
        );
    }
}
