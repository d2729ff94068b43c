//! `fleetbench validate` accepts a scenario iff `run` can start it (issue 13 item 1, issue 15
//! findings 5 and 10): each case that used to pass validation and then fail (or panic) in
//! `run` is now reported by validation with its line and field, and a property test checks
//! that whatever validation accepts passes the fleet's own validation and builds a plan
//! without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use fleetbench_runner::embedded::{fleet_config, gateway_config};
use fleetbench_runner::plan::Plan;
use fleetbench_runner::scenario::limits::{MAX_DURATION, MAX_PACKAGE_BYTES};
use fleetbench_runner::scenario::{Diagnostic, LoadModel};
use fleetbench_runner::{Scenario, ScenarioError};
use proptest::prelude::*;

/// A valid scenario; `{class}` is replaced by extra lines of the device class, `{top}` by
/// extra top-level lines, `{command}` by extra lines of the command.
const TEMPLATE: &str = r#"name = "agree"
{top}
[[fleet.classes]]
name = "a"
count = 2
{class}
[[commands]]
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
{command}
"#;

const DEFAULT_TOP: &str = "duration = \"1s\"\nload = { model = \"constant\", rate = 10 }";

fn scenario(top: &str, class: &str, command: &str) -> String {
    TEMPLATE
        .replace("{top}", top)
        .replace("{class}", class)
        .replace("{command}", command)
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match Scenario::from_str(text, "agree.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ScenarioError::Invalid { diagnostics, .. }) => diagnostics,
        Err(other) => panic!("{other}"),
    }
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in the text"))
        + 1
}

/// Asserts that exactly the field `field` is reported, on the line of `needle`, with a
/// message containing `words`.
fn rejected_at(text: &str, needle: &str, field: &str, words: &str) {
    let diags = errors(text);
    let d = diags
        .iter()
        .find(|d| d.field == field)
        .unwrap_or_else(|| panic!("no error for {field}: {diags:#?}"));
    assert_eq!(d.line, Some(line_of(text, needle)), "{d:?}");
    assert!(d.message.contains(words), "{field}: {}", d.message);
}

#[test]
fn update_period_below_the_fleet_minimum_is_rejected_by_validate() {
    let text = scenario(DEFAULT_TOP, "update_period = \"10ms\"", "");
    rejected_at(
        &text,
        "update_period",
        "fleet.classes[0].update_period",
        "must be between 100 ms and the lifetime",
    );
}

#[test]
fn update_period_above_the_lifetime_is_rejected_by_validate() {
    let top = format!("{DEFAULT_TOP}\n[fleet]\nlifetime = \"60s\"");
    let text = scenario(&top, "update_period = \"61s\"", "");
    rejected_at(
        &text,
        "update_period",
        "fleet.classes[0].update_period",
        "the lifetime",
    );
}

#[test]
fn lifetime_beyond_the_bound_is_rejected() {
    let top = format!("{DEFAULT_TOP}\n[fleet]\nlifetime = \"5000000000s\"");
    let text = scenario(&top, "", "");
    rejected_at(&text, "lifetime", "fleet.lifetime", "at most");
}

#[test]
fn notification_and_sample_periods_follow_the_fleet() {
    let text = scenario(
        DEFAULT_TOP,
        "profile = { notification_period = \"5000000000s\" }",
        "",
    );
    rejected_at(
        &text,
        "notification_period",
        "fleet.classes[0].profile.notification_period",
        "at most",
    );
    let text = scenario(DEFAULT_TOP, "profile = { sample_period = \"10ms\" }", "");
    rejected_at(
        &text,
        "sample_period",
        "fleet.classes[0].profile.sample_period",
        "at least 100 ms",
    );
}

#[test]
fn link_reorder_delay_follows_the_fleet() {
    let text = scenario(
        DEFAULT_TOP,
        "profile = { link = { reorder = 0.1, reorder_delay = \"2h\" } }",
        "",
    );
    rejected_at(
        &text,
        "reorder_delay",
        "fleet.classes[0].profile.link.reorder_delay",
        "at most 1 h",
    );
    let text = scenario(
        DEFAULT_TOP,
        "profile = { link = { reorder = 0.1, reorder_delay = \"0s\" } }",
        "",
    );
    rejected_at(
        &text,
        "reorder_delay",
        "fleet.classes[0].profile.link.reorder_delay",
        "above zero",
    );
}

