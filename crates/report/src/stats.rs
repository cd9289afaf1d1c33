//! Statistics over seeds (docs/report.md §2): mean and sample standard deviation, percentile
//! bootstrap intervals with a seeded generator (lssg-core's `SplitMix64` and `percentile`), and
//! the paired tests (Wilcoxon signed-rank, sign test, probability of improvement). Pure and
//! deterministic: the same inputs and bootstrap seed give the same numbers on every machine.

use lssg_core::percentile;
use lssg_core::seed::SplitMix64;
use serde::{Deserialize, Serialize};

/// A two-sided interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Interval {
    /// The interval scaled by `factor` (fractions to percent).
    pub fn scaled(self, factor: f64) -> Self {
        Self { lo: self.lo * factor, hi: self.hi * factor }
    }

    /// Whether `x` lies in the closed interval.
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// Arithmetic mean; `None` for no values.
pub fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() { None } else { Some(xs.iter().sum::<f64>() / xs.len() as f64) }
}

/// Sample standard deviation `sqrt(Σ (x − mean)² / (n − 1))`; 0 for one value, `None` for none.
pub fn sample_std(xs: &[f64]) -> Option<f64> {
    let m = mean(xs)?;
    if xs.len() == 1 {
        return Some(0.0);
    }
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (xs.len() - 1) as f64).sqrt())
}

/// The central `confidence` percentile interval of `values` (NaNs dropped, order irrelevant);
/// `None` when no finite value is left.
pub fn percentile_interval(values: &mut Vec<f64>, confidence: f64) -> Option<Interval> {
    values.retain(|v| !v.is_nan());
    values.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    Some(Interval { lo: percentile(values, alpha)?, hi: percentile(values, 1.0 - alpha)? })
}

/// Percentile bootstrap interval of the mean of `xs` (docs/report.md §2.2): `resamples`
/// resamples of `xs.len()` values drawn with replacement, resample `r` using
/// [`SplitMix64::stream`]`(seed, r)`, and the central `confidence` interval of their means.
/// `None` for no values or no resamples.
pub fn bootstrap_mean_ci(xs: &[f64], resamples: usize, seed: u64, confidence: f64) -> Option<Interval> {
    if xs.is_empty() || resamples == 0 {
        return None;
    }
    let mut means: Vec<f64> = (0..resamples)
        .map(|r| {
            let mut rng = SplitMix64::stream(seed, r as u64);
            (0..xs.len()).map(|_| xs[rng.below(xs.len())]).sum::<f64>() / xs.len() as f64
        })
        .collect();
    percentile_interval(&mut means, confidence)
}

/// Paired bootstrap over seeds: the bootstrap interval of the mean of the per-seed
/// differences `a[i] − b[i]` (docs/report.md §2.2). `None` when the lengths differ or are 0.
pub fn paired_bootstrap_ci(a: &[f64], b: &[f64], resamples: usize, seed: u64, confidence: f64) -> Option<Interval> {
    if a.len() != b.len() {
        return None;
    }
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    bootstrap_mean_ci(&diffs, resamples, seed, confidence)
}

/// Ranks of `values` (1-based), ties given their average rank, and the tie group sizes.
pub(crate) fn average_ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        ties.push(end - start);
        start = end;
    }
    (ranks, ties)
}

/// The largest sample size for which [`wilcoxon_signed_rank`] enumerates the exact
/// distribution (2^25 sign patterns still fit the counts in a `u64`).
pub const WILCOXON_EXACT_MAX_N: usize = 25;

