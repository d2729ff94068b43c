//! `fleetbench compare --interleave SCENARIO`: runs a scenario alternately against two
//! targets (A the control, B the candidate), k rounds each, by spawning this binary's `run`
//! per round, and judges B against A on the per-round percentiles
//! (`fleetbench_runner::results::interleave`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use clap::Args;
use fleetbench_runner::results::interleave::{
    InterleaveOptions, RoundNumbers, judge_interleaved, render_interleaved,
};
use fleetbench_runner::results::{compare::total_numbers, load_run, run_untrusted_reasons};

use crate::cli::CompareArgs;
use fleetbench_runner::ExitStatus;

/// Flags of the interleaved comparison (flattened into `fleetbench compare`).
#[derive(Debug, Clone, Args)]
pub struct InterleaveArgs {
    /// Run SCENARIO alternately on A and B (k rounds each) instead of comparing two finished
    /// runs. Keep its load at or below half of the target's capacity.
    #[arg(long, value_name = "SCENARIO")]
    pub interleave: Option<PathBuf>,
    /// B runs this scenario instead (e.g. one with slower devices, to check the gate).
    #[arg(long, requires = "interleave")]
    pub scenario_b: Option<PathBuf>,
    /// Rounds per side (at least 9).
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(9..=100))]
    pub rounds: u32,
    /// Significance level of the one-sided Mann-Whitney test of B against A.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// A's gateway base URL (default: the embedded gateway of each round).
    #[arg(long, requires_all = ["token", "lwm2m_server_a"], conflicts_with = "gateway_a")]
    pub target_a: Option<String>,
    /// B's gateway base URL.
    #[arg(long, requires_all = ["token", "lwm2m_server_b"], conflicts_with = "gateway_b")]
    pub target_b: Option<String>,
    /// The API token of --target-a/--target-b.
    #[arg(long)]
    pub token: Option<String>,
    /// The LwM2M server of --target-a (coap://HOST:PORT).
    #[arg(long)]
    pub lwm2m_server_a: Option<String>,
    /// The LwM2M server of --target-b.
    #[arg(long)]
    pub lwm2m_server_b: Option<String>,
    /// A `fleetbench` binary whose `gateway` subcommand serves as A (started on free ports
    /// for the whole comparison).
    #[arg(long)]
    pub gateway_a: Option<PathBuf>,
    /// A `fleetbench` binary whose `gateway` subcommand serves as B.
    #[arg(long)]
    pub gateway_b: Option<PathBuf>,
    /// Where the round directories are written (default: a new directory under the
    /// system's temporary directory).
    #[arg(long)]
    pub rounds_dir: Option<PathBuf>,
}

/// How a side reaches its gateway.
#[derive(Debug, Clone)]
enum Target {
    Embedded,
    External {
        url: String,
        token: String,
        lwm2m: String,
    },
}

/// A gateway process, killed on drop.
struct GatewayProcess(Child);

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const GATEWAY_TOKEN: &str = "fleetbench-interleave";

