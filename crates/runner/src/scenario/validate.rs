//! Semantic validation: turns the deserialized document into a [`Scenario`]. Shapes are
//! checked by deserialization, single values by the section modules (`settings`, `commands`,
//! the fleet's `ProfileSpec::problems`); what stays here is the assembly and the rules that
//! span fields: phases versus the shorthand, ramp durations, duplicate names and prefixes,
//! and thresholds naming existing phases and commands.

use std::collections::HashMap;
use std::time::Duration;

use super::checks::*;
use super::commands::validate_commands;
use super::limits::{MAX_CONCURRENCY, MAX_DEVICES_PER_CLASS, MAX_RATE, MAX_SUB_DEVICES};
use super::model::{CommandSpec, DeviceClass, Fleet, LoadModel, Phase, RampStage, Scenario};
use super::parse::{Indexed, RawDocument};
use super::raw::{RawClass, RawPhase};
use super::settings::{validate_execution, validate_poll, validate_target};
use super::threshold::{Threshold, parse_threshold};

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

    let epoch = match header.and_then(|h| h.epoch.as_ref()) {
        Some(e) => match time::OffsetDateTime::parse(
            e.get_ref(),
            &time::format_description::well_known::Rfc3339,
        ) {
            Ok(t) => Some(t.to_offset(time::UtcOffset::UTC)),
            Err(err) => {
                d.push(
                    sp(e),
                    "epoch",
                    format!(
                        "expected an RFC 3339 date-time, got {:?}: {err}",
                        e.get_ref()
                    ),
                );
                None
            }
        },
        None => Some(super::model::DEFAULT_EPOCH),
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
        mode: header.and_then(|h| h.mode).unwrap_or_default(),
        epoch: epoch?,
        phases: phases?,
        fleet: fleet?,
        target: target?,
        poll: poll?,
        execution: execution?,
        commands: commands?,
        thresholds: thresholds?,
    })
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
