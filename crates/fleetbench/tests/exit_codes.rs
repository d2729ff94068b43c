//! The exit-code contract CI relies on: 0 pass, 2 invalid input (naming line and field), 99
//! failed threshold (also when an abort_on_fail threshold stops the run early).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Scratch, run, summary};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn a_bad_scenario_exits_2_naming_line_and_field() {
    let scratch = Scratch::new("bad-scenario");
    let path = scratch.path("bad.toml");
    std::fs::write(
        &path,
        "name = \"bad\"\nduration = \"1s\"\nload = { model = \"constant\", rate = 10 }\n[[fleet.classes]]\nname = \"a\"\ncount = -3\n[[commands]]\ncommand_type = \"reboot\"\nweight = 0\n",
    )
    .unwrap();
    for sub in ["validate", "run"] {
        let (code, _, stderr) = run(&[sub, path.to_str().unwrap()], LIMIT);
        assert_eq!(code, 2, "{sub}: {stderr}");
        assert!(
            stderr.contains(
                "bad.toml:6: fleet.classes[0].count: expected a positive integer, got -3"
            ),
            "{sub}: {stderr}"
        );
        assert!(
            stderr.contains("bad.toml:9: commands[0].weight"),
            "{sub}: {stderr}"
        );
    }
}

#[test]
fn a_bad_flag_exits_2() {
    let (code, _, stderr) = run(&["run", "--no-such-flag"], LIMIT);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
    let (code, _, stderr) = run(&["compare", "a", "b", "--max-regression", "lots"], LIMIT);
    assert_eq!(code, 2);
    assert!(stderr.contains("\"lots\" is not a percentage"), "{stderr}");
    let (code, _, stderr) = run(&["compare", "/nonexistent/base", "/nonexistent/cur"], LIMIT);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("/nonexistent/base: no such run directory"),
        "{stderr}"
    );
}

fn tiny_with(thresholds: &str, extra_profile: &str, duration: &str) -> String {
    let text = std::fs::read_to_string(common::root().join("scenarios/tiny.toml")).unwrap();
    text.replace(
        "thresholds = [\"fails == 0\", \"timeouts == 0\", \"dropped == 0\", \"success_rate == 1\"]",
        &format!("thresholds = [{thresholds}]"),
    )
    .replace("duration = \"2s\"", &format!("duration = \"{duration}\""))
    .replace(
        "profile = { delay = { distribution = \"fixed\", value = \"20ms\" } }",
        &format!("profile = {{ delay = {{ distribution = \"fixed\", value = \"20ms\" }}{extra_profile} }}"),
    )
}

#[test]
fn a_failed_threshold_exits_99_and_a_pass_exits_0() {
    let scratch = Scratch::new("thresholds");
    let failing = scratch.path("failing.toml");
    std::fs::write(
        &failing,
        tiny_with("\"latency.p50 < 1ms\", \"fails == 0\"", "", "1s"),
    )
    .unwrap();
    let dir = scratch.path("run-fail");
    let (code, stdout, stderr) = run(
        &[
            "run",
            failing.to_str().unwrap(),
            "--run-dir",
            dir.to_str().unwrap(),
            "--quiet",
        ],
        LIMIT,
    );
    assert_eq!(code, 99, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("threshold FAIL: latency.p50 < 1ms"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("failures=\"1\""), "{junit}");

    let passing = scratch.path("passing.toml");
    std::fs::write(&passing, tiny_with("\"fails == 0\"", "", "1s")).unwrap();
    let dir = scratch.path("run-pass");
    let (code, stdout, stderr) = run(
        &[
            "run",
            passing.to_str().unwrap(),
            "--run-dir",
            dir.to_str().unwrap(),
            "--quiet",
        ],
        LIMIT,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[test]
fn an_abort_on_fail_threshold_stops_the_run_early_with_99() {
    let scratch = Scratch::new("abort");
    let path = scratch.path("abort.toml");
    // Every read is of an object the devices do not have (4.04: a fail); the phase would
    // last 60 s.
    let text = tiny_with("{ rule = \"fails < 5\", abort_on_fail = true }", "", "60s")
        .replace("endpoint = \"/3303/0/5700\"", "endpoint = \"/9999/0/0\"")
        .replace("endpoint = \"/3/0/0\"", "endpoint = \"/9999/0/1\"");
    std::fs::write(&path, text).unwrap();
    let dir = scratch.path("run");
    let started = Instant::now();
    let (code, stdout, stderr) = run(
        &[
            "run",
            path.to_str().unwrap(),
            "--run-dir",
            dir.to_str().unwrap(),
            "--quiet",
        ],
        LIMIT,
    );
    let took = started.elapsed();
    assert_eq!(code, 99, "{stdout}\n{stderr}");
    assert!(
        took < Duration::from_secs(40),
        "stopped early, not after 60 s: {took:?}"
    );
    let s = summary(&dir);
    assert!(
        s["aborted"]
            .as_str()
            .unwrap()
            .contains("threshold `fails < 5` failed for good"),
        "{}",
        s["aborted"]
    );
    assert_eq!(s["thresholds"][0]["aborted_run"], true);
    assert!(s["total"]["counts"]["fail"].as_u64().unwrap() >= 5);
    assert!(s["phases"][0]["actual_duration_s"].as_f64().unwrap() < 30.0);
}
