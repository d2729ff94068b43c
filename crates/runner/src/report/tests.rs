//! Summary, threshold and table tests on hand-made metrics.

use std::time::{Duration, SystemTime};

use super::*;
use crate::exec::{LoadReport, PhaseTiming};
use crate::metrics::{Completion, Outcome, Recorder, SeriesKey};
use crate::plan::TargetKind;
use crate::scenario::Scenario;

const TEXT: &str = r#"
name = "rep"
thresholds = ["latency.p99 < 150ms", "success_rate > 0.99", "dropped == 0", "latency.p50{command=lwm2m_request:read} < 10.1ms", "timeout_rate < 0.01", "timeouts == 0"]
[[phases]]
name = "one"
duration = "10s"
load = { model = "constant", rate = 100 }
[[fleet.classes]]
name = "a"
count = 2
sub_devices = 1
[[commands]]
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
[[commands]]
command_type = "reboot"
targets = { kind = "sub_device" }
"#;

fn facts() -> RunFacts {
    RunFacts {
        run_id: "r".into(),
        target: TargetInfo {
            mode: "embedded".into(),
            url: "http://127.0.0.1:1".into(),
        },
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:10Z".into(),
        generator: Default::default(),
        completion: CompletionInfo::default(),
    }
}

fn load() -> LoadReport {
    LoadReport {
        phases: vec![PhaseTiming {
            started: Duration::ZERO,
            ended: Duration::from_secs(10),
        }],
        aborted: None,
        cancelled_in_drain: 0,
        total: Duration::from_secs(10),
        generator_cpu: None,
    }
}

fn record(r: &Recorder, command: usize, target: TargetKind, ms: u64, outcome: Outcome) {
    let key = SeriesKey {
        phase: 0,
        command,
        target,
    };
    r.planned(key);
    r.sent(key, Duration::from_micros(50));
    let d = Duration::from_millis(ms);
    r.completed(
        key,
        Completion {
            outcome,
            no_answer: false,
            outcome_from_text: false,
            latency: d,
            service_time: d,
            gateway_time: None,
            via: crate::metrics::Detection::Poll,
            details: crate::metrics::Details::default(),
        },
        2,
    );
}

#[test]
fn summary_merges_histograms_and_checks_thresholds() {
    let s = Scenario::from_str(TEXT, "rep.toml").unwrap();
    let r = Recorder::new();
    // 900 reads at 10 ms, 100 reboots at 100 ms (1 of them a timeout at 200 ms).
    for _ in 0..900 {
        record(&r, 0, TargetKind::Gateway, 10, Outcome::Success);
    }
    for _ in 0..99 {
        record(&r, 1, TargetKind::SubDevice, 100, Outcome::Success);
    }
    record(&r, 1, TargetKind::SubDevice, 200, Outcome::Timeout);
    let summary = build(&s, &r.snapshot(), &load(), facts());

    assert_eq!(summary.schema_version, SCHEMA_VERSION);
    assert_eq!(summary.total.counts.sent, 1000);
    assert_eq!(summary.total.achieved_rate, 100.0);
    assert_eq!(summary.total.polls_per_command, Some(2.0));
    let lat = summary.total.latency_ms.unwrap();
    assert!((lat.p50 - 10.0).abs() < 0.02);
    assert!((lat.p99 - 100.0).abs() < 0.1, "merged p99 {}", lat.p99);
    assert!((lat.max - 200.0).abs() < 0.2);
    assert_eq!(summary.rows.len(), 2);
    assert_eq!(
        summary.series.len(),
        3,
        "read/success, reboot/success, reboot/timeout"
    );
    let reboot = summary
        .rows
        .iter()
        .find(|r| r.command.as_deref() == Some("reboot"))
        .unwrap();
    assert_eq!(reboot.target.as_deref(), Some("sub_device"));
    assert_eq!(reboot.counts.timeout, 1);
    assert_eq!(reboot.achieved_rate, 10.0);

    let by_expr = |e: &str| {
        summary
            .thresholds
            .iter()
            .find(|t| t.expr.starts_with(e))
            .unwrap()
            .clone()
    };
    assert!(by_expr("latency.p99").passed);
    assert!(by_expr("success_rate").passed);
    assert_eq!(by_expr("success_rate").value, Some(0.999));
    assert!(!by_expr("timeouts").passed);
    assert!(by_expr("dropped").passed);
    assert!(by_expr("latency.p50{").passed);
    assert!(by_expr("timeout_rate").passed);
    assert!(!summary.thresholds_passed);
    assert_eq!(summary.phases[0].intended_rate, Some(100.0));
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
}

