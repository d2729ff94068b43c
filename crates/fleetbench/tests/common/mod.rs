//! Helpers of the binary tests: the `fleetbench` binary, a mock gateway in its own process,
//! scratch directories.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fleetbench"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh scratch directory (removed on drop).
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `<tmp>/fleetbench-bin-<name>-<pid>`, empty.
    pub fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("fleetbench-bin-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A path inside.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `fleetbench gateway` in its own process, killed on drop.
pub struct GatewayProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub http: String,
    /// `coap://127.0.0.1:<port>`.
    pub coap: String,
    /// The accepted token.
    pub token: String,
}

impl GatewayProcess {
    /// Starts it on free ports and waits (bounded) for its `listening` line.
    pub fn start() -> GatewayProcess {
        GatewayProcess::start_with(&[])
    }

    /// Like [`GatewayProcess::start`], with `extra` flags.
    pub fn start_with(extra: &[&str]) -> GatewayProcess {
        let token = "binary-test-token".to_owned();
        let mut child = bin()
            .args([
                "gateway",
                "--http",
                "127.0.0.1:0",
                "--coap",
                "127.0.0.1:0",
                "--token",
                &token,
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("fleetbench gateway starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(rest) = line.strip_prefix("listening ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                panic!("no `listening` line from fleetbench gateway: {e}");
            }
        };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name} missing in {line:?}"))
                .to_owned()
        };
        GatewayProcess {
            http: field("http"),
            coap: field("coap"),
            child,
            token,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` (bounded by `limit`), returning exit code, stdout, stderr.
pub fn run(args: &[&str], limit: Duration) -> (i32, String, String) {
    let mut child = bin()
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fleetbench runs");
    let (tx, rx) = mpsc::channel();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut o = String::new();
        let mut e = String::new();
        let t = std::thread::spawn(move || {
            let _ = std::io::Read::read_to_string(&mut err, &mut e);
            e
        });
        let _ = std::io::Read::read_to_string(&mut out, &mut o);
        let e = t.join().unwrap_or_default();
        let _ = tx.send((o, e));
    });
    let (stdout, stderr) = match rx.recv_timeout(limit) {
        Ok(output) => output,
        Err(_) => {
            let _ = child.kill();
            panic!("fleetbench {args:?} did not finish within {limit:?}");
        }
    };
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), stdout, stderr)
}

/// Reads a run directory's summary.json.
pub fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// A `fleetbench` process whose stdout is read line by line as it runs.
pub struct Running {
    /// The process.
    pub child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Starts the binary with `args` in the repository root.
    pub fn start(args: &[&str]) -> Running {
        let mut child = bin()
            .args(args)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fleetbench runs");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (etx, stderr) = mpsc::channel();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut e = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut e);
            let _ = etx.send(e);
        });
        Running {
            child,
            lines,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// Waits (bounded by `limit`) for a stdout line starting with `prefix`.
    pub fn wait_for_line(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line starting with {prefix:?} within {limit:?} ({e}); stdout so far:\n{}",
                        self.stdout.join("\n")
                    );
                }
            }
        }
    }

    /// Waits (bounded by `limit`) for the process to end; returns exit code, stdout, stderr.
    pub fn finish(mut self, limit: Duration) -> (i32, String, String) {
        let stderr = match self.stderr.recv_timeout(limit) {
            Ok(e) => e,
            Err(_) => {
                let _ = self.child.kill();
                panic!("fleetbench did not finish within {limit:?}");
            }
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push(line);
        }
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.stdout.join("\n"), stderr)
    }
}

/// Sends `sig` (e.g. `-TERM`) to `pid` with kill(1).
pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {sig} {pid}");
}
