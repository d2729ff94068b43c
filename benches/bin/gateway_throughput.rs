//! Gateway throughput bench: commands created per second on the create route, completed
//! `lwm2m_request` reads per second end to end with the real fleet, and a reference route
//! (`GET /health`) served by the same server, with the same HTTP client and concurrency, in the
//! same run, so every figure is also given as a ratio that a noisy shared machine disturbs less.
//! It also shows that completed commands beyond `retention` are evicted (store size and RSS).
//!
//! ```text
//! cargo run --release -p fleetbench-benches --bin gateway-throughput -- --devices 10000
//! ```
//! Loopback only; every phase is bounded in time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleetbench_benches::{cores, cpu_model, rss_kib};
use fleetbench_fleet::FleetConfig;
use fleetbench_gateway::{GatewayConfig, RunningGateway};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const TOKEN: &str = "fleetbench-token";

/// Longest wait for one command's completion event before polling it instead.
const EVENT_WAIT: Duration = Duration::from_secs(5);

struct Options {
    devices: usize,
    sub_devices: usize,
    duration: Duration,
    concurrency: usize,
    retention: usize,
    /// Run only this phase (`reference`, `create` or `e2e`), e.g. to profile it.
    only: Option<String>,
}

impl Options {
    fn runs(&self, phase: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == phase)
    }
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        devices: 10_000,
        sub_devices: 0,
        duration: Duration::from_secs(5),
        concurrency: 64,
        retention: 5_000,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: {value:?} is not a whole number"))
        };
        match flag.as_str() {
            "--devices" => options.devices = number()?.clamp(1, 100_000),
            "--sub-devices" => options.sub_devices = number()?.min(64),
            "--seconds" => options.duration = Duration::from_secs(number()?.clamp(2, 120) as u64),
            "--concurrency" => options.concurrency = number()?.clamp(1, 4096),
            "--retention" => options.retention = number()?.clamp(1, 10_000_000),
            "--only" if ["reference", "create", "e2e"].contains(&value.as_str()) => {
                options.only = Some(value)
            }
            other => {
                return Err(format!(
                    "unknown flag or value {other:?} {value:?} (--devices, --sub-devices, --seconds, --concurrency, --retention, --only reference|create|e2e)"
                ));
            }
        }
    }
    Ok(options)
}

/// The HTTP side: one client, one base URL.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("authorization", TOKEN)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, body.to_vec()))
    }

    /// Creates a command for `device`; returns its `_id`.
    async fn create(&self, device: &str, body: &Value) -> Result<String, String> {
        let response = self
            .client
            .post(format!("{}/devices/{device}/gateway_commands", self.base))
            .header("authorization", TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        let created: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        created["_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "no _id in the answer".to_owned())
    }

    /// The terminal status of every target, if all are terminal.
    async fn terminal(&self, id: &str) -> Result<Option<bool>, String> {
        let (_, body) = self.get(&format!("/gateway_commands/{id}")).await?;
        let command: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let statuses = command["statuses"]
            .as_object()
            .ok_or("no statuses in the answer")?;
        let mut success = true;
        for entry in statuses.values() {
            match entry["status"].as_str() {
                Some("success") => {}
                Some("fail") => success = false,
                _ => return Ok(None),
            }
        }
        Ok(Some(success))
    }
}

/// Completion events from `GET /gateway_commands/events`, matched to waiting workers.
#[derive(Default)]
struct Completions {
    table: Mutex<CompletionTable>,
    lagged: AtomicU64,
}

#[derive(Default)]
struct CompletionTable {
    waiting: HashMap<String, oneshot::Sender<bool>>,
    /// Completions that arrived before their worker asked (bounded below).
    early: HashMap<String, bool>,
}

const MAX_EARLY: usize = 1 << 20;

impl Completions {
    fn complete(&self, id: &str, success: bool) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        match table.waiting.remove(id) {
            Some(sender) => {
                let _ = sender.send(success);
            }
            None if table.early.len() < MAX_EARLY => {
                table.early.insert(id.to_owned(), success);
            }
            None => {}
        }
    }

    /// Waits for the completion of `id`: the event, or polling after [`EVENT_WAIT`].
    async fn wait(&self, http: &Http, id: &str) -> Result<bool, String> {
        let receiver = {
            let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(success) = table.early.remove(id) {
                return Ok(success);
            }
            let (sender, receiver) = oneshot::channel();
            table.waiting.insert(id.to_owned(), sender);
            receiver
        };
        if let Ok(Ok(success)) = tokio::time::timeout(EVENT_WAIT, receiver).await {
            return Ok(success);
        }
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiting
            .remove(id);
        for _ in 0..1000 {
            if let Some(success) = http.terminal(id).await? {
                return Ok(success);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(format!("command {id} did not complete"))
    }
}

/// Reads the event stream and feeds terminal status events to `completions`.
async fn follow_events(http: Http, completions: Arc<Completions>) -> Result<(), String> {
    let mut response = http
        .client
        .get(format!("{}/gateway_commands/events", http.base))
        .header("authorization", TOKEN)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 16);
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = find(&buffer, b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            handle_event(&block, &completions);
        }
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn handle_event(block: &[u8], completions: &Completions) {
    let text = String::from_utf8_lossy(block);
    let mut kind = "";
    let mut data = "";
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            kind = value.trim();
        } else if let Some(value) = line.strip_prefix("data:") {
            data = value.trim();
        }
    }
    match kind {
        "status" => {
            let Ok(event) = serde_json::from_str::<Value>(data) else {
                return;
            };
            let success = match event["status"].as_str() {
                Some("success") => true,
                Some("fail") => false,
                _ => return,
            };
            if let Some(id) = event["command_id"].as_str() {
                completions.complete(id, success);
            }
        }
        "lagged" => {
            completions.lagged.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// What one phase measured.
struct Measured {
    done: u64,
    failed: u64,
    errors: u64,
    elapsed: Duration,
    first_error: Option<String>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `op(n)` from `concurrency` workers until `duration` has passed; counts operations that
/// ended within the window (`Ok(true)` done, `Ok(false)` done but failed, `Err` error).
async fn phase<F, Fut>(concurrency: usize, duration: Duration, op: F) -> Measured
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<bool, String>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None));
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (op, next, done, failed, errors, first_error) = (
            Arc::clone(&op),
            Arc::clone(&next),
            Arc::clone(&done),
            Arc::clone(&failed),
            Arc::clone(&errors),
            Arc::clone(&first_error),
        );
        workers.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                match tokio::time::timeout_at(deadline, op(n)).await {
                    Ok(Ok(success)) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        if !success {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Err(error)) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(error);
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let first_error = first_error.lock().unwrap_or_else(|e| e.into_inner()).take();
    Measured {
        done: done.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        first_error,
    }
}

fn report(name: &str, measured: &Measured, reference: f64) {
    println!(
        "  {name:<44} {:>9.0} /s  ({} in {:.2} s, {} failed, {} errors, {:.3} x reference){}",
        measured.rate(),
        measured.done,
        measured.elapsed.as_secs_f64(),
        measured.failed,
        measured.errors,
        measured.rate() / reference.max(1.0),
        measured
            .first_error
            .as_ref()
            .map(|e| format!("\n    first error: {e}"))
            .unwrap_or_default()
    );
}

/// A gauge or counter from `GET /metrics`.
async fn metric(http: &Http, name: &str) -> Result<f64, String> {
    let (_, body) = http.get("/metrics").await?;
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)
                .filter(|rest| rest.starts_with(' '))
                .and_then(|rest| rest.trim().parse::<f64>().ok())
        })
        .ok_or_else(|| format!("metric {name} not found"))
}

