//! Working with the results of finished runs: reading them back, comparing two runs against a
//! regression bound, and merging several runs into one.

pub mod compare;
pub mod health;
pub mod interleave;
pub mod intervals;
pub mod load;
pub mod merge;
pub mod rank_test;
pub mod shard_check;
pub mod tags;

pub use compare::{CompareOptions, Comparison, Verdict, compare, render_comparison};
pub use health::run_untrusted_reasons;
pub use intervals::{Interval, percentile_interval};
pub use load::{LoadError, RunFiles, load_run, read_hlog};
pub use merge::{Merged, merge_runs, merge_shards};
pub use shard_check::{MergeOptions, ShardSet, check_shards};

#[cfg(test)]
mod tests;
