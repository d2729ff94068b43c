//! The Mann-Whitney U (Wilcoxon rank-sum) test of two small samples, exact with ties: the
//! null distribution of the rank sum is counted over every way of choosing which values
//! belong to the first sample (dynamic programming over mid-ranks), so no table and no
//! normal approximation are needed for the sample sizes of an interleaved comparison
//! (up to [`EXACT_MAX`] values in all; beyond, the normal approximation with tie correction).

/// Largest total number of values tested exactly.
pub const EXACT_MAX: usize = 120;

/// The result of a test of `x` against `y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankTest {
    /// U of `y`: the number of pairs (x, y) with y > x, ties counting ½.
    pub u_y: f64,
    /// P(U_y ≥ observed) under the null hypothesis: the one-sided p-value of "y tends to be
    /// larger than x".
    pub p_greater: f64,
    /// The two-sided p-value.
    pub p_two_sided: f64,
}

/// Mid-ranks (1-based, ties get the mean of their ranks) of `values`, doubled so that they
/// are integers.
fn doubled_mid_ranks(values: &[f64]) -> Vec<u64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0u64; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1: their mean doubled is (i + 1) + (j + 1).
        let doubled = (i + 1 + j + 1) as u64;
        for &k in &order[i..=j] {
            ranks[k] = doubled;
        }
        i = j + 1;
    }
    ranks
}

/// Exact null distribution: `counts[s]` = number of ways to choose `m` of the doubled
/// ranks with sum `s`.
fn rank_sum_counts(ranks: &[u64], m: usize) -> Vec<f64> {
    let total: u64 = ranks.iter().sum();
    let width = usize::try_from(total).unwrap_or(usize::MAX / 2) + 1;
    // ways[j][s]: choose j of the ranks seen so far with doubled sum s.
    let mut ways = vec![vec![0.0f64; width]; m + 1];
    ways[0][0] = 1.0;
    for &r in ranks {
        let r = usize::try_from(r).unwrap_or(width);
        for j in (1..=m).rev() {
            let (lower, upper) = ways.split_at_mut(j);
            let (from, to) = (&lower[j - 1], &mut upper[0]);
            for s in (r..width).rev() {
                to[s] += from[s - r];
            }
        }
    }
    ways.swap_remove(m)
}

/// Standard normal upper tail P(Z ≥ z) (Abramowitz–Stegun 7.1.26 erfc, error < 1.5e-7).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * erfc
    } else {
        1.0 - 0.5 * erfc
    }
}

/// Tests whether `y` tends to be larger than `x` (and the two-sided alternative). `None`
/// when either sample is empty or holds a non-finite value.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<RankTest> {
    mann_whitney_with(x, y, x.len() + y.len() <= EXACT_MAX)
}

