//! Splits a TOML document into sections and deserializes each piece on its own, so one
//! broken command does not hide the problems of the next.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::Diagnostics;
use super::raw::{
    RawClass, RawCommand, RawExecution, RawFleetSettings, RawHeader, RawPhase, RawPoll, RawTarget,
    RawThreshold,
};

/// Top-level keys a scenario may have.
pub(crate) const TOP_LEVEL_KEYS: [&str; 14] = [
    "name",
    "description",
    "seed",
    "mode",
    "epoch",
    "duration",
    "load",
    "phases",
    "fleet",
    "target",
    "poll",
    "execution",
    "commands",
    "thresholds",
];

/// An element of an array section, with its index in the file.
#[derive(Debug)]
pub(crate) struct Indexed<T> {
    pub(crate) index: usize,
    pub(crate) value: T,
}

/// The document, section by section; sections that failed to deserialize are absent (and
/// their problems recorded).
#[derive(Debug, Default)]
pub(crate) struct RawDocument {
    pub(crate) header: Option<RawHeader>,
    pub(crate) phases: Option<(Range<usize>, Vec<Indexed<RawPhase>>)>,
    pub(crate) fleet: Option<Range<usize>>,
    pub(crate) fleet_settings: Option<RawFleetSettings>,
    pub(crate) classes: Option<(Range<usize>, Vec<Indexed<RawClass>>)>,
    /// Whether a device class failed to deserialize (the fleet is then unknown, and the
    /// rules that look at its classes are skipped).
    pub(crate) classes_failed: bool,
    pub(crate) target: Option<RawTarget>,
    pub(crate) poll: Option<RawPoll>,
    pub(crate) execution: Option<RawExecution>,
    pub(crate) commands: Option<(Range<usize>, Vec<Indexed<RawCommand>>)>,
    pub(crate) thresholds: Vec<Indexed<Spanned<RawThreshold>>>,
    /// Whether any piece failed to deserialize.
    pub(crate) had_errors: bool,
}

/// Parses `text`; syntax errors are all reported and stop here.
pub(crate) fn split_document(text: &str, diags: &mut Diagnostics<'_>) -> Option<RawDocument> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            diags.push(e.span(), "", clean_message(e.message()));
        }
        return None;
    }
    let root_span = root.span();
    let mut doc = RawDocument::default();
    let mut header = DeTable::new();
    for (key, value) in root.into_inner() {
        let name = key.get_ref().to_string();
        match name.as_str() {
            "phases" => doc.phases = de_array(value, "phases", diags, &mut doc.had_errors),
            "commands" => doc.commands = de_array(value, "commands", diags, &mut doc.had_errors),
            "thresholds" => {
                if let Some((_, items)) = de_array(value, "thresholds", diags, &mut doc.had_errors)
                {
                    doc.thresholds = items;
                }
            }
            "fleet" => split_fleet(value, &mut doc, diags),
            "target" => doc.target = de(value, "target", diags, &mut doc.had_errors),
            "poll" => doc.poll = de(value, "poll", diags, &mut doc.had_errors),
            "execution" => doc.execution = de(value, "execution", diags, &mut doc.had_errors),
            "name" | "description" | "seed" | "mode" | "epoch" | "duration" | "load" => {
                header.insert(key, value);
            }
            other => {
                diags.push(
                    Some(key.span()),
                    other,
                    format!(
                        "unknown key `{other}`; expected one of {}",
                        TOP_LEVEL_KEYS.join(", ")
                    ),
                );
                doc.had_errors = true;
            }
        }
    }
    let header = Spanned::new(root_span, DeValue::Table(header));
    doc.header = de(header, "", diags, &mut doc.had_errors);
    Some(doc)
}

fn split_fleet(value: Spanned<DeValue<'_>>, doc: &mut RawDocument, diags: &mut Diagnostics<'_>) {
    let span = value.span();
    doc.fleet = Some(span.clone());
    let DeValue::Table(table) = value.into_inner() else {
        diags.push(
            Some(span),
            "fleet",
            "expected a table with `classes = [...]`",
        );
        doc.had_errors = true;
        return;
    };
    let mut rest = DeTable::new();
    for (key, value) in table {
        if key.get_ref().as_ref() == "classes" {
            let mut failed = false;
            doc.classes = de_array(value, "fleet.classes", diags, &mut failed);
            doc.classes_failed = failed;
            doc.had_errors |= failed;
        } else {
            rest.insert(key, value);
        }
    }
    doc.fleet_settings = de(
        Spanned::new(span, DeValue::Table(rest)),
        "fleet",
        diags,
        &mut doc.had_errors,
    );
}

/// Deserializes an array section element by element.
fn de_array<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    path: &str,
    diags: &mut Diagnostics<'_>,
    had_errors: &mut bool,
) -> Option<(Range<usize>, Vec<Indexed<T>>)> {
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        diags.push(Some(span), path, "expected an array (e.g. [[...]] tables)");
        *had_errors = true;
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        if let Some(value) = de(item, &item_path, diags, had_errors) {
            out.push(Indexed { index, value });
        }
    }
    Some((span, out))
}

