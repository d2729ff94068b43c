//! Runner capacity bench (issue 8, item 9): can fleetbench load a gateway up to that
//! gateway's own limit? Against one external `fleetbench gateway` process it measures, in the
//! same run:
//!
//! - (a) the gateway's completed reads per second under a closed-loop HTTP client with the
//!   runner's connection count: each connection creates a read, waits for its terminal
//!   status event, creates the next (completions counted on the gateway's `/metrics`), with
//!   the devices in an external `fleetbench fleet` process;
//! - (b) the runner's highest sustainable open-model rate: `fleetbench run --target` of a
//!   constant-rate read scenario (its fleet is embedded in the runner process), found by
//!   bisection; a rate is sustained when the scheduling lag p99 is below 1 ms, nothing was
//!   dropped, nothing is unfinished, no event was lost, and every sent command completed;
//!
//! and prints both, (b)/(a) (issue 8's goal: ≥ 0.9), and CPU µs per command of the runner
//! and of the gateway.
//!
//! ```text
//! cargo build --release -p fleetbench --bin fleetbench
//! cargo run --release -p fleetbench-benches --bin runner-capacity -- --devices 1000
//! ```
//! Loopback only; every step is bounded in time; every child process is killed at the end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fleetbench_benches::{cores, cpu_model, cpu_time};
use serde_json::{Value, json};

const TOKEN: &str = "fleetbench-token";
/// Longest wait for a child process to be ready.
const READY_WAIT: Duration = Duration::from_secs(60);
/// Longest wait for one `fleetbench run`.
const RUN_WAIT: Duration = Duration::from_secs(180);
/// Lag p99 below which the runner kept up, ms.
const LAG_LIMIT_MS: f64 = 1.0;

struct Options {
    fleetbench: PathBuf,
    devices: usize,
    connections: usize,
    seconds: u64,
    steps: usize,
}

fn parse_options() -> Result<Options, String> {
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("fleetbench")))
        .unwrap_or_else(|| PathBuf::from("fleetbench"));
    let mut options = Options {
        fleetbench: sibling,
        devices: 1000,
        connections: 64,
        seconds: 5,
        steps: 5,
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
            "--fleetbench" => options.fleetbench = PathBuf::from(&value),
            "--devices" => options.devices = number()?.clamp(1, 20_000),
            "--connections" => options.connections = number()?.clamp(1, 1024),
            "--seconds" => options.seconds = number()?.clamp(2, 60) as u64,
            "--steps" => options.steps = number()?.clamp(1, 10),
            other => {
                return Err(format!(
                    "unknown flag {other:?} (--fleetbench PATH, --devices, --connections, --seconds, --steps)"
                ));
            }
        }
    }
    if !options.fleetbench.is_file() {
        return Err(format!(
            "--fleetbench: {} is not a file (build it: cargo build --release -p fleetbench --bin fleetbench)",
            options.fleetbench.display()
        ));
    }
    Ok(options)
}

/// A child process killed (by its own id) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    /// CPU time (user + system) of the process so far (Linux, 100 Hz ticks).
    fn cpu(&self) -> Duration {
        proc_cpu(&format!("/proc/{}/stat", self.0.id()))
    }
}

fn proc_cpu(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i))
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time of every waited-for child process so far.
fn children_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes only the rusage struct it is given a valid pointer to.
    #[allow(unsafe_code)]
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) != 0 {
            return Duration::ZERO;
        }
        usage.assume_init()
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn free_port() -> Result<u16, String> {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = tcp.local_addr().map_err(|e| e.to_string())?.port();
    drop(tcp);
    Ok(port)
}

fn free_udp_port() -> Result<u16, String> {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = udp.local_addr().map_err(|e| e.to_string())?.port();
    drop(udp);
    Ok(port)
}

#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn get(&self, path: &str) -> Result<(u16, String), String> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("authorization", TOKEN)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Sum of every sample of the metric family `name` whose labels contain `label`.
    async fn metric(&self, name: &str, label: &str) -> Result<f64, String> {
        let (_, text) = self.get("/metrics").await?;
        Ok(text
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
                    && l.contains(label)
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum())
    }

    async fn completed(&self) -> Result<f64, String> {
        self.metric(
            "fleetbench_gateway_command_targets_total",
            "status=\"success\"",
        )
        .await
    }
}

