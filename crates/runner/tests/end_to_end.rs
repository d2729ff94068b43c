//! End to end: scenarios/tiny.toml against the embedded gateway and a real fleet (real CoAP
//! over real UDP, real HTTP), through the public `run` API.

use std::path::PathBuf;
use std::time::Duration;

use fleetbench_runner::{RunOptions, Scenario, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_scenario_succeeds_with_latencies_that_match_the_device_delay() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario = Scenario::from_file(root.join("scenarios/tiny.toml")).unwrap();
    let out_dir = std::env::temp_dir().join(format!("fleetbench-e2e-{}", std::process::id()));
    let options = RunOptions {
        out_dir: out_dir.clone(),
        ..RunOptions::default()
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), run(scenario, options))
        .await
        .expect("the run is bounded")
        .unwrap_or_else(|e| panic!("run failed: {e}"));
    let s = &outcome.summary;
    eprintln!("{}", fleetbench_runner::render_table(s));
    let c = &s.total.counts;
    assert_eq!(c.planned, 100, "50/s for 2 s");
    assert_eq!(
        (c.sent, c.success, c.completed),
        (100, 100, 100),
        "{c:?} errors {:?}",
        s.errors
    );
    assert_eq!(
        (
            c.fail,
            c.timeout,
            c.dropped,
            c.unfinished,
            c.http_errors,
            c.rejected
        ),
        (0, 0, 0, 0, 0, 0)
    );
    // Every device answers after exactly 20 ms; polling every 5 ms on loopback adds a few ms.
    let latency = s.total.latency_ms.expect("latencies recorded");
    assert!(
        latency.min >= 20.0,
        "nothing can beat the device delay: {latency:?}"
    );
    assert!(
        latency.p50 >= 20.0 && latency.p50 <= 20.0 + 30.0,
        "{latency:?}"
    );
    assert!(
        s.rows
            .iter()
            .any(|r| r.target.as_deref() == Some("sub_device"))
    );
    assert!(s.thresholds_passed, "{:?}", s.thresholds);
    // The mock gateway offers its event stream: completion is seen there, not by polling.
    assert_eq!(s.completion.used, "events", "{:?}", s.completion);
    assert_eq!(c.completed_via_event, 100, "{:?}", s.completion);
    assert_eq!(s.completion.events_lost, 0);
    assert!(s.completion.stream_down.is_none());
    assert_eq!(outcome.exit_status(), fleetbench_runner::ExitStatus::Passed);
    let dir = outcome.run_dir.expect("files written");
    assert!(dir.join("summary.json").is_file());
    assert!(dir.join("histograms.hlog").is_file());
    std::fs::remove_dir_all(&out_dir).unwrap();
}
