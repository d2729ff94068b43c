//! `fleetbench run --history` records each run; `fleetbench history` shows them; a corrupt
//! database is a warning that loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Scratch, run, summary};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn two_runs_give_two_rows_and_a_corrupt_database_loses_no_run() {
    let scratch = Scratch::new("history");
    let text = std::fs::read_to_string(common::root().join("scenarios/tiny.toml"))
        .unwrap()
        .replace("duration = \"2s\"", "duration = \"1s\"");
    let scenario = scratch.path("tiny.toml");
    std::fs::write(&scenario, text).unwrap();
    let db = scratch.path("history.sqlite");
    for (i, label) in ["first", "second"].iter().enumerate() {
        let dir = scratch.path(&format!("run-{i}"));
        let (code, _, stderr) = run(
            &[
                "run",
                scenario.to_str().unwrap(),
                "--run-dir",
                dir.to_str().unwrap(),
                "--quiet",
                "--history",
                db.to_str().unwrap(),
                "--label",
                label,
            ],
            LIMIT,
        );
        assert_eq!(code, 0, "{stderr}");
        assert!(!stderr.contains("warning: not recorded"), "{stderr}");
    }
    let (code, stdout, stderr) = run(
        &[
            "history",
            "--history",
            db.to_str().unwrap(),
            "--format",
            "json",
        ],
        LIMIT,
    );
    assert_eq!(code, 0, "{stderr}");
    let runs: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{stdout}");
    assert_eq!(runs[0]["label"], "second");
    assert_eq!(runs[1]["label"], "first");
    assert_eq!(runs[0]["scenario"], "tiny");
    let total = runs[0]["series"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(total["name"], "TOTAL");
    assert!(total["intervals"]["p50"]["lower"].as_f64().unwrap() > 0.0);
    let (code, table, _) = run(
        &[
            "history",
            "--history",
            db.to_str().unwrap(),
            "--scenario",
            "tiny",
        ],
        LIMIT,
    );
    assert_eq!(code, 0);
    assert!(
        table.contains("first") && table.contains("second"),
        "{table}"
    );
    assert!(table.starts_with("id "), "{table}");

    // A corrupt database: the run still exits 0, its files are complete, a warning names it.
    let bad = scratch.path("bad.sqlite");
    std::fs::write(&bad, vec![0x42u8; 4096]).unwrap();
    let dir = scratch.path("run-corrupt");
    let (code, _, stderr) = run(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--run-dir",
            dir.to_str().unwrap(),
            "--quiet",
            "--history",
            bad.to_str().unwrap(),
        ],
        LIMIT,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: not recorded in the history:")
            && stderr.contains("bad.sqlite: not a usable history database"),
        "{stderr}"
    );
    assert_eq!(summary(&dir)["thresholds_passed"], true);
    let (code, _, stderr) = run(&["history", "--history", bad.to_str().unwrap()], LIMIT);
    assert_eq!(code, 1);
    assert!(stderr.contains("not a usable history database"), "{stderr}");
}
