//! Semantic validation: turns the raw document into a [`Scenario`], reporting every problem
//! with the span of the offending value.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::error::Diagnostics;
use super::limits::{
    DEFAULT_CONNECTIONS, DEFAULT_MAX_ERROR_RATIO, MAX_CONCURRENCY, MAX_CONNECTIONS,
    MAX_DEVICES_PER_CLASS, MAX_IN_FLIGHT, MAX_PACKAGE_BYTES, MAX_RATE, MAX_SUB_DEVICES,
    MAX_TIMEOUT,
};
use super::model::{
    CommandSpec, CompletionMode, DeviceClass, ExecutionSettings, Fleet, LoadModel, Package, Phase,
    PollSettings, RampStage, RelativeSchedule, RetryOptions, RetryStrategy, Scenario,
    SubDeviceRoute, Target, TargetKindSelector, TargetSelector,
};
use super::parse::{Indexed, RawDocument};
use super::raw::{RawClass, RawCommand, RawPhase, RawRetryOptions, RawTargets, SDur};
use super::threshold::{Threshold, parse_threshold};

type Diags<'a, 'b> = &'a mut Diagnostics<'b>;

fn sp<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    Some(s.span())
}

fn dur(s: &SDur) -> Duration {
    s.get_ref().0
}

/// Validates the split document. Returns `None` when anything was reported.
pub(crate) fn validate(doc: RawDocument, origin: &str, d: Diags<'_, '_>) -> Option<Scenario> {
    let header = doc.header.as_ref();
    let name = match header.and_then(|h| h.name.as_ref()) {
        Some(n) => check_name(n, "name", d),
        None => {
            if header.is_some() {
                d.push(None, "name", "missing: every scenario needs a short `name`");
            }
            None
        }
    };
    let seed = match header.and_then(|h| h.seed.as_ref()) {
        Some(s) if *s.get_ref() < 0 => {
            d.push(
                sp(s),
                "seed",
                format!("expected a non-negative integer, got {}", s.get_ref()),
            );
            None
        }
        Some(s) => Some(u64::try_from(*s.get_ref()).unwrap_or_default()),
        None => Some(0),
    };

    let phases = validate_phases(&doc, d);
    let fleet = validate_fleet(&doc, d);
    let target = validate_target(&doc, d);
    let poll = validate_poll(&doc, d);
    let execution = validate_execution(&doc, d);
    let commands = validate_commands(&doc, fleet.as_ref(), d);
    let thresholds = validate_thresholds(&doc, phases.as_deref(), commands.as_deref(), d);

    if doc.had_errors || !d.is_empty() {
        return None;
    }
    Some(Scenario {
        name: name?,
        description: header.and_then(|h| h.description.clone()),
        origin: origin.to_owned(),
        source: String::new(),
        seed: seed?,
        phases: phases?,
        fleet: fleet?,
        target: target?,
        poll: poll?,
        execution: execution?,
        commands: commands?,
        thresholds: thresholds?,
    })
}

