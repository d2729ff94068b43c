//! CPU use of the runner process and of its generator thread, sampled once a second for
//! the live views (Linux `/proc/self/task/*/stat`; the process total from `getrusage`).

use std::time::{Duration, Instant};

/// Name (as the kernel truncates it to 15 bytes) of the generator thread.
const GENERATOR_COMM: &str = "fleetbench-gene";

/// CPU use over the last sampling interval, in percent of one core.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CpuUse {
    /// The whole runner process (every thread, the embedded gateway and fleet included).
    pub process_percent: Option<f64>,
    /// The paced generator thread(s), while an open phase runs.
    pub generator_percent: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    process: Option<Duration>,
    generator: Option<Duration>,
}

/// Turns successive readings into rates.
#[derive(Debug, Default)]
pub struct CpuSampler {
    previous: Option<Reading>,
    last: Option<CpuUse>,
}

impl CpuSampler {
    /// Reads the clocks and returns the use since the previous call.
    pub fn sample(&mut self) -> CpuUse {
        let now = Reading {
            at: Instant::now(),
            process: crate::exec::cpu::process_cpu(),
            generator: generator_cpu(),
        };
        let usage = match self.previous {
            Some(before) => {
                let wall = now.at.saturating_duration_since(before.at).as_secs_f64();
                let rate = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
                    (Some(a), Some(b)) if wall > 0.0 && b >= a => {
                        Some(100.0 * (b - a).as_secs_f64() / wall)
                    }
                    _ => None,
                };
                CpuUse {
                    process_percent: rate(before.process, now.process),
                    generator_percent: rate(before.generator, now.generator),
                }
            }
            None => CpuUse {
                process_percent: None,
                generator_percent: None,
            },
        };
        self.previous = Some(now);
        self.last = Some(usage);
        usage
    }

    /// The use computed by the last [`CpuSampler::sample`].
    pub fn last(&self) -> Option<CpuUse> {
        self.last
    }
}

/// CPU time of the generator thread(s) alive now; `None` when there is none (closed
/// phases, between phases, or not Linux).
fn generator_cpu() -> Option<Duration> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let tick = clock_tick()?;
    let mut total = None::<Duration>;
    for task in tasks.flatten() {
        let path = task.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim_end() != GENERATOR_COMM {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        if let Some(ticks) = stat_cpu_ticks(&stat) {
            *total.get_or_insert(Duration::ZERO) += tick * u32::try_from(ticks).unwrap_or(u32::MAX);
        }
    }
    total
}

fn clock_tick() -> Option<Duration> {
    // SAFETY: sysconf takes an integer name and touches no memory.
    #[allow(unsafe_code)]
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| Duration::from_secs(1) / u32::try_from(hz).unwrap_or(100))
}

/// utime + stime (fields 14 and 15) of a `/proc/.../stat` line; the command name (field
/// 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "4242 (fleetbench gen) S 1 2 3 4 5 6 7 8 9 10 123 45 0 0 20 0 1 0";
        assert_eq!(stat_cpu_ticks(line), Some(168));
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn the_first_sample_has_no_rate_and_the_second_has_one() {
        let mut s = CpuSampler::default();
        assert_eq!(s.sample().process_percent, None);
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let second = s.sample();
        assert!(
            second.process_percent.is_some_and(|p| p >= 0.0),
            "{second:?}"
        );
        assert_eq!(s.last(), Some(second));
    }
}
