//! Interleaved verdicts on per-round numbers built by hand.

#![allow(clippy::unwrap_used)]

use super::*;

fn rounds(p50s: &[f64]) -> Vec<RoundNumbers> {
    p50s.iter()
        .map(|&p50| RoundNumbers {
            latency_ms: [p50, p50 * 1.2, p50 * 1.5, p50 * 2.0],
            rate: 100.0,
            count: 800,
            thresholds_passed: Some(true),
        })
        .collect()
}

fn options() -> InterleaveOptions {
    InterleaveOptions {
        max_regression: 0.10,
        max_rate_drop: 0.10,
        judged: [true, true, false, false],
        alpha: 0.01,
        min_rounds: 9,
    }
}

const A: [f64; 9] = [9.3, 9.5, 9.2, 9.6, 9.4, 9.3, 9.5, 9.4, 9.6];

#[test]
fn the_same_target_against_itself_passes() {
    let b = [9.4, 9.3, 9.6, 9.2, 9.5, 9.5, 9.3, 9.6, 9.4];
    let r = judge_interleaved(&rounds(&A), &rounds(&b), &options());
    assert_eq!(r.verdict, Verdict::Pass, "{}", render_interleaved(&r, 9, 9));
}

#[test]
fn a_consistent_25_percent_shift_is_a_regression() {
    let b: Vec<f64> = A.iter().map(|v| v * 1.25).collect();
    let r = judge_interleaved(&rounds(&A), &rounds(&b), &options());
    assert_eq!(
        r.verdict,
        Verdict::Regression,
        "{}",
        render_interleaved(&r, 9, 9)
    );
    let p50 = &r.stats[0];
    assert!((p50.change - 0.25).abs() < 0.01);
    assert!((p50.p_value - 1.0 / 48_620.0).abs() < 1e-9, "{p50:?}");
}

#[test]
fn a_significant_shift_below_the_floor_passes() {
    let b: Vec<f64> = A.iter().map(|v| v * 1.05).collect();
    let r = judge_interleaved(&rounds(&A), &rounds(&b), &options());
    assert!(r.stats[0].p_value < 0.01);
    assert_eq!(r.verdict, Verdict::Pass, "{}", render_interleaved(&r, 9, 9));
}

#[test]
fn a_large_but_unsupported_change_is_inconclusive() {
    // Two B rounds hit by a noisy neighbour: the median moves, the ranks do not separate.
    let b = [9.4, 9.3, 30.0, 9.2, 30.0, 12.0, 11.0, 9.6, 10.9];
    let r = judge_interleaved(&rounds(&A), &rounds(&b), &options());
    assert_eq!(
        r.verdict,
        Verdict::Inconclusive,
        "{}",
        render_interleaved(&r, 9, 9)
    );
}

#[test]
fn a_moving_control_is_inconclusive() {
    // A's even rounds are 30 % slower than its odd rounds: the machine cannot resolve 10 %.
    let a = [12.0, 9.3, 12.1, 9.4, 12.2, 9.2, 12.0, 9.5, 12.3];
    let r = judge_interleaved(&rounds(&a), &rounds(&a), &options());
    assert_eq!(
        r.verdict,
        Verdict::Inconclusive,
        "{}",
        render_interleaved(&r, 9, 9)
    );
    assert!(render_interleaved(&r, 9, 9).contains("the control moved"));
}

#[test]
fn too_few_rounds_or_failed_thresholds_decide_the_verdict() {
    let r = judge_interleaved(&rounds(&A[..5]), &rounds(&A), &options());
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert!(r.notes[0].contains("too few trusted rounds"));
    let mut b = rounds(&A);
    b[3].thresholds_passed = Some(false);
    let r = judge_interleaved(&rounds(&A), &b, &options());
    assert_eq!(r.verdict, Verdict::Regression);
    let r = judge_interleaved(&b, &rounds(&A), &options());
    assert_eq!(r.verdict, Verdict::Inconclusive);
}

#[test]
fn a_rate_drop_is_a_regression() {
    let mut b = rounds(&A);
    for r in &mut b {
        r.rate = 70.0;
    }
    let r = judge_interleaved(&rounds(&A), &b, &options());
    assert_eq!(
        r.verdict,
        Verdict::Regression,
        "{}",
        render_interleaved(&r, 9, 9)
    );
    assert_eq!(r.stats.last().unwrap().name, "rate");
}