/// (c) Reference: `GET /health`, same server, client and concurrency (after a warm-up).
async fn reference_phase(http: &Http, options: &Options) -> Measured {
    let health = |http: Http| {
        move |_| {
            let http = http.clone();
            async move {
                let (status, _) = http.get("/health").await?;
                Ok(status == 200)
            }
        }
    };
    phase(
        options.concurrency,
        Duration::from_secs(1),
        health(http.clone()),
    )
    .await;
    phase(options.concurrency, options.duration, health(http.clone())).await
}

/// What the end-to-end phase measured, with the store size and RSS after each half.
struct EndToEnd {
    measured: Measured,
    first_half_done: u64,
    stored_first: f64,
    rss_first: u64,
    stored_second: f64,
    in_flight: f64,
    rss_second: u64,
    retransmissions: f64,
    first_status: u16,
}

/// (b) End to end: create a read, wait for its terminal status event (SSE). Run in two
/// halves so that the store size and RSS can be compared once retention is exceeded.
async fn e2e_phase(
    http: &Http,
    options: &Options,
    endpoints: &Arc<Vec<String>>,
    completions: &Arc<Completions>,
) -> Result<EndToEnd, String> {
    let read = json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3303/0/5700"});
    let first_id: Arc<Mutex<Option<String>>> = Arc::default();
    let end_to_end = {
        let (http, endpoints, completions, first_id) = (
            http.clone(),
            Arc::clone(endpoints),
            Arc::clone(completions),
            Arc::clone(&first_id),
        );
        Arc::new(move |n: u64| {
            let (http, endpoints, completions, read, first_id) = (
                http.clone(),
                Arc::clone(&endpoints),
                Arc::clone(&completions),
                read.clone(),
                Arc::clone(&first_id),
            );
            async move {
                let device = &endpoints[n as usize % endpoints.len()];
                let id = http.create(device, &read).await?;
                if n == 0 {
                    *first_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
                }
                completions.wait(&http, &id).await
            }
        })
    };
    let half = options.duration / 2;
    let first = {
        let op = Arc::clone(&end_to_end);
        phase(options.concurrency, half, move |n| op(n)).await
    };
    let stored_first = metric(http, "fleetbench_gateway_commands_stored").await?;
    let rss_first = rss_kib();
    let second = {
        let op = Arc::clone(&end_to_end);
        phase(options.concurrency, options.duration - half, move |n| {
            op(n + 1_000_000_000)
        })
        .await
    };
    let stored_second = metric(http, "fleetbench_gateway_commands_stored").await?;
    let in_flight = metric(http, "fleetbench_gateway_commands_in_flight").await?;
    let rss_second = rss_kib();
    let retransmissions = metric(http, "fleetbench_gateway_coap_retransmissions_total").await?;
    let first_command = first_id.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let first_status = match first_command {
        Some(id) => http.get(&format!("/gateway_commands/{id}")).await?.0,
        None => 0,
    };
    Ok(EndToEnd {
        first_half_done: first.done,
        measured: Measured {
            done: first.done + second.done,
            failed: first.failed + second.failed,
            errors: first.errors + second.errors,
            elapsed: first.elapsed + second.elapsed,
            first_error: first.first_error.or(second.first_error),
        },
        stored_first,
        rss_first,
        stored_second,
        in_flight,
        rss_second,
        retransmissions,
        first_status,
    })
}

