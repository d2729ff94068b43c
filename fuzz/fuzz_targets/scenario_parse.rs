//! Fuzz target `scenario_parse`: feeds the input to `fleetbench_runner::fuzz_harness::scenario`, the same entry point the crate's
//! `tests/corpus_replay.rs` replays the seed corpus through, and crashes when an invariant
//! breaks (a panic inside the parser crashes too).
#![no_main]

use fleetbench_runner::fuzz_harness::{self, Outcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Outcome::Violated(why) = fuzz_harness::scenario(data) {
        panic!("{why}");
    }
});
