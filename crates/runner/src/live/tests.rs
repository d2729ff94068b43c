use std::time::Duration;

use super::*;
use crate::metrics::SeriesKey;
use crate::plan::TargetKind;

const SCENARIO: &str = r#"
name = "live"
seed = 1
[fleet]
[[fleet.classes]]
name = "d"
count = 1
[[commands]]
label = "reboot"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
targets = { kind = "gateway" }
[[phases]]
name = "steady"
duration = "10s"
load = { model = "constant", rate = 50.0 }
[[phases]]
name = "ramp"
duration = "10s"
load = { model = "ramping", start_rate = 0.0, stages = [{ duration = "10s", target_rate = 100.0 }] }
"#;

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("the live server answers");
    let status = r.status().as_u16();
    (status, r.text().await.expect("a text body"))
}

fn attach(state: &Arc<LiveState>) -> (Recorder, watch::Sender<Progress>) {
    let scenario = crate::Scenario::from_str(SCENARIO, "live.toml").expect("valid scenario");
    let plan = crate::plan::Plan::new(&scenario).expect("plan");
    let recorder = Recorder::new();
    let (tx, rx) = watch::channel(Progress::default());
    state.attach(
        LiveRun {
            recorder: recorder.clone(),
            names: SeriesNames {
                phases: vec!["steady".into(), "ramp".into()],
                commands: vec!["reboot".into()],
            },
            phases: plan.phases().to_vec(),
            thresholds: scenario.thresholds.clone(),
            scenario,
            start: Instant::now(),
            pool: None,
            events: None,
        },
        rx,
    );
    (recorder, tx)
}

#[tokio::test]
async fn a_busy_address_is_an_error_naming_the_option() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let err = LiveServers::bind(&LiveConfig {
        metrics_addr: None,
        dashboard_addr: Some(addr),
    })
    .await
    .expect_err("the port is taken");
    assert_eq!(err.option, "--dashboard");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn metrics_are_served_from_the_recorder_with_bounded_labels() {
    let servers = LiveServers::bind(&LiveConfig {
        metrics_addr: Some("127.0.0.1:0".parse().expect("addr")),
        dashboard_addr: None,
    })
    .await
    .expect("bind");
    let addr = servers.metrics_addr.expect("bound");
    let (_, before) = get(addr, "/metrics").await;
    assert!(
        !before.contains("commands_sent"),
        "nothing before a run: {before}"
    );
    let (recorder, _tx) = attach(&servers.state());
    let key = SeriesKey {
        phase: 0,
        command: 0,
        target: TargetKind::Gateway,
    };
    recorder.planned(key);
    recorder.sent(key, Duration::from_micros(700));
    recorder.planned(key);
    recorder.dropped(key, Duration::from_millis(3));
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let labels = r#"phase="steady",command="reboot",target="gateway""#;
    for line in [
        format!("fleetbench_commands_planned_total{{{labels}}} 2"),
        format!("fleetbench_commands_sent_total{{{labels}}} 1"),
        format!("fleetbench_commands_dropped_total{{{labels}}} 1"),
        format!(r#"fleetbench_scheduling_lag_seconds_bucket{{{labels},le="0.001"}} 1"#),
        "fleetbench_commands_in_flight 1.0".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    assert!(text.contains("# TYPE fleetbench_latency_seconds histogram"));
    servers.stop_after(Duration::ZERO).await;
}

#[test]
fn the_intended_rate_follows_the_plan() {
    let scenario = crate::Scenario::from_str(SCENARIO, "live.toml").expect("valid scenario");
    let plan = crate::plan::Plan::new(&scenario).expect("plan");
    let phases = plan.phases();
    assert_eq!(frame::intended_rate(phases, Duration::from_secs(3)), 50.0);
    assert!((frame::intended_rate(phases, Duration::from_secs(15)) - 50.0).abs() < 1e-9);
    assert_eq!(frame::intended_rate(phases, Duration::from_secs(25)), 0.0);
}

#[tokio::test]
async fn the_dashboard_streams_frames_and_the_verdict() {
    let servers = LiveServers::bind(&LiveConfig {
        metrics_addr: None,
        dashboard_addr: Some("127.0.0.1:0".parse().expect("addr")),
    })
    .await
    .expect("bind");
    let addr = servers.dashboard_addr.expect("bound");
    let (status, page) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("EventSource(\"/events\")"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no CDN"
    );
    let (status, script) = get(addr, "/chart.js").await;
    assert_eq!((status, script.contains("FleetChart")), (200, true));
    let state = servers.state();
    let (_recorder, tx) = attach(&state);
    let mut response = reqwest::get(format!("http://{addr}/events"))
        .await
        .expect("events");
    tx.send(Progress {
        elapsed: Duration::from_secs(1),
        ..Progress::default()
    })
    .expect("the live task listens");
    let mut body = String::new();
    while !body.contains("\"t_s\":1.0") {
        let chunk = response.chunk().await.expect("read").expect("more");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(body.contains("event: frame"), "{body}");
    assert!(body.contains("\"phase\":\"steady\""), "{body}");
    state.finish(
        Verdict {
            status: "passed".into(),
            detail: "ok".into(),
            report: false,
        },
        None,
    );
    while !body.contains("\"status\":\"passed\"") {
        let chunk = response.chunk().await.expect("read").expect("more");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(get(addr, "/report.html").await.0, 404);
    servers.stop_after(Duration::ZERO).await;
}
