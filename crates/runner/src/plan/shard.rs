//! Shards of a distributed run: shard `I` of `N` owns the commands whose position in their
//! phase's plan is `I` modulo `N`, the closed-model workers whose index is `I` modulo `N`,
//! and the devices whose index in their class is `I` modulo `N`. Every shard generates the
//! whole plan from the seed and keeps its share, so the union of the `N` shards is exactly
//! the single run's plan: same intended offsets, commands and targets.

use std::fmt;

use fleetbench_fleet::DeviceShard;

/// The environment variable a Kubernetes Indexed Job sets to the pod's completion index.
pub const COMPLETION_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// The largest shard count accepted.
pub const MAX_SHARDS: u32 = 10_000;

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// Number of shards, `1..=MAX_SHARDS`.
    pub count: u32,
}

/// Why a `--shard` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not `I/N` or `auto/N`.
    #[error("--shard {0:?}: expected I/N (e.g. 0/3) or auto/N")]
    Syntax(String),
    /// N out of range.
    #[error("--shard {text:?}: the shard count N must be between 1 and {MAX_SHARDS}")]
    Count {
        /// The value given.
        text: String,
    },
    /// I out of range.
    #[error("--shard {text:?}: the index I must be below N (shards are numbered 0..N-1)")]
    Index {
        /// The value given.
        text: String,
    },
    /// `auto/N` without the variable.
    #[error(
        "--shard {text:?}: {COMPLETION_INDEX_VAR} is not set (auto/N takes the index from a Kubernetes Indexed Job)"
    )]
    NoCompletionIndex {
        /// The value given.
        text: String,
    },
    /// `auto/N` with a variable that is not an index.
    #[error("--shard {text:?}: {COMPLETION_INDEX_VAR}={value:?} is not a shard index below N")]
    BadCompletionIndex {
        /// The value given.
        text: String,
        /// The variable's value.
        value: String,
    },
}

