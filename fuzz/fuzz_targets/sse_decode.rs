//! Fuzz target `sse_decode`: feeds the input to `fleetbench_runner::fuzz_harness::sse`, the same entry point the crate's
//! `tests/corpus_replay.rs` replays the seed corpus through, and crashes when an invariant
//! breaks (a panic inside the parser crashes too).
#![no_main]

use fleetbench_runner::fuzz_harness::{self, Outcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Outcome::Violated(why) = fuzz_harness::sse(data) {
        panic!("{why}");
    }
});
