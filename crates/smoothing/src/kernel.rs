//! The RBF kernel and the regularised solve of docs/method.md §4.
//!
//! - descriptors X: `[S, 1]` (the scores, reference) or `[S, M]` (0/1 availability rows);
//! - K_ij = exp(−‖X_i − X_j‖² / (2σ²)), `[S, S]`, symmetric with a unit diagonal;
//! - r = K (K + λI)⁻¹ U, `[S]`, computed as an LU solve (K + λI) y = U followed by r = K y.
//!
//! K is badly conditioned when the scores are close together (K ≈ 11ᵀ), so everything is
//! float64 and the inverse is never formed; a system LAPACK reports singular, or whose
//! estimated reciprocal condition number is below machine epsilon, is an error rather than a
//! silently wrong answer.

use lssg_scenario::ModalitySet;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use ndarray_linalg::error::LinalgError;
use ndarray_linalg::{FactorizeInto, ReciprocalConditionNum, Solve};

use lssg_core::Descriptor;

use crate::config::Sigma;
use crate::error::{Error, Result};

/// The kernel descriptors X in canonical order: `[S, 1]` holding D for
/// [`Descriptor::Scores`], `[S, M]` availability rows for [`Descriptor::Masks`].
pub fn descriptors(distortion: ArrayView1<'_, f64>, set: &ModalitySet, descriptor: Descriptor) -> Array2<f64> {
    match descriptor {
        Descriptor::Scores => distortion.to_owned().insert_axis(ndarray::Axis(1)),
        Descriptor::Masks => {
            let m = set.len();
            let rows = set.mask_array();
            Array2::from_shape_fn((rows.len(), m), |(i, j)| f64::from(rows[i][j]))
        }
    }
}

/// The `[S, S]` matrix of squared Euclidean distances between the rows of `x` (for 0/1 rows,
/// the Hamming distance).
pub fn squared_distances(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let s = x.nrows();
    let mut d = Array2::zeros((s, s));
    for i in 0..s {
        for j in (i + 1)..s {
            let v: f64 = x.row(i).iter().zip(x.row(j)).map(|(a, b)| (a - b) * (a - b)).sum();
            d[[i, j]] = v;
            d[[j, i]] = v;
        }
    }
    d
}

/// The median heuristic: the median of ‖X_i − X_j‖ over i < j, or 1.0 when that median is 0
/// or there is no pair (S = 1). An even count takes the mean of the two middle values (numpy).
pub fn median_sigma(squared: ArrayView2<'_, f64>) -> f64 {
    let s = squared.nrows();
    let mut distances: Vec<f64> = Vec::with_capacity(s * s.saturating_sub(1) / 2);
    for i in 0..s {
        distances.extend(squared.row(i).iter().skip(i + 1).map(|d| d.sqrt()));
    }
    let n = distances.len();
    if n == 0 {
        return 1.0;
    }
    let (_, &mut upper, _) = distances.select_nth_unstable_by(n / 2, f64::total_cmp);
    let median = if n % 2 == 1 {
        upper
    } else {
        // The lower middle value is the largest of the half below `upper`.
        let lower = distances[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower + upper)
    };
    if median > 0.0 && median.is_finite() { median } else { 1.0 }
}

/// Resolves σ: the fixed value, or the median heuristic over `squared`.
pub fn resolve_sigma(sigma: Sigma, squared: ArrayView2<'_, f64>) -> f64 {
    match sigma {
        Sigma::Fixed(v) => v,
        Sigma::Median => median_sigma(squared),
    }
}

/// K_ij = exp(−d²_ij / (2σ²)) from squared distances, `[S, S]`.
pub fn rbf_kernel(squared: ArrayView2<'_, f64>, sigma: f64) -> Array2<f64> {
    let scale = -1.0 / (2.0 * sigma * sigma);
    squared.mapv(|d| (d * scale).exp())
}

/// Systems of at least this size are solved on a helper thread with [`SOLVER_STACK`] bytes
/// of stack. OpenBLAS switches to its threaded getrf once S² ≥ 10 000 (S ≥ 100), and that
/// keeps per-thread job tables on the caller's stack: more than 2 MiB in Debian's build
/// (NUM_THREADS = 128), which overflows a spawned Rust thread's default stack (test threads,
/// rayon workers) with a segfault. Smaller systems stay on the calling thread.
pub const LARGE_SYSTEM: usize = 64;

/// Stack of the helper thread for large systems (virtual memory; only touched pages count).
pub const SOLVER_STACK: usize = 64 << 20;

