//! `fleetbench run --target` against a mock gateway in its own process (real HTTP, real CoAP
//! between processes), found through the parseable `listening` line of `fleetbench gateway`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{GatewayProcess, Scratch, run, summary};

#[test]
fn run_against_an_external_gateway_process_passes() {
    let gateway = GatewayProcess::start();
    assert!(
        gateway.http.starts_with("http://127.0.0.1:"),
        "{}",
        gateway.http
    );
    assert!(
        gateway.coap.starts_with("coap://127.0.0.1:"),
        "{}",
        gateway.coap
    );
    let scratch = Scratch::new("external");
    let dir = scratch.path("run");
    let (code, stdout, stderr) = run(
        &[
            "run",
            "scenarios/tiny.toml",
            "--target",
            &gateway.http,
            "--token",
            &gateway.token,
            "--lwm2m-server",
            &gateway.coap,
            "--run-dir",
            dir.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    // Not a terminal: plain progress lines.
    assert!(stdout.contains("progress "), "{stdout}");
    let s = summary(&dir);
    assert_eq!(s["target"]["mode"], "external");
    assert_eq!(s["target"]["url"], gateway.http.as_str());
    assert_eq!(s["total"]["counts"]["success"], 100);
    assert_eq!(s["completion"]["used"], "events");
    assert_eq!(s["thresholds_passed"], true);
    for f in [
        "histograms.hlog",
        "timeline.csv",
        "junit.xml",
        "report.html",
        "scenario.toml",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
}
