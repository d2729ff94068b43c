//! `/metrics` and the dashboard during a real (small, embedded, loopback) run, checked by
//! independent clients: Python's prometheus_client text parser and headless Chromium
//! (tests/live/live_check.py; `scripts/install-test-deps.sh` installs both).

use std::process::Command;

#[test]
fn live_metrics_dashboard_and_report_pass_independent_checks() {
    let browser = ["chromium", "chromedriver"].iter().all(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !browser {
        eprintln!(
            "\n!!!!! SKIPPING THE BROWSER PART: chromium / chromedriver are not installed \
             (scripts/install-test-deps.sh installs them); /metrics is still checked !!!!!\n"
        );
    }
    let out = std::env::temp_dir().join(format!("fleetbench-live-{}", std::process::id()));
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/live/live_check.py"
    ))
    .arg(env!("CARGO_BIN_EXE_fleetbench"))
    .arg(&out);
    if !browser {
        cmd.arg("--no-browser");
    }
    let result = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "live check failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("live check passed"), "{stdout}");
    println!("{stdout}screenshots in {}", out.display());
}
