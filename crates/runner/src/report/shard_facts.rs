//! The `shard` block of `summary.json`: which shard of which run this is, and how well its
//! start lined up with the others (see docs/distributed.md).

use serde::{Deserialize, Serialize};

use crate::plan::Shard;
use crate::scenario::Scenario;

/// Shard identity and start alignment of one shard's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFacts {
    /// This shard, `0..count`.
    pub index: u32,
    /// Number of shards of the run.
    pub count: u32,
    /// The scenario seed (every shard of a run must share it).
    pub seed: u64,
    /// Hash of the scenario text ([`scenario_hash`]); every shard of a run must share it.
    pub scenario_hash: String,
    /// The common start instant asked with `--start-at` (RFC 3339 UTC), if any.
    pub start_at: Option<String>,
    /// How late the first phase started after `start_at`, ms (0 without `start_at`).
    pub start_late_ms: f64,
    /// Gateway clock minus this shard's clock, ms, from the `Date` header of probe requests
    /// (None when the gateway sent none).
    pub clock_offset_ms: Option<f64>,
    /// Half-width of the offset estimate, ms (the `Date` header has 1 s resolution).
    pub clock_offset_uncertainty_ms: Option<f64>,
}

impl ShardFacts {
    /// The identity part, with no start facts yet.
    pub fn new(shard: Shard, scenario: &Scenario) -> ShardFacts {
        ShardFacts {
            index: shard.index,
            count: shard.count,
            seed: scenario.seed,
            scenario_hash: scenario_hash(&scenario.source),
            start_at: None,
            start_late_ms: 0.0,
            clock_offset_ms: None,
            clock_offset_uncertainty_ms: None,
        }
    }
}

/// `fnv1a64:<16 hex digits>` of the scenario text: equal texts, equal hashes, on every
/// machine and build.
pub fn scenario_hash(text: &str) -> String {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(text.as_bytes());
    format!("fnv1a64:{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_and_tells_texts_apart() {
        // FNV-1a 64 of the empty input is its offset basis.
        assert_eq!(scenario_hash(""), "fnv1a64:cbf29ce484222325");
        assert_eq!(scenario_hash("a = 1"), scenario_hash("a = 1"));
        assert_ne!(scenario_hash("a = 1"), scenario_hash("a = 2"));
    }
}
