//! Plan tests: determinism, weights, targets, phase offsets.

use std::time::Duration;

use super::*;
use crate::scenario::Scenario;

const TEXT: &str = r#"
name = "plan"
seed = 11

[[phases]]
name = "p"
duration = "4s"
load = { model = "poisson", rate = 300 }

[[phases]]
name = "c"
duration = "2s"
load = { model = "constant", rate = 100 }

[[fleet.classes]]
name = "a"
count = 50
sub_devices = 2

[[commands]]
weight = 3
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"

[[commands]]
weight = 1
command_type = "reboot"
targets = { kind = "sub_device" }
"#;

fn scenario(seed: u64) -> Scenario {
    let mut s = Scenario::from_str(TEXT, "plan.toml").unwrap();
    s.seed = seed;
    s
}

#[test]
fn same_seed_same_plan() {
    let a: Vec<_> = Plan::new(&scenario(11)).unwrap().commands().collect();
    let b: Vec<_> = Plan::new(&scenario(11)).unwrap().commands().collect();
    assert_eq!(a, b);
    assert!(a.len() > 1000);
}

#[test]
fn different_seed_different_plan() {
    let a: Vec<_> = Plan::new(&scenario(11))
        .unwrap()
        .commands()
        .take(200)
        .collect();
    let b: Vec<_> = Plan::new(&scenario(12))
        .unwrap()
        .commands()
        .take(200)
        .collect();
    assert_ne!(a, b);
}

#[test]
fn phases_are_offset_and_ordered() {
    let plan = Plan::new(&scenario(11)).unwrap();
    assert_eq!(plan.duration(), Duration::from_secs(6));
    let all: Vec<_> = plan.commands().collect();
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
    let second: Vec<_> = all.iter().filter(|c| c.phase == 1).collect();
    assert_eq!(second.len(), 200);
    assert_eq!(second[0].at, Duration::from_secs(4));
    assert_eq!(second[0].seq, 0);
    assert!(
        all.iter()
            .filter(|c| c.phase == 0)
            .all(|c| c.at < Duration::from_secs(4))
    );
}

#[test]
fn weights_and_selectors_are_honoured() {
    let plan = Plan::new(&scenario(5)).unwrap();
    let mut chooser = plan.chooser(0, 0);
    let mut counts = [0u32; 2];
    for _ in 0..40_000 {
        let (command, target) = chooser.next_choice();
        counts[command] += 1;
        match command {
            0 => assert!(target.sub.is_none()),
            _ => assert!(target.sub.is_some()),
        }
        assert!(target.device < 50);
    }
    let share = f64::from(counts[0]) / 40_000.0;
    assert!((share - 0.75).abs() < 0.01, "{share}");
}

#[test]
fn closed_workers_get_distinct_deterministic_streams() {
    let plan = Plan::new(&scenario(5)).unwrap();
    let take = |w: u64| -> Vec<_> {
        let mut c = plan.chooser(1, w);
        (0..50).map(|_| c.next_choice()).collect()
    };
    assert_eq!(take(0), take(0));
    assert_ne!(take(0), take(1));
}

#[test]
fn plan_is_lazy_for_huge_runs() {
    // 1 h at 10k/s would be 36M entries; taking a few must be instant and bounded.
    let text = TEXT
        .replace("duration = \"4s\"", "duration = \"1h\"")
        .replace("rate = 300", "rate = 10000");
    let s = Scenario::from_str(&text, "big.toml").unwrap();
    let plan = Plan::new(&s).unwrap();
    let first: Vec<_> = plan.commands().take(1000).collect();
    assert_eq!(first.len(), 1000);
    assert!(first[999].at < Duration::from_secs(1));
}
