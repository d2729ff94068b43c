//! Thresholds at their bounds, for every operator: `holds` at, just below and just above the
//! bound, and the early-abort rule `failed_for_good` checked against its definition (a rule on
//! a value that only grows has failed for good exactly when no value at or above the current
//! one could satisfy it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use fleetbench_runner::scenario::threshold::parse_threshold;

const OPERATORS: [&str; 6] = ["<", "<=", ">", ">=", "==", "!="];

/// What each operator means, written independently of the code under test.
fn expected_holds(op: &str, value: f64, bound: f64) -> bool {
    match op {
        "<" => value < bound,
        "<=" => value <= bound,
        ">" => value > bound,
        ">=" => value >= bound,
        "==" => value == bound,
        "!=" => value != bound,
        other => panic!("unknown operator {other}"),
    }
}

/// Values around a bound: below, at and above, with the smallest steps a counter can take.
fn around(bound: f64) -> Vec<f64> {
    vec![
        0.0,
        bound - 1.0,
        bound - 0.5,
        bound,
        bound + 0.5,
        bound + 1.0,
        bound + 1000.0,
    ]
    .into_iter()
    .filter(|v| *v >= 0.0)
    .collect()
}

#[test]
fn every_operator_holds_exactly_as_written_at_its_bound() {
    for bound in [0.0, 1.0, 100.0] {
        for op in OPERATORS {
            let threshold = parse_threshold(&format!("sent {op} {bound}")).unwrap();
            for value in around(bound) {
                assert_eq!(
                    threshold.op.holds(value, threshold.bound),
                    expected_holds(op, value, bound),
                    "sent {op} {bound} at {value}"
                );
            }
        }
    }
}

#[test]
fn a_growing_counter_fails_for_good_exactly_when_no_larger_value_can_pass() {
    for counter in ["dropped", "fails", "sent", "timeouts", "http_errors"] {
        for bound in [0.0, 1.0, 100.0] {
            for op in OPERATORS {
                let threshold = parse_threshold(&format!("{counter} {op} {bound}")).unwrap();
                for value in around(bound) {
                    // The counter can still take any value >= `value`.
                    let can_still_pass = around(bound)
                        .into_iter()
                        .chain([value])
                        .filter(|later| *later >= value)
                        .any(|later| expected_holds(op, later, bound));
                    let upper_bound = matches!(op, "<" | "<=" | "==");
                    assert_eq!(
                        threshold.failed_for_good(value),
                        upper_bound && !can_still_pass,
                        "{counter} {op} {bound} at {value}"
                    );
                }
            }
        }
    }
}

#[test]
fn dropped_equal_zero_is_not_lost_while_nothing_was_dropped() {
    let threshold = parse_threshold("dropped == 0").unwrap();
    assert!(!threshold.failed_for_good(0.0));
    assert!(threshold.failed_for_good(1.0));
}

#[test]
fn a_maximum_fails_for_good_above_its_bound_and_a_percentile_never_early() {
    let max = parse_threshold("latency.max <= 1s").unwrap();
    assert!(!max.failed_for_good(1000.0), "at the bound it still passes");
    assert!(max.failed_for_good(1000.001));
    let max_lt = parse_threshold("latency.max < 1s").unwrap();
    assert!(max_lt.failed_for_good(1000.0), "< fails at the bound");
    assert!(!max_lt.failed_for_good(999.999));
    let p99 = parse_threshold("latency.p99 < 1s").unwrap();
    assert!(
        !p99.failed_for_good(1e9),
        "a percentile can still come down: never decided early"
    );
    let rate = parse_threshold("success_rate > 0.99").unwrap();
    assert!(!rate.failed_for_good(0.0), "a ratio can move either way");
}
