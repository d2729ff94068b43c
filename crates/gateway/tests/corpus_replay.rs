//! Replays the committed cargo-fuzz seed corpus (`fuzz/corpus/<target>/`) through the same
//! entry points the fuzz targets call (`fuzz_harness`), so `cargo test` guards against
//! regressions without nightly or libFuzzer. Seeds named `valid-*` must be accepted and
//! `invalid-*` refused; every input (including the ones the campaign added) must keep the
//! invariants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use fleetbench_gateway::fuzz_harness::{self, Outcome};

type Harness = fn(&[u8]) -> Outcome;

/// Target, entry point, and the least number of `invalid-*` seeds it must have.
const TARGETS: [(&str, Harness, usize); 1] = [("rest_command_body", fuzz_harness::command_body, 2)];

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_seed_replays_without_violations() {
    for (target, run, least_invalid) in TARGETS {
        let dir = corpus_dir(target);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("corpus {} is missing: {err}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file())
            .collect();
        entries.sort();
        let (mut valid, mut invalid) = (0, 0);
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let data = std::fs::read(&path).unwrap();
            let outcome = run(&data);
            if let Outcome::Violated(why) = &outcome {
                panic!("{target}/{name}: invariant violated: {why}");
            }
            if name.starts_with("valid-") {
                assert_eq!(outcome, Outcome::Accepted, "{target}/{name}");
                valid += 1;
            } else if name.starts_with("invalid-") {
                assert_eq!(outcome, Outcome::Refused, "{target}/{name}");
                invalid += 1;
            }
        }
        assert!(
            valid >= 3 && invalid >= least_invalid,
            "{target}: expected at least 3 valid and {least_invalid} invalid seeds, found {valid} and {invalid}"
        );
    }
}
