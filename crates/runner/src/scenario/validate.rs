//! Semantic validation: turns the raw document into a [`Scenario`], reporting every problem
//! with the span of the offending value.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::error::Diagnostics;
use super::model::{
    Churn, CommandSpec, CompletionMode, Delay, DeviceClass, ExecutionSettings, Fleet, Link,
    LoadModel, Package, Phase, PollSettings, Profile, RampStage, RelativeSchedule, RetryOptions,
    RetryStrategy, Scenario, SubDeviceMode, SubDeviceRoute, Target, TargetKindSelector,
    TargetSelector,
};
use super::parse::{Indexed, RawDocument};
use super::raw::{
    RawClass, RawCommand, RawDelay, RawLoad, RawPhase, RawProfile, RawRetryOptions, RawTargets,
    SDur,
};
use super::threshold::{Threshold, parse_threshold};

/// Largest device count of one class.
pub const MAX_DEVICES_PER_CLASS: i64 = 1_000_000;
/// Largest firmware package the runner uploads, bytes.
pub const MAX_PACKAGE_BYTES: i64 = 16 << 20;
/// Largest sub-device count per device.
pub const MAX_SUB_DEVICES: i64 = 256;
/// Largest rate of an open phase, commands per second.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Largest closed-model concurrency.
pub const MAX_CONCURRENCY: i64 = 1_000_000;

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

fn positive_rate(s: &Spanned<f64>, field: &str, d: Diags<'_, '_>) -> Option<f64> {
    let v = *s.get_ref();
    if v.is_finite() && v > 0.0 && v <= MAX_RATE {
        Some(v)
    } else {
        d.push(
            sp(s),
            field,
            format!("expected a positive number of commands per second up to {MAX_RATE}, got {v}"),
        );
        None
    }
}

