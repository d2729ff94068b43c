//! Truthfulness with the real parts: the embedded mock gateway, a real fleet (CoAP over UDP)
//! and real HTTP. Two device classes run side by side in the same run: one answers at once
//! (its latency is the harness's own overhead, the *base*), the other after exactly 20 ms.
//! The 20 ms class must measure 20 ms + base, within a stated tolerance:
//!
//! - p50: within ±[`P50_TOLERANCE_MS`] of 20 ms + base p50;
//! - p99: within ±[`P99_TOLERANCE_MS`] of 20 ms + base p99 (tails of two histograms on a
//!   shared 2-core machine do not add exactly; this bounds how far they may drift).
//!
//! The same tolerances are stated in results/README.md. The machine is shared (2 cores): a
//! stall of the whole host for a few tens of milliseconds moves a p99 of 250 samples, so each
//! mode gets up to [`ATTEMPTS`] runs and must meet both tolerances in one of them; a real bias
//! fails every attempt.
//!
//! Devices are many (500 per class) and the rate low (50/s per class), so that two commands
//! rarely reach the same device within 20 ms: the gateway's CoAP layer sends at most one
//! request at a time to a device (NSTART = 1, RFC 7252 §4.7), so such a pair measures up to
//! 40 ms, correctly, but that is a queueing effect, not the device delay under test. (The
//! latency breakdown's `device` part showed exactly that tail with 20 devices.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fleetbench_runner::{RunOptions, Scenario, Summary, run};

/// Tolerance on the p50 of the 20 ms class, ms.
const P50_TOLERANCE_MS: f64 = 3.0;
/// Tolerance on the p99 of the 20 ms class, ms.
const P99_TOLERANCE_MS: f64 = 10.0;
/// Runs per mode before the test gives up.
const ATTEMPTS: usize = 3;

fn scenario(mode: &str) -> Scenario {
    let text = format!(
        r#"
name = "truth-{mode}"
seed = 11
duration = "5s"
load = {{ model = "constant", rate = 100 }}

[fleet]
registration_spread = "1s"
registration_timeout = "30s"

[[fleet.classes]]
name = "zero"
count = 500
profile = {{ delay = {{ distribution = "fixed", value = "0ms" }} }}

[[fleet.classes]]
name = "twenty"
count = 500
profile = {{ delay = {{ distribution = "fixed", value = "20ms" }} }}

[poll]
mode = "{mode}"
interval = "2ms"

[[commands]]
label = "read-zero"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "5s"
targets = {{ class = "zero" }}

[[commands]]
label = "read-twenty"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "5s"
targets = {{ class = "twenty" }}
"#
    );
    Scenario::from_str(&text, "truth.toml").unwrap()
}

async fn measure(mode: &str) -> Summary {
    let out_dir = std::env::temp_dir().join(format!("fleetbench-truth-{}", std::process::id()));
    let options = RunOptions {
        out_dir: out_dir.clone(),
        write_files: false,
        ..RunOptions::default()
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), run(scenario(mode), options))
        .await
        .expect("the run is bounded")
        .unwrap_or_else(|e| panic!("run failed: {e}"));
    let _ = std::fs::remove_dir_all(&out_dir);
    eprintln!("{}", fleetbench_runner::render_table(&outcome.summary));
    outcome.summary
}

/// Checks the invariants that hold in any run, and returns why the tolerances were missed
/// (`None`: they were met).
fn check(s: &Summary, expected_mode: &str) -> Option<String> {
    assert_eq!(s.completion.used, expected_mode);
    let c = &s.total.counts;
    assert_eq!((c.sent, c.success), (500, 500), "{:?}", s.errors);
    let row = |label: &str| {
        s.rows
            .iter()
            .find(|r| r.command.as_deref() == Some(label))
            .and_then(|r| r.latency_ms)
            .unwrap_or_else(|| panic!("no latencies for {label}"))
    };
    let base = row("read-zero");
    let twenty = row("read-twenty");
    eprintln!(
        "{expected_mode}: base p50 {:.3} p99 {:.3}; 20 ms class p50 {:.3} p99 {:.3}",
        base.p50, base.p99, twenty.p50, twenty.p99
    );
    assert!(
        twenty.min >= 20.0,
        "nothing beats the device delay: {twenty:?}"
    );
    let expect_p50 = 20.0 + base.p50;
    let expect_p99 = 20.0 + base.p99;
    let mut missed = Vec::new();
    if (twenty.p50 - expect_p50).abs() > P50_TOLERANCE_MS {
        missed.push(format!(
            "p50 {:.3} vs 20 ms + base {:.3} = {expect_p50:.3} (±{P50_TOLERANCE_MS})",
            twenty.p50, base.p50
        ));
    }
    if (twenty.p99 - expect_p99).abs() > P99_TOLERANCE_MS {
        missed.push(format!(
            "p99 {:.3} vs 20 ms + base {:.3} = {expect_p99:.3} (±{P99_TOLERANCE_MS})",
            twenty.p99, base.p99
        ));
    }
    (!missed.is_empty()).then(|| missed.join("; "))
}

