//! Fuzz target `device_datagram`: one datagram through the CoAP message layer into a
//! simulated fleet device (`fleetbench_fleet::fuzzing::device_datagram`, also replayed over
//! the seeds in `crates/fleet/fuzz-seeds/device_datagram/` by the fleet crate's tests).
//! Crashes on a panic or when the device makes the endpoint send an undecodable datagram.
//!
//!   RUSTC_BOOTSTRAP=1 cargo fuzz run device_datagram ../crates/fleet/fuzz-seeds/device_datagram
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = fleetbench_fleet::fuzzing::device_datagram(data) {
        panic!("{why}");
    }
});