/// Waits (bounded) until `ready` holds, checking every 100 ms.
async fn wait_until<F, Fut>(what: &str, mut ready: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + READY_WAIT;
    while Instant::now() < deadline {
        if ready().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{what} not ready within {READY_WAIT:?}"))
}

/// Terminal status events, matched to the closed-loop connections waiting for them.
#[derive(Default)]
struct Completions {
    waiting: std::sync::Mutex<std::collections::HashMap<String, tokio::sync::oneshot::Sender<()>>>,
    early: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Completions {
    fn complete(&self, id: &str) {
        let sender = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        match sender {
            Some(s) => {
                let _ = s.send(());
            }
            None => {
                let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
                if early.len() < 1 << 20 {
                    early.insert(id.to_owned());
                }
            }
        }
    }

    async fn wait(&self, id: &str, until: tokio::time::Instant) -> bool {
        let receiver = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if self
                .early
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id)
            {
                return true;
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            waiting.insert(id.to_owned(), tx);
            rx
        };
        let done = matches!(tokio::time::timeout_at(until, receiver).await, Ok(Ok(())));
        if !done {
            self.waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
        }
        done
    }
}

async fn follow_events(http: Http, completions: Arc<Completions>) -> Result<(), String> {
    let mut response = http
        .client
        .get(format!(
            "{}/gateway_commands/events?terminal_only=true",
            http.base
        ))
        .header("authorization", TOKEN)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 16);
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data:"))
                && let Ok(event) = serde_json::from_str::<Value>(data.trim())
                && let Some(id) = event["command_id"].as_str()
            {
                completions.complete(id);
            }
        }
    }
    Ok(())
}

/// What (a) measured.
struct ClosedLoop {
    completed_on_gateway: f64,
    seen_by_client: u64,
    errors: u64,
    elapsed: Duration,
    gateway_cpu: Duration,
    client_cpu: Duration,
}