/// r = K (K + λI)⁻¹ U by an LU solve of (K + λI) y = U, then r = K y.
///
/// # Errors
/// [`Error::Singular`] when LAPACK finds an exact zero pivot or the estimated reciprocal
/// condition number of K + λI is below `f64::EPSILON` (λ = 0 with coincident or nearly
/// coincident descriptors).
pub fn kernel_scores(kernel: ArrayView2<'_, f64>, utility: ArrayView1<'_, f64>, lambda: f64) -> Result<Array1<f64>> {
    if kernel.nrows() < LARGE_SYSTEM {
        return solve_on_this_thread(kernel, utility, lambda);
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("lssg-smoothing-solve".into())
            .stack_size(SOLVER_STACK)
            .spawn_scoped(scope, || solve_on_this_thread(kernel, utility, lambda))
            .map_err(|source| Error::SolverThread { source })?;
        handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn solve_on_this_thread(kernel: ArrayView2<'_, f64>, utility: ArrayView1<'_, f64>, lambda: f64) -> Result<Array1<f64>> {
    let s = kernel.nrows();
    let mut a = kernel.to_owned();
    a.diag_mut().mapv_inplace(|v| v + lambda);
    let singular = |rcond| Error::Singular { size: s, lambda, rcond };
    let lu = a.factorize_into().map_err(|e| match e {
        // On a contiguous square matrix getrf can only fail with info > 0: U has an exact
        // zero on its diagonal.
        LinalgError::Lapack(_) => singular(0.0),
        other => Error::Linalg(other),
    })?;
    let rcond = lu.rcond()?;
    if rcond.is_nan() || rcond < f64::EPSILON {
        return Err(singular(rcond));
    }
    let y = lu.solve_into(utility.to_owned())?;
    let r = kernel.dot(&y);
    if r.iter().any(|v| !v.is_finite()) {
        return Err(singular(rcond));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use ndarray::{array, s};

    use super::*;

    #[test]
    fn kernel_is_symmetric_with_unit_diagonal() {
        let x = array![[0.8], [1.2], [0.0]];
        let k = rbf_kernel(squared_distances(x.view()).view(), 1.0);
        assert_eq!(k.dim(), (3, 3));
        for i in 0..3 {
            assert_eq!(k[[i, i]], 1.0);
            for j in 0..3 {
                assert_eq!(k[[i, j]], k[[j, i]]);
            }
        }
        assert!((k[[0, 2]] - (-0.32f64).exp()).abs() < 1e-15);
    }

    #[test]
    fn mask_descriptors_give_hamming_distances() {
        let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
        let x = descriptors(Array1::zeros(7).view(), &set, Descriptor::Masks);
        assert_eq!(x.dim(), (7, 3));
        let d = squared_distances(x.view());
        // rgb vs nir: 2 differing bits; rgb vs rgb+nir+swir: 2; rgb+nir vs rgb+swir: 2; nir vs full: 2.
        assert_eq!(d[[0, 1]], 2.0);
        assert_eq!(d[[0, 3]], 1.0);
        assert_eq!(d[[1, 6]], 2.0);
        assert_eq!(d.slice(s![.., ..]).diag().sum(), 0.0);
    }

    #[test]
    fn median_follows_numpy() {
        // Distances 1, 2, 3 (odd count) → 2.
        let x = array![[0.0], [1.0], [3.0]];
        assert_eq!(median_sigma(squared_distances(x.view()).view()), 2.0);
        // Four points at 0, 1, 2, 4: distances 1, 2, 4, 1, 3, 2 → sorted 1 1 2 2 3 4 → 2.
        let x = array![[0.0], [1.0], [2.0], [4.0]];
        assert_eq!(median_sigma(squared_distances(x.view()).view()), 2.0);
        // Two points: one distance.
        let x = array![[0.0], [0.5]];
        assert_eq!(median_sigma(squared_distances(x.view()).view()), 0.5);
        // 1, 1, 1, 2: distances 0 0 0 1 1 1 → (0 + 1) / 2.
        let x = array![[1.0], [1.0], [1.0], [2.0]];
        assert_eq!(median_sigma(squared_distances(x.view()).view()), 0.5);
        // 1, 1, 1, 1, 2: six zeros and four ones → median 0 → fallback 1.
        let x = array![[1.0], [1.0], [1.0], [1.0], [2.0]];
        assert_eq!(median_sigma(squared_distances(x.view()).view()), 1.0);
        // A single scenario has no pairs.
        assert_eq!(median_sigma(squared_distances(array![[3.0]].view()).view()), 1.0);
    }

    #[test]
    fn even_median_averages_the_middle_pair() {
        // Points 0, 1, 3, 7: distances 1, 3, 7, 2, 6, 4 → sorted 1 2 3 4 6 7 → (3 + 4) / 2.
        let x = array![[0.0], [1.0], [3.0], [7.0]];
        assert_eq!(median_sigma(squared_distances(x.view()).view()), 3.5);
    }

    #[test]
    fn solve_matches_the_explicit_formula_on_a_small_system() {
        // With K = I: r = U / (1 + λ).
        let k = Array2::<f64>::eye(4);
        let u = array![1.0, 2.0, 3.0, 4.0];
        let r = kernel_scores(k.view(), u.view(), 0.25).unwrap();
        for (got, want) in r.iter().zip(u.iter()) {
            assert!((got - want / 1.25).abs() < 1e-14);
        }
    }

    #[test]
    fn large_systems_survive_a_small_stack() {
        // S = 255 on a 2 MiB thread segfaults inside OpenBLAS's dgetrf_parallel unless the
        // solve moves to a big-stack thread (see LARGE_SYSTEM).
        let x = Array2::from_shape_fn((255, 1), |(i, _)| (i as f64 * 0.618).fract() * 2.0);
        let k = rbf_kernel(squared_distances(x.view()).view(), 1.0);
        let u = x.column(0).to_owned();
        let r = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || kernel_scores(k.view(), u.view(), 1e-3))
            .unwrap()
            .join()
            .unwrap()
            .unwrap();
        assert!(r.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn singular_systems_are_errors() {
        // Two identical descriptors and λ = 0: K has two equal rows.
        let x = array![[0.5], [0.5], [1.0]];
        let k = rbf_kernel(squared_distances(x.view()).view(), 1.0);
        let err = kernel_scores(k.view(), array![0.5, 0.5, 1.0].view(), 0.0).unwrap_err();
        assert!(matches!(err, Error::Singular { size: 3, .. }), "{err:?}");
        // The same with the reference λ is fine.
        kernel_scores(k.view(), array![0.5, 0.5, 1.0].view(), 1e-3).unwrap();
    }
}
