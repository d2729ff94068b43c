//! A real mock gateway, in its own process, stops for ~1 s in the middle of a run
//! (SIGSTOP / SIGCONT), the way wrk2 demonstrates coordinated omission with a paused server.
//! Measured from the intended send time, every command due during the stall carries its share
//! of it: the latency spectrum shows the whole ramp (1 s down to 0), not one slow sample. The
//! gateway's own view (`created_at` → terminal) shows nothing: it never saw the requests
//! waiting in its socket backlog. The create round trip (the `accept` part) shows where the
//! time went.
//!
//! In fleetbench's open model the service time (from the actual send) equals the latency minus
//! the scheduling lag, so it shows the stall as well: commands are sent on schedule by their own
//! tasks, whatever the gateway does. The closed-loop contrast (one slow sample per worker) is
//! the paused-clock test `closed_loop_hides_a_stall_the_open_model_shows` in the runner crate.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::GatewayProcess;
use fleetbench_runner::metrics::timeline::Progress;
use fleetbench_runner::{RunOptions, Scenario, TargetOverride};

const SCENARIO: &str = r#"
name = "stall"
seed = 3
duration = "5s"
load = { model = "constant", rate = 100 }
thresholds = ["fails == 0"]
[execution]
# Enough connections for every command due during the stall: with the bounded pool, a
# command that finds none free within 10 ms would be counted dropped instead of measured.
connections = 256
[fleet]
registration_spread = "300ms"
registration_timeout = "30s"
[[fleet.classes]]
name = "s"
count = 50
[[commands]]
label = "read"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "10s"
"#;

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_gateway_stall_shows_in_every_command_it_delayed() {
    let gateway = GatewayProcess::start();
    let pid = gateway.pid();
    let lwm2m_server = gateway
        .coap
        .strip_prefix("coap://")
        .unwrap()
        .parse()
        .unwrap();
    let (progress, mut seen) = tokio::sync::watch::channel(Progress::default());
    let stall = tokio::spawn(async move {
        // Once 150 commands were sent (the 2 s progress report), freeze the gateway for 1 s.
        tokio::time::timeout(Duration::from_secs(60), async {
            while seen.borrow_and_update().totals.sent < 150 {
                seen.changed().await.expect("the run reports progress");
            }
        })
        .await
        .expect("the run got going");
        signal(pid, "-STOP");
        tokio::time::sleep(Duration::from_secs(1)).await;
        signal(pid, "-CONT");
    });
    let options = RunOptions {
        target: Some(TargetOverride {
            url: gateway.http.clone(),
            token: gateway.token.clone(),
            lwm2m_server,
        }),
        write_files: false,
        progress: Some(progress),
        ..RunOptions::default()
    };
    let scenario = Scenario::from_str(SCENARIO, "stall.toml").unwrap();
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        fleetbench_runner::run(scenario, options),
    )
    .await
    .expect("bounded")
    .expect("the run completes");
    stall.await.unwrap();
    let s = &outcome.summary;
    eprintln!("{}", fleetbench_runner::render_table(s));
    let c = &s.total.counts;
    assert_eq!((c.sent, c.success), (500, 500), "{:?}", s.errors);
    let latency = s.total.latency_ms.unwrap();
    // ~100 commands were due during the stall, their latencies a ramp from ~1000 ms down:
    // the 25th largest (p95) is ~750 ms, the 5th (p99) ~950 ms.
    assert!(latency.p50 < 100.0, "{latency:?}");
    assert!(latency.p95 > 500.0, "{latency:?}");
    assert!(latency.p99 > 800.0, "{latency:?}");
    assert!(latency.max > 900.0 && latency.max < 1800.0, "{latency:?}");
    let service = s.total.service_time_ms.unwrap();
    assert!(
        service.p99 > 800.0,
        "open model: sent on time, so service time shows it too"
    );
    let gateway_view = s.total.gateway_time_ms.unwrap();
    // Relative, not absolute: on a loaded 2-core machine the gateway's own p99 wanders
    // (300-400 ms seen), but it stays well under the intended-time view of the same commands.
    assert!(
        gateway_view.p99 < 0.5 * latency.p99,
        "the gateway's own clock hides the stall: {gateway_view:?} vs {latency:?}"
    );
    let accept = s.total.breakdown_ms.accept.unwrap();
    assert!(
        accept.max > 800.0,
        "the create round trip shows where: {accept:?}"
    );
}