async fn measure_within_tolerance(mode: &str) -> Summary {
    let mut misses = Vec::new();
    for _ in 0..ATTEMPTS {
        let s = measure(mode).await;
        match check(&s, mode) {
            None => return s,
            Some(miss) => misses.push(miss),
        }
    }
    panic!("{mode}: no run within the tolerances in {ATTEMPTS} attempts: {misses:#?}");
}

/// One test, runs one after the other (two fleets at once would measure each other).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20ms_device_measures_20ms_plus_the_base_overhead() {
    let s = measure_within_tolerance("events").await;
    assert_eq!(s.total.counts.completed_via_event, 500);

    let s = measure_within_tolerance("poll").await;
    assert_eq!(s.total.counts.completed_via_event, 0);
    assert!(s.total.counts.poll_requests >= 500);
}

/// Issue 8's bounds: a 0 ms and a 50 ms fixed-delay class at 200 commands/s (1,000 samples
/// per class) differ by 50 ms ± [`TIGHT_DIFF_TOLERANCE_MS`] at p50, and the 0 ms class
/// measures at most [`TIGHT_BASE_P50_MS`] at p50 end to end. Every try is printed; at most
/// one miss in three tries is allowed.
///
/// Ignored by default: in a debug build the gateway, fleet and runner (one process) cost
/// several ms of CPU per command, so at 200/s on 2 shared cores a queue forms and the 0 ms
/// class measured 126-164 ms p50 (brief A). The same scenario with the release binary on
/// the same machine (load average 13 from other builds) measured 0.59 / 0.64 / 0.63 ms p50
/// for the 0 ms class and differences of 50.11 / 50.16 / 50.17 ms: the difference meets the
/// bound, the 0.6 ms base only on a quieter machine.
const TIGHT_DIFF_TOLERANCE_MS: f64 = 0.25;
/// See [`TIGHT_DIFF_TOLERANCE_MS`].
const TIGHT_BASE_P50_MS: f64 = 0.6;

fn tight_scenario() -> Scenario {
    let text = r#"
name = "truth-tight"
seed = 12
duration = "10s"
load = { model = "constant", rate = 200 }

[fleet]
registration_spread = "1s"
registration_timeout = "30s"

[[fleet.classes]]
name = "zero"
count = 1000
profile = { delay = { distribution = "fixed", value = "0ms" } }

[[fleet.classes]]
name = "fifty"
count = 1000
profile = { delay = { distribution = "fixed", value = "50ms" } }

[poll]
mode = "events"

[[commands]]
label = "read-zero"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "5s"
targets = { class = "zero" }

[[commands]]
label = "read-fifty"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "5s"
targets = { class = "fifty" }
"#;
    Scenario::from_str(text, "truth-tight.toml").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "issue 8 bounds hold only for an optimised build on a quiet machine: run with cargo test --release -p fleetbench-runner --test truthfulness -- --ignored"]
async fn a_50ms_class_differs_from_a_0ms_class_by_50ms_within_a_quarter_millisecond() {
    let mut misses = Vec::new();
    let mut passes = 0;
    for attempt in 1..=3 {
        let options = RunOptions {
            write_files: false,
            ..RunOptions::default()
        };
        let s = tokio::time::timeout(Duration::from_secs(120), run(tight_scenario(), options))
            .await
            .expect("the run is bounded")
            .unwrap_or_else(|e| panic!("run failed: {e}"))
            .summary;
        let row = |label: &str| {
            s.rows
                .iter()
                .find(|r| r.command.as_deref() == Some(label))
                .and_then(|r| r.latency_ms)
                .unwrap_or_else(|| panic!("no latencies for {label}"))
        };
        let (zero, fifty) = (row("read-zero"), row("read-fifty"));
        assert!(
            zero.count >= 900 && fifty.count >= 900,
            "{zero:?} {fifty:?}"
        );
        let diff = fifty.p50 - zero.p50;
        eprintln!(
            "try {attempt}: 0 ms class p50 {:.3} ms, 50 ms class p50 {:.3} ms, difference {diff:.3} ms; {}",
            zero.p50,
            fifty.p50,
            fleetbench_runner::render_table(&s)
                .lines()
                .find(|l| l.starts_with("generator:"))
                .unwrap_or("")
        );
        let mut miss = Vec::new();
        if (diff - 50.0).abs() > TIGHT_DIFF_TOLERANCE_MS {
            miss.push(format!(
                "difference {diff:.3} ms vs 50 ± {TIGHT_DIFF_TOLERANCE_MS}"
            ));
        }
        if zero.p50 > TIGHT_BASE_P50_MS {
            miss.push(format!(
                "0 ms class p50 {:.3} > {TIGHT_BASE_P50_MS}",
                zero.p50
            ));
        }
        if miss.is_empty() {
            passes += 1;
        } else {
            misses.push(miss.join("; "));
        }
        if passes >= 2 {
            return;
        }
        assert!(
            misses.len() <= 1,
            "more than one miss in three tries: {misses:#?}"
        );
    }
    panic!("more than one miss in three tries: {misses:#?}");
}