fn mann_whitney_with(x: &[f64], y: &[f64], exact: bool) -> Option<RankTest> {
    if x.is_empty() || y.is_empty() || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let (n, m) = (x.len(), y.len());
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let ranks = doubled_mid_ranks(&all);
    let y_sum: u64 = ranks[n..].iter().sum();
    let u_y = y_sum as f64 / 2.0 - (m * (m + 1)) as f64 / 2.0;
    let (p_greater, p_less) = if exact {
        let counts = rank_sum_counts(&ranks, m);
        let total: f64 = counts.iter().sum();
        let observed = usize::try_from(y_sum).unwrap_or(usize::MAX);
        let ge: f64 = counts.iter().skip(observed).sum();
        let le: f64 = counts.iter().take(observed.saturating_add(1)).sum();
        (ge / total, le / total)
    } else {
        let (nf, mf) = (n as f64, m as f64);
        let big_n = nf + mf;
        let ties: f64 = {
            let mut sorted = all.clone();
            sorted.sort_by(f64::total_cmp);
            let mut acc = 0.0;
            let mut i = 0;
            while i < sorted.len() {
                let j = sorted[i..].iter().take_while(|v| **v == sorted[i]).count();
                let t = j as f64;
                acc += t * t * t - t;
                i += j;
            }
            acc
        };
        let var = nf * mf / 12.0 * ((big_n + 1.0) - ties / (big_n * (big_n - 1.0)));
        let mean = nf * mf / 2.0;
        if var <= 0.0 {
            (1.0, 1.0)
        } else {
            let sd = var.sqrt();
            (
                normal_upper_tail((u_y - mean - 0.5) / sd),
                1.0 - normal_upper_tail((u_y - mean + 0.5) / sd),
            )
        }
    };
    Some(RankTest {
        u_y,
        p_greater: p_greater.min(1.0),
        p_two_sided: (2.0 * p_greater.min(p_less)).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// P-value by enumerating every split (brute force, for small samples).
    fn brute_p_greater(x: &[f64], y: &[f64]) -> f64 {
        let all: Vec<f64> = x.iter().chain(y).copied().collect();
        let u = |ys: &[f64], xs: &[f64]| -> f64 {
            let mut u = 0.0;
            for a in xs {
                for b in ys {
                    u += if b > a {
                        1.0
                    } else if b == a {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            u
        };
        let observed = u(y, x);
        let n = all.len();
        let (mut hits, mut total) = (0u64, 0u64);
        for mask in 0u32..(1 << n) {
            if mask.count_ones() as usize != y.len() {
                continue;
            }
            let (ys, xs): (Vec<f64>, Vec<f64>) = {
                let mut ys = Vec::new();
                let mut xs = Vec::new();
                for (i, v) in all.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        ys.push(*v);
                    } else {
                        xs.push(*v);
                    }
                }
                (ys, xs)
            };
            total += 1;
            if u(&ys, &xs) >= observed - 1e-9 {
                hits += 1;
            }
        }
        hits as f64 / total as f64
    }

    #[test]
    fn complete_separation_of_nine_and_nine_gives_one_in_48620() {
        let x: Vec<f64> = (0..9).map(f64::from).collect();
        let y: Vec<f64> = (10..19).map(f64::from).collect();
        let t = mann_whitney(&x, &y).unwrap();
        assert_eq!(t.u_y, 81.0);
        assert!((t.p_greater - 1.0 / 48_620.0).abs() < 1e-12, "{t:?}");
        assert!((t.p_two_sided - 2.0 / 48_620.0).abs() < 1e-12);
        let back = mann_whitney(&y, &x).unwrap();
        assert!((back.p_greater - 1.0).abs() < 1e-12);
    }

    #[test]
    fn exact_p_values_with_ties_match_enumeration() {
        let cases: [(&[f64], &[f64]); 4] = [
            (&[1.0, 2.0, 3.0, 4.0, 5.0], &[3.0, 4.0, 6.0, 7.0]),
            (&[1.0, 1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0, 4.0]),
            (&[5.0, 5.0, 5.0], &[5.0, 5.0, 5.0, 5.0]),
            (
                &[9.3, 9.4, 9.3, 9.6, 9.5, 9.2],
                &[9.4, 9.9, 10.1, 9.3, 9.8, 9.7],
            ),
        ];
        for (x, y) in cases {
            let t = mann_whitney(x, y).unwrap();
            let want = brute_p_greater(x, y);
            assert!(
                (t.p_greater - want).abs() < 1e-9,
                "{x:?} {y:?}: {} vs {want}",
                t.p_greater
            );
        }
    }

    #[test]
    fn the_normal_approximation_is_close_to_exact_for_larger_samples() {
        // 40 + 40 values with ties and a moderate shift: both p-values agree closely.
        let x: Vec<f64> = (0..40).map(|i| f64::from(i % 17)).collect();
        let y: Vec<f64> = (0..40).map(|i| f64::from(i % 17) + 2.0).collect();
        let exact = mann_whitney_with(&x, &y, true).unwrap();
        let approx = mann_whitney_with(&x, &y, false).unwrap();
        assert!(
            exact.p_greater > 0.001 && exact.p_greater < 0.2,
            "{exact:?}"
        );
        assert!(
            (approx.p_greater - exact.p_greater).abs() < 0.1 * exact.p_greater,
            "{approx:?} vs {exact:?}"
        );
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-4);
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn empty_or_non_finite_samples_are_refused() {
        assert!(mann_whitney(&[], &[1.0]).is_none());
        assert!(mann_whitney(&[1.0, f64::NAN], &[1.0]).is_none());
    }
}
