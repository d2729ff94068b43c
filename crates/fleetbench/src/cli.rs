//! Command-line flags.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};

/// Simulation and load-testing harness for IoT gateway commands.
#[derive(Debug, Parser)]
#[command(name = "fleetbench", version, about)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario (default: scenarios/smoke.toml on the embedded gateway and fleet).
    Run(RunArgs),
    /// Check a scenario file and report every error with its line and field.
    Validate(ValidateArgs),
    /// Start the mock gateway alone (REST API + LwM2M server) until Ctrl-C.
    Gateway(GatewayArgs),
    /// Start the fleet alone against any LwM2M server until Ctrl-C, then de-register.
    Fleet(FleetArgs),
    /// Compare a run with a baseline from their histograms; exit 99 on a regression.
    Compare(CompareArgs),
    /// Add several runs of one scenario (e.g. shards on several machines) into one result.
    Merge(MergeArgs),
    /// Show the run history (trends of percentiles with intervals, rates, verdicts).
    History(crate::commands::history::HistoryArgs),
}

/// `fleetbench compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a run directory or its histograms.hlog.
    #[arg(required_unless_present = "interleave")]
    pub baseline: Option<PathBuf>,
    /// The run to judge: a run directory or its histograms.hlog.
    #[arg(required_unless_present = "interleave")]
    pub current: Option<PathBuf>,
    /// `--interleave` and its flags.
    #[command(flatten)]
    pub interleave: crate::commands::interleave::InterleaveArgs,
    /// Largest allowed increase of p50, p90, p99 and p99.9 per series (e.g. 10%, 200%).
    #[arg(long, default_value = "10%", value_parser = parse_percent)]
    pub max_regression: f64,
    /// Largest allowed drop of the completion rate per series (e.g. 10%).
    #[arg(long, default_value = "10%", value_parser = parse_percent)]
    pub max_rate_drop: f64,
    /// Series with fewer completions than this in the baseline are shown but not judged.
    #[arg(long, default_value_t = 1)]
    pub min_count: u64,
    /// The latency percentiles judged, comma-separated (of p50, p90, p99, p99.9).
    #[arg(long, default_value = "p50,p90,p99,p99.9")]
    pub percentiles: String,
}

/// `fleetbench merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run directories of the same scenario.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where the merged result is written (must not exist or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Accept a subset of a distributed run's shards; the result is marked partial.
    #[arg(long)]
    pub partial: bool,
    /// Warn when the shards' starts (after --start-at) or clocks differ by more than this.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub max_start_spread: Duration,
    /// `--history`, `--no-history`, `--label`.
    #[command(flatten)]
    pub record: crate::commands::history::RecordArgs,
}

/// `10%` → 0.1 (a bare number is a percentage too).
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v / 100.0),
        _ => Err(format!("{text:?} is not a percentage like 10% or 200%")),
    }
}

/// `fleetbench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file.
    #[arg(default_value = "scenarios/smoke.toml")]
    pub scenario: PathBuf,
    /// Where run directories are written.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Write the results into exactly this directory (must not exist or be empty) instead
    /// of a new OUT/<run id>.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Run gateway, fleet and runner in one process on a virtual clock (in-memory network,
    /// in-process API): a day in seconds, byte-identical results for the same seed.
    /// Latencies are modelled, not measured: use it for policy and behaviour, not speed.
    #[arg(long, conflicts_with = "target")]
    pub virtual_time: bool,
    /// No live progress (neither the bar on a terminal nor the periodic lines otherwise).
    #[arg(long)]
    pub quiet: bool,
    /// Serve Prometheus `/metrics` for the whole run on this address (e.g. 127.0.0.1:9464).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Serve the live dashboard (updated every second by server-sent events) on this
    /// address (e.g. 127.0.0.1:5665).
    #[arg(long)]
    pub dashboard: Option<SocketAddr>,
    /// Keep `/metrics` and the dashboard up this long after the run (e.g. `30s`).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub linger: std::time::Duration,
    /// Target another gateway implementation's base URL instead of the embedded gateway.
    #[arg(long, requires_all = ["token", "lwm2m_server"])]
    pub target: Option<String>,
    /// The raw API token for --target.
    #[arg(long)]
    pub token: Option<String>,
    /// The LwM2M server (coap://HOST:PORT) the fleet registers with, for --target.
    #[arg(long)]
    pub lwm2m_server: Option<String>,
    /// Run shard I of N (I/N, or auto/N with I from JOB_COMPLETION_INDEX as a Kubernetes
    /// Indexed Job sets it): 1/N of the plan and of every device class. Needs a shared
    /// gateway (--target or an external scenario target).
    #[arg(long)]
    pub shard: Option<String>,
    /// Start the load at this instant (RFC 3339, e.g. 2026-01-01T12:00:00Z), after setup, so
    /// that every shard starts together.
    #[arg(long, value_parser = parse_rfc3339)]
    pub start_at: Option<SystemTime>,
    /// Local address the fleet's sockets bind to (repeat for several; default 127.0.0.1).
    /// In a pod: the pod IP (or 0.0.0.0) so that devices can reach a gateway elsewhere.
    #[arg(long = "fleet-bind")]
    pub fleet_bind: Vec<IpAddr>,
    /// `--history`, `--no-history`, `--label`.
    #[command(flatten)]
    pub record: crate::commands::history::RecordArgs,
}

