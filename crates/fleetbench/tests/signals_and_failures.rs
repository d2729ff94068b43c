//! Failure semantics a user can rely on (issue 15 finding 8): SIGTERM and SIGINT keep every
//! output, marked aborted, with exit 143 and 130; a target killed mid-run makes the run fail
//! (the send-error guard, exit 99) within a bounded time with a clear message; a full disk
//! while writing results is a clear error; `validate` caps what it reads.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{GatewayProcess, Running, Scratch, run, signal, summary};

const LIMIT: Duration = Duration::from_secs(120);

/// tiny.toml lasting `duration`, with no thresholds and a short drain.
fn tiny(duration: &str) -> String {
    let text = std::fs::read_to_string(common::root().join("scenarios/tiny.toml")).unwrap();
    text.replace(
        "thresholds = [\"fails == 0\", \"timeouts == 0\", \"dropped == 0\", \"success_rate == 1\"]",
        "",
    )
    .replace("duration = \"2s\"", &format!("duration = \"{duration}\""))
        + "\n[execution]\ndrain_timeout = \"3s\"\n"
}

#[test]
fn sigterm_and_sigint_keep_every_output_and_exit_143_and_130() {
    for (sig, code, reason) in [("-TERM", 143, "SIGTERM"), ("-INT", 130, "SIGINT")] {
        let scratch = Scratch::new(&format!("signal{sig}"));
        let path = scratch.path("long.toml");
        std::fs::write(&path, tiny("60s")).unwrap();
        let dir = scratch.path("run");
        let mut running = Running::start(&[
            "run",
            path.to_str().unwrap(),
            "--run-dir",
            dir.to_str().unwrap(),
        ]);
        // Mid-run: the first progress line comes after the first second of load.
        running.wait_for_line("progress ", LIMIT);
        signal(running.child.id(), sig);
        let (exit, stdout, stderr) = running.finish(LIMIT);
        assert_eq!(exit, code, "{sig}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
        let s = summary(&dir);
        assert!(
            s["aborted"].as_str().unwrap().contains(reason),
            "{}",
            s["aborted"]
        );
        assert!(s["total"]["counts"]["sent"].as_u64().unwrap() > 0);
        for f in ["junit.xml", "report.html", "timeline.csv", "scenario.toml"] {
            assert!(dir.join(f).is_file(), "{f} missing after {sig}");
        }
        // The interval log is complete: it reads back and holds what was measured.
        let files = fleetbench_runner::results::load_run(&dir).unwrap();
        drop(files);
    }
}

#[test]
fn a_gateway_killed_mid_run_fails_the_run_within_a_bound_with_a_clear_message() {
    let gateway = GatewayProcess::start();
    let scratch = Scratch::new("kill9");
    let path = scratch.path("dead.toml");
    std::fs::write(&path, tiny("6s")).unwrap();
    let dir = scratch.path("run");
    let started = std::time::Instant::now();
    let mut running = Running::start(&[
        "run",
        path.to_str().unwrap(),
        "--target",
        &gateway.http,
        "--token",
        &gateway.token,
        "--lwm2m-server",
        &gateway.coap,
        "--run-dir",
        dir.to_str().unwrap(),
    ]);
    running.wait_for_line("progress ", LIMIT);
    signal(gateway.pid(), "-KILL");
    // Bound: the phase (6 s) + drain (3 s) + setup, far below the limit.
    let (exit, stdout, stderr) = running.finish(Duration::from_secs(60));
    let took = started.elapsed();
    assert_eq!(exit, 99, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        took < Duration::from_secs(60),
        "the runner took {took:?} after the gateway died"
    );
    let s = summary(&dir);
    let warnings = s["warnings"].to_string();
    assert!(
        warnings.contains("could not be sent (HTTP or transport errors)"),
        "{warnings}"
    );
    assert_eq!(s["thresholds_passed"], false);
    assert!(
        stdout.contains("threshold FAIL: http_errors <= execution.max_error_ratio"),
        "{stdout}"
    );
}

#[test]
fn a_full_disk_while_writing_results_is_a_clear_error() {
    let scratch = Scratch::new("full-disk");
    let path = scratch.path("short.toml");
    std::fs::write(&path, tiny("3s")).unwrap();
    let dir = scratch.path("run");
    let mut running = Running::start(&[
        "run",
        path.to_str().unwrap(),
        "--run-dir",
        dir.to_str().unwrap(),
    ]);
    running.wait_for_line("progress ", LIMIT);
    // summary.json is written through summary.tmp at the end of the run: make that a
    // device where every write fails with ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", dir.join("summary.tmp")).unwrap();
    let (exit, stdout, stderr) = running.finish(LIMIT);
    assert_eq!(exit, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("cannot write results to") && stderr.contains("No space left on device"),
        "{stderr}"
    );
}

#[test]
fn validate_caps_what_it_reads() {
    let (code, _, stderr) = run(&["validate", "/dev/zero"], LIMIT);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("larger than 1048576 bytes"), "{stderr}");
}

#[test]
fn validate_and_run_agree_on_a_too_short_update_period() {
    let scratch = Scratch::new("agree");
    let path = scratch.path("fast.toml");
    let text = std::fs::read_to_string(common::root().join("scenarios/tiny.toml"))
        .unwrap()
        .replace(
            "sub_devices = 1\n",
            "sub_devices = 1\nupdate_period = \"10ms\"\n",
        );
    std::fs::write(&path, &text).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("update_period"))
        .unwrap()
        + 1;
    for sub in ["validate", "run"] {
        let (code, _, stderr) = run(&[sub, path.to_str().unwrap()], LIMIT);
        assert_eq!(code, 2, "{sub}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "fast.toml:{line}: fleet.classes[0].update_period:"
            )),
            "{sub}: {stderr}"
        );
    }
}
