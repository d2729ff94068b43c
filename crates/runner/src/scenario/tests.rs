//! Scenario loading tests: a valid file, and one test per kind of error, each checking the
//! line, the field and the reason.

use std::time::Duration;

use super::*;

const VALID: &str = r#"
name = "smoke"
seed = 7
thresholds = ["latency.p99 < \"250ms\"", "success_rate > 0.99", "dropped == 0"]

[[phases]]
name = "warmup"
duration = "2s"
load = { model = "constant", rate = 50 }

[[phases]]
name = "ramp"
load = { model = "ramping", start_rate = 50, stages = [{ duration = "3s", target_rate = 200 }] }

[[phases]]
name = "closed"
duration = "1s"
load = { model = "closed", concurrency = 4, think_time = "5ms" }

[fleet]
registration_timeout = "30s"

[[fleet.classes]]
name = "sensors"
count = 10
sub_devices = 2
profile = { delay = { distribution = "fixed", value = "20ms" }, failure_ratio = 0.0 }

[[commands]]
weight = 3
command_type = "lwm2m_request"
type = "read"
endpoint = "/3303/0/5700"
timeout = "10s"

[[commands]]
weight = 1
command_type = "lwm2m_request"
type = "write"
endpoint = "/3311/0/5850"
data = "1"
targets = { kind = "sub_device", route = "via_parent", fraction = 0.5 }
retry_options = { max_retries = 2, retry_strategy = { type = "fixed", fixed_interval = "1s" } }
"#;

fn errors(text: &str) -> Vec<Diagnostic> {
    match Scenario::from_str(text, "t.toml") {
        Ok(s) => panic!("expected errors, got {s:?}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

fn replace(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "test bug: {from:?} not in VALID");
    VALID.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    let offset = text.find(needle).expect("needle present");
    text[..offset].matches('\n').count() + 1
}

fn assert_one(diags: &[Diagnostic], line: usize, field: &str, reason: &str) {
    assert!(
        diags
            .iter()
            .any(|d| d.line == Some(line) && d.field == field && d.message.contains(reason)),
        "wanted line {line}, field {field}, reason containing {reason:?}; got {diags:#?}"
    );
}

#[test]
fn valid_scenario_loads_with_defaults() {
    let s = Scenario::from_str(VALID, "smoke.toml").unwrap();
    assert_eq!(s.name, "smoke");
    assert_eq!(s.seed, 7);
    assert_eq!(s.phases.len(), 3);
    assert_eq!(s.phases[1].duration, Duration::from_secs(3));
    assert_eq!(s.phases[0].load, LoadModel::Constant { rate: 50.0 });
    assert_eq!(
        s.phases[2].load,
        LoadModel::Closed {
            concurrency: 4,
            think_time: Duration::from_millis(5)
        }
    );
    assert_eq!(s.fleet.classes[0].endpoint_prefix, "fb-sensors-");
    assert_eq!(
        s.fleet.classes[0].profile.delay,
        Delay::Fixed {
            value: Duration::from_millis(20)
        }
    );
    assert_eq!(s.commands[0].label, "lwm2m_request:read");
    assert_eq!(s.commands[0].targets.kind, TargetKindSelector::Gateway);
    assert_eq!(s.commands[1].targets.route, SubDeviceRoute::ViaParent);
    assert_eq!(
        s.commands[1].retry_options.as_ref().unwrap().max_retries,
        Some(2)
    );
    assert_eq!(s.target, Target::Embedded);
    assert_eq!(s.poll.interval, Duration::from_millis(10));
    assert_eq!(s.thresholds.len(), 3);
    assert_eq!(s.total_duration(), Duration::from_secs(6));
}

#[test]
fn shorthand_duration_and_load_make_one_phase() {
    let text = r#"
name = "one"
duration = "5s"
load = { model = "poisson", rate = 10 }
[[fleet.classes]]
name = "a"
count = 1
[[commands]]
command_type = "reboot"
"#;
    let s = Scenario::from_str(text, "one.toml").unwrap();
    assert_eq!(s.phases.len(), 1);
    assert_eq!(s.phases[0].name, "main");
    assert_eq!(s.phases[0].load, LoadModel::Poisson { rate: 10.0 });
    assert_eq!(s.commands[0].label, "reboot");
}

#[test]
fn negative_weight_names_line_field_and_value() {
    let text = replace("weight = 1\n", "weight = -3\n");
    let diags = errors(&text);
    assert_one(
        &diags,
        line_of(&text, "weight = -3"),
        "commands[1].weight",
        "expected a positive number, got -3",
    );
    let err = Scenario::from_str(&text, "smoke.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "smoke.toml:{}: commands[1].weight: expected a positive number, got -3",
            line_of(&text, "weight = -3")
        )),
        "{err}"
    );
}