#[test]
fn churn_rate_of_1e300_is_rejected_by_validate() {
    let text = scenario(
        DEFAULT_TOP,
        "profile = { churn = { offline_rate_per_hour = 1e300 } }",
        "",
    );
    rejected_at(
        &text,
        "offline_rate_per_hour",
        "fleet.classes[0].profile.churn.offline_rate_per_hour",
        "between 0 and 3600",
    );
}

#[test]
fn huge_durations_are_rejected_where_they_are_written() {
    let huge = "\"18446744073709551615s\"";
    let top = format!("duration = {huge}\nload = {{ model = \"constant\", rate = 10 }}");
    rejected_at(&scenario(&top, "", ""), "duration =", "duration", "30 days");
    let ramp = format!(
        "[[phases]]\nload = {{ model = \"ramping\", stages = [{{ duration = {huge}, target_rate = 5 }}] }}"
    );
    let diags = errors(&scenario(&ramp, "", ""));
    assert!(
        diags.iter().any(|d| d.message.contains("30 days")),
        "{diags:#?}"
    );
    let closed = "duration = \"1s\"\nload = { model = \"closed\", concurrency = 10, think_time = \"31days\" }";
    rejected_at(
        &scenario(closed, "", ""),
        "think_time",
        "load.think_time",
        "30 days",
    );
    for (top_extra, needle, field) in [
        (
            "[fleet]\nregistration_spread = \"31days\"",
            "registration_spread",
            "fleet.registration_spread",
        ),
        (
            "[fleet]\nregistration_timeout = \"8days\"",
            "registration_timeout",
            "fleet.registration_timeout",
        ),
        (
            "[poll]\nbackstop_interval = \"8days\"",
            "backstop_interval",
            "poll.backstop_interval",
        ),
        (
            "[poll]\ngive_up_after = \"8days\"",
            "give_up_after",
            "poll.give_up_after",
        ),
        (
            "[execution]\ndrain_timeout = \"8days\"",
            "drain_timeout",
            "execution.drain_timeout",
        ),
        (
            "[execution]\nrequest_timeout = \"8days\"",
            "request_timeout",
            "execution.request_timeout",
        ),
    ] {
        let text = scenario(&format!("{DEFAULT_TOP}\n{top_extra}"), "", "");
        let diags = errors(&text);
        let d = diags
            .iter()
            .find(|d| d.field == field)
            .unwrap_or_else(|| panic!("{field}: {diags:#?}"));
        assert_eq!(d.line, Some(line_of(&text, needle)), "{d:?}");
    }
    for (command, field) in [
        ("timeout = \"8days\"", "commands[0].timeout"),
        (
            "retry_options = { timeout = \"8days\" }",
            "commands[0].retry_options.timeout",
        ),
        (
            "retry_options = { retry_strategy = { type = \"fixed\", fixed_interval = \"8days\" } }",
            "commands[0].retry_options.retry_strategy.fixed_interval",
        ),
        (
            "schedule = { opens_after = \"31days\", lasts = \"1s\" }",
            "commands[0].schedule.opens_after",
        ),
    ] {
        let diags = errors(&scenario(DEFAULT_TOP, "", command));
        assert!(
            diags.iter().any(|d| d.field == field),
            "{field}: {diags:#?}"
        );
    }
}

#[test]
fn the_longest_accepted_durations_are_accepted() {
    let top = "duration = \"30days\"\nload = { model = \"constant\", rate = 10 }\n[execution]\nrequest_timeout = \"7days\"";
    let s = Scenario::from_str(&scenario(top, "", "timeout = \"7days\""), "agree.toml").unwrap();
    assert_eq!(s.phases[0].duration, MAX_DURATION);
}

#[test]
fn packages_up_to_the_documented_16_mib_fit_the_embedded_gateway() {
    for bytes in [(1 << 20) + 1, MAX_PACKAGE_BYTES] {
        let text = scenario(DEFAULT_TOP, "", "")
            + &format!(
                "[[commands]]\ncommand_type = \"software_update\"\npackage = {{ bytes = {bytes} }}\n"
            );
        Scenario::from_str(&text, "agree.toml").unwrap();
    }
    let config = gateway_config(1);
    assert!(config.max_body_bytes as i64 > MAX_PACKAGE_BYTES);
    let too_big = scenario(DEFAULT_TOP, "", "")
        + &format!(
            "[[commands]]\ncommand_type = \"software_update\"\npackage = {{ bytes = {} }}\n",
            MAX_PACKAGE_BYTES + 1
        );
    rejected_at(&too_big, "bytes =", "commands[1].package.bytes", "bytes");
}

#[test]
fn the_embedded_gateway_seed_follows_the_scenario_seed() {
    assert_ne!(gateway_config(1).seed, gateway_config(2).seed);
    assert_eq!(gateway_config(1).seed, gateway_config(1).seed);
}