/// An RFC 3339 instant (`2026-01-01T12:00:00Z`, any offset).
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(SystemTime::from)
        .map_err(|e| format!("{text:?} is not an RFC 3339 instant like 2026-01-01T12:00:00Z: {e}"))
}

/// `fleetbench validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The scenario file.
    pub scenario: PathBuf,
}

/// `fleetbench gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// CoAP (LwM2M server) listen address.
    #[arg(long, default_value = "127.0.0.1:5683")]
    pub coap: SocketAddr,
    /// Accepted raw API token (repeat for several).
    #[arg(long = "token", required = true)]
    pub tokens: Vec<String>,
    /// Largest accepted request body in bytes (413 beyond).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Most in-flight commands before create answers 429.
    #[arg(long, default_value_t = 100_000)]
    pub max_in_flight: usize,
    /// Completed commands kept before the oldest are evicted.
    #[arg(long, default_value_t = 200_000)]
    pub retention: usize,
    /// Longest wait for a complete HTTP request head; also the idle keep-alive timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub http_header_timeout: Duration,
    /// Longest time a request body may take to arrive (408 and close beyond).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub http_body_timeout: Duration,
    /// Most HTTP connections at once (503 and close beyond); keep it below the open-file limit.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Most devices (gateways plus attached devices) kept; a full registry answers Register
    /// with 5.03 once no inactive device can be forgotten.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_devices: u32,
    /// Registers allowed per second per source address (after a burst of --register-burst;
    /// 4.29 beyond).
    #[arg(long, default_value_t = 2.0)]
    pub register_rate: f64,
    /// Registers one source address may send at once.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub register_burst: u32,
    /// How long a de-registered or expired device is kept before it is forgotten.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub inactive_retention: Duration,
}

/// `fleetbench fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The LwM2M server, as coap://HOST[:PORT].
    #[arg(long)]
    pub server: String,
    /// Number of devices, each with its own UDP socket.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub devices: u32,
    /// Sub-devices behind each device (Object 25 instances).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub sub_devices: u32,
    /// Endpoint name prefix: device i registers as PREFIX + i (6 digits).
    #[arg(long, default_value = "fleetbench-")]
    pub endpoint_prefix: String,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Registration lifetime (e.g. 300s, 5m).
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    pub lifetime: Duration,
    /// First registrations are spread uniformly over this window (e.g. 2s).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub spread: Duration,
    /// Fixed delay before a device answers a request (e.g. 20ms).
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
    pub delay: Duration,
    /// Fraction of requests answered with 5.00 (0..=1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_ratio)]
    pub failure_ratio: f64,
    /// How sub-devices are exposed: `object25` (Object 25 instances and prefix routing behind
    /// the device's endpoint) or `per-endpoint` (each registers as its own endpoint, for
    /// servers without Object 25 support such as Leshan or Wakaama).
    #[arg(long, value_enum, default_value_t = SubDeviceModeArg::Object25)]
    pub sub_device_mode: SubDeviceModeArg,
    /// Register in queue mode (`Q`): devices sleep outside an awake window after each uplink.
    #[arg(long)]
    pub queue_mode: bool,
    /// Run shard I of N of the devices (I/N, or auto/N from JOB_COMPLETION_INDEX): the
    /// devices whose index is I mod N, with the names and seeds they have unsharded.
    #[arg(long)]
    pub shard: Option<String>,
    /// Local address the device sockets bind to (repeat for several; default 127.0.0.1).
    #[arg(long = "bind")]
    pub bind: Vec<IpAddr>,
}

/// `--sub-device-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SubDeviceModeArg {
    /// Object 25 instances with prefix routing.
    Object25,
    /// One LwM2M endpoint (and socket) per sub-device.
    PerEndpoint,
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{text:?} is not a ratio between 0 and 1")),
    }
}
