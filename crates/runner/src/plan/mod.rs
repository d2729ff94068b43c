//! The command plan: deterministic from the scenario seed. For each open phase it yields,
//! lazily and in order, the intended send time, the command (by weight) and the target (by
//! the command's selector). Closed phases get per-worker choosers.

mod arrivals;
pub mod rng;
pub mod shard;
mod targets;

use std::time::Duration;

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_chacha::ChaCha8Rng;

pub use arrivals::Arrivals;
pub use shard::{Shard, ShardError};
pub use targets::{CandidateSpace, TargetKind, TargetRef};

use crate::scenario::{LoadModel, Scenario};
use rng::{Purpose, stream};

/// Why a plan could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// A command selects no device at all.
    #[error("commands[{index}] ({label}) selects no target device")]
    NoTargets {
        /// Index of the command.
        index: usize,
        /// Its label.
        label: String,
    },
    /// The weights cannot be sampled.
    #[error("invalid command weights: {0}")]
    Weights(String),
}

/// One command the plan wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedCommand {
    /// Position within its phase (0-based).
    pub seq: u64,
    /// Phase index.
    pub phase: usize,
    /// Intended send time, from the start of the run.
    pub at: Duration,
    /// Index into `Scenario::commands`.
    pub command: usize,
    /// The device it goes to.
    pub target: TargetRef,
}

/// Picks commands by weight and targets by selector, from its own seeded streams.
#[derive(Debug, Clone)]
pub struct Chooser {
    weights: WeightedIndex<f64>,
    spaces: Vec<CandidateSpace>,
    command_rng: ChaCha8Rng,
    target_rng: ChaCha8Rng,
}

impl Chooser {
    /// The next (command index, target).
    pub fn next_choice(&mut self) -> (usize, TargetRef) {
        let command = self.weights.sample(&mut self.command_rng);
        // Spaces are checked non-empty when the plan is built.
        let target = self.spaces[command]
            .pick(&mut self.target_rng)
            .unwrap_or(TargetRef {
                class: 0,
                device: 0,
                sub: None,
            });
        (command, target)
    }
}

/// A phase as the plan sees it.
#[derive(Debug, Clone)]
pub struct PlannedPhase {
    /// Name.
    pub name: String,
    /// Start, from the start of the run.
    pub start: Duration,
    /// Length.
    pub duration: Duration,
    /// Load model.
    pub load: LoadModel,
}

/// The whole plan. Cheap to build; generates commands on demand.
#[derive(Debug, Clone)]
pub struct Plan {
    seed: u64,
    phases: Vec<PlannedPhase>,
    weights: WeightedIndex<f64>,
    spaces: Vec<CandidateSpace>,
    shard: Shard,
}

impl Plan {
    /// Builds the plan of `scenario`.
    pub fn new(scenario: &Scenario) -> Result<Plan, PlanError> {
        let weights = WeightedIndex::new(scenario.commands.iter().map(|c| c.weight))
            .map_err(|e| PlanError::Weights(e.to_string()))?;
        let mut spaces = Vec::with_capacity(scenario.commands.len());
        for (index, command) in scenario.commands.iter().enumerate() {
            let mut rng = stream(scenario.seed, Purpose::TargetSubset, &[index as u64]);
            let space = CandidateSpace::new(&scenario.fleet, &command.targets, &mut rng);
            if space.is_empty() {
                return Err(PlanError::NoTargets {
                    index,
                    label: command.label.clone(),
                });
            }
            spaces.push(space);
        }
        let mut start = Duration::ZERO;
        let mut phases = Vec::with_capacity(scenario.phases.len());
        for p in &scenario.phases {
            phases.push(PlannedPhase {
                name: p.name.clone(),
                start,
                duration: p.duration,
                load: p.load.clone(),
            });
            start = start.saturating_add(p.duration);
        }
        Ok(Plan {
            seed: scenario.seed,
            phases,
            weights,
            spaces,
            shard: Shard::WHOLE,
        })
    }

    /// This plan restricted to `shard`'s share (see [`shard`]): the full plan is still
    /// generated, and only the shard's commands and closed-model workers are kept.
    pub fn with_shard(mut self, shard: Shard) -> Plan {
        self.shard = shard;
        self
    }

    /// The shard this plan is restricted to ([`Shard::WHOLE`] by default).
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The phases, with their start offsets.
    pub fn phases(&self) -> &[PlannedPhase] {
        &self.phases
    }

    /// Total planned duration.
    pub fn duration(&self) -> Duration {
        self.phases
            .last()
            .map_or(Duration::ZERO, |p| p.start.saturating_add(p.duration))
    }

    /// A chooser for `phase` and `stream_id` (0 for an open phase; the worker index for a
    /// closed one).
    pub fn chooser(&self, phase: usize, stream_id: u64) -> Chooser {
        let ids = [phase as u64, stream_id];
        Chooser {
            weights: self.weights.clone(),
            spaces: self.spaces.clone(),
            command_rng: stream(self.seed, Purpose::CommandChoice, &ids),
            target_rng: stream(self.seed, Purpose::TargetChoice, &ids),
        }
    }

    /// The commands of open phase `phase`, lazily, in intended-time order (empty for a closed
    /// phase or an index out of range).
    pub fn phase_commands(&self, phase: usize) -> PhaseCommands {
        let (arrivals, start) = match self.phases.get(phase) {
            Some(p) => (
                Arrivals::new(
                    &p.load,
                    p.duration,
                    stream(self.seed, Purpose::Arrivals, &[phase as u64]),
                ),
                p.start,
            ),
            None => (
                Arrivals::new(
                    &LoadModel::Closed {
                        concurrency: 1,
                        think_time: Duration::ZERO,
                    },
                    Duration::ZERO,
                    stream(0, Purpose::Arrivals, &[]),
                ),
                Duration::ZERO,
            ),
        };
        PhaseCommands {
            phase,
            start,
            arrivals,
            chooser: self.chooser(phase, 0),
            seq: 0,
            shard: self.shard,
        }
    }

    /// Every open-phase command of the run, lazily, in order.
    pub fn commands(&self) -> impl Iterator<Item = PlannedCommand> + '_ {
        (0..self.phases.len()).flat_map(|p| self.phase_commands(p))
    }
}

/// Lazy iterator over one open phase's commands.
#[derive(Debug, Clone)]
pub struct PhaseCommands {
    phase: usize,
    start: Duration,
    arrivals: Arrivals,
    chooser: Chooser,
    seq: u64,
    shard: Shard,
}

impl Iterator for PhaseCommands {
    type Item = PlannedCommand;

    fn next(&mut self) -> Option<PlannedCommand> {
        loop {
            // Every command of the phase is drawn, in order, so the random streams stay
            // those of the single run; other shards' commands are skipped.
            let offset = self.arrivals.next()?;
            let (command, target) = self.chooser.next_choice();
            let seq = self.seq;
            self.seq += 1;
            if self.shard.owns_command(seq) {
                return Some(PlannedCommand {
                    seq,
                    phase: self.phase,
                    at: self.start.saturating_add(offset),
                    command,
                    target,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