/// (a) `connections` closed loops: create a read, wait for its terminal event, repeat.
async fn closed_loop(
    http: &Http,
    gateway: &Process,
    options: &Options,
    prefix: &str,
) -> Result<ClosedLoop, String> {
    let completions = Arc::new(Completions::default());
    let events = tokio::spawn(follow_events(http.clone(), Arc::clone(&completions)));
    let body = json!({"command_type": "lwm2m_request", "type": "read", "endpoint": "/3/0/0", "timeout": 5})
        .to_string();
    let next = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // One second of warm-up, then the measured window.
    let mut measured = None;
    for window in [Duration::from_secs(1), Duration::from_secs(options.seconds)] {
        seen.store(0, Ordering::Relaxed);
        let before = http.completed().await?;
        let (gateway_before, client_before) = (gateway.cpu(), cpu_time());
        let started = Instant::now();
        let until = tokio::time::Instant::now() + window;
        let mut workers = Vec::with_capacity(options.connections);
        for _ in 0..options.connections {
            let (http, completions, next, seen, errors, body) = (
                http.clone(),
                Arc::clone(&completions),
                Arc::clone(&next),
                Arc::clone(&seen),
                Arc::clone(&errors),
                body.clone(),
            );
            let devices = options.devices as u64;
            let prefix = prefix.to_owned();
            workers.push(tokio::spawn(async move {
                while tokio::time::Instant::now() < until {
                    let n = next.fetch_add(1, Ordering::Relaxed) % devices;
                    let created = http
                        .client
                        .post(format!(
                            "{}/devices/{prefix}{n:06}/gateway_commands",
                            http.base
                        ))
                        .header("authorization", TOKEN)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let id = match created {
                        Ok(r) if r.status().is_success() => r
                            .bytes()
                            .await
                            .ok()
                            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                            .and_then(|v| v["_id"].as_str().map(str::to_owned)),
                        _ => None,
                    };
                    let Some(id) = id else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    if completions.wait(&id, until).await {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for w in workers {
            let _ = w.await;
        }
        let elapsed = started.elapsed();
        measured = Some(ClosedLoop {
            completed_on_gateway: http.completed().await? - before,
            seen_by_client: seen.load(Ordering::Relaxed),
            errors: errors.load(Ordering::Relaxed),
            elapsed,
            gateway_cpu: gateway.cpu().saturating_sub(gateway_before),
            client_cpu: cpu_time().saturating_sub(client_before),
        });
    }
    events.abort();
    measured.ok_or_else(|| "no window measured".to_owned())
}

/// What one `fleetbench run` at one rate measured.
struct RunAt {
    rate: f64,
    sent: u64,
    completed: u64,
    dropped: u64,
    unfinished: u64,
    events_lost: u64,
    lag_p99_ms: f64,
    runner_cpu: Duration,
    gateway_cpu: Duration,
}

impl RunAt {
    fn sustained(&self) -> Result<(), String> {
        let mut why = Vec::new();
        if self.lag_p99_ms >= LAG_LIMIT_MS {
            why.push(format!("lag p99 {:.3} ms", self.lag_p99_ms));
        }
        if self.dropped > 0 {
            why.push(format!("{} dropped", self.dropped));
        }
        if self.unfinished > 0 {
            why.push(format!("{} unfinished", self.unfinished));
        }
        if self.events_lost > 0 {
            why.push(format!("{} events lost", self.events_lost));
        }
        if self.completed < self.sent {
            why.push(format!("{} of {} completed", self.completed, self.sent));
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join(", "))
        }
    }
}

fn scenario(options: &Options, rate: f64) -> String {
    format!(
        r#"name = "runner-capacity"
seed = 8
duration = "{seconds}s"
load = {{ model = "constant", rate = {rate} }}

[fleet]
registration_spread = "1s"
registration_timeout = "60s"

[[fleet.classes]]
name = "devices"
count = {devices}
endpoint_prefix = "run-"

[poll]
mode = "events"

[execution]
connections = {connections}
max_in_flight = 100000

[[commands]]
label = "read"
command_type = "lwm2m_request"
type = "read"
endpoint = "/3/0/0"
timeout = "5s"
targets = {{ class = "devices" }}
"#,
        seconds = options.seconds,
        devices = options.devices,
        connections = options.connections,
    )
}

/// (b) One `fleetbench run --target` at `rate`.
async fn run_at(
    options: &Options,
    work: &Path,
    gateway: &Process,
    http_addr: &str,
    coap_addr: &str,
    rate: f64,
) -> Result<RunAt, String> {
    let dir = work.join(format!("run-{rate:.0}"));
    let _ = std::fs::remove_dir_all(&dir);
    let file = work.join(format!("scenario-{rate:.0}.toml"));
    std::fs::File::create(&file)
        .and_then(|mut f| f.write_all(scenario(options, rate).as_bytes()))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let (gateway_before, children_before) = (gateway.cpu(), children_cpu());
    let mut child = Command::new(&options.fleetbench)
        .arg("run")
        .arg(&file)
        .args(["--target", &format!("http://{http_addr}")])
        .args(["--token", TOKEN])
        .args(["--lwm2m-server", &format!("coap://{coap_addr}")])
        .arg("--run-dir")
        .arg(&dir)
        .args(["--quiet", "--no-history"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("fleetbench run: {e}"))?;
    let deadline = Instant::now() + RUN_WAIT;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("fleetbench run at {rate}/s took over {RUN_WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runner_cpu = children_cpu().saturating_sub(children_before);
    let gateway_cpu = gateway.cpu().saturating_sub(gateway_before);
    let summary_path = dir.join("summary.json");
    let text = std::fs::read_to_string(&summary_path)
        .map_err(|e| format!("{}: {e}", summary_path.display()))?;
    let s: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let counts = &s["total"]["counts"];
    let count = |k: &str| counts[k].as_u64().unwrap_or(0);
    Ok(RunAt {
        rate,
        sent: count("sent"),
        completed: count("completed"),
        dropped: count("dropped"),
        unfinished: count("unfinished"),
        events_lost: s["completion"]["events_lost"].as_u64().unwrap_or(0),
        lag_p99_ms: s["generator"]["lag_ms"]["p99"]
            .as_f64()
            .unwrap_or(f64::INFINITY),
        runner_cpu,
        gateway_cpu,
    })
}

fn per_command_us(cpu: Duration, commands: f64) -> f64 {
    if commands <= 0.0 {
        return f64::NAN;
    }
    cpu.as_secs_f64() * 1e6 / commands
}

async fn bench(options: Options) -> Result<(), String> {
    let work = std::env::temp_dir().join(format!("fleetbench-capacity-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let http_addr = format!("127.0.0.1:{}", free_port()?);
    let coap_addr = format!("127.0.0.1:{}", free_udp_port()?);
    let gateway = Process(
        Command::new(&options.fleetbench)
            .arg("gateway")
            .args(["--http", &http_addr, "--coap", &coap_addr, "--token", TOKEN])
            .args(["--register-rate", "100000", "--register-burst", "100000"])
            .args(["--max-in-flight", "1000000", "--retention", "200000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("fleetbench gateway: {e}"))?,
    );
    let http = Http {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(options.connections + 4)
            .build()
            .map_err(|e| e.to_string())?,
        base: format!("http://{http_addr}"),
    };
    wait_until("the gateway", || async {
        matches!(http.get("/health").await, Ok((200, _)))
    })
    .await?;
    let registrations = || async {
        http.metric("fleetbench_gateway_lwm2m_registrations_total", "")
            .await
            .unwrap_or(0.0)
    };
    let registered_before = registrations().await;
    let prefix = "cap-";
    let fleet = Process(
        Command::new(&options.fleetbench)
            .arg("fleet")
            .args(["--server", &format!("coap://{coap_addr}")])
            .args(["--devices", &options.devices.to_string()])
            .args(["--endpoint-prefix", prefix, "--spread", "1s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("fleetbench fleet: {e}"))?,
    );
    wait_until("the fleet", || async {
        registrations().await - registered_before >= options.devices as f64
    })
    .await?;
    println!(
        "runner-capacity: {} devices, {} connections, {} s windows; machine: {} cores ({}), gateway, fleet, client and runner share them; loopback",
        options.devices,
        options.connections,
        options.seconds,
        cores(),
        cpu_model()
    );
    let a = closed_loop(&http, &gateway, &options, prefix).await?;
    let a_rate = a.completed_on_gateway / a.elapsed.as_secs_f64();
    println!(
        "(a) closed loop, {} connections: {:.0} completed reads/s on the gateway ({} seen by the client, {} create errors); CPU per command: gateway {:.1} µs, client {:.1} µs",
        options.connections,
        a_rate,
        a.seen_by_client,
        a.errors,
        per_command_us(a.gateway_cpu, a.completed_on_gateway),
        per_command_us(a.client_cpu, a.completed_on_gateway),
    );
    drop(fleet);

    // (b) bisection between 0 and 1.2 × (a).
    let (mut low, mut high) = (0.0f64, (a_rate * 1.2).max(100.0));
    let mut best: Option<RunAt> = None;
    for _ in 0..options.steps {
        let rate = ((low + high) / 2.0).round().max(1.0);
        let run = run_at(&options, &work, &gateway, &http_addr, &coap_addr, rate).await?;
        let verdict = run.sustained();
        println!(
            "    {:>7.0}/s: sent {}, completed {}, dropped {}, unfinished {}, events lost {}, lag p99 {:.3} ms, CPU per command: runner (with its fleet) {:.1} µs, gateway {:.1} µs -> {}",
            run.rate,
            run.sent,
            run.completed,
            run.dropped,
            run.unfinished,
            run.events_lost,
            run.lag_p99_ms,
            per_command_us(run.runner_cpu, run.sent as f64),
            per_command_us(run.gateway_cpu, run.sent as f64),
            verdict.as_ref().map_or_else(
                |why| format!("not sustained ({why})"),
                |()| "sustained".to_owned()
            ),
        );
        if verdict.is_ok() {
            low = rate;
            best = Some(run);
        } else {
            high = rate;
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    match best {
        Some(b) => println!(
            "(b) highest sustained open-model rate: {:.0}/s; (b)/(a) = {:.2} (goal ≥ 0.9); CPU per command: runner (with its embedded fleet) {:.1} µs, gateway {:.1} µs",
            b.rate,
            b.rate / a_rate.max(1.0),
            per_command_us(b.runner_cpu, b.sent as f64),
            per_command_us(b.gateway_cpu, b.sent as f64),
        ),
        None => println!(
            "(b) no rate tried was sustained (lowest tried {:.0}/s); (b)/(a) < {:.2}",
            high,
            high / a_rate.max(1.0)
        ),
    }
    drop(gateway);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match bench(options).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
