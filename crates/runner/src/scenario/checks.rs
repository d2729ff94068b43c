//! Single-value checks shared by the section validators: each reports the field path, the
//! line of the value and the value itself.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::error::Diagnostics;
use super::limits::MAX_TIMEOUT;
use super::raw::SDur;

pub(super) type Diags<'a, 'b> = &'a mut Diagnostics<'b>;

pub(super) fn sp<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    Some(s.span())
}

pub(super) fn dur(s: &SDur) -> Duration {
    s.get_ref().0
}

pub(super) fn check_name(n: &Spanned<String>, field: &str, d: Diags<'_, '_>) -> Option<String> {
    let v = n.get_ref();
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Some(v.clone())
    } else {
        d.push(
            sp(n),
            field,
            format!("expected 1-64 letters, digits, `-`, `_` or `.`, got \"{v}\""),
        );
        None
    }
}

pub(super) fn positive_duration(s: &SDur, field: &str, d: Diags<'_, '_>) -> Option<Duration> {
    if dur(s).is_zero() {
        d.push(sp(s), field, "expected a duration greater than zero, got 0");
        None
    } else {
        Some(dur(s))
    }
}

/// A positive duration of at most [`MAX_TIMEOUT`] (timeouts, intervals, waiting bounds).
pub(super) fn timeout(s: &SDur, field: &str, d: Diags<'_, '_>) -> Option<Duration> {
    let v = positive_duration(s, field, d)?;
    within_timeout(s, field, d).then_some(v)
}

/// Whether `s` is at most [`MAX_TIMEOUT`]; reports it otherwise.
pub(super) fn within_timeout(s: &SDur, field: &str, d: Diags<'_, '_>) -> bool {
    if dur(s) <= MAX_TIMEOUT {
        return true;
    }
    d.push(
        sp(s),
        field,
        format!(
            "expected at most {} (7 days) for a timeout or interval, got \"{}\"",
            humantime::format_duration(MAX_TIMEOUT),
            humantime::format_duration(dur(s))
        ),
    );
    false
}

pub(super) fn ratio(s: &Spanned<f64>, field: &str, d: Diags<'_, '_>) -> Option<f64> {
    let v = *s.get_ref();
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Some(v)
    } else {
        d.push(
            sp(s),
            field,
            format!("expected a ratio between 0 and 1, got {v}"),
        );
        None
    }
}

pub(super) fn int_in(
    s: &Spanned<i64>,
    field: &str,
    min: i64,
    max: i64,
    d: Diags<'_, '_>,
) -> Option<usize> {
    let v = *s.get_ref();
    if (min..=max).contains(&v) {
        usize::try_from(v).ok()
    } else if min == 1 && v < 1 {
        d.push(
            sp(s),
            field,
            format!("expected a positive integer, got {v}"),
        );
        None
    } else {
        d.push(
            sp(s),
            field,
            format!("expected an integer between {min} and {max}, got {v}"),
        );
        None
    }
}

/// Whole seconds for the gateway API, bounded like every timeout.
pub(super) fn whole_seconds_timeout(s: &SDur, field: &str, d: Diags<'_, '_>) -> Option<Duration> {
    let v = whole_seconds(s, field, d)?;
    within_timeout(s, field, d).then_some(v)
}

pub(super) fn whole_seconds(s: &SDur, field: &str, d: Diags<'_, '_>) -> Option<Duration> {
    let v = dur(s);
    if v.subsec_nanos() != 0 || v.is_zero() {
        d.push(
            sp(s),
            field,
            format!(
                "the gateway API takes whole seconds; expected e.g. \"10s\", got \"{}\"",
                humantime::format_duration(v)
            ),
        );
        None
    } else {
        Some(v)
    }
}