impl Shard {
    /// The whole run (shard 0 of 1).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N`, or `auto/N` with the index read from `completion_index` (the value of
    /// [`COMPLETION_INDEX_VAR`], if set).
    pub fn parse(text: &str, completion_index: Option<&str>) -> Result<Shard, ShardError> {
        let (index_text, count_text) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| ShardError::Syntax(text.to_owned()))?;
        let count: u32 = count_text
            .trim()
            .parse()
            .map_err(|_| ShardError::Syntax(text.to_owned()))?;
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError::Count {
                text: text.to_owned(),
            });
        }
        let index = if index_text.trim() == "auto" {
            let value = completion_index.ok_or_else(|| ShardError::NoCompletionIndex {
                text: text.to_owned(),
            })?;
            value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|i| *i < count)
                .ok_or_else(|| ShardError::BadCompletionIndex {
                    text: text.to_owned(),
                    value: value.to_owned(),
                })?
        } else {
            index_text
                .trim()
                .parse::<u32>()
                .map_err(|_| ShardError::Syntax(text.to_owned()))?
        };
        if index >= count {
            return Err(ShardError::Index {
                text: text.to_owned(),
            });
        }
        Ok(Shard { index, count })
    }

    /// Parses like [`Shard::parse`], reading [`COMPLETION_INDEX_VAR`] from the environment.
    pub fn from_arg(text: &str) -> Result<Shard, ShardError> {
        let var = std::env::var(COMPLETION_INDEX_VAR).ok();
        Shard::parse(text, var.as_deref())
    }

    /// True for the whole run.
    pub fn is_whole(&self) -> bool {
        self.count <= 1
    }

    /// Whether the command at position `seq` of its phase's plan is this shard's.
    pub fn owns_command(&self, seq: u64) -> bool {
        self.count <= 1 || seq % u64::from(self.count) == u64::from(self.index)
    }

    /// Whether closed-model worker `worker` is this shard's.
    pub fn owns_worker(&self, worker: u64) -> bool {
        self.owns_command(worker)
    }

    /// The fleet's share: the devices of each class whose index is `index` mod `count`.
    pub fn devices(&self) -> DeviceShard {
        DeviceShard {
            index: self.index as usize,
            count: self.count.max(1) as usize,
        }
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::plan::{Plan, PlannedCommand};
    use crate::scenario::Scenario;

    #[test]
    fn parses_and_refuses_with_the_value_named() {
        assert_eq!(Shard::parse("1/3", None), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            Shard::parse("auto/4", Some("3")),
            Ok(Shard { index: 3, count: 4 })
        );
        for (text, env) in [("3/3", None), ("0/0", None), ("x/2", None), ("2", None)] {
            let e = Shard::parse(text, env).unwrap_err();
            assert!(e.to_string().contains(text), "{e}");
        }
        assert!(matches!(
            Shard::parse("auto/3", None),
            Err(ShardError::NoCompletionIndex { .. })
        ));
        assert!(matches!(
            Shard::parse("auto/3", Some("3")),
            Err(ShardError::BadCompletionIndex { .. })
        ));
        assert!(matches!(
            Shard::parse("0/0", None),
            Err(ShardError::Count { .. })
        ));
        assert!(matches!(
            Shard::parse("3/3", None),
            Err(ShardError::Index { .. })
        ));
    }

    fn scenario(load: &str) -> Scenario {
        let text = format!(
            r#"
name = "shards"
seed = 11
[[phases]]
name = "warm"
duration = "2s"
load = {{ model = "constant", rate = 40 }}
[[phases]]
name = "main"
duration = "3s"
load = {load}
[[fleet.classes]]
name = "a"
count = 7
sub_devices = 2
[[fleet.classes]]
name = "b"
count = 5
[[commands]]
command_type = "reboot"
weight = 2
[[commands]]
command_type = "log_upload"
targets = {{ kind = "any", fraction = 0.5 }}
"#
        );
        Scenario::from_str(&text, "shards.toml").unwrap()
    }

    type Key = (usize, u64, u128, usize, u32, u32, Option<u16>);

    fn key(c: &PlannedCommand) -> Key {
        (
            c.phase,
            c.seq,
            c.at.as_nanos(),
            c.command,
            c.target.class,
            c.target.device,
            c.target.sub,
        )
    }

    #[test]
    fn the_union_of_the_shards_plans_is_the_single_plan() {
        for load in [
            r#"{ model = "constant", rate = 120 }"#,
            r#"{ model = "poisson", rate = 90 }"#,
            r#"{ model = "ramping", start_rate = 10, stages = [{ duration = "3s", target_rate = 200 }] }"#,
        ] {
            let s = scenario(load);
            let single: Vec<Key> = Plan::new(&s).unwrap().commands().map(|c| key(&c)).collect();
            assert!(single.len() > 100, "{load}: {}", single.len());
            for count in [1u32, 2, 3, 7] {
                let mut union: HashMap<Key, u32> = HashMap::new();
                for index in 0..count {
                    let plan = Plan::new(&s).unwrap().with_shard(Shard { index, count });
                    let mine: Vec<PlannedCommand> = plan.commands().collect();
                    let expected = single.len() as u64 / u64::from(count);
                    assert!(
                        (mine.len() as u64).abs_diff(expected) <= 2,
                        "{load} {index}/{count}: {} of {}",
                        mine.len(),
                        single.len()
                    );
                    for c in &mine {
                        *union.entry(key(c)).or_default() += 1;
                    }
                }
                assert_eq!(union.len(), single.len(), "{load} N={count}");
                assert!(union.values().all(|n| *n == 1), "{load} N={count}: twice");
                assert!(single.iter().all(|k| union.contains_key(k)), "{load}");
            }
        }
    }

    #[test]
    fn device_shards_cover_every_device_once() {
        for devices in [0usize, 1, 5, 12] {
            for count in 1..=5u32 {
                let mut seen = vec![0u32; devices];
                let mut total = 0;
                for index in 0..count {
                    let d = Shard { index, count }.devices();
                    total += d.len(devices);
                    for i in d.indices(devices) {
                        assert!(d.owns(i));
                        seen[i] += 1;
                    }
                }
                assert_eq!(total, devices);
                assert!(seen.iter().all(|n| *n == 1), "{devices} {count}: {seen:?}");
            }
        }
    }

    #[test]
    fn closed_workers_are_split() {
        let owned: Vec<u64> = (0..10)
            .filter(|w| Shard { index: 1, count: 4 }.owns_worker(*w))
            .collect();
        assert_eq!(owned, vec![1, 5, 9]);
    }
}
