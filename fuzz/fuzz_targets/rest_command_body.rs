//! Fuzz target `rest_command_body`: feeds the input to `fleetbench_gateway::fuzz_harness::command_body`, the same entry point the crate's
//! `tests/corpus_replay.rs` replays the seed corpus through, and crashes when an invariant
//! breaks (a panic inside the parser crashes too).
#![no_main]

use fleetbench_gateway::fuzz_harness::{self, Outcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Outcome::Violated(why) = fuzz_harness::command_body(data) {
        panic!("{why}");
    }
});
