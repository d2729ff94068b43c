//! Honest overload with the real parts (embedded gateway, real fleet, real HTTP): at twice
//! the capacity that `execution.max_in_flight` and a fixed 50 ms device delay allow
//! (10 in flight / 50 ms = 200 commands/s; 400/s asked), every command that could not be
//! sent is counted `dropped`, nothing turns into a transport error, the connection pool
//! never exceeds `execution.connections`, and errors stay few kinds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fleetbench_runner::{RunOptions, Scenario, run};

const SCENARIO: &str = r#"
name = "overload"
seed = 5
duration = "3s"
load = { model = "constant", rate = 400 }

[fleet]
registration_spread = "500ms"
registration_timeout = "30s"

[[fleet.classes]]
name = "slow"
count = 200
profile = { delay = { distribution = "fixed", value = "50ms" } }

[execution]
max_in_flight = 10
connections = 4
drain_timeout = "5s"

[[commands]]
label = "read"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "5s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twice_the_capacity_drops_honestly_within_the_connection_bound() {
    let scenario = Scenario::from_str(SCENARIO, "overload.toml").unwrap();
    let options = RunOptions {
        write_files: false,
        ..RunOptions::default()
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), run(scenario, options))
        .await
        .expect("the run is bounded")
        .unwrap_or_else(|e| panic!("run failed: {e}"));
    let s = outcome.summary;
    eprintln!("{}", fleetbench_runner::render_table(&s));
    let c = &s.total.counts;
    assert_eq!(c.http_errors, 0, "no transport errors: {:?}", s.errors);
    assert_eq!(
        c.planned,
        c.sent + c.dropped,
        "every unsent command is dropped"
    );
    // Capacity 200/s of 400/s asked: about half is dropped (bounds allow for the start-up).
    assert!(c.dropped >= c.planned / 4, "{c:?}");
    assert!(c.sent >= c.planned / 4, "{c:?}");
    assert_eq!(c.completed + c.unfinished + c.rejected, c.sent, "{c:?}");
    let g = &s.generator;
    assert_eq!(g.connections, 4);
    let peak = g.peak_open_connections.expect("the pool reports its peak");
    assert!((1..=4).contains(&peak), "peak {peak} open connections");
    assert!(s.errors.len() <= 5, "few error kinds: {:?}", s.errors);
    // The all-commands histogram counts the dropped ones too.
    let all = s.total.all_commands_ms.expect("all-commands latencies");
    assert_eq!(
        all.count,
        c.completed + c.unfinished + c.rejected + c.dropped
    );
}
