//! A distributed run on one machine: one external gateway process and three `fleetbench run
//! --shard auto/3` processes (JOB_COMPLETION_INDEX set as a Kubernetes Indexed Job sets it),
//! merged; then the same scenario unsharded. Also every refusal (exit 2).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use common::{GatewayProcess, Scratch, bin, root, run, summary};
use serde_json::Value;

/// Two classes, two constant-rate phases (80 + 60 planned commands); every shard passes
/// `planned <= 100`, the whole run (140) does not.
const SCENARIO: &str = r#"
name = "sharded"
seed = 7
thresholds = ["fails == 0", "timeouts == 0", "planned <= 100"]

[[phases]]
name = "first"
duration = "2s"
load = { model = "constant", rate = 40 }

[[phases]]
name = "second"
duration = "2s"
load = { model = "constant", rate = 30 }

[fleet]
registration_spread = "100ms"
registration_timeout = "60s"

[[fleet.classes]]
name = "a"
count = 7
sub_devices = 1
profile = { delay = { distribution = "fixed", value = "5ms" } }

[[fleet.classes]]
name = "b"
count = 5
profile = { delay = { distribution = "fixed", value = "5ms" } }

[poll]
interval = "5ms"

[[commands]]
label = "read-temperature"
weight = 3
command_type = "lwm2m_request"
type = "read"
endpoint = "/3303/0/5700"
timeout = "5s"
targets = { kind = "any" }

[[commands]]
label = "read-manufacturer"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "5s"
targets = { class = "b", kind = "gateway" }
"#;

const LIMIT: Duration = Duration::from_secs(180);

fn target_args(g: &GatewayProcess) -> Vec<String> {
    [
        "--target",
        g.http.as_str(),
        "--token",
        g.token.as_str(),
        "--lwm2m-server",
        g.coap.as_str(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Starts `fleetbench run` (not waited for) with `JOB_COMPLETION_INDEX` = `index`, if any.
fn spawn_run(args: &[String], index: Option<u32>) -> std::process::Child {
    let mut cmd = bin();
    cmd.args(args)
        .current_dir(root())
        .env_remove("JOB_COMPLETION_INDEX")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(i) = index {
        cmd.env("JOB_COMPLETION_INDEX", i.to_string());
    }
    cmd.spawn().expect("fleetbench runs")
}

/// Waits for `child` (bounded by [`LIMIT`]) and returns its exit code and stderr.
fn finish(mut child: std::process::Child) -> (i32, String) {
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut e = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut e);
        let _ = tx.send(e);
    });
    let stderr = match rx.recv_timeout(LIMIT) {
        Ok(e) => e,
        Err(_) => {
            let _ = child.kill();
            panic!("a shard did not finish within {LIMIT:?}");
        }
    };
    (child.wait().unwrap().code().unwrap_or(-1), stderr)
}

/// `(phase, command, target)` → counts of the summary's rows.
fn rows(s: &Value) -> BTreeMap<(String, String, String), Value> {
    s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = (
                r["phase"].as_str().unwrap().to_owned(),
                r["command"].as_str().unwrap().to_owned(),
                r["target"].as_str().unwrap().to_owned(),
            );
            (key, r["counts"].clone())
        })
        .collect()
}