/// (a) Create route alone: reads scheduled to start in 2100 are stored `enqueued` and never
/// reach a device during the run, so only the create path is measured.
async fn create_phase(http: &Http, options: &Options, endpoints: &Arc<Vec<String>>) -> Measured {
    let scheduled = json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3303/0/5700",
        "schedule": {"start_datetime": "2100-01-01T00:00:00Z"}});
    let creates = {
        let (http, endpoints) = (http.clone(), Arc::clone(endpoints));
        move |n: u64| {
            let (http, endpoints, scheduled) =
                (http.clone(), Arc::clone(&endpoints), scheduled.clone());
            async move {
                let device = &endpoints[n as usize % endpoints.len()];
                http.create(device, &scheduled).await.map(|_| true)
            }
        }
    };
    phase(options.concurrency, options.duration, creates).await
}

async fn run(options: Options, gateway: &RunningGateway) -> Result<(), Box<dyn std::error::Error>> {
    let http = Http {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(options.concurrency)
            .build()?,
        base: format!("http://{}", gateway.http_addr()),
    };
    let started = Instant::now();
    let fleet = fleetbench_fleet::start(FleetConfig {
        server: gateway.coap_addr(),
        devices: options.devices,
        sub_devices: options.sub_devices,
        registration_spread: Duration::from_secs(2),
        endpoint_prefix: "tp-".into(),
        ..FleetConfig::default()
    })
    .await?;
    fleet.wait_registered(Duration::from_secs(300)).await?;
    println!(
        "fleet: {} devices x {} sub-devices registered in {:.1} s; RSS {} MiB",
        options.devices,
        options.sub_devices,
        started.elapsed().as_secs_f64(),
        rss_kib() / 1024
    );
    let endpoints: Arc<Vec<String>> = Arc::new(fleet.endpoints().to_vec());
    let completions = Arc::new(Completions::default());
    let events = tokio::spawn(follow_events(http.clone(), Arc::clone(&completions)));

    let skipped = || Measured {
        done: 0,
        failed: 0,
        errors: 0,
        elapsed: Duration::from_secs(1),
        first_error: None,
    };
    let reference = if options.runs("reference") {
        reference_phase(&http, &options).await
    } else {
        skipped()
    };
    let e2e = if options.runs("e2e") {
        Some(e2e_phase(&http, &options, &endpoints, &completions).await?)
    } else {
        None
    };
    let created = if options.runs("create") {
        create_phase(&http, &options, &endpoints).await
    } else {
        skipped()
    };

    println!(
        "\nmachine: {} cores ({}); gateway, fleet and HTTP client share them; loopback; concurrency {}",
        cores(),
        cpu_model(),
        options.concurrency
    );
    let base = reference.rate();
    report("(c) reference GET /health", &reference, base);
    report("(a) creates, POST .../gateway_commands", &created, base);
    println!(
        "      method: each create is an lwm2m_request read scheduled for 2100 (stored `enqueued`, one timer, no device traffic)"
    );
    if let Some(e2e) = e2e {
        report("(b) completed reads end to end", &e2e.measured, base);
        println!(
            "      method: POST a read of /3303/0/5700 to the next of {} devices, then wait for its terminal status on the SSE stream; {} lagged events, {} CoAP retransmissions",
            options.devices,
            completions.lagged.load(Ordering::Relaxed),
            e2e.retransmissions
        );
        println!(
            "  retention {}: after {} completed commands the store held {}, RSS {} MiB; after {} it held {} (in flight {}), RSS {} MiB; the first command now answers HTTP {}",
            options.retention,
            e2e.first_half_done,
            e2e.stored_first,
            e2e.rss_first / 1024,
            e2e.measured.done,
            e2e.stored_second,
            e2e.in_flight,
            e2e.rss_second / 1024,
            e2e.first_status,
        );
    }
    events.abort();
    fleet.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options()?;
    let gateway = fleetbench_gateway::start(GatewayConfig {
        retention: options.retention,
        max_in_flight: 10_000_000,
        events_buffer: 1 << 16,
        ..GatewayConfig::default()
    })
    .await?;
    println!(
        "gateway-throughput: {} devices, {} s per phase, concurrency {}",
        options.devices,
        options.duration.as_secs(),
        options.concurrency
    );
    let outcome = run(options, &gateway).await;
    gateway.shutdown().await;
    outcome
}
