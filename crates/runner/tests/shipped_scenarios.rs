//! The scenarios shipped in `scenarios/` load, validate and meet their stated shape.

use std::path::PathBuf;

use fleetbench_runner::Scenario;
use fleetbench_runner::plan::{Plan, TargetKind};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name)
}

#[test]
fn every_shipped_scenario_is_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let s = Scenario::from_file(&p).unwrap_or_else(|e| panic!("{e}"));
            Plan::new(&s).unwrap();
            n += 1;
        }
    }
    assert!(
        n >= 3,
        "expected smoke, sustained-reads and tiny, found {n}"
    );
}

#[test]
fn smoke_meets_the_default_run_contract() {
    let s = Scenario::from_file(path("smoke.toml")).unwrap();
    assert!(s.fleet.device_count() >= 1000);
    assert!(s.fleet.classes.iter().all(|c| c.sub_devices >= 2));
    let plan = Plan::new(&s).unwrap();
    let steady = s.phases.iter().position(|p| p.name == "steady").unwrap();
    assert!(s.phases[steady].duration.as_secs() >= 10);
    let commands: Vec<_> = plan.phase_commands(steady).collect();
    let rate = commands.len() as f64 / s.phases[steady].duration.as_secs_f64();
    assert!(rate >= 500.0, "{rate}");
    let subs = commands
        .iter()
        .filter(|c| c.target.kind() == TargetKind::SubDevice)
        .count();
    assert!(
        subs > commands.len() / 5 && subs < commands.len() * 4 / 5,
        "{subs} of {}",
        commands.len()
    );
    let kinds: Vec<_> = s.commands.iter().filter_map(|c| c.kind.clone()).collect();
    for k in ["read", "write", "exec"] {
        assert!(kinds.iter().any(|x| x == k), "{k}");
    }
    let endpoints: Vec<_> = s
        .commands
        .iter()
        .filter_map(|c| c.endpoint.clone())
        .collect();
    for e in ["/3303/0/5700", "/3/0/0"] {
        assert!(endpoints.iter().any(|x| x == e), "{e}");
    }
}

#[test]
fn the_ci_baseline_is_readable_and_matches_the_gate_scenario() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = fleetbench_runner::results::load_run(&root.join("results/baseline/ci-gate"))
        .unwrap_or_else(|e| panic!("{e}"));
    let summary = run.summary.expect("the baseline has a summary");
    assert_eq!(summary.scenario.name, "ci-gate");
    assert!(summary.thresholds_passed);
    let scenario = std::fs::read_to_string(root.join("scenarios/ci-gate.toml")).unwrap();
    assert_eq!(
        run.scenario.as_deref(),
        Some(scenario.as_str()),
        "scenarios/ci-gate.toml changed: record a new baseline (see results/README.md)"
    );
    assert!(
        run.hlog
            .iter()
            .any(|e| e.tag.starts_with("latency:phase=steady"))
    );
}
