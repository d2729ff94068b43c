//! Merge, compare and HDR log format tests on real files.

use std::time::{Duration, SystemTime};

use base64::Engine as _;

use super::*;
use crate::exec::{LoadReport, PhaseTiming};
use crate::metrics::{Completion, Details, Detection, Outcome, Recorder, SeriesKey};
use crate::plan::TargetKind;
use crate::report::{self, CompletionInfo, RunFacts, TargetInfo};
use crate::scenario::Scenario;

const TEXT: &str = r#"
name = "mergeable"
thresholds = ["latency.p99 < 150ms", "fails == 0", "timeouts <= 3"]
[[phases]]
name = "one"
duration = "10s"
load = { model = "constant", rate = 100 }
[[phases]]
name = "two"
duration = "5s"
load = { model = "constant", rate = 10 }
[[fleet.classes]]
name = "a"
count = 2
sub_devices = 1
[[commands]]
label = "read"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
[[commands]]
label = "read"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/1"
targets = { kind = "sub_device" }
[[commands]]
command_type = "reboot"
timeout = "2s"
"#;

fn load() -> LoadReport {
    LoadReport {
        phases: vec![
            PhaseTiming {
                started: Duration::ZERO,
                ended: Duration::from_secs(10),
            },
            PhaseTiming {
                started: Duration::from_secs(10),
                ended: Duration::from_secs(15),
            },
        ],
        aborted: None,
        cancelled_in_drain: 0,
        total: Duration::from_secs(15),
        generator_cpu: None,
    }
}

fn facts(id: &str) -> RunFacts {
    RunFacts {
        run_id: id.into(),
        target: TargetInfo {
            mode: "embedded".into(),
            url: "http://127.0.0.1:1".into(),
        },
        started_at: "2026-01-01T00:00:00.000000Z".into(),
        finished_at: "2026-01-01T00:00:15.000000Z".into(),
        generator: Default::default(),
        completion: CompletionInfo::default(),
    }
}

/// Records a deterministic mix, different per `salt`, into every recorder given.
fn record(recorders: &[&Recorder], salt: u64, n: u64) {
    for i in 0..n {
        let phase = usize::from(i % 5 == 0);
        let command = (i % 3) as usize;
        let target = if command == 1 {
            TargetKind::SubDevice
        } else {
            TargetKind::Gateway
        };
        let key = SeriesKey {
            phase,
            command,
            target,
        };
        let outcome = match (i + salt) % 50 {
            0 => Outcome::Timeout,
            7 => Outcome::Fail,
            _ => Outcome::Success,
        };
        let ms = 1 + (i * 37 + salt * 11) % 400;
        for r in recorders {
            r.planned(key);
            r.sent(key, Duration::from_micros(10 + (i % 13) * 7));
            if i % 97 == 3 {
                r.http_error(key, "create: HTTP 503");
                continue;
            }
            r.completed(
                key,
                Completion {
                    outcome,
                    no_answer: false,
                    outcome_from_text: false,
                    latency: Duration::from_micros(ms * 1000 + 17),
                    service_time: Duration::from_micros(ms * 1000),
                    gateway_time: Some(Duration::from_micros(ms * 900)),
                    via: Detection::Event,
                    details: Details {
                        link_queue: None,
                        accept: Some(Duration::from_micros(300 + i % 50)),
                        dispatch: Some(Duration::from_micros(100 + i % 9)),
                        device: Some(Duration::from_micros(ms * 800)),
                        report: Some(Duration::from_micros(200 + i % 31)),
                        clock_skew: false,
                        attempts: Some(1 + u32::from(i % 11 == 0)),
                        attempt_times: vec![(outcome, Duration::from_micros(ms * 700))],
                    },
                },
                0,
            );
        }
    }
}