#[test]
fn thresholds_without_data_fail() {
    let s = Scenario::from_str(TEXT, "rep.toml").unwrap();
    let summary = build(&s, &Recorder::new().snapshot(), &load(), facts());
    let p99 = &summary.thresholds[0];
    assert_eq!(p99.value, None);
    assert!(!p99.passed);
    assert!(
        summary.thresholds[2].passed,
        "dropped == 0 holds on no data"
    );
}

#[test]
fn aborted_runs_never_pass() {
    let s = Scenario::from_str(
        &TEXT.replace("thresholds = [", "thresholds = [\"dropped == 0\"] #"),
        "rep.toml",
    )
    .unwrap();
    let mut l = load();
    l.aborted = Some("Ctrl-C".into());
    let summary = build(&s, &Recorder::new().snapshot(), &l, facts());
    assert!(summary.thresholds.iter().all(|t| t.passed));
    assert!(!summary.thresholds_passed);
    assert!(render_table(&summary).contains("ABORTED: Ctrl-C"));
}

#[test]
fn table_shows_the_summary_numbers() {
    let s = Scenario::from_str(TEXT, "rep.toml").unwrap();
    let r = Recorder::new();
    for _ in 0..10 {
        record(&r, 0, TargetKind::Gateway, 20, Outcome::Success);
    }
    record(&r, 0, TargetKind::Gateway, 20, Outcome::Fail);
    let summary = build(&s, &r.snapshot(), &load(), facts());
    let table = render_table(&summary);
    let header = table.lines().nth(1).unwrap();
    for col in [
        "phase", "command", "target", "sent", "rate/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
        "max ms", "fails", "timeouts",
    ] {
        assert!(header.contains(col), "{col} missing in {header}");
    }
    let row = table.lines().find(|l| l.starts_with("one")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols[..5],
        ["one", "lwm2m_request:read", "gateway", "11", "1.1"]
    );
    assert_eq!(cols[5], "20.0");
    assert_eq!(cols[10], "1", "one fail");
    assert!(table.contains("threshold FAIL: success_rate > 0.99"));
    assert!(table.lines().any(|l| l.starts_with("TOTAL")));
}

