//! What `fleetbench merge` checks before adding shards: one scenario (by hash), one seed,
//! one shard count, each index once, and every index unless a partial merge is asked for.
//! It also measures how well the shards' starts lined up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::load::{LoadError, RunFiles};
use crate::report::{self, ShardFacts};

/// How a merge treats its inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MergeOptions {
    /// Accept a subset of the shards (the result is marked partial).
    pub partial: bool,
    /// Start spread (late starts and clock offsets) above which the merge warns.
    pub max_start_spread: Duration,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            partial: false,
            max_start_spread: DEFAULT_MAX_START_SPREAD,
        }
    }
}

/// Default bound of [`MergeOptions::max_start_spread`].
pub const DEFAULT_MAX_START_SPREAD: Duration = Duration::from_secs(1);

/// What the shards of a merge were.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardSet {
    /// Number of shards of the run (0: the inputs are not shards but repeated runs).
    pub count: u32,
    /// The indices merged, ascending.
    pub indices: Vec<u32>,
    /// The indices missing (only with [`MergeOptions::partial`]).
    pub missing: Vec<u32>,
    /// Largest minus smallest `start_late_ms`, ms (None without `--start-at`).
    pub late_spread_ms: Option<f64>,
    /// Largest minus smallest clock offset to the gateway, ms.
    pub clock_spread_ms: Option<f64>,
    /// Largest offset uncertainty, ms.
    pub clock_uncertainty_ms: Option<f64>,
    /// Warnings for the merged summary.
    pub warnings: Vec<String>,
}

impl ShardSet {
    /// True when some shards are missing.
    pub fn is_partial(&self) -> bool {
        !self.missing.is_empty()
    }
}

fn refuse(path: &Path, what: impl Into<String>) -> LoadError {
    LoadError {
        file: path.to_owned(),
        what: what.into(),
    }
}

fn spread(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    (hi >= lo).then_some(hi - lo)
}

/// Checks the inputs of a merge; errors name the offending run directory.
pub fn check_shards(runs: &[RunFiles], options: &MergeOptions) -> Result<ShardSet, LoadError> {
    let mut facts: Vec<(&Path, &ShardFacts)> = Vec::new();
    let mut plain: Option<&Path> = None;
    for run in runs {
        let summary = run.summary.as_ref().ok_or_else(|| {
            refuse(
                &run.path.join(report::SUMMARY_FILE),
                "missing: merging needs each run's summary.json",
            )
        })?;
        match &summary.shard {
            Some(f) => facts.push((&run.path, f)),
            None => plain = plain.or(Some(&run.path)),
        }
    }
    let Some((first_path, first)) = facts.first().copied() else {
        return Ok(ShardSet::default()); // repeated runs of one scenario, no shards
    };
    if let Some(path) = plain {
        return Err(refuse(
            path,
            format!(
                "is not a shard (its summary.json has no `shard` block) while {} is shard {}/{}: shards and whole runs cannot be merged together",
                first_path.display(),
                first.index,
                first.count
            ),
        ));
    }
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for (path, f) in &facts {
        let differs = |what: &str, theirs: String, ours: String| {
            refuse(
                path,
                format!(
                    "{what} {theirs} differs from {ours} of {}: only shards of one run can be merged",
                    first_path.display()
                ),
            )
        };
        let run = runs.iter().find(|r| r.path == *path);
        if let Some(text) = run.and_then(|r| r.scenario.as_deref())
            && report::scenario_hash(text) != f.scenario_hash
        {
            return Err(refuse(
                path,
                format!(
                    "its {} does not match the scenario hash {} of its summary.json",
                    report::SCENARIO_FILE,
                    f.scenario_hash
                ),
            ));
        }
        if f.scenario_hash != first.scenario_hash {
            return Err(differs(
                "scenario (hash)",
                f.scenario_hash.clone(),
                first.scenario_hash.clone(),
            ));
        }
        if f.seed != first.seed {
            return Err(differs("seed", f.seed.to_string(), first.seed.to_string()));
        }
        if f.count != first.count {
            return Err(differs(
                "shard count",
                f.count.to_string(),
                first.count.to_string(),
            ));
        }
        if f.index >= f.count {
            return Err(refuse(
                path,
                format!("shard index {} is not below the count {}", f.index, f.count),
            ));
        }
        if let Some(other) = seen.insert(f.index, path) {
            return Err(refuse(
                path,
                format!(
                    "shard {}/{} is given twice (also {})",
                    f.index,
                    f.count,
                    other.display()
                ),
            ));
        }
    }
    let missing: Vec<u32> = (0..first.count).filter(|i| !seen.contains_key(i)).collect();
    let mut set = ShardSet {
        count: first.count,
        indices: seen.keys().copied().collect(),
        missing: missing.clone(),
        ..ShardSet::default()
    };
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if !options.partial {
            return Err(refuse(
                first_path,
                format!(
                    "shards {list} of {} are missing (give every shard of the run, or --partial to merge a subset)",
                    first.count
                ),
            ));
        }
        set.warnings.push(format!(
            "partial merge: shards {list} of {} are missing; counts and rates cover only the shards merged",
            first.count
        ));
    }
    let timed: Vec<&ShardFacts> = facts
        .iter()
        .map(|(_, f)| *f)
        .filter(|f| f.start_at.is_some())
        .collect();
    set.late_spread_ms = spread(timed.iter().map(|f| f.start_late_ms));
    set.clock_spread_ms = spread(facts.iter().filter_map(|(_, f)| f.clock_offset_ms));
    set.clock_uncertainty_ms = facts
        .iter()
        .filter_map(|(_, f)| f.clock_offset_uncertainty_ms)
        .reduce(f64::max);
    let bound_ms = options.max_start_spread.as_secs_f64() * 1000.0;
    if let Some(late) = set.late_spread_ms
        && late > bound_ms
    {
        set.warnings.push(format!(
            "start skew: the shards started up to {late:.1} ms apart after --start-at (bound {bound_ms:.0} ms); open-model phases did not line up"
        ));
    }
    if let Some(clock) = set.clock_spread_ms
        && clock > bound_ms + 2.0 * set.clock_uncertainty_ms.unwrap_or(0.0)
    {
        set.warnings.push(format!(
            "clock skew: the shards' clocks differ by about {clock:.0} ms relative to the gateway (bound {bound_ms:.0} ms); --start-at meant different instants"
        ));
    }
    if timed.len() != facts.len() && !timed.is_empty() {
        set.warnings
            .push("start skew: only some shards were started with --start-at".to_owned());
    }
    Ok(set)
}
