//! `[target]`, `[poll]` and `[execution]`: defaults and value checks.

use std::net::SocketAddr;
use std::time::Duration;

use toml::Spanned;

use super::checks::*;
use super::limits::{DEFAULT_CONNECTIONS, DEFAULT_MAX_ERROR_RATIO, MAX_CONNECTIONS, MAX_IN_FLIGHT};
use super::model::{CompletionMode, ExecutionSettings, PollSettings, Target};
use super::parse::RawDocument;

pub(super) fn validate_target(doc: &RawDocument, d: Diags<'_, '_>) -> Option<Target> {
    let Some(raw) = &doc.target else {
        return Some(Target::Embedded);
    };
    let mode = match &raw.mode {
        Some(m) => match m.get_ref().as_str() {
            "embedded" => "embedded",
            "external" => "external",
            other => {
                d.push(
                    sp(m),
                    "target.mode",
                    format!("expected embedded or external, got \"{other}\""),
                );
                return None;
            }
        },
        None if raw.url.is_some() => "external",
        None => "embedded",
    };
    if mode == "embedded" {
        let mut ok = true;
        for (name, span) in [
            ("url", raw.url.as_ref().map(|x| x.span())),
            ("token", raw.token.as_ref().map(|x| x.span())),
            ("token_env", raw.token_env.as_ref().map(|x| x.span())),
            ("lwm2m_server", raw.lwm2m_server.as_ref().map(|x| x.span())),
        ] {
            if let Some(span) = span {
                d.push(
                    Some(span),
                    format!("target.{name}"),
                    "not used by the embedded target (set mode = \"external\")",
                );
                ok = false;
            }
        }
        return ok.then_some(Target::Embedded);
    }
    let url = match &raw.url {
        Some(u) => check_url(u, d),
        None => {
            d.push(
                None,
                "target.url",
                "missing: an external target needs `url`, e.g. \"http://127.0.0.1:8080\"",
            );
            None
        }
    };
    let token = match (&raw.token, &raw.token_env) {
        (Some(t), None) if !t.get_ref().is_empty() => Some(t.get_ref().clone()),
        (Some(t), None) => {
            d.push(sp(t), "target.token", "expected a non-empty token");
            None
        }
        (None, Some(var)) => match std::env::var(var.get_ref()) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                d.push(
                    sp(var),
                    "target.token_env",
                    format!(
                        "environment variable `{}` is not set or empty",
                        var.get_ref()
                    ),
                );
                None
            }
        },
        (Some(t), Some(_)) => {
            d.push(
                sp(t),
                "target.token",
                "give either `token` or `token_env`, not both",
            );
            None
        }
        (None, None) => {
            d.push(
                None,
                "target.token",
                "missing: an external target needs `token` or `token_env`",
            );
            None
        }
    };
    let lwm2m_server = match &raw.lwm2m_server {
        Some(s) => match s.get_ref().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                d.push(
                    sp(s),
                    "target.lwm2m_server",
                    format!(
                        "expected an IP:port address like \"127.0.0.1:5683\", got \"{}\"",
                        s.get_ref()
                    ),
                );
                None
            }
        },
        None => {
            d.push(None, "target.lwm2m_server", "missing: an external target needs the `lwm2m_server` address devices register with");
            None
        }
    };
    Some(Target::External {
        url: url?,
        token: token?,
        lwm2m_server: lwm2m_server?,
    })
}

/// Checks an `http://` base URL; returns it without a trailing slash.
pub(super) fn check_url(u: &Spanned<String>, d: Diags<'_, '_>) -> Option<String> {
    match check_base_url(u.get_ref()) {
        Ok(url) => Some(url),
        Err(reason) => {
            d.push(sp(u), "target.url", reason);
            None
        }
    }
}

/// Checks an `http://` base URL; returns it without a trailing slash.
pub fn check_base_url(text: &str) -> Result<String, String> {
    match reqwest::Url::parse(text) {
        Ok(parsed) if parsed.scheme() == "http" && parsed.host().is_some() => {
            Ok(text.trim_end_matches('/').to_owned())
        }
        Ok(parsed) if parsed.scheme() == "https" => Err(format!(
            "only http:// URLs are supported (built without TLS), got \"{text}\""
        )),
        Ok(_) => Err(format!(
            "expected an http:// URL with a host, got \"{text}\""
        )),
        Err(e) => Err(format!(
            "expected a URL like \"http://127.0.0.1:8080\", got \"{text}\" ({e})"
        )),
    }
}

pub(super) fn validate_poll(doc: &RawDocument, d: Diags<'_, '_>) -> Option<PollSettings> {
    let raw = doc.poll.as_ref();
    let interval = match raw.and_then(|p| p.interval.as_ref()) {
        Some(x) if dur(x) < Duration::from_millis(1) => {
            d.push(
                sp(x),
                "poll.interval",
                format!(
                    "expected at least 1ms, got \"{}\"",
                    humantime::format_duration(dur(x))
                ),
            );
            None
        }
        Some(x) => timeout(x, "poll.interval", d),
        None => Some(Duration::from_millis(10)),
    };
    let give_up_after = match raw.and_then(|p| p.give_up_after.as_ref()) {
        Some(x) => Some(Some(timeout(x, "poll.give_up_after", d)?)),
        None => Some(None),
    };
    let backstop_interval = match raw.and_then(|p| p.backstop_interval.as_ref()) {
        Some(x) => timeout(x, "poll.backstop_interval", d),
        None => Some(Duration::from_secs(5)),
    };
    Some(PollSettings {
        mode: raw.and_then(|p| p.mode).unwrap_or(CompletionMode::Auto),
        backstop_interval: backstop_interval?,
        read_details: raw.and_then(|p| p.read_details).unwrap_or(true),
        interval: interval?,
        give_up_after: give_up_after?,
    })
}

pub(super) fn validate_execution(doc: &RawDocument, d: Diags<'_, '_>) -> Option<ExecutionSettings> {
    let raw = doc.execution.as_ref();
    let max_in_flight = match raw.and_then(|e| e.max_in_flight.as_ref()) {
        Some(x) => int_in(x, "execution.max_in_flight", 1, MAX_IN_FLIGHT, d),
        None => Some(10_000),
    };
    let drain_timeout = match raw.and_then(|e| e.drain_timeout.as_ref()) {
        Some(x) if within_timeout(x, "execution.drain_timeout", d) => Some(dur(x)),
        Some(_) => None,
        None => Some(Duration::from_secs(30)),
    };
    let request_timeout = match raw.and_then(|e| e.request_timeout.as_ref()) {
        Some(x) => timeout(x, "execution.request_timeout", d),
        None => Some(Duration::from_secs(10)),
    };
    let connections = match raw.and_then(|e| e.connections.as_ref()) {
        Some(x) => int_in(x, "execution.connections", 1, MAX_CONNECTIONS, d),
        None => Some(DEFAULT_CONNECTIONS),
    };
    let max_error_ratio = match raw.and_then(|e| e.max_error_ratio.as_ref()) {
        Some(x) => ratio(x, "execution.max_error_ratio", d),
        None => Some(DEFAULT_MAX_ERROR_RATIO),
    };
    Some(ExecutionSettings {
        max_in_flight: max_in_flight?,
        drain_timeout: drain_timeout?,
        request_timeout: request_timeout?,
        connections: connections?,
        max_error_ratio: max_error_ratio?,
    })
}