#[test]
fn the_open_file_budget_counts_connections_and_the_fleets_real_sockets() {
    // The process's limit (raised to the hard limit, as `run` does) is what validate uses.
    let limit = fleetbench_fleet::limits::raise_open_file_limit()
        .unwrap()
        .soft;
    // A million devices fit: past AUTO_MULTIPLEX_ABOVE endpoints the fleet shares a few
    // sockets, so validate must not count one per device.
    let million = scenario(DEFAULT_TOP, "", "").replace("count = 2", "count = 1000000");
    let diags = match Scenario::from_str(&million, "agree.toml") {
        Ok(_) => Vec::new(),
        Err(ScenarioError::Invalid { diagnostics, .. }) => diagnostics,
        Err(other) => panic!("{other}"),
    };
    assert!(
        !diags.iter().any(|d| d.message.contains("open-file limit")),
        "{diags:#?}"
    );
    // 10,000 connections, both ends in this process (embedded): 20,000 descriptors and more.
    let top = format!("{DEFAULT_TOP}\n[execution]\nconnections = 10000\nmax_in_flight = 10000");
    let text = scenario(&top, "", "");
    let needed = 2 * 10_000 + 2;
    match Scenario::from_str(&text, "agree.toml") {
        Err(ScenarioError::Invalid { diagnostics, .. }) => {
            assert!(limit < needed + 256, "rejected under a limit of {limit}");
            assert!(
                diagnostics
                    .iter()
                    .any(|d| d.message.contains("open-file limit")),
                "{diagnostics:#?}"
            );
        }
        Ok(_) => assert!(limit >= needed, "accepted under a limit of {limit}"),
        Err(other) => panic!("{other}"),
    }
}

// ------------------------------------------------------------------ property test

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0s".to_owned()),
        Just("1ms".to_owned()),
        Just("10ms".to_owned()),
        Just("100ms".to_owned()),
        Just("1s".to_owned()),
        Just("61s".to_owned()),
        Just("300s".to_owned()),
        Just("2h".to_owned()),
        Just("7days".to_owned()),
        Just("8days".to_owned()),
        Just("30days".to_owned()),
        Just("31days".to_owned()),
        Just("4294967296s".to_owned()),
        Just("18446744073709551615s".to_owned()),
        (1u64..100_000).prop_map(|ms| format!("{ms}ms")),
    ]
}

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("-1".to_owned()),
        Just("0.5".to_owned()),
        Just("3600".to_owned()),
        Just("3601".to_owned()),
        Just("1e6".to_owned()),
        Just("1e300".to_owned()),
        Just("nan".to_owned()),
        Just("inf".to_owned()),
        (0.0f64..2.0).prop_map(|x| format!("{x}")),
    ]
}

fn int_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("-1".to_owned()),
        Just("4096".to_owned()),
        Just("4097".to_owned()),
        Just("10000".to_owned()),
        Just("1000000".to_owned()),
        Just("9223372036854775807".to_owned()),
        (1i64..64).prop_map(|n| n.to_string()),
    ]
}

/// Present in this fraction of the cases: low enough that a good share of the generated
/// scenarios is valid (checked by `the_generator_produces_accepted_scenarios_too`).
const PRESENT: f64 = 0.2;

/// An optional `key = value` line.
fn field(key: &'static str, value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    line(value.prop_map(move |v| format!("{key} = {v}\n")))
}

/// An optional line.
fn line(value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::option::weighted(PRESENT, value).prop_map(Option::unwrap_or_default)
}

fn quoted(s: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    s.prop_map(|s| format!("\"{s}\""))
}

fn load_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (quoted(duration_text()), number_text()).prop_map(|(d, r)| format!(
            "duration = {d}\nload = {{ model = \"constant\", rate = {r} }}\n"
        )),
        (quoted(duration_text()), number_text()).prop_map(|(d, r)| format!(
            "duration = {d}\nload = {{ model = \"poisson\", rate = {r} }}\n"
        )),
        (quoted(duration_text()), number_text(), number_text()).prop_map(|(d, r0, r1)| format!(
            "load = {{ model = \"ramping\", start_rate = {r0}, stages = [{{ duration = {d}, target_rate = {r1} }}] }}\n"
        )),
        (quoted(duration_text()), int_text(), quoted(duration_text())).prop_map(|(d, c, t)| format!(
            "duration = {d}\nload = {{ model = \"closed\", concurrency = {c}, think_time = {t} }}\n"
        )),
    ]
}

