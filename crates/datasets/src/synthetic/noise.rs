//! Counter-based randomness for the synthetic generator: a stateless 64-bit hash of
//! (stream, x, y) and lattice value noise evaluated over a whole window at once.
//!
//! Everything is a pure function of its integer inputs, so any window of the procedural world
//! can be rendered independently, in any order and on any thread, with identical results.
//! Value noise precomputes the few lattice values a window touches and the per-row and
//! per-column interpolation weights; each pixel then costs four loads and three lerps (no
//! trigonometry, no allocation per pixel).

/// SplitMix64's finaliser: a bijective 64-bit mixer with full avalanche.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit hash of two signed coordinates under a stream seed.
#[inline]
pub(crate) fn hash2(stream: u64, a: i64, b: i64) -> u64 {
    mix(stream ^ mix((a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (b as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)))
}

/// The seed of an independent stream `tag` derived from the user seed.
#[inline]
pub(crate) fn stream(seed: u64, tag: u64) -> u64 {
    mix(seed.wrapping_add(mix(tag.wrapping_add(0x5851_f42d_4c95_7f2d))))
}

/// A uniform value in [0, 1) from the top 24 bits of a hash.
#[inline]
pub(crate) fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// An approximately standard normal value from one hash: the Irwin–Hall sum of its four
/// 16-bit quarters, centred and scaled to unit variance (bounded by ±3.46).
#[inline]
pub(crate) fn gauss(h: u64) -> f32 {
    let s = (h & 0xffff) + ((h >> 16) & 0xffff) + ((h >> 32) & 0xffff) + (h >> 48);
    // Mean of the sum is 2 · 65535 / 2, variance 4 · (65536² − 1) / 12.
    (s as f32 - 131_070.0) * (1.732_050_8 / 65_536.0)
}

/// The product of the four 16-bit quarters of a hash as uniforms in (0, 1]: minus its
/// logarithm is a Gamma(4, 1) variate (a sum of four exponentials).
#[inline]
pub(crate) fn uniform_product4(h: u64) -> f32 {
    let q = |s: u32| (((h >> s) & 0xffff) as f32 + 1.0) * (1.0 / 65_536.0);
    q(0) * q(16) * q(32) * q(48)
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
    fn gauss_and_gamma_moments() {
        let n = 200_000;
        let (mut s1, mut s2, mut g1) = (0f64, 0f64, 0f64);
        for i in 0..n {
            let z = gauss(hash2(3, i, 0)) as f64;
            s1 += z;
            s2 += z * z;
            g1 += -(uniform_product4(hash2(4, i, 1)) as f64).ln();
        }
        let mean = s1 / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((s2 / n as f64 - 1.0).abs() < 0.02, "var {}", s2 / n as f64);
        // Gamma(4, 1) has mean 4 (up to the 16-bit quantisation of each uniform).
        assert!((g1 / n as f64 - 4.0).abs() < 0.03, "gamma mean {}", g1 / n as f64);
    }

    #[test]
    fn streams_differ() {
        assert_ne!(stream(0, 1), stream(0, 2));
        assert_ne!(stream(0, 1), stream(1, 1));
        assert_ne!(hash2(1, 2, 3), hash2(1, 3, 2));
    }
}
