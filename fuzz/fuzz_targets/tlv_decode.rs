//! Fuzz target `tlv_decode`: feeds the input to `fleetbench_lwm2m::codec::harness::tlv_decode`, the same
//! entry point `crates/lwm2m/tests/corpus_replay.rs` replays the seed corpus through, and
//! crashes when a round-trip invariant breaks (a panic inside the decoder crashes too).
#![no_main]

use fleetbench_lwm2m::codec::harness::{self, Check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Check::Violated(why) = harness::tlv_decode(data) {
        panic!("{why}");
    }
});