fn count(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn merge(dirs: &[&Path], out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args: Vec<String> = vec!["merge".into(), "--no-history".into()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".to_owned(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&refs, LIMIT)
}

#[test]
fn three_shards_merge_into_the_single_run() {
    let gateway =
        GatewayProcess::start_with(&["--register-rate", "1000", "--register-burst", "1000"]);
    let scratch = Scratch::new("distributed");
    let scenario = scratch.path("sharded.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let scenario = scenario.display().to_string();

    // A common start far enough ahead for three processes to set up on a loaded machine.
    let start_at = time::OffsetDateTime::from(SystemTime::now() + Duration::from_secs(15))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let shard_dirs: Vec<PathBuf> = (0..3)
        .map(|i| scratch.path(&format!("shard-{i}")))
        .collect();
    let children: Vec<_> = shard_dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let mut args: Vec<String> = vec!["run".into(), scenario.clone(), "--quiet".into()];
            args.extend(target_args(&gateway));
            args.extend(
                [
                    "--shard",
                    "auto/3",
                    "--start-at",
                    &start_at,
                    "--no-history",
                    "--run-dir",
                    &dir.display().to_string(),
                ]
                .map(str::to_owned),
            );
            spawn_run(&args, Some(i as u32))
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let (code, stderr) = finish(child);
        assert_eq!(
            code, 0,
            "shard {i} (planned <= 100 holds per shard):\n{stderr}"
        );
    }
    let shards: Vec<Value> = shard_dirs.iter().map(|d| summary(d)).collect();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"]["index"], i as u64);
        assert_eq!(s["shard"]["count"], 3);
        assert_eq!(s["shard"]["start_at"], start_at.as_str());
        assert!(s["shard"]["start_late_ms"].as_f64().unwrap() >= 0.0);
        assert!(s["shard"]["clock_offset_ms"].is_number(), "{}", s["shard"]);
    }

    // The whole run: merged, it fails `planned <= 100` (exit 99) as the single run does.
    let merged_dir = scratch.path("merged");
    let dirs: Vec<&Path> = shard_dirs.iter().map(PathBuf::as_path).collect();
    let (code, stdout, stderr) = merge(&dirs, &merged_dir, &[]);
    assert_eq!(code, 99, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("shards [0, 1, 2] of 3"), "{stdout}");
    let merged = summary(&merged_dir);
    for f in [
        "histograms.hlog",
        "timeline.csv",
        "junit.xml",
        "report.html",
    ] {
        assert!(merged_dir.join(f).is_file(), "{f} missing");
    }
    let failed: Vec<&str> = merged["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["passed"] == false)
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["planned <= 100"], "{}", merged["thresholds"]);

    // Merged counts are the sums of the shards', series by series.
    let merged_rows = rows(&merged);
    for (key, counts) in &merged_rows {
        for field in ["planned", "sent", "completed", "success"] {
            let sum: u64 = shards
                .iter()
                .filter_map(|s| rows(s).get(key).map(|c| count(c, field)))
                .sum();
            assert_eq!(count(counts, field), sum, "{key:?} {field}");
        }
    }
    let total_success = count(&merged["total"]["counts"], "success");
    assert_eq!(
        total_success,
        shards
            .iter()
            .map(|s| count(&s["total"]["counts"], "success"))
            .sum::<u64>()
    );
    // Histogram totals: the merged latency histogram holds every shard's samples.
    let latency_count = |s: &Value| s["total"]["latency_ms"]["count"].as_u64().unwrap();
    assert_eq!(
        latency_count(&merged),
        shards.iter().map(latency_count).sum::<u64>()
    );

    // The same scenario unsharded: the same planned counts per series, the same verdict.
    let single_dir = scratch.path("single");
    let mut args: Vec<String> = vec!["run".into(), scenario.clone(), "--quiet".into()];
    args.extend(target_args(&gateway));
    args.extend([
        "--no-history".into(),
        "--run-dir".into(),
        single_dir.display().to_string(),
    ]);
    let (code, stderr) = finish(spawn_run(&args, None));
    assert_eq!(code, 99, "{stderr}");
    let single_rows = rows(&summary(&single_dir));
    let planned = |r: &BTreeMap<(String, String, String), Value>| {
        r.iter()
            .map(|(k, c)| (k.clone(), count(c, "planned")))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(planned(&merged_rows), planned(&single_rows));
    assert_eq!(count(&merged["total"]["counts"], "planned"), 140);

    // A subset only with --partial, marked partial; two shards pass `planned <= 100`.
    let (code, _, stderr) = merge(&dirs[..2], &scratch.path("no-partial"), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("shards 2 of 3 are missing"), "{stderr}");
    let partial_dir = scratch.path("partial");
    let (code, stdout, stderr) = merge(&dirs[..2], &partial_dir, &["--partial"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let partial = summary(&partial_dir);
    assert!(
        partial["completion"]["note"]
            .as_str()
            .unwrap()
            .contains("(partial)"),
        "{}",
        partial["completion"]
    );
    assert!(
        partial["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("partial merge")),
        "{}",
        partial["warnings"]
    );

    // A duplicated index names the second directory.
    let twice = scratch.path("shard-0-again");
    copy_dir(&shard_dirs[0], &twice);
    let (code, _, stderr) = merge(
        &[dirs[0], dirs[1], dirs[2], &twice],
        &scratch.path("dup"),
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("shard-0-again") && stderr.contains("given twice"),
        "{stderr}"
    );

    // A shard of another scenario (its text and hash differ) is named.
    let other = scratch.path("other-scenario");
    copy_dir(&shard_dirs[2], &other);
    let text = SCENARIO.replace("seed = 7", "seed = 7\ndescription = \"another\"");
    std::fs::write(other.join("scenario.toml"), &text).unwrap();
    let mut s = summary(&other);
    s["shard"]["scenario_hash"] = Value::String(fleetbench_runner::report::scenario_hash(&text));
    std::fs::write(other.join("summary.json"), s.to_string()).unwrap();
    let (code, _, stderr) = merge(&[dirs[0], dirs[1], &other], &scratch.path("mixed"), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("other-scenario") && stderr.contains("scenario (hash)"),
        "{stderr}"
    );

    // A shard whose scenario copy was edited after the run is refused too.
    std::fs::write(shard_dirs[2].join("scenario.toml"), &text).unwrap();
    let (code, _, stderr) = merge(&dirs, &scratch.path("edited"), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("shard-2") && stderr.contains("does not match"),
        "{stderr}"
    );
}

#[test]
fn bad_shard_arguments_exit_2_naming_the_value() {
    let scenario = root().join("scenarios/tiny.toml").display().to_string();
    let target = [
        "--target",
        "http://127.0.0.1:9",
        "--token",
        "t",
        "--lwm2m-server",
        "coap://127.0.0.1:9",
    ];
    for (shard, env, expect) in [
        ("3/3", None, "below N"),
        ("0/0", None, "between 1 and"),
        ("auto/3", None, "JOB_COMPLETION_INDEX is not set"),
        ("auto/3", Some("5"), "JOB_COMPLETION_INDEX=\"5\""),
        ("one/3", None, "expected I/N"),
    ] {
        let mut args: Vec<String> = vec!["run".into(), scenario.clone(), "--quiet".into()];
        args.extend(target.map(str::to_owned));
        args.extend(["--shard".into(), shard.into(), "--no-history".into()]);
        let (code, stderr) = finish(spawn_run(&args, env.map(|e| e.parse().unwrap())));
        assert_eq!(code, 2, "--shard {shard}: {stderr}");
        assert!(
            stderr.contains(shard) && stderr.contains(expect),
            "--shard {shard}: {stderr}"
        );
    }
    // Shards of the embedded gateway would not share one gateway.
    let (code, _, stderr) = run(
        &[
            "run",
            &scenario,
            "--quiet",
            "--shard",
            "0/2",
            "--no-history",
        ],
        LIMIT,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("share one gateway"), "{stderr}");
    let (code, _, stderr) = run(
        &[
            "fleet",
            "--server",
            "coap://127.0.0.1:9",
            "--devices",
            "2",
            "--shard",
            "2/3",
        ],
        LIMIT,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no device"), "{stderr}");
}
