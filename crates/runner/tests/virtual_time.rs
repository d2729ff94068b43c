#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Virtual-time runs are reproducible byte for byte, and depend on the seed.

use std::path::Path;

use fleetbench_runner::{RunOptions, Scenario, run};

fn scenario(seed: u64) -> Scenario {
    let text = format!(
        r#"
name = "vt-small"
seed = {seed}
mode = "virtual"
duration = "30s"
load = {{ model = "poisson", rate = 2 }}

[fleet]
lifetime = "300s"
registration_spread = "5s"

[[fleet.classes]]
name = "gw"
count = 10
sub_devices = 2
profile = {{ delay = {{ distribution = "uniform", min = "5ms", max = "50ms" }} }}

[[commands]]
command_type = "lwm2m_request"
type = "read"
endpoint = "/3303/0/5700"
timeout = "10s"
"#
    );
    Scenario::from_str(&text, "vt-small.toml").expect("the scenario is valid")
}

async fn run_into(seed: u64, dir: &Path) -> Vec<Vec<u8>> {
    let options = RunOptions {
        run_dir: Some(dir.to_owned()),
        virtual_time: true,
        ..RunOptions::default()
    };
    let outcome = run(scenario(seed), options)
        .await
        .expect("the run finishes");
    assert!(
        outcome.summary.total.counts.sent >= 30,
        "commands were sent: {:?}",
        outcome.summary.total.counts
    );
    assert!(
        outcome
            .summary
            .warnings
            .iter()
            .any(|w| w.contains("latencies are modelled, not measured"))
    );
    ["summary.json", "histograms.hlog", "timeline.csv"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).expect("the file was written"))
        .collect()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let root = std::env::temp_dir().join(format!("fleetbench-vt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // The run id is the run directory's name: the same name under two parents.
    let a = run_into(1, &root.join("a").join("run")).await;
    let b = run_into(1, &root.join("b").join("run")).await;
    for (i, name) in ["summary.json", "histograms.hlog", "timeline.csv"]
        .iter()
        .enumerate()
    {
        assert!(
            a[i] == b[i],
            "{name} differs between two runs with the same seed"
        );
    }
    let c = run_into(2, &root.join("c").join("run")).await;
    assert!(a[0] != c[0], "summary.json is the same for another seed");
    assert!(a[1] != c[1], "histograms.hlog is the same for another seed");
    let _ = std::fs::remove_dir_all(&root);
}