#[test]
fn files_round_trip() {
    let s = Scenario::from_str(TEXT, "rep.toml").unwrap();
    let r = Recorder::new();
    record(&r, 0, TargetKind::Gateway, 20, Outcome::Success);
    let summary = build(&s, &r.snapshot(), &load(), facts());
    let out = std::env::temp_dir().join(format!("fleetbench-rep-{}", std::process::id()));
    let (dir, id) = new_run_dir(&out, "x").unwrap();
    let (_, id2) = new_run_dir(&out, "x").unwrap();
    assert_eq!((id.as_str(), id2.as_str()), ("x", "x-2"));
    let path = write_summary(&dir, &summary).unwrap();
    let back: Summary = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(back, summary);
    let log = write_histogram_log(
        &dir,
        &r.snapshot(),
        &s,
        SystemTime::UNIX_EPOCH,
        &[Duration::from_secs(10)],
    )
    .unwrap();
    let bytes = std::fs::read(log).unwrap();
    let entries: Vec<_> =
        hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&bytes)
            .filter_map(|e| match e {
                Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(h)) => {
                    Some(h.tag().map(|t| t.as_str().to_owned()))
                }
                _ => None,
            })
            .collect();
    assert!(
        entries.contains(&Some(
            "latency:phase=one;command=lwm2m_request:read;target=gateway;outcome=success"
                .to_owned()
        )),
        "{entries:?}"
    );
    // A second write appends to the same log (as after a streamed timeline).
    write_histogram_log(
        &dir,
        &r.snapshot(),
        &s,
        SystemTime::UNIX_EPOCH,
        &[Duration::from_secs(10)],
    )
    .unwrap();
    let bytes = std::fs::read(dir.join(HISTOGRAM_LOG)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(text.matches("#[StartTime").count(), 1, "{text}");
    assert_eq!(text.matches("Tag=latency:phase=one").count(), 2);
    let timeline = write_timeline(&dir, &[]).unwrap();
    assert!(
        std::fs::read_to_string(timeline)
            .unwrap()
            .starts_with("start_s,")
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn run_ids_are_utc_stamp_and_name() {
    let t = time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
    assert_eq!(run_id(t, "smoke"), "20260101T000000Z-smoke");
}

#[test]
fn warnings_flag_lag_drops_and_missed_rates() {
    let s = Scenario::from_str(TEXT, "rep.toml").unwrap();
    let r = Recorder::new();
    let key = SeriesKey {
        phase: 0,
        command: 0,
        target: TargetKind::Gateway,
    };
    for _ in 0..100 {
        r.planned(key);
        r.sent(key, Duration::from_millis(20));
        r.completed(
            key,
            Completion {
                outcome: Outcome::Success,
                no_answer: false,
                outcome_from_text: false,
                latency: Duration::from_millis(30),
                service_time: Duration::from_millis(10),
                gateway_time: None,
                via: crate::metrics::Detection::Poll,
                details: crate::metrics::Details::default(),
            },
            1,
        );
    }
    r.planned(key);
    r.dropped(key, Duration::from_millis(5));
    let summary = build(&s, &r.snapshot(), &load(), facts());
    let all = summary.warnings.join("\n");
    assert!(all.contains("scheduling lag p99"), "{all}");
    assert!(all.contains("1 commands were dropped"), "{all}");
    assert!(
        all.contains("phase one sent 10.0/s of the intended 100.0/s"),
        "{all}"
    );
    assert!(render_table(&summary).contains("warning: scheduling lag"));
}

#[test]
fn timeouts_retries_and_breakdown_reach_summary_and_table() {
    let text = TEXT.replace(
        "command_type = \"reboot\"",
        "command_type = \"reboot\"\ntimeout = \"2s\"\nretry_options = { timeout = \"1s\", max_retries = 1 }",
    );
    let s = Scenario::from_str(&text, "rep.toml").unwrap();
    let r = Recorder::new();
    let key = SeriesKey {
        phase: 0,
        command: 1,
        target: TargetKind::SubDevice,
    };
    let complete = |outcome, service_ms: u64, attempts: u32| {
        r.planned(key);
        r.sent(key, Duration::ZERO);
        let attempt_times = match outcome {
            Outcome::Timeout => vec![(Outcome::Timeout, Duration::from_secs(1)); 2],
            _ if attempts == 2 => vec![
                (Outcome::Timeout, Duration::from_secs(1)),
                (Outcome::Success, Duration::from_millis(10)),
            ],
            _ => vec![(Outcome::Success, Duration::from_millis(10))],
        };
        r.completed(
            key,
            Completion {
                outcome,
                no_answer: false,
                outcome_from_text: false,
                latency: Duration::from_millis(service_ms),
                service_time: Duration::from_millis(service_ms),
                gateway_time: Some(Duration::from_millis(service_ms - 5)),
                via: crate::metrics::Detection::Event,
                details: crate::metrics::Details {
                    link_queue: None,
                    accept: Some(Duration::from_millis(2)),
                    dispatch: Some(Duration::from_micros(300)),
                    device: Some(Duration::from_millis(service_ms - 6)),
                    report: Some(Duration::from_micros(400)),
                    clock_skew: false,
                    attempts: Some(attempts),
                    attempt_times,
                },
            },
            0,
        );
    };
    for _ in 0..10 {
        complete(Outcome::Timeout, 2010, 2);
    }
    for _ in 0..85 {
        complete(Outcome::Success, 20, 1);
    }
    for _ in 0..5 {
        complete(Outcome::Success, 1030, 2);
    }
    let summary = build(&s, &r.snapshot(), &load(), facts());
    let row = &summary.rows[0];
    let t = &row.timeouts;
    assert_eq!(t.configured_timeout_ms, Some(2000.0));
    assert_eq!(t.attempt_timeout_ms, Some(1000.0));
    assert_eq!(t.max_retries, Some(1));
    let ttt = t.time_to_timeout_ms.unwrap();
    assert_eq!(ttt.count, 10);
    assert!((ttt.p50 - 2010.0).abs() < 2.1, "{ttt:?}");
    assert!((t.gateway_time_to_timeout_ms.unwrap().p50 - 2005.0).abs() < 2.1);
    assert!(t.time_to_fail_ms.is_none(), "no plain failures");
    let re = &row.retries;
    assert_eq!((re.retried, re.succeeded_after_retry), (15, 5));
    let a = re.attempts.unwrap();
    assert_eq!((a.count, a.p50, a.max), (100, 1, 2));
    assert_eq!(re.attempt_time_ms["timeout"].count, 25);
    assert!((re.attempt_time_ms["timeout"].p50 - 1000.0).abs() < 1.1);
    let b = &row.breakdown_ms;
    assert!((b.accept.unwrap().p50 - 2.0).abs() < 0.01);
    assert!((b.report.unwrap().max - 0.4).abs() < 0.001);
    assert!((b.device.unwrap().p50 - 14.0).abs() < 0.02);
    let table = render_table(&summary);
    let line = table
        .lines()
        .find(|l| l.starts_with("one/reboot/sub_device") && l.contains("2.0"))
        .unwrap_or_else(|| panic!("{table}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "one/reboot/sub_device",
            "2.0",
            "1.0",
            "0",
            "10",
            "2.0",
            "2.0",
            "-",
            "1",
            "2",
            "15",
            "5"
        ],
        "{table}"
    );
    assert!(
        table.contains("latency breakdown (p50 / p99 ms)"),
        "{table}"
    );
    // The new histograms are in the HDR log too.
    let out = std::env::temp_dir().join(format!("fleetbench-rep3-{}", std::process::id()));
    let (dir, _) = new_run_dir(&out, "x").unwrap();
    write_histogram_log(
        &dir,
        &r.snapshot(),
        &s,
        SystemTime::UNIX_EPOCH,
        &[Duration::from_secs(10)],
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.join(HISTOGRAM_LOG)).unwrap();
    for tag in [
        "Tag=accept:phase=one;command=reboot;target=sub_device;outcome=timeout,",
        "Tag=device:phase=one;command=reboot;target=sub_device;outcome=success,",
        "Tag=attempts:phase=one;command=reboot;target=sub_device;outcome=success,",
        "Tag=attempt_time:phase=one;command=reboot;target=sub_device;attempt=timeout,",
    ] {
        assert!(text.contains(tag), "{tag} missing");
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn junit_lists_every_threshold_with_failures_and_measured_values() {
    let s = Scenario::from_str(TEXT, "rep.toml").unwrap();
    let r = Recorder::new();
    for _ in 0..99 {
        record(&r, 0, TargetKind::Gateway, 10, Outcome::Success);
    }
    record(&r, 0, TargetKind::Gateway, 10, Outcome::Timeout);
    let summary = build(&s, &r.snapshot(), &load(), facts());
    let xml = render_junit(&summary);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    // 6 thresholds + "run completed"; timeouts == 0, timeout_rate < 0.01 fail (1 of 100);
    // success_rate > 0.99 fails (0.99 is not above it).
    assert!(xml.contains("tests=\"7\" failures=\"3\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 7);
    assert_eq!(xml.matches("<failure ").count(), 3);
    assert!(
        xml.contains("message=\"threshold failed: timeouts == 0 (measured 1.000)\""),
        "{xml}"
    );
    assert!(
        xml.contains("name=\"latency.p99 &lt; 150ms\" time=\"0\"/>"),
        "escaped, passed: {xml}"
    );
    assert_eq!(xml.matches("<testsuite ").count(), 1);
    assert!(xml.trim_end().ends_with("</testsuites>"));
    assert_eq!(xml_escape("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;?");
}

#[test]
fn html_report_is_self_contained_with_every_plot() {
    let s = Scenario::from_str(TEXT, "rep.toml").unwrap();
    let r = Recorder::new();
    for i in 0..200 {
        record(&r, 0, TargetKind::Gateway, 10 + i % 7, Outcome::Success);
    }
    record(&r, 1, TargetKind::SubDevice, 900, Outcome::Timeout);
    let metrics = r.snapshot();
    let summary = build(&s, &metrics, &load(), facts());
    let rows = aggregate::by_row(&metrics, &s);
    let timeline = vec![crate::metrics::timeline::TimelineEntry {
        start_s: 0.0,
        length_s: 1.0,
        counts: summary.total.counts,
        latency_ms: summary.total.latency_ms,
        rows: vec![],
    }];
    let html = html_report(&summary, &rows, &s, &timeline);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    // Latency over time, spectrum, throughput, time to fail: four inline SVG plots.
    assert_eq!(html.matches("<svg").count(), 4, "{html}");
    // One offline file: the chart script is inlined, nothing is fetched.
    for external in [
        "<script src",
        "<link",
        "src=",
        "url(",
        "@import",
        "https://",
    ] {
        assert!(!html.contains(external), "{external} in the report");
    }
    assert!(html.contains("FleetChart.LineChart") && html.contains("var FC_TIMELINE = [{"));
    assert!(
        html.contains("<div id=\"fc-latency\">"),
        "interactive latency chart"
    );
    assert!(!html.contains("plot not drawn"));
    assert!(html.contains("one/reboot/sub_device"));
    assert!(html.contains("FAILED"), "a threshold failed");
}
