//! Replays the committed cargo-fuzz seed corpus (`fuzz/corpus/<target>/`) through the same
//! entry points the fuzz targets call (`codec::harness`), so `cargo test` guards against
//! regressions without nightly or libFuzzer. Seeds named `valid-*` must be accepted; every
//! input (including any corpus files the fuzzer added) must not break an invariant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use fleetbench_lwm2m::codec::harness::{self, Check};

type Harness = fn(&[u8]) -> Check;

const TARGETS: [(&str, Harness); 5] = [
    ("tlv_decode", harness::tlv_decode),
    ("senml_json_decode", harness::senml_json_decode),
    ("senml_cbor_decode", harness::senml_cbor_decode),
    ("link_format_parse", harness::link_format_parse),
    ("block_option", harness::block_option),
];

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_seed_replays_without_violations() {
    for (target, run) in TARGETS {
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
            let check = run(&data);
            if let Check::Violated(why) = &check {
                panic!("{target}/{name}: invariant violated: {why}");
            }
            if name.starts_with("valid-") {
                assert_eq!(
                    check,
                    Check::Accepted,
                    "{target}/{name} is a valid seed but was not accepted"
                );
                valid += 1;
            } else if name.starts_with("invalid-") {
                assert!(
                    matches!(check, Check::Rejected(_)),
                    "{target}/{name} is an invalid seed but was {check:?}"
                );
                invalid += 1;
            }
        }
        assert!(
            valid >= 3 && invalid >= 2,
            "{target}: expected at least 3 valid and 2 invalid seeds, found {valid} and {invalid}"
        );
    }
}

#[test]
fn harness_reports_violations_and_rejections() {
    // The harness must be able to say "rejected": a truncated TLV header is not accepted.
    assert!(matches!(harness::tlv_decode(&[0xC8]), Check::Rejected(_)));
    assert!(matches!(harness::block_option(&[0x07]), Check::Rejected(_)));
    assert_eq!(harness::block_option(&[0x00, 0x1e]), Check::Accepted);
}