fn write_run(dir: &std::path::Path, s: &Scenario, r: &Recorder, id: &str) {
    let metrics = r.snapshot();
    let summary = report::build(s, &metrics, &load(), facts(id));
    std::fs::create_dir_all(dir).unwrap();
    report::write_summary(dir, &summary).unwrap();
    report::write_histogram_log(
        dir,
        &metrics,
        s,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        &[Duration::from_secs(10), Duration::from_secs(5)],
    )
    .unwrap();
    report::write_timeline(dir, &[]).unwrap();
    report::write_text(dir, report::SCENARIO_FILE, &s.source).unwrap();
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("fleetbench-results-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn merging_two_runs_equals_the_run_of_their_union() {
    let s = Scenario::from_str(TEXT, "mergeable.toml").unwrap();
    let (a, b, union) = (Recorder::new(), Recorder::new(), Recorder::new());
    record(&[&a, &union], 1, 700);
    record(&[&b, &union], 2, 450);
    let root = temp("merge");
    write_run(&root.join("a"), &s, &a, "a");
    write_run(&root.join("b"), &s, &b, "b");
    let runs = vec![
        load_run(&root.join("a")).unwrap(),
        load_run(&root.join("b")).unwrap(),
    ];
    let merged = merge_runs(&runs, "merged").unwrap();
    let expected = report::build(&s, &union.snapshot(), &load(), facts("merged"));
    let got = &merged.summary;
    assert_eq!(
        got.total, expected.total,
        "counts and every statistic, exactly"
    );
    assert_eq!(got.rows, expected.rows);
    assert_eq!(got.series, expected.series);
    assert_eq!(got.phases, expected.phases);
    assert_eq!(got.thresholds, expected.thresholds);
    assert_eq!(got.errors, expected.errors);
    assert_eq!(got.total.counts.sent, 1150);
    assert!(got.total.counts.http_errors > 0 && got.total.counts.timeout > 0);
    // The merged files are a run directory again: merging it with nothing changes nothing.
    merged.write(&root.join("m")).unwrap();
    for f in [
        "summary.json",
        "histograms.hlog",
        "timeline.csv",
        "junit.xml",
        "report.html",
        "scenario.toml",
    ] {
        assert!(root.join("m").join(f).is_file(), "{f}");
    }
    let again = merge_runs(&[load_run(&root.join("m")).unwrap()], "again").unwrap();
    assert_eq!(again.summary.rows, expected.rows);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn merge_refuses_runs_of_other_scenarios_naming_the_file() {
    let s = Scenario::from_str(TEXT, "mergeable.toml").unwrap();
    let other = Scenario::from_str(&TEXT.replace("mergeable", "other"), "other.toml").unwrap();
    let r = Recorder::new();
    record(&[&r], 1, 50);
    let root = temp("refuse");
    write_run(&root.join("a"), &s, &r, "a");
    write_run(&root.join("b"), &other, &r, "b");
    let runs = vec![
        load_run(&root.join("a")).unwrap(),
        load_run(&root.join("b")).unwrap(),
    ];
    let e = merge_runs(&runs, "m").unwrap_err();
    assert_eq!(e.file, root.join("b").join("summary.json"));
    assert!(e.what.contains("scenario `other` differs"), "{e}");
    let e = load_run(&root.join("nothing")).unwrap_err();
    assert!(e.to_string().contains("no such run directory"), "{e}");
    std::fs::write(
        root.join("bad.hlog"),
        "this is not a log\n1,2,3,HISTFAAAA\n",
    )
    .unwrap();
    let e = load_run(&root.join("bad.hlog")).unwrap_err();
    assert_eq!(e.file, root.join("bad.hlog"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn hdr_log_is_standard_v2_compressed_tagged_and_decodes_to_the_same_counts() {
    let s = Scenario::from_str(TEXT, "mergeable.toml").unwrap();
    let r = Recorder::new();
    record(&[&r], 3, 300);
    let root = temp("hlog");
    write_run(&root, &s, &r, "h");
    let text = std::fs::read_to_string(root.join(report::HISTOGRAM_LOG)).unwrap();
    // Headers as HdrHistogram's HistogramLogWriter writes them.
    assert!(text.contains("#[StartTime: 1767225600.000"), "{text}");
    assert!(
        text.contains("#[Histogram log format version 1.3]"),
        "{text}"
    );
    let data: Vec<&str> = text.lines().filter(|l| l.starts_with("Tag=")).collect();
    assert!(!data.is_empty());
    for line in &data {
        // Tag=<tag>,<start>,<length>,<max>,<base64 of V2 + DEFLATE>
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 5, "{line}");
        let tag = &fields[0]["Tag=".len()..];
        assert!(!tag.contains(' '), "tags have no spaces: {tag}");
        assert!(fields[4].starts_with("HISTF"), "V2 compressed: {line}");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(fields[4])
            .unwrap();
        assert_eq!(raw[..4], [0x1c, 0x84, 0x93, 0x14], "V2 compressed cookie");
        let compressed_len = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
        assert_eq!(compressed_len, raw.len() - 8);
    }
    // Decoding gives back exactly the recorded counts, per tag.
    let (entries, start) = read_hlog(&root.join(report::HISTOGRAM_LOG)).unwrap();
    assert_eq!(start, Some(Duration::from_secs(1_767_225_600)));
    let metrics = r.snapshot();
    let rows = report::aggregate::by_row(&metrics, &s);
    let mut checked = 0;
    for ((phase, label, target), agg) in &rows {
        let base = format!(
            "phase={};command={label};target={}",
            s.phases[*phase].name,
            target.as_str()
        );
        for (tag, h) in report::row_histograms(&base, agg) {
            let e = entries.iter().find(|e| e.tag == tag).unwrap();
            assert_eq!(e.histogram.len(), h.len(), "{tag}");
            assert_eq!(e.histogram.max(), h.max(), "{tag}");
            for v in h.iter_recorded() {
                assert_eq!(
                    e.histogram.count_at(v.value_iterated_to()),
                    v.count_at_value(),
                    "{tag}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn compare_flags_latency_and_rate_regressions_from_the_histograms() {
    let s = Scenario::from_str(TEXT, "mergeable.toml").unwrap();
    let (base, cur) = (Recorder::new(), Recorder::new());
    let key = SeriesKey {
        phase: 0,
        command: 2,
        target: TargetKind::Gateway,
    };
    let put = |r: &Recorder, ms: u64, n: usize| {
        for _ in 0..n {
            r.planned(key);
            r.sent(key, Duration::ZERO);
            r.completed(
                key,
                Completion {
                    outcome: Outcome::Success,
                    no_answer: false,
                    outcome_from_text: false,
                    latency: Duration::from_millis(ms),
                    service_time: Duration::from_millis(ms),
                    gateway_time: None,
                    via: Detection::Poll,
                    details: Details::default(),
                },
                1,
            );
        }
    };
    put(&base, 10, 990);
    put(&base, 100, 10);
    put(&cur, 10, 995);
    put(&cur, 30, 5); // p50..p99 stay 10 ms; p99.9 100 → 30 ms (better)
    let root = temp("compare");
    write_run(&root.join("b"), &s, &base, "b");
    write_run(&root.join("c"), &s, &cur, "c");
    let b = load_run(&root.join("b")).unwrap();
    let c = load_run(&root.join("c")).unwrap();
    let opts = CompareOptions {
        max_regression: 0.10,
        max_rate_drop: 0.10,
        min_count: 1,
        judged: [true; 4],
    };
    let same = compare(&b.hlog, &b.hlog, opts);
    assert!(!same.regressed());
    let improved = compare(&b.hlog, &c.hlog, opts);
    assert!(!improved.regressed(), "{}", render_comparison(&improved));
    // The other way round p99.9 grows 30 → 100 ms, but 1000 samples cannot bound p99.9 from
    // above (P(all 1000 below it) = 37 %): inconclusive, never a regression; and half the
    // completions (a rate drop) when the current run lost some.
    let worse = compare(&c.hlog, &b.hlog, opts);
    assert!(!worse.regressed());
    assert_eq!(worse.verdict(), Verdict::Inconclusive);
    let text = render_comparison(&worse);
    assert!(
        text.contains("INCONCLUSIVE one/reboot/gateway: p99.9 30.015 → 100.031 ms (+233.3 %, allowed +10.0 %), but the baseline's 1000 samples give p99.9 no upper bound"),
        "{text}"
    );
    let fewer = Recorder::new();
    put(&fewer, 10, 500);
    write_run(&root.join("f"), &s, &fewer, "f");
    let f = load_run(&root.join("f")).unwrap();
    let dropped = compare(&b.hlog, &f.hlog, opts);
    let text = render_comparison(&dropped);
    assert!(text.contains("rate 100.00 → 50.00/s (-50.0 %"), "{text}");
    assert_eq!(dropped.verdict(), Verdict::Regression);
    // Exact, never averaged: the TOTAL p99 is the merged histogram's.
    let total = improved.series.last().unwrap();
    assert_eq!(total.name, "TOTAL");
    assert!((total.baseline.unwrap().latency_ms[3] - 100.031).abs() < 0.001);
    assert!((total.current.unwrap().latency_ms[3] - 30.015).abs() < 0.001);
    // With a wide bound (200 %), the same regression passes.
    let wide = compare(
        &c.hlog,
        &b.hlog,
        CompareOptions {
            max_regression: 2.5,
            ..opts
        },
    );
    assert!(!wide.regressed(), "{}", render_comparison(&wide));
    // Judging only p50..p99 leaves the p99.9 regression out.
    let judged = CompareOptions::judged_from("p50,p90,p99").unwrap();
    assert_eq!(judged, [true, true, true, false]);
    assert!(!compare(&c.hlog, &b.hlog, CompareOptions { judged, ..opts }).regressed());
    assert!(
        CompareOptions::judged_from("p95")
            .unwrap_err()
            .contains("\"p95\"")
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Runs the timeline collector of each recorder over `intervals` one-second intervals under
/// the paused clock, recording `per_interval(i)` into the given recorders in interval `i`, and
/// writes each run directory with its streamed interval histograms.
async fn timed_runs(
    root: &std::path::Path,
    s: &Scenario,
) -> Vec<crate::metrics::timeline::TimelineEntry> {
    use crate::metrics::timeline::{SeriesNames, TimelineCollector};
    let names = || SeriesNames {
        phases: s.phases.iter().map(|p| p.name.clone()).collect(),
        commands: s.commands.iter().map(|c| c.label.clone()).collect(),
    };
    let (a, b, union) = (Recorder::new(), Recorder::new(), Recorder::new());
    let start = tokio::time::Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let dirs = [root.join("a"), root.join("b"), root.join("union")];
    let mut collectors = Vec::new();
    for (dir, recorder) in dirs.iter().zip([&a, &b, &union]) {
        std::fs::create_dir_all(dir).unwrap();
        collectors.push(TimelineCollector::start(
            recorder.clone(),
            names(),
            None,
            start,
            Duration::from_secs(1),
            Some(dir.join(report::HISTOGRAM_LOG)),
            wall,
        ));
    }
    for interval in 0..4u64 {
        // Different amounts and latencies in each run and each interval.
        record(&[&a, &union], interval * 3 + 1, 40 + interval * 10);
        record(&[&b, &union], interval * 5 + 2, 25 + interval * 7);
        tokio::time::advance(Duration::from_secs(1)).await;
        tokio::task::yield_now().await;
    }
    let mut timelines = Vec::new();
    for collector in collectors {
        let (timeline, io_error) = collector.finish().await;
        assert!(io_error.is_none(), "{io_error:?}");
        timelines.push(timeline);
    }
    for ((dir, recorder), timeline) in dirs.iter().zip([&a, &b, &union]).zip(&timelines) {
        let metrics = recorder.snapshot();
        let summary = report::build(s, &metrics, &load(), facts("timed"));
        report::write_summary(dir, &summary).unwrap();
        report::write_histogram_log(
            dir,
            &metrics,
            s,
            wall,
            &[Duration::from_secs(10), Duration::from_secs(5)],
        )
        .unwrap();
        report::write_timeline(dir, timeline).unwrap();
        report::write_text(dir, report::SCENARIO_FILE, &s.source).unwrap();
    }
    timelines.pop().unwrap()
}

#[tokio::test(start_paused = true)]
async fn merged_timeline_equals_the_timeline_of_the_union() {
    let s = Scenario::from_str(TEXT, "mergeable.toml").unwrap();
    let root = temp("merge-timeline");
    let union_timeline = timed_runs(&root, &s).await;
    assert!(
        union_timeline.len() >= 4
            && union_timeline
                .iter()
                .filter(|e| e.latency_ms.is_some())
                .count()
                >= 4,
        "every interval carries latencies: {union_timeline:?}"
    );
    let runs = vec![
        load_run(&root.join("a")).unwrap(),
        load_run(&root.join("b")).unwrap(),
    ];
    let merged = merge_runs(&runs, "merged").unwrap();
    let got = merged.timeline();
    assert_eq!(got.len(), union_timeline.len());
    for (got, want) in got.iter().zip(&union_timeline) {
        assert_eq!(got.start_s, want.start_s);
        assert_eq!(
            got.latency_ms, want.latency_ms,
            "latency at {}",
            want.start_s
        );
        assert_eq!(got.rows, want.rows, "rows at {}", want.start_s);
    }
    // Counters travel through timeline.csv, which carries the columns it shows.
    assert_eq!(
        crate::metrics::timeline::timeline_csv(&got),
        crate::metrics::timeline::timeline_csv(&union_timeline)
    );
    std::fs::remove_dir_all(&root).unwrap();
}