/// Starts `bin gateway` on free ports and reads its `listening` line (bounded wait).
fn start_gateway(bin: &Path) -> Result<(GatewayProcess, Target), String> {
    let mut child = Command::new(bin)
        .args([
            "gateway",
            "--http",
            "127.0.0.1:0",
            "--coap",
            "127.0.0.1:0",
            "--token",
            GATEWAY_TOKEN,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {} gateway: {e}", bin.display()))?;
    let stdout = child.stdout.take();
    let process = GatewayProcess(child);
    let Some(stdout) = stdout else {
        return Err(format!("{}: no stdout", bin.display()));
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(rest) = line.strip_prefix("listening ") {
                let _ = tx.send(rest.to_owned());
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).map_err(|_| {
        format!(
            "{} gateway printed no `listening` line within 30 s",
            bin.display()
        )
    })?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
            .ok_or_else(|| format!("{} gateway: no {name}= in {line:?}", bin.display()))
    };
    let target = Target::External {
        url: field("http")?,
        lwm2m: field("coap")?,
        token: GATEWAY_TOKEN.to_owned(),
    };
    Ok((process, target))
}

/// One round's outcome.
enum Round {
    Trusted(RoundNumbers),
    Untrusted(Vec<String>),
}

/// Runs one round with `fleetbench run` and reads its numbers back.
fn run_round(scenario: &Path, target: &Target, dir: &Path) -> Result<Round, (ExitStatus, String)> {
    let exe = std::env::current_exe()
        .map_err(|e| (ExitStatus::Error, format!("cannot find this binary: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .arg(scenario)
        .arg("--run-dir")
        .arg(dir)
        .arg("--quiet")
        .arg("--no-history");
    if let Target::External { url, token, lwm2m } = target {
        cmd.args(["--target", url, "--token", token, "--lwm2m-server", lwm2m]);
    }
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| (ExitStatus::Error, format!("cannot run a round: {e}")))?;
    let code = output.status.code().unwrap_or(-1);
    if code != 0 && code != i32::from(ExitStatus::Failed.code()) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let code = if code == i32::from(ExitStatus::InvalidInput.code()) {
            ExitStatus::InvalidInput
        } else {
            ExitStatus::Error
        };
        return Err((
            code,
            format!(
                "round {} failed: {}",
                dir.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ),
        ));
    }
    let untrusted = run_untrusted_reasons(dir);
    if !untrusted.is_empty() {
        return Ok(Round::Untrusted(untrusted));
    }
    let files = load_run(dir).map_err(|e| (ExitStatus::Error, e.to_string()))?;
    let Some(total) = total_numbers(&files.hlog) else {
        return Ok(Round::Untrusted(vec![format!(
            "{}: nothing completed",
            dir.display()
        )]));
    };
    Ok(Round::Trusted(RoundNumbers {
        latency_ms: [
            total.latency_ms[0],
            total.latency_ms[1],
            total.latency_ms[2],
            total.latency_ms[3],
        ],
        rate: total.rate,
        count: total.count,
        thresholds_passed: files.summary.map(|s| s.thresholds_passed),
    }))
}

fn side_target(
    url: &Option<String>,
    lwm2m: &Option<String>,
    token: &Option<String>,
    bin: &Option<PathBuf>,
    keep: &mut Vec<GatewayProcess>,
) -> Result<Target, String> {
    if let Some(bin) = bin {
        let (process, target) = start_gateway(bin)?;
        keep.push(process);
        return Ok(target);
    }
    match (url, lwm2m, token) {
        (Some(url), Some(lwm2m), Some(token)) => Ok(Target::External {
            url: url.clone(),
            token: token.clone(),
            lwm2m: lwm2m.clone(),
        }),
        _ => Ok(Target::Embedded),
    }
}

/// Runs the interleaved comparison; the exit code is the verdict's (0, 98, 99), 2 for bad
/// input, 1 when a round cannot run.
pub fn run(
    args: &CompareArgs,
    il: &InterleaveArgs,
    scenario_a: &Path,
    judged: [bool; 4],
) -> ExitStatus {
    if !(il.alpha > 0.0 && il.alpha < 1.0) {
        eprintln!("error: --alpha {}: expected a number in (0, 1)", il.alpha);
        return ExitStatus::InvalidInput;
    }
    let scenario_b = il.scenario_b.as_deref().unwrap_or(scenario_a);
    for s in [scenario_a, scenario_b] {
        if !s.is_file() {
            eprintln!("error: {}: no such scenario file", s.display());
            return ExitStatus::InvalidInput;
        }
    }
    let dir = il.rounds_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("fleetbench-interleave-{}", std::process::id()))
    });
    if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
        eprintln!(
            "error: --rounds-dir {} exists and is not an empty directory",
            dir.display()
        );
        return ExitStatus::InvalidInput;
    }
    let mut gateways = Vec::new();
    let targets = side_target(
        &il.target_a,
        &il.lwm2m_server_a,
        &il.token,
        &il.gateway_a,
        &mut gateways,
    )
    .and_then(|a| {
        side_target(
            &il.target_b,
            &il.lwm2m_server_b,
            &il.token,
            &il.gateway_b,
            &mut gateways,
        )
        .map(|b| (a, b))
    });
    let (target_a, target_b) = match targets {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitStatus::Error;
        }
    };
    let k = il.rounds as usize;
    // Rounds whose generator fell behind are set aside and re-run, up to k more per side.
    let max_attempts = 2 * k;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut set_aside = Vec::new();
    let mut attempt = 0;
    while (a.len() < k || b.len() < k) && attempt < max_attempts {
        // Alternate the order within each pair (AB, BA, ...) so that drift hits both sides.
        let order: [(char, &Path, &Target); 2] = if attempt % 2 == 0 {
            [('a', scenario_a, &target_a), ('b', scenario_b, &target_b)]
        } else {
            [('b', scenario_b, &target_b), ('a', scenario_a, &target_a)]
        };
        for (side, scenario, target) in order {
            let list = if side == 'a' { &mut a } else { &mut b };
            if list.len() >= k {
                continue;
            }
            let round_dir = dir.join(format!("round-{attempt:02}-{side}"));
            match run_round(scenario, target, &round_dir) {
                Ok(Round::Trusted(n)) => list.push(n),
                Ok(Round::Untrusted(why)) => set_aside.extend(why),
                Err((code, e)) => {
                    eprintln!("error: {e}");
                    return code;
                }
            }
        }
        attempt += 1;
    }
    let options = InterleaveOptions {
        max_regression: args.max_regression,
        max_rate_drop: args.max_rate_drop,
        judged,
        alpha: il.alpha,
        min_rounds: k,
    };
    let result = judge_interleaved(&a, &b, &options);
    println!(
        "A: {} ({})\nB: {} ({})\nrounds in {}",
        scenario_a.display(),
        describe(&target_a),
        scenario_b.display(),
        describe(&target_b),
        dir.display()
    );
    for why in &set_aside {
        println!("set aside (generator fell behind): {why}");
    }
    print!("{}", render_interleaved(&result, a.len(), b.len()));
    super::compare::verdict_status(result.verdict)
}

fn describe(t: &Target) -> String {
    match t {
        Target::Embedded => "embedded gateway".to_owned(),
        Target::External { url, .. } => url.clone(),
    }
}
