//! How certain the scores are (docs/method.md §3.5): a percentile bootstrap over the scored
//! samples. Each resample draws N samples with replacement (the same draw for every
//! scenario), recomputes each D_k as the mean of the drawn per-sample values, and reruns the
//! smoothing on them; the 95 % interval of D_k and of each final probability are the 2.5 and
//! 97.5 percentiles over the resamples (lssg-core's type-7 `percentile`). Resample r draws from its own
//! ChaCha8 stream, seeded by `stream(seed, ["score-bootstrap", r])`, so the intervals do not
//! depend on anything but the values, the seed and the resample count.

use lssg_core::percentile;
use lssg_core::seed::stream;
use lssg_scenario::ModalitySet;
use lssg_smoothing::SmoothingConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Intervals of the scores and of the distribution built from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreIntervals {
    /// Resamples drawn.
    pub resamples: usize,
    /// Coverage (0.95).
    pub confidence: f64,
    /// Lower and upper bound of each D_k, canonical order.
    pub distortion: [Vec<f64>; 2],
    /// Lower and upper bound of each final probability.
    pub probabilities: [Vec<f64>; 2],
}

/// The intervals of the mean over samples of `per_sample` (`[N][S]`, one row per sample) and
/// of the smoothed distribution, from `resamples` bootstrap resamples seeded by `seed`.
/// Negative means (possible for task scores) are clamped at 0 before smoothing, as for the
/// point estimate.
pub fn score_intervals(
    per_sample: &[Vec<f64>],
    set: &ModalitySet,
    smoothing: &SmoothingConfig,
    resamples: usize,
    seed: u64,
    confidence: f64,
) -> Result<ScoreIntervals> {
    let n = per_sample.len();
    let s = set.num_scenarios();
    let mut d_draws: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); s];
    let mut p_draws: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); s];
    let mut means = vec![0f64; s];
    for r in 0..resamples {
        let mut rng = ChaCha8Rng::seed_from_u64(stream(seed, &["score-bootstrap", &r.to_string()]));
        means.iter_mut().for_each(|m| *m = 0.0);
        for _ in 0..n {
            let row = &per_sample[rng.gen_range(0..n)];
            for (m, v) in means.iter_mut().zip(row) {
                *m += v;
            }
        }
        means.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let clamped: Vec<f64> = means.iter().map(|m| m.max(0.0)).collect();
        let p = lssg_smoothing::smooth(&clamped, set, smoothing)?.probabilities;
        for k in 0..s {
            d_draws[k].push(means[k]);
            p_draws[k].push(p[k]);
        }
    }
    let alpha = (1.0 - confidence) / 2.0;
    let bounds = |draws: &mut [Vec<f64>]| -> [Vec<f64>; 2] {
        let mut lo = Vec::with_capacity(s);
        let mut hi = Vec::with_capacity(s);
        for d in draws.iter_mut() {
            d.sort_by(f64::total_cmp);
            // No resample (resamples = 0) leaves the bounds undefined.
            lo.push(percentile(d, alpha).unwrap_or(f64::NAN));
            hi.push(percentile(d, 1.0 - alpha).unwrap_or(f64::NAN));
        }
        [lo, hi]
    };
    Ok(ScoreIntervals { resamples, confidence, distortion: bounds(&mut d_draws), probabilities: bounds(&mut p_draws) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a constructed population (per-sample values ~ Exponential, so the mean is known),
    /// the 95 % interval covers the true mean at close to the nominal rate over many
    /// independent data sets.
    #[test]
    fn intervals_cover_the_true_mean_at_the_nominal_rate() {
        let set = ModalitySet::from_names(["a", "b"], 2).unwrap();
        let smoothing = SmoothingConfig::default();
        let true_mean = [1.0, 0.5, 0.0];
        let (repetitions, n) = (300, 60);
        let mut covered = [0usize; 3];
        for rep in 0..repetitions {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 + rep as u64);
            let rows: Vec<Vec<f64>> =
                (0..n).map(|_| true_mean.iter().map(|m| -m * (1.0 - rng.r#gen::<f64>()).ln()).collect()).collect();
            let ci = score_intervals(&rows, &set, &smoothing, 400, rep as u64, 0.95).unwrap();
            for k in 0..3 {
                if ci.distortion[0][k] <= true_mean[k] && true_mean[k] <= ci.distortion[1][k] {
                    covered[k] += 1;
                }
            }
        }
        // The full scenario's values are all 0: its interval is [0, 0] and always covers.
        assert_eq!(covered[2], repetitions);
        for (k, &hits) in covered.iter().enumerate().take(2) {
            let rate = hits as f64 / repetitions as f64;
            // Percentile intervals of a skewed mean undercover slightly at n = 60; the binomial
            // standard error of the rate is 1.3 points.
            assert!((0.89..=0.985).contains(&rate), "scenario {k}: coverage {rate}");
        }
    }

    #[test]
    fn same_seed_same_intervals_and_probabilities_stay_in_range() {
        let set = ModalitySet::from_names(["a", "b"], 2).unwrap();
        let rows: Vec<Vec<f64>> = (0..20).map(|i| vec![1.0 + (i % 3) as f64, 0.2 * (i % 5) as f64, 0.0]).collect();
        let a = score_intervals(&rows, &set, &SmoothingConfig::default(), 200, 7, 0.95).unwrap();
        assert_eq!(a, score_intervals(&rows, &set, &SmoothingConfig::default(), 200, 7, 0.95).unwrap());
        assert_ne!(a, score_intervals(&rows, &set, &SmoothingConfig::default(), 200, 8, 0.95).unwrap());
        for k in 0..3 {
            assert!(a.distortion[0][k] <= a.distortion[1][k]);
            assert!(0.0 <= a.probabilities[0][k] && a.probabilities[1][k] <= 1.0);
        }
    }
}