/// Two-sided p-value of the Wilcoxon signed-rank test that the differences are centred on 0
/// (docs/report.md §2.3). Zero differences are dropped first (Wilcoxon's original method);
/// with none left the p-value is 1. Without ties among `|d|` and at most
/// [`WILCOXON_EXACT_MAX_N`] differences the exact null distribution of `W+` is counted by
/// dynamic programming over rank sums, p = min(1, 2 · min(P(W+ ≤ w), P(W+ ≥ w))); otherwise
/// the normal approximation with the tie-corrected variance and no continuity correction.
pub fn wilcoxon_signed_rank(diffs: &[f64]) -> f64 {
    let nonzero: Vec<f64> = diffs.iter().copied().filter(|d| *d != 0.0 && !d.is_nan()).collect();
    let n = nonzero.len();
    if n == 0 {
        return 1.0;
    }
    let abs: Vec<f64> = nonzero.iter().map(|d| d.abs()).collect();
    let (ranks, ties) = average_ranks(&abs);
    let w_plus: f64 = nonzero.iter().zip(&ranks).filter(|(d, _)| **d > 0.0).map(|(_, r)| r).sum();
    let has_ties = ties.iter().any(|&t| t > 1);
    if n <= WILCOXON_EXACT_MAX_N && !has_ties {
        return wilcoxon_exact(n, w_plus.round() as usize);
    }
    let nf = n as f64;
    let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum::<f64>() / 48.0;
    let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term;
    if var <= 0.0 {
        return 1.0;
    }
    let z = (w_plus - nf * (nf + 1.0) / 4.0) / var.sqrt();
    erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// Exact two-sided p-value of `W+ = w` for `n` untied ranks 1..=n.
fn wilcoxon_exact(n: usize, w: usize) -> f64 {
    let max = n * (n + 1) / 2;
    // counts[s] = number of sign patterns whose positive ranks sum to s
    let mut counts = vec![0u64; max + 1];
    counts[0] = 1;
    for rank in 1..=n {
        for s in (rank..=max).rev() {
            counts[s] += counts[s - rank];
        }
    }
    let total = (1u64 << n) as f64;
    let w = w.min(max);
    let lower: u64 = counts[..=w].iter().sum();
    let upper: u64 = counts[w..].iter().sum();
    (2.0 * lower.min(upper) as f64 / total).min(1.0)
}

/// Complementary error function, Chebyshev fit with fractional error below 1.2e-7
/// (Numerical Recipes' `erfcc`), enough for p-values.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Two-sided exact sign test (docs/report.md §2.3): zero differences dropped, `k` = the rarer
/// sign's count among the `n` left, p = min(1, 2 · P(Bin(n, ½) ≤ k)); 1 when none is left.
pub fn sign_test(diffs: &[f64]) -> f64 {
    let pos = diffs.iter().filter(|d| **d > 0.0).count();
    let neg = diffs.iter().filter(|d| **d < 0.0).count();
    let n = pos + neg;
    if n == 0 {
        return 1.0;
    }
    let k = pos.min(neg);
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0;
    let mut tail = 0.0;
    for i in 0..=k {
        tail += (ln_choose - ln_half_n).exp();
        ln_choose += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
    }
    (2.0 * tail).min(1.0)
}

/// Probability of improvement: the fraction of seeds whose difference is positive, a zero
/// difference counting ½ (docs/report.md §2.4); `None` for no differences.
pub fn probability_of_improvement(diffs: &[f64]) -> Option<f64> {
    if diffs.is_empty() {
        return None;
    }
    let score: f64 = diffs
        .iter()
        .map(|d| {
            if *d > 0.0 {
                1.0
            } else if *d == 0.0 {
                0.5
            } else {
                0.0
            }
        })
        .sum();
    Some(score / diffs.len() as f64)
}

/// Counts of positive, zero and negative differences (wins, ties, losses).
pub fn wins_ties_losses(diffs: &[f64]) -> (usize, usize, usize) {
    let wins = diffs.iter().filter(|d| **d > 0.0).count();
    let losses = diffs.iter().filter(|d| **d < 0.0).count();
    (wins, diffs.len() - wins - losses, losses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn mean_and_std_of_constructed_numbers() {
        // 2,4,4,4,5,5,7,9: mean 5, Σ(x−5)² = 32, sample variance 32/7
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&xs), Some(5.0));
        assert!(close(sample_std(&xs).unwrap(), (32.0f64 / 7.0).sqrt()));
        assert_eq!(sample_std(&[3.0]), Some(0.0));
        assert_eq!(mean(&[]), None);
        assert_eq!(sample_std(&[]), None);
        assert_eq!(sample_std(&[1.5, 1.5, 1.5]), Some(0.0));
    }

    #[test]
    fn percentile_intervals_drop_nan_and_sort() {
        let mut v = vec![5.0, f64::NAN, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile_interval(&mut v, 0.5), Some(Interval { lo: 2.0, hi: 4.0 }));
        assert_eq!(percentile_interval(&mut vec![f64::NAN], 0.95), None);
    }

    #[test]
    fn wilcoxon_exact_known_values() {
        // n = 5, all positive: W+ = 15, the single most extreme of 32 patterns, two-sided 2/32
        assert!(close(wilcoxon_signed_rank(&[1.0, 2.0, 3.0, 4.0, 5.0]), 2.0 / 32.0));
        assert!(close(wilcoxon_signed_rank(&[-1.0, -2.0, -3.0, -4.0, -5.0]), 2.0 / 32.0));
        // n = 4, ranks of negatives {1}: W+ = 9; P(W+ ≥ 9) = 2/16 (sums 9 and 10) -> p = 4/16
        assert!(close(wilcoxon_signed_rank(&[-0.1, 0.2, 0.3, 0.4]), 0.25));
        // zeros are dropped: the same as n = 5 all positive
        assert!(close(wilcoxon_signed_rank(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), 2.0 / 32.0));
        assert_eq!(wilcoxon_signed_rank(&[]), 1.0);
        assert_eq!(wilcoxon_signed_rank(&[0.0, 0.0]), 1.0);
        assert_eq!(wilcoxon_signed_rank(&[1.0]), 1.0);
    }

    #[test]
    fn wilcoxon_normal_approximation_with_ties() {
        // |d| all tied (t = 6): ranks 3.5 each, W+ = 21, mean 10.5,
        // var = 6·7·13/24 − (216 − 6)/48 = 22.75 − 4.375 = 18.375
        let d = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let z: f64 = (21.0 - 10.5) / 18.375f64.sqrt();
        let expected = erfc(z / std::f64::consts::SQRT_2);
        assert!(close(wilcoxon_signed_rank(&d), expected));
        assert!((expected - 0.014_305).abs() < 1e-5, "{expected}");
    }

    #[test]
    fn erfc_matches_tabulated_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
    }

    #[test]
    fn sign_test_known_values() {
        // 5 of 5 positive: 2 · (1/32)
        assert!(close(sign_test(&[1.0, 2.0, 3.0, 4.0, 5.0]), 0.0625));
        // 4 of 5: 2 · (1 + 5)/32 = 0.375
        assert!(close(sign_test(&[1.0, 2.0, 3.0, 4.0, -5.0]), 0.375));
        // 10 of 10: 2/1024
        assert!(close(sign_test(&[1.0; 10]), 2.0 / 1024.0));
        assert_eq!(sign_test(&[0.0, 0.0]), 1.0);
        assert_eq!(sign_test(&[1.0, -1.0]), 1.0);
    }

    #[test]
    fn probability_of_improvement_counts_ties_half() {
        assert_eq!(probability_of_improvement(&[1.0, 0.0, -1.0, 2.0]), Some(0.625));
        assert_eq!(probability_of_improvement(&[]), None);
        assert_eq!(wins_ties_losses(&[1.0, 0.0, -1.0, 2.0]), (2, 1, 1));
    }

    #[test]
    fn bootstrap_is_deterministic_and_contains_the_mean() {
        let xs = [0.5, 1.5, 0.8, 2.0, 1.2];
        let a = bootstrap_mean_ci(&xs, 2000, 7, 0.95).unwrap();
        let b = bootstrap_mean_ci(&xs, 2000, 7, 0.95).unwrap();
        assert_eq!(a, b);
        assert!(a.contains(mean(&xs).unwrap()));
        assert!(a.lo >= 0.5 && a.hi <= 2.0 && a.lo < a.hi);
        assert_ne!(a, bootstrap_mean_ci(&xs, 2000, 8, 0.95).unwrap());
    }

    #[test]
    fn bootstrap_degenerate_cases() {
        assert_eq!(bootstrap_mean_ci(&[], 100, 0, 0.95), None);
        assert_eq!(bootstrap_mean_ci(&[3.0], 100, 0, 0.95), Some(Interval { lo: 3.0, hi: 3.0 }));
        assert_eq!(bootstrap_mean_ci(&[2.0; 4], 100, 0, 0.95), Some(Interval { lo: 2.0, hi: 2.0 }));
        assert_eq!(paired_bootstrap_ci(&[1.0], &[1.0, 2.0], 10, 0, 0.95), None);
        let p = paired_bootstrap_ci(&[3.0, 4.0], &[1.0, 2.0], 50, 0, 0.95).unwrap();
        assert_eq!(p, Interval { lo: 2.0, hi: 2.0 });
    }
}