fn check_name(n: &Spanned<String>, field: &str, d: Diags<'_, '_>) -> Option<String> {
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

fn positive_duration(s: &SDur, field: &str, d: Diags<'_, '_>) -> Option<Duration> {
    if dur(s).is_zero() {
        d.push(sp(s), field, "expected a duration greater than zero, got 0");
        None
    } else {
        Some(dur(s))
    }
}

/// A positive duration of at most [`MAX_TIMEOUT`] (timeouts, intervals, waiting bounds).
fn timeout(s: &SDur, field: &str, d: Diags<'_, '_>) -> Option<Duration> {
    let v = positive_duration(s, field, d)?;
    within_timeout(s, field, d).then_some(v)
}

/// Whether `s` is at most [`MAX_TIMEOUT`]; reports it otherwise.
fn within_timeout(s: &SDur, field: &str, d: Diags<'_, '_>) -> bool {
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

fn ratio(s: &Spanned<f64>, field: &str, d: Diags<'_, '_>) -> Option<f64> {
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

fn int_in(s: &Spanned<i64>, field: &str, min: i64, max: i64, d: Diags<'_, '_>) -> Option<usize> {
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
fn whole_seconds_timeout(s: &SDur, field: &str, d: Diags<'_, '_>) -> Option<Duration> {
    let v = whole_seconds(s, field, d)?;
    within_timeout(s, field, d).then_some(v)
}

fn whole_seconds(s: &SDur, field: &str, d: Diags<'_, '_>) -> Option<Duration> {
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

// ---------------------------------------------------------------- phases

fn validate_phases(doc: &RawDocument, d: Diags<'_, '_>) -> Option<Vec<Phase>> {
    let header = doc.header.as_ref();
    let top_duration = header.and_then(|h| h.duration.as_ref());
    let top_load = header.and_then(|h| h.load.as_ref());
    match (&doc.phases, top_duration, top_load) {
        (Some(_), Some(x), _) => {
            d.push(
                sp(x),
                "duration",
                "give either top-level `duration` + `load` or [[phases]], not both",
            );
            None
        }
        (Some(_), None, Some(x)) => {
            d.push(
                sp(x),
                "load",
                "give either top-level `duration` + `load` or [[phases]], not both",
            );
            None
        }
        (Some((span, phases)), None, None) => {
            if phases.is_empty() && !doc.had_errors {
                d.push(Some(span.clone()), "phases", "expected at least one phase");
                return None;
            }
            let mut out = Vec::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut ok = true;
            for Indexed { index, value } in phases {
                let path = format!("phases[{index}]");
                match validate_phase(value, *index, &path, d) {
                    Some(p) => {
                        if let Some(first) = seen.insert(p.name.clone(), *index) {
                            let span = value.name.as_ref().map(|n| n.span());
                            d.push(
                                span,
                                format!("{path}.name"),
                                format!(
                                    "duplicate phase name \"{}\" (also phases[{first}])",
                                    p.name
                                ),
                            );
                            ok = false;
                        }
                        out.push(p);
                    }
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        (None, duration, Some(load)) => {
            let raw = RawPhase {
                name: None,
                duration: duration.cloned(),
                load: load.clone(),
            };
            let mut p = validate_phase(&raw, 0, "", d)?;
            p.name = "main".to_owned();
            Some(vec![p])
        }
        (None, Some(x), None) => {
            d.push(sp(x), "duration", "a top-level `duration` needs a `load` (e.g. load = { model = \"constant\", rate = 100 })");
            None
        }
        (None, None, None) => {
            if header.is_some() {
                d.push(
                    None,
                    "phases",
                    "missing: no load; give `duration` + `load`, or one or more [[phases]]",
                );
            }
            None
        }
    }
}

fn validate_phase(raw: &RawPhase, index: usize, path: &str, d: Diags<'_, '_>) -> Option<Phase> {
    let field = |f: &str| {
        if path.is_empty() {
            f.to_owned()
        } else {
            format!("{path}.{f}")
        }
    };
    let name = match &raw.name {
        Some(n) => check_name(n, &field("name"), d),
        None => Some(format!("phase{index}")),
    };
    let load_path = field("load");
    let load = check_load(raw.load.get_ref(), &load_path, d);
    let duration = match (&raw.duration, &load) {
        (Some(x), Some(LoadModel::Ramping { stages, .. })) => {
            let sum = stage_sum(stages);
            if dur(x) != sum {
                d.push(sp(x), field("duration"), format!(
                    "a ramping phase lasts the sum of its stages ({}), got \"{}\"; leave it out",
                    humantime::format_duration(sum), humantime::format_duration(dur(x))));
                None
            } else {
                Some(sum)
            }
        }
        (None, Some(LoadModel::Ramping { stages, .. })) => Some(stage_sum(stages)),
        (Some(x), _) => positive_duration(x, &field("duration"), d),
        (None, _) => {
            d.push(
                Some(raw.load.span()),
                field("duration"),
                "missing: this phase needs a `duration` like \"30s\"",
            );
            None
        }
    };
    Some(Phase {
        name: name?,
        duration: duration?,
        load: load?,
    })
}

fn stage_sum(stages: &[RampStage]) -> Duration {
    stages
        .iter()
        .fold(Duration::ZERO, |sum, s| sum.saturating_add(s.duration))
}

/// Value checks of a load model (its shape is checked by deserialization).
fn check_load(load: &LoadModel, path: &str, d: Diags<'_, '_>) -> Option<LoadModel> {
    let f = |name: &str| format!("{path}.{name}");
    let mut ok = true;
    let mut rate = |v: f64, field: String, positive: bool, d: Diags<'_, '_>| {
        if !(v.is_finite() && v <= MAX_RATE && (v > 0.0 || (!positive && v == 0.0))) {
            let expected = if positive {
                format!("a positive number of commands per second up to {MAX_RATE}")
            } else {
                format!("a rate between 0 and {MAX_RATE}")
            };
            d.at(field, format!("expected {expected}, got {v}"));
            ok = false;
        }
    };
    match load {
        LoadModel::Constant { rate: r } | LoadModel::Poisson { rate: r } => {
            rate(*r, f("rate"), true, d);
        }
        LoadModel::Ramping { start_rate, stages } => {
            rate(*start_rate, f("start_rate"), false, d);
            for (i, stage) in stages.iter().enumerate() {
                rate(
                    stage.target_rate,
                    f(&format!("stages[{i}].target_rate")),
                    false,
                    d,
                );
            }
            for (i, stage) in stages.iter().enumerate() {
                if stage.duration.is_zero() {
                    d.at(
                        f(&format!("stages[{i}].duration")),
                        "expected a duration greater than zero, got 0",
                    );
                    ok = false;
                }
            }
            if stages.is_empty() {
                d.at(f("stages"), "expected at least one stage");
                ok = false;
            } else if ok && *start_rate == 0.0 && stages.iter().all(|s| s.target_rate == 0.0) {
                d.at(
                    f("stages"),
                    "every rate of the ramp is 0: it would send nothing",
                );
                ok = false;
            }
        }
        LoadModel::Closed { concurrency, .. } => {
            let max = MAX_CONCURRENCY as usize;
            if *concurrency == 0 {
                d.at(f("concurrency"), "expected a positive integer, got 0");
                ok = false;
            } else if *concurrency > max {
                d.at(
                    f("concurrency"),
                    format!("expected an integer between 1 and {max}, got {concurrency}"),
                );
                ok = false;
            }
        }
    }
    ok.then(|| load.clone())
}

// ---------------------------------------------------------------- fleet

fn validate_fleet(doc: &RawDocument, d: Diags<'_, '_>) -> Option<Fleet> {
    let Some(fleet_span) = &doc.fleet else {
        if doc.header.is_some() {
            d.push(
                None,
                "fleet",
                "missing: give at least one [[fleet.classes]] entry",
            );
        }
        return None;
    };
    let settings = doc.fleet_settings.as_ref();
    let registration_spread = settings
        .and_then(|s| s.registration_spread.as_ref())
        .map_or(Duration::from_secs(1), dur);
    let registration_timeout = match settings.and_then(|s| s.registration_timeout.as_ref()) {
        Some(x) => timeout(x, "fleet.registration_timeout", d),
        None => Some(Duration::from_secs(60)),
    };
    let lifetime = match settings.and_then(|s| s.lifetime.as_ref()) {
        Some(x) => whole_seconds(x, "fleet.lifetime", d),
        None => Some(Duration::from_secs(300)),
    };
    let Some((span, classes)) = &doc.classes else {
        d.push(
            Some(fleet_span.clone()),
            "fleet.classes",
            "missing: give at least one [[fleet.classes]] entry",
        );
        return None;
    };
    if classes.is_empty() && !doc.had_errors {
        d.push(
            Some(span.clone()),
            "fleet.classes",
            "expected at least one device class",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut prefixes: HashMap<String, usize> = HashMap::new();
    let mut ok = true;
    for Indexed { index, value } in classes {
        let path = format!("fleet.classes[{index}]");
        let Some(class) = validate_class(value, &path, d) else {
            ok = false;
            continue;
        };
        if let Some(first) = names.insert(class.name.clone(), *index) {
            d.push(
                sp(&value.name),
                format!("{path}.name"),
                format!(
                    "duplicate class name \"{}\" (also fleet.classes[{first}])",
                    class.name
                ),
            );
            ok = false;
        }
        if let Some(first) = prefixes.insert(class.endpoint_prefix.clone(), *index) {
            let span = value
                .endpoint_prefix
                .as_ref()
                .map_or(value.name.span(), |p| p.span());
            d.push(
                Some(span),
                format!("{path}.endpoint_prefix"),
                format!(
                    "duplicate endpoint prefix \"{}\" (also fleet.classes[{first}])",
                    class.endpoint_prefix
                ),
            );
            ok = false;
        }
        out.push(class);
    }
    if !ok || doc.classes_failed {
        return None;
    }
    Some(Fleet {
        classes: out,
        registration_spread,
        registration_timeout: registration_timeout?,
        lifetime: lifetime?,
    })
}

fn validate_class(raw: &RawClass, path: &str, d: Diags<'_, '_>) -> Option<DeviceClass> {
    let f = |name: &str| format!("{path}.{name}");
    let name = check_name(&raw.name, &f("name"), d);
    let count = int_in(&raw.count, &f("count"), 1, MAX_DEVICES_PER_CLASS, d);
    let sub_devices = match &raw.sub_devices {
        Some(s) => int_in(s, &f("sub_devices"), 0, MAX_SUB_DEVICES as i64, d),
        None => Some(0),
    };
    let endpoint_prefix = match &raw.endpoint_prefix {
        Some(p) => {
            let v = p.get_ref();
            let ok = !v.is_empty()
                && v.len() <= 48
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if ok {
                Some(v.clone())
            } else {
                d.push(
                    sp(p),
                    f("endpoint_prefix"),
                    format!("expected 1-48 letters, digits, `-`, `_` or `.`, got \"{v}\""),
                );
                None
            }
        }
        None => name.as_ref().map(|n| format!("fb-{n}-")),
    };
    let profile = raw.profile.clone().unwrap_or_default();
    let problems = profile.problems();
    for problem in &problems {
        d.at(f(&format!("profile.{}", problem.field)), &problem.message);
    }
    let queue_awake_window = match &raw.queue_awake_window {
        Some(w) => positive_duration(w, &f("queue_awake_window"), d),
        None => Some(Duration::from_secs(93)),
    };
    let update_period = match &raw.update_period {
        Some(u) => positive_duration(u, &f("update_period"), d).map(Some),
        None => Some(None),
    };
    Some(DeviceClass {
        name: name?,
        count: count?,
        sub_devices: sub_devices?,
        endpoint_prefix: endpoint_prefix?,
        profile: problems.is_empty().then_some(profile)?,
        sub_device_mode: raw.sub_device_mode.unwrap_or_default(),
        queue_mode: raw.queue_mode.unwrap_or(false),
        queue_awake_window: queue_awake_window?,
        update_period: update_period?,
    })
}

// ---------------------------------------------------------------- target, poll, execution

fn validate_target(doc: &RawDocument, d: Diags<'_, '_>) -> Option<Target> {
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
pub(crate) fn check_url(u: &Spanned<String>, d: Diags<'_, '_>) -> Option<String> {
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

fn validate_poll(doc: &RawDocument, d: Diags<'_, '_>) -> Option<PollSettings> {
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

fn validate_execution(doc: &RawDocument, d: Diags<'_, '_>) -> Option<ExecutionSettings> {
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

// ---------------------------------------------------------------- commands

const LWM2M_REQUEST_TYPES: [&str; 5] = ["read", "write", "exec", "observe", "observe_stop"];
const LWM2M_FILE_TYPES: [&str; 2] = ["fileupload", "filedownload"];
const RESERVED_BODY_FIELDS: [&str; 9] = [
    "command_type",
    "type",
    "endpoint",
    "data",
    "timeout",
    "retry_options",
    "schedule",
    "attached_device_ids",
    "device_id",
];

fn validate_commands(
    doc: &RawDocument,
    fleet: Option<&Fleet>,
    d: Diags<'_, '_>,
) -> Option<Vec<CommandSpec>> {
    let Some((span, commands)) = &doc.commands else {
        if doc.header.is_some() {
            d.push(
                None,
                "commands",
                "missing: give at least one [[commands]] entry",
            );
        }
        return None;
    };
    if commands.is_empty() && !doc.had_errors {
        d.push(
            Some(span.clone()),
            "commands",
            "expected at least one command",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for Indexed { index, value } in commands {
        match validate_command(value, &format!("commands[{index}]"), fleet, d) {
            Some(c) => out.push(c),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn validate_command(
    raw: &RawCommand,
    path: &str,
    fleet: Option<&Fleet>,
    d: Diags<'_, '_>,
) -> Option<CommandSpec> {
    let f = |name: &str| format!("{path}.{name}");
    let mut ok = true;
    let weight = match &raw.weight {
        Some(w) => {
            let v = *w.get_ref();
            if v.is_finite() && v > 0.0 {
                Some(v)
            } else {
                d.push(
                    sp(w),
                    f("weight"),
                    format!("expected a positive number, got {v}"),
                );
                None
            }
        }
        None => Some(1.0),
    };
    let command_type = raw.command_type.get_ref().clone();
    if command_type.is_empty() {
        d.push(
            sp(&raw.command_type),
            f("command_type"),
            "expected a non-empty command type, e.g. \"lwm2m_request\"",
        );
        ok = false;
    }
    let kind = raw.kind.as_ref().map(|k| k.get_ref().clone());
    let type_list: Option<&[&str]> = match command_type.as_str() {
        "lwm2m_request" => Some(&LWM2M_REQUEST_TYPES),
        "lwm2m_file" => Some(&LWM2M_FILE_TYPES),
        _ => None,
    };
    match (type_list, &raw.kind) {
        (Some(list), Some(k)) if !list.contains(&k.get_ref().as_str()) => {
            d.push(
                sp(k),
                f("type"),
                format!(
                    "expected one of {} for {command_type}, got \"{}\"",
                    list.join(", "),
                    k.get_ref()
                ),
            );
            ok = false;
        }
        (Some(list), None) => {
            d.push(
                sp(&raw.command_type),
                f("type"),
                format!(
                    "missing: {command_type} needs `type` (one of {})",
                    list.join(", ")
                ),
            );
            ok = false;
        }
        (None, Some(k)) => {
            d.push(
                sp(k),
                f("type"),
                format!("`type` only applies to lwm2m_request and lwm2m_file, not {command_type}"),
            );
            ok = false;
        }
        _ => {}
    }
    if command_type == "lwm2m_request" {
        match &raw.endpoint {
            Some(e) if !e.get_ref().starts_with('/') || e.get_ref().len() < 2 => {
                d.push(
                    sp(e),
                    f("endpoint"),
                    format!(
                        "expected an LwM2M path like \"/3303/0/5700\", got \"{}\"",
                        e.get_ref()
                    ),
                );
                ok = false;
            }
            Some(_) => {}
            None => {
                d.push(
                    sp(&raw.command_type),
                    f("endpoint"),
                    "missing: lwm2m_request needs an `endpoint` path like \"/3/0/0\"",
                );
                ok = false;
            }
        }
        if kind.as_deref() == Some("write") && raw.data.is_none() {
            d.push(
                raw.kind.as_ref().map(|k| k.span()),
                f("data"),
                "missing: a write needs `data`",
            );
            ok = false;
        }
    }
    let timeout = match &raw.timeout {
        Some(t) => whole_seconds_timeout(t, &f("timeout"), d).map(Some),
        None => Some(None),
    };
    let retry_options = match &raw.retry_options {
        Some(r) => validate_retry(r, &f("retry_options"), d).map(Some),
        None => Some(None),
    };
    let schedule = raw.schedule.as_ref().map(|s| RelativeSchedule {
        opens_after: dur(&s.opens_after),
        lasts: dur(&s.lasts),
    });
    if let Some(s) = raw.schedule.as_ref().filter(|s| dur(&s.lasts).is_zero()) {
        d.push(
            sp(&s.lasts),
            f("schedule.lasts"),
            "expected a duration greater than zero, got 0",
        );
        ok = false;
    }
    let extra = match &raw.extra {
        Some(table) => {
            let mut map = serde_json::Map::new();
            for (key, value) in table.get_ref() {
                if RESERVED_BODY_FIELDS.contains(&key.as_str()) {
                    d.push(
                        sp(table),
                        f(&format!("extra.{key}")),
                        format!("`{key}` is set by the runner; use the command's own field"),
                    );
                    ok = false;
                } else {
                    map.insert(key.clone(), toml_to_json(value));
                }
            }
            map
        }
        None => serde_json::Map::new(),
    };
    let targets = validate_targets(raw.targets.as_ref(), &f("targets"), fleet, d);
    let package = match &raw.package {
        Some(p) if command_type != "software_update" => {
            d.push(
                sp(p),
                f("package"),
                format!("only applies to software_update, not {command_type}"),
            );
            ok = false;
            None
        }
        Some(p) => {
            let pk = p.get_ref();
            let name = pk.name.clone().unwrap_or_else(|| {
                format!(
                    "fleetbench-{}",
                    raw.label
                        .as_ref()
                        .map_or("update", |l| l.get_ref().as_str())
                )
            });
            match (&pk.bytes, &pk.link) {
                (Some(b), None) if (1..=MAX_PACKAGE_BYTES).contains(b.get_ref()) => {
                    Some(Package::Push {
                        name,
                        bytes: usize::try_from(*b.get_ref()).unwrap_or(1),
                    })
                }
                (Some(b), None) => {
                    d.push(
                        sp(b),
                        f("package.bytes"),
                        format!(
                            "expected 1..={MAX_PACKAGE_BYTES} bytes, got {}",
                            b.get_ref()
                        ),
                    );
                    ok = false;
                    None
                }
                (None, Some(l)) if !l.get_ref().is_empty() => Some(Package::Pull {
                    name,
                    link: l.get_ref().clone(),
                }),
                _ => {
                    d.push(
                        sp(p),
                        f("package"),
                        "give exactly one of `bytes` (the gateway pushes) or `link` (devices pull)",
                    );
                    ok = false;
                    None
                }
            }
        }
        None => None,
    };
    if command_type == "software_update"
        && package.is_none()
        && raw.package.is_none()
        && !extra.contains_key("software_update_id")
    {
        d.push(
            sp(&raw.command_type),
            f("package"),
            "missing: software_update needs a `package` (or extra.software_update_id of an existing update)",
        );
        ok = false;
    }
    let label = match &raw.label {
        Some(l)
            if l.get_ref().is_empty()
                || l.get_ref().len() > 64
                || l.get_ref()
                    .contains(|c: char| c.is_whitespace() || c == ',' || c == '}') =>
        {
            d.push(
                sp(l),
                f("label"),
                format!(
                    "expected 1-64 characters without spaces, `,` or `}}`, got \"{}\"",
                    l.get_ref()
                ),
            );
            None
        }
        Some(l) => Some(l.get_ref().clone()),
        None => Some(match &kind {
            Some(k) => format!("{command_type}:{k}"),
            None => command_type.clone(),
        }),
    };
    if !ok {
        return None;
    }
    Some(CommandSpec {
        label: label?,
        weight: weight?,
        command_type,
        kind,
        endpoint: raw.endpoint.as_ref().map(|e| e.get_ref().clone()),
        data: raw.data.as_ref().map(|x| x.get_ref().clone()),
        timeout: timeout?,
        retry_options: retry_options?,
        schedule,
        extra,
        targets: targets?,
        package,
    })
}

fn validate_retry(raw: &RawRetryOptions, path: &str, d: Diags<'_, '_>) -> Option<RetryOptions> {
    let f = |name: &str| format!("{path}.{name}");
    let timeout = match &raw.timeout {
        Some(t) => Some(whole_seconds_timeout(t, &f("timeout"), d)?),
        None => None,
    };
    let max_retries = match &raw.max_retries {
        Some(m) => Some(u32::try_from(int_in(m, &f("max_retries"), 0, 100, d)?).ok()?),
        None => None,
    };
    let retry_strategy = match &raw.retry_strategy {
        Some(s) => {
            let kind = s.kind.get_ref().as_str();
            if kind != "fixed" && kind != "exponential" {
                d.push(
                    sp(&s.kind),
                    f("retry_strategy.type"),
                    format!("expected fixed or exponential, got \"{kind}\""),
                );
                return None;
            }
            let secs = |x: &Option<SDur>, name: &str, d: Diags<'_, '_>| match x {
                Some(v) => {
                    whole_seconds_timeout(v, &f(&format!("retry_strategy.{name}")), d).map(Some)
                }
                None => Some(None),
            };
            let fixed_interval = secs(&s.fixed_interval, "fixed_interval", d);
            let base = secs(&s.exponential_base_interval, "exponential_base_interval", d);
            let max = secs(&s.exponential_max_interval, "exponential_max_interval", d);
            let multiplier = match &s.exponential_multiplier {
                Some(m) if !(m.get_ref().is_finite() && *m.get_ref() >= 1.0) => {
                    d.push(
                        sp(m),
                        f("retry_strategy.exponential_multiplier"),
                        format!("expected a number >= 1, got {}", m.get_ref()),
                    );
                    None
                }
                Some(m) => Some(Some(*m.get_ref())),
                None => Some(None),
            };
            Some(RetryStrategy {
                kind: kind.to_owned(),
                fixed_interval: fixed_interval?,
                exponential_base_interval: base?,
                exponential_multiplier: multiplier?,
                exponential_max_interval: max?,
            })
        }
        None => None,
    };
    Some(RetryOptions {
        timeout,
        max_retries,
        retry_strategy,
    })
}

fn validate_targets(
    raw: Option<&RawTargets>,
    path: &str,
    fleet: Option<&Fleet>,
    d: Diags<'_, '_>,
) -> Option<TargetSelector> {
    let f = |name: &str| format!("{path}.{name}");
    let Some(raw) = raw else {
        return Some(TargetSelector {
            class: None,
            kind: TargetKindSelector::Gateway,
            fraction: 1.0,
            route: SubDeviceRoute::Direct,
        });
    };
    let kind = Some(
        raw.kind
            .as_ref()
            .map_or(TargetKindSelector::Gateway, |k| *k.get_ref()),
    );
    let fraction = match &raw.fraction {
        Some(x) => {
            let v = *x.get_ref();
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Some(v)
            } else {
                d.push(
                    sp(x),
                    f("fraction"),
                    format!("expected a fraction in (0, 1], got {v}"),
                );
                None
            }
        }
        None => Some(1.0),
    };
    let route = Some(
        raw.route
            .as_ref()
            .map_or(SubDeviceRoute::Direct, |r| *r.get_ref()),
    );
    if let (Some(r), Some(TargetKindSelector::Gateway)) = (&raw.route, kind) {
        d.push(
            sp(r),
            f("route"),
            "only applies to sub_device or any targets",
        );
        return None;
    }
    let class = raw.class.as_ref().map(|c| c.get_ref().clone());
    if let (Some(fleet), Some(kind)) = (fleet, kind) {
        let selected: Vec<_> = fleet
            .classes
            .iter()
            .filter(|c| class.as_deref().is_none_or(|n| n == c.name))
            .collect();
        if selected.is_empty() {
            let names: Vec<&str> = fleet.classes.iter().map(|c| c.name.as_str()).collect();
            d.push(
                raw.class.as_ref().map(|c| c.span()),
                f("class"),
                format!(
                    "no device class named \"{}\" (classes: {})",
                    class.as_deref().unwrap_or(""),
                    names.join(", ")
                ),
            );
            return None;
        }
        if kind == TargetKindSelector::SubDevice && selected.iter().all(|c| c.sub_devices == 0) {
            d.push(
                raw.kind.as_ref().map(|k| k.span()),
                f("kind"),
                "sub_device targets, but the selected classes have no sub-devices",
            );
            return None;
        }
    }
    Some(TargetSelector {
        class,
        kind: kind?,
        fraction: fraction?,
        route: route?,
    })
}

fn validate_thresholds(
    doc: &RawDocument,
    phases: Option<&[Phase]>,
    commands: Option<&[CommandSpec]>,
    d: Diags<'_, '_>,
) -> Option<Vec<Threshold>> {
    let mut out = Vec::new();
    let mut ok = true;
    for Indexed { index, value } in &doc.thresholds {
        let field = format!("thresholds[{index}]");
        match parse_threshold(value.get_ref().rule()) {
            Ok(mut t) => {
                t.abort_on_fail = value.get_ref().abort_on_fail();
                if t.abort_on_fail && !t.decidable_early() {
                    d.push(
                        sp(value),
                        field.clone(),
                        format!(
                            "abort_on_fail needs a rule that can fail for good before the run ends \
                             (a counter such as fails or dropped, or a max, with <, <= or ==), got \"{}\"",
                            t.expr
                        ),
                    );
                    ok = false;
                }
                if let (Some(name), Some(phases)) = (&t.filter.phase, phases)
                    && !phases.iter().any(|p| &p.name == name)
                {
                    d.push(
                        sp(value),
                        field.clone(),
                        format!("no phase named \"{name}\""),
                    );
                    ok = false;
                }
                if let (Some(label), Some(commands)) = (&t.filter.command, commands)
                    && !commands.iter().any(|c| &c.label == label)
                {
                    d.push(
                        sp(value),
                        field.clone(),
                        format!("no command labelled \"{label}\""),
                    );
                    ok = false;
                }
                out.push(t);
            }
            Err(reason) => {
                d.push(sp(value), field, reason);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(dt) => serde_json::Value::String(dt.to_string()),
        toml::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(toml_to_json).collect())
        }
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
