//! Counter-based randomness for the synthetic generator: a stateless 64-bit hash of
//! (stream, x, y), built on SplitMix64's mixer (lssg-core's `seed::mix64`), and lattice value
//! noise evaluated over a whole window at once.
//!
//! Everything is a pure function of its integer inputs, so any window of the procedural world
//! can be rendered independently, in any order and on any thread, with identical results.
//! Value noise precomputes the few lattice values a window touches and the per-row and
//! per-column interpolation weights; each pixel then costs four loads and three lerps (no
//! trigonometry, no allocation per pixel).

use lssg_core::seed::{GOLDEN_GAMMA, mix64};

/// A 64-bit hash of two signed coordinates under a stream seed.
#[inline]
pub(crate) fn hash2(stream: u64, a: i64, b: i64) -> u64 {
    mix64(stream ^ mix64((a as u64).wrapping_mul(GOLDEN_GAMMA) ^ (b as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)))
}

/// A cheaper hash of a pixel for sensor noise: one mixing round over the coordinates
/// spread by two odd constants (as SplitMix64 spreads its counter).
#[inline]
pub(crate) fn pixel_hash(stream: u64, x: i64, y: i64) -> u64 {
    mix64(stream ^ (x as u64).wrapping_mul(GOLDEN_GAMMA) ^ (y as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
}

/// Bits of the quantile tables' index.
pub(crate) const TABLE_BITS: u32 = 12;
const TABLE_SIZE: usize = 1 << TABLE_BITS;

/// Standard normal quantiles at the midpoints `(i + ½) / 4096`: a standard normal variate
/// from 12 random bits by one lookup (inverse transform sampling without `ln`/`sqrt` per pixel).
static NORMAL: std::sync::LazyLock<Vec<f32>> = std::sync::LazyLock::new(|| {
    (0..TABLE_SIZE).map(|i| normal_quantile((i as f64 + 0.5) / TABLE_SIZE as f64) as f32).collect()
});

/// A standard normal variate from the low 12 bits of `bits`.
#[inline]
pub(crate) fn normal(bits: u64) -> f32 {
    NORMAL[(bits as usize) & (TABLE_SIZE - 1)]
}

/// The standard normal quantile function (Acklam's rational approximation, relative error
/// below 1.2e-9), used only to build the table.
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Quantiles of multiplicative `looks`-look speckle in dB, `10·log10(G / L)` with
/// `G ~ Gamma(L, 1)`, at the midpoints `(i + ½) / 4096` (all zero for `looks = 0`).
pub(crate) fn speckle_db_table(looks: u32) -> Vec<f32> {
    if looks == 0 {
        return vec![0.0; TABLE_SIZE];
    }
    // Regularised lower incomplete gamma for integer shape: 1 − e^{−x} Σ_{k<L} x^k / k!.
    let cdf = |x: f64| {
        let (mut term, mut sum) = (1.0f64, 1.0f64);
        for k in 1..looks {
            term *= x / k as f64;
            sum += term;
        }
        1.0 - (-x).exp() * sum
    };
    let l = looks as f64;
    (0..TABLE_SIZE)
        .map(|i| {
            let p = (i as f64 + 0.5) / TABLE_SIZE as f64;
            // Bisection on ln x: the CDF is monotone.
            let (mut lo, mut hi) = ((1e-12f64).ln(), (50.0 * l + 50.0).ln());
            for _ in 0..64 {
                let mid = 0.5 * (lo + hi);
                if cdf(mid.exp()) < p { lo = mid } else { hi = mid }
            }
            (10.0 * ((0.5 * (lo + hi)).exp() / l).log10()) as f32
        })
        .collect()
}

/// The seed of an independent stream `tag` derived from the user seed.
#[inline]
pub(crate) fn stream(seed: u64, tag: u64) -> u64 {
    mix64(seed.wrapping_add(mix64(tag.wrapping_add(0x5851_f42d_4c95_7f2d))))
}

/// A uniform value in [0, 1) from the top 24 bits of a hash.
#[inline]
pub(crate) fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// Smoothstep interpolation weight.
#[inline]
fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// One octave: a lattice of uniform values every `cell` pixels, smoothly interpolated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Octave {
    /// Lattice spacing in pixels (≥ 1).
    pub cell: i64,
    /// Weight of this octave in the sum.
    pub amplitude: f32,
}

/// Adds the value noise of `octaves` (stream `seed`) over the window with top-left world
/// pixel (`x0`, `y0`), `height` × `width`, into `out` (row-major, `height * width`).
///
/// Each octave contributes `amplitude · v` with `v ∈ [0, 1)`; octaves use distinct
/// sub-streams so they are independent.
pub(crate) fn add_value_noise(
    seed: u64,
    octaves: &[Octave],
    x0: i64,
    y0: i64,
    height: usize,
    width: usize,
    out: &mut [f32],
) {
    debug_assert_eq!(out.len(), height * width);
    let mut cols_i = vec![0usize; width];
    let mut cols_w = vec![0f32; width];
    let mut rows_i = vec![0usize; height];
    let mut rows_w = vec![0f32; height];
    let mut lattice = Vec::new();
    for (k, oct) in octaves.iter().enumerate() {
        let cell = oct.cell.max(1);
        let s = stream(seed, 1000 + k as u64);
        let lx0 = x0.div_euclid(cell);
        let ly0 = y0.div_euclid(cell);
        let nx = ((x0 + width as i64 - 1).div_euclid(cell) - lx0 + 2) as usize;
        let ny = ((y0 + height as i64 - 1).div_euclid(cell) - ly0 + 2) as usize;
        lattice.clear();
        for j in 0..ny {
            for i in 0..nx {
                lattice.push(oct.amplitude * unit(hash2(s, lx0 + i as i64, ly0 + j as i64)));
            }
        }
        let inv = 1.0 / cell as f32;
        for (c, (ci, cw)) in cols_i.iter_mut().zip(cols_w.iter_mut()).enumerate() {
            let x = x0 + c as i64;
            *ci = (x.div_euclid(cell) - lx0) as usize;
            *cw = smooth(x.rem_euclid(cell) as f32 * inv);
        }
        for (r, (ri, rw)) in rows_i.iter_mut().zip(rows_w.iter_mut()).enumerate() {
            let y = y0 + r as i64;
            *ri = (y.div_euclid(cell) - ly0) as usize;
            *rw = smooth(y.rem_euclid(cell) as f32 * inv);
        }
        for (r, row) in out.chunks_exact_mut(width).enumerate() {
            let top = &lattice[rows_i[r] * nx..(rows_i[r] + 1) * nx];
            let bottom = &lattice[(rows_i[r] + 1) * nx..(rows_i[r] + 2) * nx];
            let wy = rows_w[r];
            for ((v, &i), &wx) in row.iter_mut().zip(&cols_i).zip(&cols_w) {
                let a = top[i] + (top[i + 1] - top[i]) * wx;
                let b = bottom[i] + (bottom[i + 1] - bottom[i]) * wx;
                *v += a + (b - a) * wy;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCT: [Octave; 2] = [Octave { cell: 16, amplitude: 1.0 }, Octave { cell: 5, amplitude: 0.5 }];

    fn field(x0: i64, y0: i64, h: usize, w: usize) -> Vec<f32> {
        let mut v = vec![0.0; h * w];
        add_value_noise(7, &OCT, x0, y0, h, w, &mut v);
        v
    }

    #[test]
    fn windows_agree_on_their_overlap() {
        // A window's values depend only on world coordinates, including negative ones.
        let big = field(-20, -13, 40, 50);
        let small = field(-7, 2, 10, 12);
        for r in 0..10 {
            for c in 0..12 {
                assert_eq!(small[r * 12 + c], big[(r + 15) * 50 + c + 13], "at ({r},{c})");
            }
        }
    }

    #[test]
    fn noise_is_bounded_and_continuous() {
        let v = field(100, 100, 64, 64);
        assert!(v.iter().all(|&x| (0.0..1.5).contains(&x)));
        // Neighbouring pixels of the coarse octave differ by little; the fine one adds at most 0.5 · (1/5·1.5).
        for r in 0..64 {
            for c in 1..64 {
                assert!((v[r * 64 + c] - v[r * 64 + c - 1]).abs() < 0.5, "jump at ({r},{c})");
            }
        }
    }

    #[test]
    fn quantile_tables_have_the_right_moments() {
        // Standard normal: mean 0, variance ≈ 1 (the midpoint table slightly truncates the tails).
        let (m, v) = NORMAL.iter().fold((0f64, 0f64), |(m, v), &z| (m + z as f64, v + (z as f64).powi(2)));
        assert!((m / 4096.0).abs() < 1e-6);
        assert!((v / 4096.0 - 1.0).abs() < 0.01, "variance {}", v / 4096.0);
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        // Speckle: mean 1 in linear units; the std of 4-look speckle in dB is 4.343·sqrt(ψ'(4)) ≈ 2.31.
        let t = speckle_db_table(4);
        let lin = t.iter().map(|&d| 10f64.powf(d as f64 / 10.0)).sum::<f64>() / 4096.0;
        assert!((lin - 1.0).abs() < 0.01, "linear mean {lin}");
        let mean = t.iter().map(|&d| d as f64).sum::<f64>() / 4096.0;
        let sd = (t.iter().map(|&d| (d as f64 - mean).powi(2)).sum::<f64>() / 4096.0).sqrt();
        assert!((sd - 2.31).abs() < 0.05, "dB std {sd}");
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        assert!(speckle_db_table(0).iter().all(|&d| d == 0.0));
    }

    #[test]
    fn streams_differ() {
        assert_ne!(stream(0, 1), stream(0, 2));
        assert_ne!(stream(0, 1), stream(1, 1));
        assert_ne!(hash2(1, 2, 3), hash2(1, 3, 2));
    }
}