#[test]
fn syntax_error_reports_line() {
    let text = replace("seed = 7", "seed = = 7");
    let diags = errors(&text);
    assert_eq!(diags[0].line, Some(line_of(&text, "seed = = 7")));
}

#[test]
fn type_error_reports_line_and_field() {
    let text = replace("weight = 3", "weight = \"heavy\"");
    let diags = errors(&text);
    assert_one(
        &diags,
        line_of(&text, "\"heavy\""),
        "commands[0].weight",
        "invalid type",
    );
}

#[test]
fn unknown_field_is_rejected_with_its_name() {
    let text = replace(
        "endpoint = \"/3303/0/5700\"",
        "endpoint = \"/3303/0/5700\"\nendpiont = \"/x\"",
    );
    let diags = errors(&text);
    assert_one(
        &diags,
        line_of(&text, "endpiont"),
        "commands[0].endpiont",
        "unknown field `endpiont`",
    );
}

#[test]
fn unknown_top_level_key_is_rejected() {
    let text = replace("seed = 7", "seed = 7\nsed = 8");
    let diags = errors(&text);
    assert_one(
        &diags,
        line_of(&text, "sed = 8"),
        "sed",
        "unknown key `sed`",
    );
}

#[test]
fn bad_duration_names_the_value() {
    let text = replace("duration = \"2s\"", "duration = \"2 parsecs\"");
    let diags = errors(&text);
    assert_one(
        &diags,
        line_of(&text, "2 parsecs"),
        "phases[0].duration",
        "expected a duration like",
    );
}