fn scenario_text() -> impl Strategy<Value = String> {
    let fleet = (
        field("registration_spread", quoted(duration_text())),
        field("registration_timeout", quoted(duration_text())),
        field("lifetime", quoted(duration_text())),
    );
    let class = (
        field("count", int_text()),
        field("sub_devices", int_text()),
        field(
            "sub_device_mode",
            prop_oneof![
                Just("\"object25\"".to_owned()),
                Just("\"per_endpoint\"".to_owned())
            ],
        ),
        field(
            "queue_mode",
            prop_oneof![Just("true".to_owned()), Just("false".to_owned())],
        ),
        field("queue_awake_window", quoted(duration_text())),
        field("update_period", quoted(duration_text())),
    );
    let profile = (
        field("notification_period", quoted(duration_text())),
        field("sample_period", quoted(duration_text())),
        field("reboot_downtime", quoted(duration_text())),
        field("failure_ratio", number_text()),
        line(
            (number_text(), quoted(duration_text()))
                .prop_map(|(r, d)| format!("link = {{ reorder = {r}, reorder_delay = {d} }}\n")),
        ),
        line((number_text(), number_text(), quoted(duration_text())).prop_map(|(o, r, d)| format!(
            "churn = {{ offline_rate_per_hour = {o}, reboot_rate_per_hour = {r}, offline_duration = {{ distribution = \"fixed\", value = {d} }} }}\n"
        ))),
    );
    let execution = (
        field("max_in_flight", int_text()),
        field("connections", int_text()),
        field("drain_timeout", quoted(duration_text())),
        field("request_timeout", quoted(duration_text())),
    );
    let command = (
        field("timeout", quoted(duration_text())),
        line(
            (quoted(duration_text()), quoted(duration_text()))
                .prop_map(|(o, l)| format!("schedule = {{ opens_after = {o}, lasts = {l} }}\n")),
        ),
    );
    (load_text(), fleet, class, profile, execution, command, any::<u32>()).prop_map(
        |(load, f, c, p, e, cmd, seed)| {
            let profile_lines = [p.0, p.1, p.2, p.3, p.4, p.5].concat();
            format!(
                "name = \"prop\"\nseed = {seed}\n{load}\n[fleet]\n{}{}{}\n[[fleet.classes]]\nname = \"a\"\ncount = 1\n{}{}{}{}{}\n[fleet.classes.profile]\n{profile_lines}\n[execution]\n{}{}{}{}\n[[commands]]\ncommand_type = \"reboot\"\n{}{}",
                f.0, f.1, f.2,
                c.1, c.2, c.3, c.4, c.5,
                e.0, e.1, e.2, e.3,
                cmd.0, cmd.1,
            )
            .replacen("count = 1\n", if c.0.is_empty() { "count = 1\n" } else { &c.0 }, 1)
        },
    )
}

fn check_startable(s: &Scenario) {
    let server = SocketAddr::from(([127, 0, 0, 1], 5683));
    for (index, class) in s.fleet.classes.iter().enumerate() {
        let config = fleet_config(&s.fleet, class, index, s.seed, server, &Default::default());
        config
            .validate()
            .unwrap_or_else(|e| panic!("validate accepted, the fleet refuses: {e}"));
    }
    let gateway = gateway_config(s.seed);
    assert!(gateway.max_body_bytes as i64 > MAX_PACKAGE_BYTES);
    let plan = Plan::new(s).unwrap_or_else(|e| panic!("validate accepted, the plan refuses: {e}"));
    let _ = plan.duration();
    for (index, phase) in plan.phases().iter().enumerate() {
        assert!(phase.duration <= MAX_DURATION.saturating_mul(u32::MAX));
        if let LoadModel::Closed { concurrency, .. } = phase.load {
            for worker in 0..concurrency.min(4) as u64 {
                let _ = plan.chooser(index, worker).next_choice();
            }
        } else {
            let _ = plan.phase_commands(index).take(200).count();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn whatever_validate_accepts_the_run_can_start(text in scenario_text()) {
        if let Ok(s) = Scenario::from_str(&text, "prop.toml") {
            check_startable(&s);
        }
    }
}

#[test]
fn the_generator_produces_accepted_scenarios_too() {
    // A property over accepted scenarios proves nothing if none is accepted.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = scenario_text();
    let accepted = (0..2000)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).unwrap().current();
            Scenario::from_str(&text, "prop.toml").is_ok()
        })
        .count();
    assert!(
        accepted >= 100,
        "only {accepted} of 2000 generated scenarios were valid"
    );
}
