//! `[[commands]]`: the command mix, its per-type rules, retry options, packages and the
//! target selector (checked against the fleet's classes).

use super::checks::*;
use super::limits::MAX_PACKAGE_BYTES;
use super::model::{
    CommandSpec, Fleet, Package, RelativeSchedule, RetryOptions, RetryStrategy, SubDeviceRoute,
    TargetKindSelector, TargetSelector,
};
use super::parse::{Indexed, RawDocument};
use super::raw::{RawCommand, RawRetryOptions, RawTargets, SDur};

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

pub(super) fn validate_commands(
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

pub(super) fn validate_command(
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

pub(super) fn validate_retry(
    raw: &RawRetryOptions,
    path: &str,
    d: Diags<'_, '_>,
) -> Option<RetryOptions> {
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

pub(super) fn validate_targets(
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

pub(super) fn toml_to_json(value: &toml::Value) -> serde_json::Value {
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