#[test]
fn bare_number_duration_suggests_unit() {
    let text = replace("timeout = \"10s\"", "timeout = 10");
    let diags = errors(&text);
    assert_one(
        &diags,
        line_of(&text, "timeout = 10"),
        "commands[0].timeout",
        "\"10s\"",
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let text = replace("weight = 3", "weight = 0")
        .replacen("weight = 1\n", "weight = \"x\"\n", 1)
        .replacen("count = 10", "count = -1", 1)
        .replacen("rate = 50 }", "rate = 0 }", 1);
    let diags = errors(&text);
    assert_one(
        &diags,
        line_of(&text, "weight = 0"),
        "commands[0].weight",
        "positive",
    );
    assert_one(
        &diags,
        line_of(&text, "weight = \"x\""),
        "commands[1].weight",
        "invalid type",
    );
    assert_one(
        &diags,
        line_of(&text, "count = -1"),
        "fleet.classes[0].count",
        "expected a positive integer, got -1",
    );
    assert_one(
        &diags,
        line_of(&text, "rate = 0 }"),
        "phases[0].load.rate",
        "got 0",
    );
    assert!(diags.len() >= 4);
}

#[test]
fn unknown_load_model_and_misplaced_parameters() {
    let text = replace(
        "model = \"constant\", rate = 50",
        "model = \"steady\", rate = 50",
    );
    assert_one(
        &errors(&text),
        line_of(&text, "steady"),
        "phases[0].load.model",
        "unknown variant `steady`, expected one of `constant`, `poisson`, `ramping`, `closed`",
    );
    let text = replace(
        "model = \"constant\", rate = 50",
        "model = \"constant\", rate = 50, concurrency = 3",
    );
    assert_one(
        &errors(&text),
        line_of(&text, "concurrency = 3"),
        "phases[0].load.concurrency",
        "unknown field `concurrency`, expected `rate`",
    );
    let text = replace(
        "model = \"closed\", concurrency = 4,",
        "model = \"closed\",",
    );
    assert_one(
        &errors(&text),
        line_of(&text, "model = \"closed\""),
        "phases[2].load.concurrency",
        "missing field `concurrency`",
    );
}

#[test]
fn ramping_duration_must_match_stages() {
    let text = replace("name = \"ramp\"", "name = \"ramp\"\nduration = \"10s\"");
    assert_one(
        &errors(&text),
        line_of(&text, "duration = \"10s\""),
        "phases[1].duration",
        "sum of its stages",
    );
}

#[test]
fn duplicate_phase_names_are_rejected() {
    let text = replace("name = \"ramp\"", "name = \"warmup\"");
    let line = VALID
        .lines()
        .position(|l| l.contains("name = \"ramp\""))
        .unwrap()
        + 1;
    assert_one(
        &errors(&text),
        line,
        "phases[1].name",
        "duplicate phase name",
    );
}

#[test]
fn unknown_target_class_lists_classes() {
    let text = replace("fraction = 0.5 }", "fraction = 0.5, class = \"pumps\" }");
    assert_one(
        &errors(&text),
        line_of(&text, "pumps"),
        "commands[1].targets.class",
        "no device class named \"pumps\" (classes: sensors)",
    );
}

#[test]
fn fraction_and_ratio_bounds() {
    let text = replace("fraction = 0.5", "fraction = 1.5");
    assert_one(
        &errors(&text),
        line_of(&text, "1.5"),
        "commands[1].targets.fraction",
        "expected a fraction in (0, 1], got 1.5",
    );
    let text = replace("failure_ratio = 0.0", "failure_ratio = 2.0");
    assert_one(
        &errors(&text),
        line_of(&text, "failure_ratio = 2.0"),
        "fleet.classes[0].profile.failure_ratio",
        "between 0 and 1, got 2",
    );
}

#[test]
fn delay_distribution_parameters_are_checked() {
    let text = replace(
        "{ distribution = \"fixed\", value = \"20ms\" }",
        "{ distribution = \"uniform\", min = \"30ms\", max = \"10ms\" }",
    );
    assert_one(
        &errors(&text),
        line_of(&text, "uniform"),
        "fleet.classes[0].profile.delay.max",
        "must not be below min",
    );
    let text = replace(
        "{ distribution = \"fixed\", value = \"20ms\" }",
        "{ distribution = \"normal\", mean = \"20ms\" }",
    );
    assert_one(
        &errors(&text),
        line_of(&text, "normal"),
        "fleet.classes[0].profile.delay.std_dev",
        "missing",
    );
    let text = replace(
        "{ distribution = \"fixed\", value = \"20ms\" }",
        "{ distribution = \"gamma\" }",
    );
    assert_one(
        &errors(&text),
        line_of(&text, "gamma"),
        "fleet.classes[0].profile.delay.distribution",
        "unknown variant `gamma`",
    );
}

#[test]
fn lwm2m_commands_need_type_and_endpoint() {
    let text = replace("type = \"read\"\n", "type = \"peek\"\n");
    assert_one(
        &errors(&text),
        line_of(&text, "peek"),
        "commands[0].type",
        "expected one of read, write",
    );
    let text = replace("endpoint = \"/3303/0/5700\"", "endpoint = \"3303/0/5700\"");
    assert_one(
        &errors(&text),
        line_of(&text, "\"3303/0/5700\""),
        "commands[0].endpoint",
        "LwM2M path",
    );
    let text = replace("data = \"1\"\n", "");
    assert_one(
        &errors(&text),
        line_of(&text, "type = \"write\""),
        "commands[1].data",
        "a write needs `data`",
    );
}

#[test]
fn timeout_must_be_whole_seconds() {
    let text = replace("timeout = \"10s\"", "timeout = \"1500ms\"");
    assert_one(
        &errors(&text),
        line_of(&text, "1500ms"),
        "commands[0].timeout",
        "whole seconds",
    );
}

#[test]
fn bad_threshold_names_its_index() {
    let text = replace("\"dropped == 0\"", "\"dropped = 0\"");
    assert_one(
        &errors(&text),
        line_of(&text, "dropped = 0"),
        "thresholds[2]",
        "no comparison operator",
    );
    let text = replace("\"dropped == 0\"", "\"latency.p99{phase=nope} < 1s\"");
    assert_one(
        &errors(&text),
        line_of(&text, "phase=nope"),
        "thresholds[2]",
        "no phase named \"nope\"",
    );
}

#[test]
fn external_target_is_validated() {
    let text = format!(
        "{VALID}\n[target]\nurl = \"ftp://x\"\ntoken = \"t\"\nlwm2m_server = \"nowhere\"\n"
    );
    let diags = errors(&text);
    assert_one(&diags, line_of(&text, "ftp://x"), "target.url", "http://");
    assert_one(
        &diags,
        line_of(&text, "nowhere"),
        "target.lwm2m_server",
        "IP:port",
    );
    let text = format!(
        "{VALID}\n[target]\nurl = \"http://127.0.0.1:9/\"\ntoken = \"t\"\nlwm2m_server = \"127.0.0.1:5683\"\n"
    );
    let s = Scenario::from_str(&text, "t.toml").unwrap();
    assert_eq!(
        s.target,
        Target::External {
            url: "http://127.0.0.1:9".into(),
            token: "t".into(),
            lwm2m_server: "127.0.0.1:5683".parse().unwrap()
        }
    );
}

#[test]
fn missing_sections_are_named() {
    let diags = errors("name = \"x\"\n");
    for field in ["phases", "fleet", "commands"] {
        assert!(
            diags
                .iter()
                .any(|d| d.field == field && d.message.contains("missing")),
            "{field}: {diags:#?}"
        );
    }
}

#[test]
fn sub_device_target_needs_sub_devices() {
    let text = replace("sub_devices = 2", "sub_devices = 0");
    assert_one(
        &errors(&text),
        line_of(&text, "kind = \"sub_device\""),
        "commands[1].targets.kind",
        "no sub-devices",
    );
}

#[test]
fn from_file_reports_io_and_uses_file_name() {
    let missing = Scenario::from_file("/nonexistent/dir/x.toml").unwrap_err();
    assert!(matches!(missing, ScenarioError::Io { .. }));
    let dir = std::env::temp_dir().join(format!("fleetbench-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "name = \"x\"\nbogus = 1\n").unwrap();
    let err = Scenario::from_file(&path).unwrap_err().to_string();
    assert!(err.contains("bad.toml:2: bogus: unknown key"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn top_level_key_after_a_table_gets_a_hint() {
    let text = format!("{VALID}\nseed = 9\n");
    assert_one(
        &errors(&text),
        line_of(&text, "seed = 9"),
        "commands[1].seed",
        "move it above the first table",
    );
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_text(text in ".{0,400}") {
            let _ = Scenario::from_str(&text, "fuzz.toml");
        }

        #[test]
        fn mutated_valid_scenario(cut in 0usize..2000, insert in "[ -~é≤\n]{0,12}") {
            let mut text = VALID.to_owned();
            let mut at = cut.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, &insert);
            if let Err(e) = Scenario::from_str(&text, "fuzz.toml") {
                prop_assert!(!e.diagnostics().is_empty());
            }
        }

        #[test]
        fn arbitrary_thresholds(expr in "[a-z_.{}=,<>!é≤0-9 \"]{0,40}") {
            let _ = threshold::parse_threshold(&expr);
        }
    }
}

#[test]
fn thresholds_may_abort_the_run_when_they_can_fail_for_good() {
    let text = replace(
        "thresholds = [\"latency.p99 < \\\"250ms\\\"\", \"success_rate > 0.99\", \"dropped == 0\"]",
        "thresholds = [\"dropped == 0\", { rule = \"fails < 5\", abort_on_fail = true }, { rule = \"latency.max <= 1s\", abort_on_fail = true }]",
    );
    let s = Scenario::from_str(&text, "s.toml").unwrap();
    let t = &s.thresholds;
    assert!(!t[0].abort_on_fail);
    assert!(t[1].abort_on_fail && t[2].abort_on_fail);
    assert!(!t[1].failed_for_good(4.0));
    assert!(
        t[1].failed_for_good(5.0),
        "fails < 5 cannot pass once 5 failed"
    );
    assert!(t[2].failed_for_good(1000.5));
    assert!(!t[2].failed_for_good(1000.0));
    // `sent == 100` is not lost while fewer were sent.
    let eq = threshold::parse_threshold("sent == 100").unwrap();
    assert!(!eq.failed_for_good(50.0) && eq.failed_for_good(101.0));

    let bad = replace(
        "thresholds = [\"latency.p99 < \\\"250ms\\\"\", \"success_rate > 0.99\", \"dropped == 0\"]",
        "thresholds = [{ rule = \"latency.p99 < 1s\", abort_on_fail = true }, { rule = \"sent > 3\", abort_on_fail = true }, { rule = \"x\", abort = true }]",
    );
    let diags = errors(&bad);
    assert_eq!(diags.len(), 3, "{diags:?}");
    assert_eq!(diags[0].field, "thresholds[0]");
    assert!(
        diags[0]
            .message
            .contains("abort_on_fail needs a rule that can fail for good")
    );
    assert!(diags[0].message.contains("latency.p99 < 1s"));
    assert_eq!(diags[1].field, "thresholds[1]");
    assert_eq!(diags[2].field, "thresholds[2]");
    assert!(diags.iter().all(|d| d.line == Some(4)), "{diags:?}");
}

#[test]
fn profile_and_package_errors_name_line_and_field() {
    let text = r#"
name = "p"
duration = "1s"
load = { model = "constant", rate = 1 }
[[fleet.classes]]
name = "a"
count = 1
profile = { firmware_failures = [{ result = 1, ratio = 0.5 }], link = { loss = 1.5 }, churn = { reboot_rate_per_hour = -1 } }
[[fleet.classes]]
name = "b"
count = 1
sub_device_mode = "nested"
[[commands]]
command_type = "software_update"
[[commands]]
command_type = "reboot"
package = { bytes = 10 }
[[commands]]
command_type = "software_update"
package = { bytes = 10, link = "coap://x" }
"#;
    let diags = errors(text);
    let fields: Vec<&str> = diags.iter().map(|d| d.field.as_str()).collect();
    for f in [
        "fleet.classes[1].sub_device_mode",
        "fleet.classes[0].profile.firmware_failures[0].result",
        "fleet.classes[0].profile.link.loss",
        "fleet.classes[0].profile.churn.reboot_rate_per_hour",
        "commands[0].package",
        "commands[1].package",
        "commands[2].package",
    ] {
        assert!(fields.contains(&f), "{f} missing in {diags:#?}");
    }
    let missing = diags
        .iter()
        .find(|d| d.field == "commands[0].package")
        .unwrap();
    assert!(
        missing
            .message
            .contains("software_update needs a `package`")
    );
    assert_eq!(missing.line, Some(14));
}
