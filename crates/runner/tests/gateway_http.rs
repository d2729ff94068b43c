//! HTTP compatibility with the real mock gateway: device discovery, command creation,
//! polling and status decoding over real HTTP on loopback. Devices are created through the
//! gateway's `POST /devices` extension; they have no LwM2M registration, so the gateway must
//! fail every command, and the runner must see every one of those failures complete.

use std::time::Duration;

use fleetbench_runner::Scenario;
use fleetbench_runner::abort::AbortSignal;
use fleetbench_runner::api::HttpGateway;
use fleetbench_runner::exec::{Directory, Engine};
use fleetbench_runner::metrics::{Counts, Recorder};
use fleetbench_runner::plan::Plan;
use tokio::time::Instant;

const SCENARIO: &str = r#"
name = "http-compat"
seed = 5
duration = "1s"
load = { model = "constant", rate = 40 }
[fleet]
registration_timeout = "10s"
[[fleet.classes]]
name = "h"
count = 5
sub_devices = 1
[poll]
interval = "5ms"
[[commands]]
command_type = "lwm2m_request"
type = "read"
endpoint = "/3303/0/5700"
timeout = "2s"
targets = { kind = "any" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_speaks_the_gateway_api() {
    let result = tokio::time::timeout(Duration::from_secs(60), async {
        let config = fleetbench_gateway::GatewayConfig::default();
        let token = config.tokens[0].clone();
        let gateway = fleetbench_gateway::start(config)
            .await
            .expect("gateway starts");
        let url = format!("http://{}", gateway.http_addr());
        let scenario = Scenario::from_str(SCENARIO, "http-compat.toml").unwrap();

        let client = reqwest::Client::new();
        let class = &scenario.fleet.classes[0];
        for i in 0..class.count {
            let ep = class.endpoint(i);
            for name in [ep.clone(), fleetbench_fleet::sub_device_name(&ep, 0)] {
                let r = client
                    .post(format!("{url}/devices"))
                    .header("Authorization", &token)
                    .json(&serde_json::json!({"unique_id": name}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "POST /devices: {}", r.status());
            }
        }

        let api = HttpGateway::new(&url, &token, 64, Duration::from_secs(5)).unwrap();
        let mut abort = AbortSignal::never();
        let directory =
            Directory::discover(&api, &scenario.fleet, Duration::from_secs(10), &mut abort)
                .await
                .expect("every device is listed");
        let plan = Plan::new(&scenario).unwrap();
        let recorder = Recorder::new();
        let engine = Engine::new(api, scenario.clone(), plan, directory, recorder.clone());
        let report = engine.run(Instant::now(), AbortSignal::never()).await;
        gateway.shutdown().await;
        (report, recorder.snapshot())
    })
    .await
    .expect("bounded");
    let (report, metrics) = result;
    assert_eq!(report.aborted, None);
    let mut c = Counts::default();
    for s in metrics.series.values() {
        c.add(&s.counts);
    }
    assert_eq!(c.planned, 40);
    assert_eq!(c.sent, 40, "{c:?} {:?}", metrics.errors);
    assert_eq!(
        (c.http_errors, c.rejected, c.unfinished),
        (0, 0, 0),
        "{:?}",
        metrics.errors
    );
    assert_eq!(c.completed, 40);
    assert_eq!(
        c.fail + c.timeout,
        40,
        "unregistered devices cannot succeed: {c:?}"
    );
}