fn non_negative_rate(s: &Spanned<f64>, field: &str, d: Diags<'_, '_>) -> Option<f64> {
    let v = *s.get_ref();
    if v.is_finite() && (0.0..=MAX_RATE).contains(&v) {
        Some(v)
    } else {
        d.push(
            sp(s),
            field,
            format!("expected a rate between 0 and {MAX_RATE}, got {v}"),
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
    let load = validate_load(raw.load.get_ref(), &load_path, d);
    let duration = match (&raw.duration, &load) {
        (Some(x), Some(LoadModel::Ramping { stages, .. })) => {
            let sum: Duration = stages.iter().map(|s| s.duration).sum();
            if dur(x) != sum {
                d.push(sp(x), field("duration"), format!(
                    "a ramping phase lasts the sum of its stages ({}), got \"{}\"; leave it out",
                    humantime::format_duration(sum), humantime::format_duration(dur(x))));
                None
            } else {
                Some(sum)
            }
        }
        (None, Some(LoadModel::Ramping { stages, .. })) => {
            Some(stages.iter().map(|s| s.duration).sum())
        }
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

fn validate_load(raw: &RawLoad, path: &str, d: Diags<'_, '_>) -> Option<LoadModel> {
    let f = |name: &str| format!("{path}.{name}");
    let model = raw.model.get_ref().as_str();
    let allowed: &[&str] = match model {
        "constant" | "poisson" => &["rate"],
        "ramping" => &["start_rate", "stages"],
        "closed" => &["concurrency", "think_time"],
        other => {
            d.push(
                sp(&raw.model),
                f("model"),
                format!("expected constant, poisson, ramping or closed, got \"{other}\""),
            );
            return None;
        }
    };
    let present: [(&str, Option<Range<usize>>); 5] = [
        ("rate", raw.rate.as_ref().map(|x| x.span())),
        ("start_rate", raw.start_rate.as_ref().map(|x| x.span())),
        ("stages", raw.stages.as_ref().map(|x| x.span())),
        ("concurrency", raw.concurrency.as_ref().map(|x| x.span())),
        ("think_time", raw.think_time.as_ref().map(|x| x.span())),
    ];
    let mut ok = true;
    for (name, span) in present {
        if let Some(span) = span.filter(|_| !allowed.contains(&name)) {
            d.push(
                Some(span),
                f(name),
                format!(
                    "not used by the {model} model (it takes {})",
                    allowed.join(", ")
                ),
            );
            ok = false;
        }
    }
    let missing = |name: &str, d: Diags<'_, '_>| {
        d.push(
            Some(raw.model.span()),
            f(name),
            format!("missing: the {model} model needs `{name}`"),
        );
    };
    let load = match model {
        "constant" | "poisson" => {
            let rate = match &raw.rate {
                Some(r) => positive_rate(r, &f("rate"), d)?,
                None => {
                    missing("rate", d);
                    return None;
                }
            };
            if model == "constant" {
                LoadModel::Constant { rate }
            } else {
                LoadModel::Poisson { rate }
            }
        }
        "ramping" => {
            let start_rate = match &raw.start_rate {
                Some(r) => non_negative_rate(r, &f("start_rate"), d),
                None => Some(0.0),
            };
            let Some(stages_raw) = &raw.stages else {
                missing("stages", d);
                return None;
            };
            if stages_raw.get_ref().is_empty() {
                d.push(sp(stages_raw), f("stages"), "expected at least one stage");
                return None;
            }
            let mut stages = Vec::new();
            for (i, s) in stages_raw.get_ref().iter().enumerate() {
                let s = s.get_ref();
                let duration =
                    positive_duration(&s.duration, &format!("{path}.stages[{i}].duration"), d);
                let target = non_negative_rate(
                    &s.target_rate,
                    &format!("{path}.stages[{i}].target_rate"),
                    d,
                );
                if let (Some(duration), Some(target_rate)) = (duration, target) {
                    stages.push(RampStage {
                        duration,
                        target_rate,
                    });
                } else {
                    ok = false;
                }
            }
            let start_rate = start_rate?;
            if ok && start_rate == 0.0 && stages.iter().all(|s| s.target_rate == 0.0) {
                d.push(
                    sp(stages_raw),
                    f("stages"),
                    "every rate of the ramp is 0: it would send nothing",
                );
                return None;
            }
            LoadModel::Ramping { start_rate, stages }
        }
        _ => {
            let concurrency = match &raw.concurrency {
                Some(c) => int_in(c, &f("concurrency"), 1, MAX_CONCURRENCY, d)?,
                None => {
                    missing("concurrency", d);
                    return None;
                }
            };
            let think_time = raw.think_time.as_ref().map_or(Duration::ZERO, dur);
            LoadModel::Closed {
                concurrency,
                think_time,
            }
        }
    };
    ok.then_some(load)
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
        Some(x) => positive_duration(x, "fleet.registration_timeout", d),
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
    if !ok {
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
        Some(s) => int_in(s, &f("sub_devices"), 0, MAX_SUB_DEVICES, d),
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
    let profile = match &raw.profile {
        Some(p) => validate_profile(p, &f("profile"), d),
        None => Some(Profile::default()),
    };
    let sub_device_mode = match &raw.sub_device_mode {
        Some(m) => match m.get_ref().as_str() {
            "object25" => Some(SubDeviceMode::Object25),
            "per_endpoint" => Some(SubDeviceMode::PerEndpoint),
            other => {
                d.push(
                    sp(m),
                    f("sub_device_mode"),
                    format!("expected object25 or per_endpoint, got \"{other}\""),
                );
                None
            }
        },
        None => Some(SubDeviceMode::Object25),
    };
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
        profile: profile?,
        sub_device_mode: sub_device_mode?,
        queue_mode: raw.queue_mode.unwrap_or(false),
        queue_awake_window: queue_awake_window?,
        update_period: update_period?,
    })
}

fn validate_profile(p: &RawProfile, path: &str, d: Diags<'_, '_>) -> Option<Profile> {
    let f = |name: &str| format!("{path}.{name}");
    let defaults = Profile::default();
    let delay = match &p.delay {
        Some(x) => validate_delay(x, &f("delay"), d),
        None => Some(defaults.delay.clone()),
    };
    let failure_ratio = p
        .failure_ratio
        .as_ref()
        .map_or(Some(0.0), |r| ratio(r, &f("failure_ratio"), d));
    let no_reply_ratio = p
        .no_reply_ratio
        .as_ref()
        .map_or(Some(0.0), |r| ratio(r, &f("no_reply_ratio"), d));
    if let (Some(fr), Some(nr)) = (failure_ratio, no_reply_ratio)
        && fr + nr > 1.0
    {
        let span = p.no_reply_ratio.as_ref().map(|r| r.span());
        d.push(
            span,
            f("no_reply_ratio"),
            format!("failure_ratio + no_reply_ratio must not exceed 1, got {fr} + {nr}"),
        );
        return None;
    }
    let period = |x: &Option<SDur>, name: &str, default: Duration, d: Diags<'_, '_>| match x {
        Some(v) => positive_duration(v, &f(name), d),
        None => Some(default),
    };
    let reboot_downtime = Some(
        p.reboot_downtime
            .as_ref()
            .map_or(defaults.reboot_downtime, dur),
    );
    let notification_period = Some(
        p.notification_period
            .as_ref()
            .map_or(defaults.notification_period, dur),
    );
    let sample_period = period(&p.sample_period, "sample_period", defaults.sample_period, d);
    let mut firmware_failures = Vec::new();
    let mut ok = true;
    for (i, ff) in p.firmware_failures.iter().flatten().enumerate() {
        let ff = ff.get_ref();
        let result = *ff.result.get_ref();
        if !matches!(result, 2..=9 | 11) {
            d.push(
                sp(&ff.result),
                f(&format!("firmware_failures[{i}].result")),
                format!("expected an Update Result of 2..=9 or 11, got {result}"),
            );
            ok = false;
        }
        let r = ratio(&ff.ratio, &f(&format!("firmware_failures[{i}].ratio")), d);
        match (u8::try_from(result), r) {
            (Ok(result), Some(r)) if ok => firmware_failures.push((result, r)),
            _ => ok = false,
        }
    }
    let link = match &p.link {
        Some(l) => {
            let l = l.get_ref();
            let r = |x: &Option<Spanned<f64>>, name: &str, d: Diags<'_, '_>| {
                x.as_ref()
                    .map_or(Some(0.0), |v| ratio(v, &f(&format!("link.{name}")), d))
            };
            let loss = r(&l.loss, "loss", d);
            let duplicate = r(&l.duplicate, "duplicate", d);
            let reorder = r(&l.reorder, "reorder", d);
            let reorder_delay = l
                .reorder_delay
                .as_ref()
                .map_or(Duration::from_millis(10), dur);
            match (loss, duplicate, reorder) {
                (Some(loss), Some(duplicate), Some(reorder)) => Some(Link {
                    loss,
                    duplicate,
                    reorder,
                    reorder_delay,
                }),
                _ => None,
            }
        }
        None => Some(Link::default()),
    };
    let churn = match &p.churn {
        Some(c) => {
            let c = c.get_ref();
            let rate = |x: &Option<Spanned<f64>>, name: &str, d: Diags<'_, '_>| match x {
                Some(v) if !(v.get_ref().is_finite() && *v.get_ref() >= 0.0) => {
                    d.push(
                        sp(v),
                        f(&format!("churn.{name}")),
                        format!("expected a non-negative rate per hour, got {}", v.get_ref()),
                    );
                    None
                }
                Some(v) => Some(*v.get_ref()),
                None => Some(0.0),
            };
            let offline_rate_per_hour = rate(&c.offline_rate_per_hour, "offline_rate_per_hour", d);
            let reboot_rate_per_hour = rate(&c.reboot_rate_per_hour, "reboot_rate_per_hour", d);
            let offline_duration = match &c.offline_duration {
                Some(x) => validate_delay(x, &f("churn.offline_duration"), d),
                None => Some(Churn::default().offline_duration),
            };
            match (
                offline_rate_per_hour,
                reboot_rate_per_hour,
                offline_duration,
            ) {
                (Some(o), Some(r), Some(od)) => Some(Churn {
                    offline_rate_per_hour: o,
                    offline_duration: od,
                    reboot_rate_per_hour: r,
                }),
                _ => None,
            }
        }
        None => Some(Churn::default()),
    };
    if !ok {
        return None;
    }
    Some(Profile {
        delay: delay?,
        failure_ratio: failure_ratio?,
        no_reply_ratio: no_reply_ratio?,
        reboot_downtime: reboot_downtime?,
        notification_period: notification_period?,
        sample_period: sample_period?,
        firmware_failures,
        link: link?,
        churn: churn?,
    })
}

fn validate_delay(raw: &Spanned<RawDelay>, path: &str, d: Diags<'_, '_>) -> Option<Delay> {
    let r = raw.get_ref();
    let f = |name: &str| format!("{path}.{name}");
    let kind = r.distribution.get_ref().as_str();
    let params: &[&str] = match kind {
        "fixed" => &["value"],
        "uniform" => &["min", "max"],
        "normal" => &["mean", "std_dev"],
        "lognormal" => &["median", "sigma"],
        "exponential" => &["mean"],
        other => {
            d.push(
                sp(&r.distribution),
                f("distribution"),
                format!(
                    "expected fixed, uniform, normal, lognormal or exponential, got \"{other}\""
                ),
            );
            return None;
        }
    };
    let given: [(&str, Option<Range<usize>>); 7] = [
        ("value", r.value.as_ref().map(|x| x.span())),
        ("min", r.min.as_ref().map(|x| x.span())),
        ("max", r.max.as_ref().map(|x| x.span())),
        ("mean", r.mean.as_ref().map(|x| x.span())),
        ("std_dev", r.std_dev.as_ref().map(|x| x.span())),
        ("median", r.median.as_ref().map(|x| x.span())),
        ("sigma", r.sigma.as_ref().map(|x| x.span())),
    ];
    let mut ok = true;
    for (name, span) in given.iter() {
        match span {
            Some(span) if !params.contains(name) => {
                d.push(
                    Some(span.clone()),
                    f(name),
                    format!(
                        "not a parameter of the {kind} distribution (it takes {})",
                        params.join(", ")
                    ),
                );
                ok = false;
            }
            None if params.contains(name) => {
                d.push(
                    sp(&r.distribution),
                    f(name),
                    format!("missing: the {kind} distribution needs `{name}`"),
                );
                ok = false;
            }
            _ => {}
        }
    }
    if !ok {
        return None;
    }
    let get = |x: &Option<SDur>| x.as_ref().map(dur).unwrap_or_default();
    let delay = match kind {
        "fixed" => Delay::Fixed(get(&r.value)),
        "uniform" => {
            let (min, max) = (get(&r.min), get(&r.max));
            if min > max {
                d.push(
                    r.max.as_ref().map(|x| x.span()),
                    f("max"),
                    format!(
                        "max must not be below min, got min {} and max {}",
                        humantime::format_duration(min),
                        humantime::format_duration(max)
                    ),
                );
                return None;
            }
            Delay::Uniform { min, max }
        }
        "normal" => Delay::Normal {
            mean: get(&r.mean),
            std_dev: get(&r.std_dev),
        },
        "lognormal" => {
            let sigma = r.sigma.as_ref().map(|s| *s.get_ref()).unwrap_or_default();
            if !(sigma.is_finite() && sigma > 0.0 && sigma <= 10.0) {
                d.push(
                    r.sigma.as_ref().map(|x| x.span()),
                    f("sigma"),
                    format!("expected a number in (0, 10], got {sigma}"),
                );
                return None;
            }
            let median = get(&r.median);
            if median.is_zero() {
                d.push(
                    r.median.as_ref().map(|x| x.span()),
                    f("median"),
                    "expected a duration greater than zero, got 0",
                );
                return None;
            }
            Delay::LogNormal { median, sigma }
        }
        _ => {
            let mean = get(&r.mean);
            if mean.is_zero() {
                d.push(
                    r.mean.as_ref().map(|x| x.span()),
                    f("mean"),
                    "expected a duration greater than zero, got 0",
                );
                return None;
            }
            Delay::Exponential { mean }
        }
    };
    Some(delay)
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
        Some(x) => Some(dur(x)),
        None => Some(Duration::from_millis(10)),
    };
    let give_up_after = match raw.and_then(|p| p.give_up_after.as_ref()) {
        Some(x) => Some(Some(positive_duration(x, "poll.give_up_after", d)?)),
        None => Some(None),
    };
    let mode = match raw.and_then(|p| p.mode.as_ref()) {
        Some(m) => match m.get_ref().as_str() {
            "auto" => Some(CompletionMode::Auto),
            "events" => Some(CompletionMode::Events),
            "poll" => Some(CompletionMode::Poll),
            other => {
                d.push(
                    sp(m),
                    "poll.mode",
                    format!("expected auto, events or poll, got \"{other}\""),
                );
                None
            }
        },
        None => Some(CompletionMode::Auto),
    };
    let backstop_interval = match raw.and_then(|p| p.backstop_interval.as_ref()) {
        Some(x) => positive_duration(x, "poll.backstop_interval", d),
        None => Some(Duration::from_secs(5)),
    };
    Some(PollSettings {
        mode: mode?,
        backstop_interval: backstop_interval?,
        read_details: raw.and_then(|p| p.read_details).unwrap_or(true),
        interval: interval?,
        give_up_after: give_up_after?,
    })
}

fn validate_execution(doc: &RawDocument, d: Diags<'_, '_>) -> Option<ExecutionSettings> {
    let raw = doc.execution.as_ref();
    let max_in_flight = match raw.and_then(|e| e.max_in_flight.as_ref()) {
        Some(x) => int_in(x, "execution.max_in_flight", 1, 1_000_000, d),
        None => Some(10_000),
    };
    let drain_timeout = raw
        .and_then(|e| e.drain_timeout.as_ref())
        .map_or(Duration::from_secs(30), dur);
    let request_timeout = match raw.and_then(|e| e.request_timeout.as_ref()) {
        Some(x) => positive_duration(x, "execution.request_timeout", d),
        None => Some(Duration::from_secs(10)),
    };
    let connections = match raw.and_then(|e| e.connections.as_ref()) {
        Some(x) => int_in(x, "execution.connections", 1, 10_000, d),
        None => Some(64),
    };
    Some(ExecutionSettings {
        max_in_flight: max_in_flight?,
        drain_timeout,
        request_timeout: request_timeout?,
        connections: connections?,
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
        Some(t) => whole_seconds(t, &f("timeout"), d).map(Some),
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
        Some(t) => Some(whole_seconds(t, &f("timeout"), d)?),
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
                Some(v) => whole_seconds(v, &f(&format!("retry_strategy.{name}")), d).map(Some),
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
    let kind = match &raw.kind {
        Some(k) => match k.get_ref().as_str() {
            "gateway" => Some(TargetKindSelector::Gateway),
            "sub_device" => Some(TargetKindSelector::SubDevice),
            "any" => Some(TargetKindSelector::Any),
            other => {
                d.push(
                    sp(k),
                    f("kind"),
                    format!("expected gateway, sub_device or any, got \"{other}\""),
                );
                None
            }
        },
        None => Some(TargetKindSelector::Gateway),
    };
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
    let route = match &raw.route {
        Some(r) => match r.get_ref().as_str() {
            "direct" => Some(SubDeviceRoute::Direct),
            "via_parent" => Some(SubDeviceRoute::ViaParent),
            other => {
                d.push(
                    sp(r),
                    f("route"),
                    format!("expected direct or via_parent, got \"{other}\""),
                );
                None
            }
        },
        None => Some(SubDeviceRoute::Direct),
    };
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
