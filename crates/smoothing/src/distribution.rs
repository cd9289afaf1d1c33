//! From smoothed scores r to the sampling distribution (docs/method.md §4), all `[S]` float64:
//!
//! - z = (r − mean r) / std r, population std; z = 0 when std < 1e-12;
//! - s = softmax(τ z), with the maximum subtracted first so exp never overflows;
//! - p = (1 − γ)/S + γ s, renormalised to sum to exactly 1 up to rounding.

use ndarray::{Array1, ArrayView1};

/// Below this population standard deviation r is treated as constant and z = 0.
pub const MIN_STD: f64 = 1e-12;

/// z-scores with the population standard deviation; all zeros when std < [`MIN_STD`].
pub fn z_scores(r: ArrayView1<'_, f64>) -> Array1<f64> {
    let n = r.len() as f64;
    let mean = r.sum() / n;
    let var = r.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    if std < MIN_STD { Array1::zeros(r.len()) } else { r.mapv(|v| (v - mean) / std) }
}

/// softmax(τ z), subtracting max(τ z) first.
pub fn softmax(z: ArrayView1<'_, f64>, tau: f64) -> Array1<f64> {
    let max = z.iter().map(|v| tau * v).fold(f64::NEG_INFINITY, f64::max);
    let mut e = z.mapv(|v| (tau * v - max).exp());
    let sum = e.sum();
    e /= sum;
    e
}

/// p = (1 − γ)/S + γ s, renormalised.
pub fn floor_mix(s: ArrayView1<'_, f64>, gamma: f64) -> Array1<f64> {
    let floor = (1.0 - gamma) / s.len() as f64;
    let mut p = s.mapv(|v| floor + gamma * v);
    let sum = p.sum();
    p /= sum;
    p
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn z_scores_use_the_population_std() {
        let z = z_scores(array![1.0, 2.0, 3.0].view());
        let want = 1.0 / (2.0f64 / 3.0).sqrt();
        assert!((z[0] + want).abs() < 1e-15 && z[1].abs() < 1e-15 && (z[2] - want).abs() < 1e-15, "{z}");
        assert_eq!(z_scores(array![0.3, 0.3, 0.3 + 1e-14].view()), array![0.0, 0.0, 0.0]);
    }

    #[test]
    fn softmax_is_stable_for_huge_inputs() {
        let s = softmax(array![1000.0, 1000.0, 0.0].view(), 1.0);
        assert!((s[0] - 0.5).abs() < 1e-15 && (s[1] - 0.5).abs() < 1e-15 && s[2] >= 0.0, "{s}");
        let s = softmax(array![1.0, -1.0].view(), 0.0);
        assert_eq!(s, array![0.5, 0.5]);
    }

    #[test]
    fn floor_mix_keeps_the_floor() {
        let p = floor_mix(array![1.0, 0.0, 0.0, 0.0].view(), 0.5);
        assert!((p[0] - (0.125 + 0.5)).abs() < 1e-15 && (p[1] - 0.125).abs() < 1e-15, "{p}");
        assert!((p.sum() - 1.0).abs() < 1e-15);
        assert_eq!(floor_mix(array![1.0, 0.0].view(), 0.0), array![0.5, 0.5]);
    }
}