/// Deserializes one value, recording the problem (with the field path) on failure.
fn de<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    path: &str,
    diags: &mut Diagnostics<'_>,
    had_errors: &mut bool,
) -> Option<T> {
    let snapshot = value.clone();
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(v) => Some(v),
        Err(e) => {
            let span = e.span().unwrap_or_else(|| snapshot.span());
            let (field, inner) =
                refine(&snapshot, path, locate(&snapshot, &span, path), e.message());
            let span = inner.unwrap_or(span);
            let mut message = clean_message(e.message());
            if misplaced_top_level_key(&message) && !path.is_empty() {
                message.push_str(
                    " (a key written after a [table] header belongs to that table; \
                     if it is a top-level key, move it above the first table)",
                );
            }
            diags.push(Some(span), field, message);
            *had_errors = true;
            None
        }
    }
}

/// The dotted path of the deepest key or element whose span contains `span`.
fn locate(root: &Spanned<DeValue<'_>>, span: &Range<usize>, base: &str) -> String {
    deepest(root, span, base).unwrap_or_else(|| base.to_owned())
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

fn deepest(node: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &str) -> Option<String> {
    match node.get_ref() {
        DeValue::Table(table) => {
            for (key, value) in table.iter() {
                let child = join(path, key.get_ref());
                if let Some(found) = deepest(value, span, &child) {
                    return Some(found);
                }
                if contains(&key.span(), span) || contains(&value.span(), span) {
                    return Some(child);
                }
            }
            None
        }
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let child = format!("{path}[{i}]");
                if let Some(found) = deepest(item, span, &child) {
                    return Some(found);
                }
                if contains(&item.span(), span) {
                    return Some(child);
                }
            }
            None
        }
        _ => None,
    }
}

/// Inside a tagged table (a load model, a delay distribution) serde reports problems against
/// the whole table. The message names the key (`unknown field`, `missing field`), the tag's
/// value (`unknown variant`) or the offending string (`got "31days"`), which points at the
/// field within it; returns that field's path and, when it is written, its span.
fn refine(
    root: &Spanned<DeValue<'_>>,
    base: &str,
    field: String,
    message: &str,
) -> (String, Option<Range<usize>>) {
    let named = |prefix: &str| {
        message
            .split_once(prefix)
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(name, _)| name.to_owned())
    };
    let relative = field.strip_prefix(base).unwrap_or(&field);
    let Some(DeValue::Table(table)) = value_at(root, relative) else {
        return (field, None);
    };
    let by_value = |wanted: &dyn Fn(&str) -> bool| {
        let mut hits = table
            .iter()
            .filter(|(_, v)| matches!(v.get_ref(), DeValue::String(s) if wanted(s)));
        match (hits.next(), hits.next()) {
            (Some((k, v)), None) => Some((k.get_ref().to_string(), Some(v.span()))),
            _ => None,
        }
    };
    let child = if let Some(name) = named("unknown field `").or_else(|| named("missing field `")) {
        let span = table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == name.as_str())
            .map(|(k, _)| k.span());
        Some((name, span))
    } else if let Some(variant) = named("unknown variant `") {
        by_value(&|s| s == variant)
    } else {
        by_value(&|s| message.contains(&format!("got \"{s}\"")))
    };
    match child {
        Some((child, span)) => (join(&field, &child), span),
        None => (field, None),
    }
}

/// The value at dotted `path` (relative to `root`).
fn value_at<'a, 'b>(root: &'a Spanned<DeValue<'b>>, path: &str) -> Option<&'a DeValue<'b>> {
    let mut node = root;
    for segment in path_segments(path) {
        let next = match (node.get_ref(), &segment) {
            (DeValue::Table(t), Segment::Key(key)) => t
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == key.as_str())
                .map(|(_, v)| v),
            (DeValue::Array(items), Segment::Index(i)) => items.get(*i),
            _ => None,
        };
        node = next?;
    }
    Some(node.get_ref())
}

fn misplaced_top_level_key(message: &str) -> bool {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .is_some_and(|(key, _)| TOP_LEVEL_KEYS.contains(&key))
}

/// toml messages sometimes end with a newline; keep one line.
fn clean_message(message: &str) -> String {
    message.trim().replace('\n', " ")
}

/// The span of the value at dotted `path` (e.g. `fleet.classes[0].profile.link`), or of its
/// deepest ancestor written in `text` when the field itself is not (a default).
pub(crate) fn span_of(text: &str, path: &str) -> Option<Range<usize>> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return None;
    }
    let mut best = root.span();
    let segments = path_segments(path);
    let mut segments = segments.iter();
    let table = root.get_ref();
    let Some(Segment::Key(first)) = segments.next() else {
        return Some(best);
    };
    let Some(mut node) = table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == first.as_str())
        .map(|(_, v)| v)
    else {
        return Some(best);
    };
    best = node.span();
    for segment in segments {
        let child = match (node.get_ref(), segment) {
            (DeValue::Table(t), Segment::Key(key)) => t
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == key.as_str())
                .map(|(_, v)| v),
            (DeValue::Array(items), Segment::Index(i)) => items.get(*i),
            _ => None,
        };
        match child {
            Some(c) => {
                node = c;
                best = node.span();
            }
            None => break,
        }
    }
    Some(best)
}

#[derive(Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// `a.b[2].c` → `a`, `b`, `[2]`, `c`.
fn path_segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(at) = rest.find('[') {
            out.push(Segment::Key(rest[..at].to_owned()));
            rest = &rest[at..];
            while let Some(inner) = rest.strip_prefix('[') {
                let Some((index, after)) = inner.split_once(']') else {
                    break;
                };
                if let Ok(i) = index.parse() {
                    out.push(Segment::Index(i));
                }
                rest = after;
            }
        } else {
            out.push(Segment::Key(rest.to_owned()));
        }
    }
    out
}
