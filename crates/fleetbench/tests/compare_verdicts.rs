//! `fleetbench compare` on real runs: pass (0), regression (99), inconclusive (98: a
//! deliberately starved generator) and bad input (2, naming the file).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Scratch, run};

const LIMIT: Duration = Duration::from_secs(120);

/// The tiny scenario with another device delay and in-flight bound, for 1 s.
fn tiny(delay: &str, max_in_flight: u32) -> String {
    let text = std::fs::read_to_string(common::root().join("scenarios/tiny.toml")).unwrap();
    let text = text
        .replace("duration = \"2s\"", "duration = \"1s\"")
        .replace(
            "thresholds = [\"fails == 0\", \"timeouts == 0\", \"dropped == 0\", \"success_rate == 1\"]",
            "thresholds = []",
        )
        .replace("value = \"20ms\"", &format!("value = \"{delay}\""));
    format!("{text}\n[execution]\nmax_in_flight = {max_in_flight}\n")
}

fn run_scenario(scratch: &Scratch, name: &str, text: &str) -> std::path::PathBuf {
    let file = scratch.path(&format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let dir = scratch.path(name);
    let (code, _, stderr) = run(
        &[
            "run",
            file.to_str().unwrap(),
            "--run-dir",
            dir.to_str().unwrap(),
            "--quiet",
        ],
        LIMIT,
    );
    assert!(code == 0 || code == 99, "run {name}: {code} {stderr}");
    dir
}

fn compare(base: &std::path::Path, cur: &std::path::Path) -> (i32, String) {
    let (code, stdout, stderr) = run(
        &[
            "compare",
            base.to_str().unwrap(),
            cur.to_str().unwrap(),
            "--max-regression",
            "20%",
            "--min-count",
            "20",
            "--percentiles",
            "p50,p90",
        ],
        LIMIT,
    );
    (code, format!("{stdout}{stderr}"))
}

#[test]
fn compare_gives_pass_regression_inconclusive_and_bad_input_codes() {
    let scratch = Scratch::new("verdicts");
    let base = run_scenario(&scratch, "base", &tiny("20ms", 10_000));
    // Pass: a run against itself.
    let (code, out) = compare(&base, &base);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: pass"), "{out}");
    // Regression: devices three times slower (20 → 60 ms) separate the intervals.
    let slow = run_scenario(&scratch, "slow", &tiny("60ms", 10_000));
    let (code, out) = compare(&base, &slow);
    assert_eq!(code, 99, "{out}");
    assert!(out.contains("REGRESSION TOTAL: p50"), "{out}");
    // Inconclusive: the same slow devices, but a generator starved by an in-flight bound of
    // 1 drops commands: the run does not measure the target, whatever its latencies.
    let starved = run_scenario(&scratch, "starved", &tiny("60ms", 1));
    let (code, out) = compare(&base, &starved);
    assert_eq!(code, 98, "{out}");
    assert!(out.contains("UNTRUSTED:"), "{out}");
    assert!(out.contains("commands dropped"), "{out}");
    assert!(out.contains("verdict: inconclusive"), "{out}");
    // Bad input: a histogram log that is not one, named in the error.
    let bad = scratch.path("bad.hlog");
    std::fs::write(&bad, "not a histogram log\n").unwrap();
    let (code, out) = compare(&base, &bad);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("bad.hlog"), "{out}");
}
