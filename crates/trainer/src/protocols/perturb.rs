//! The per-tile perturbations of the random-missing and noisy protocols (docs/method.md §6.1),
//! on host buffers. Each tile's draws come from its own stream, a function of (protocol seed,
//! protocol, level, modality, tile index in the test split), so they do not depend on the
//! batch a tile lands in, the thread that evaluates it or the precision of the forwards.

use lssg_core::seed::{self, SplitMix64};
use lssg_scenario::robustness::ProtocolKind;

/// The value a missing modality's input has: zero after normalisation (the training mean),
/// what gated backbones multiply an unavailable input by.
pub const MISSING_VALUE: f32 = 0.0;

/// One perturbation of one modality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Perturbation {
    /// A fraction `rate` of the tile in `patch`-pixel squares set to [`MISSING_VALUE`].
    Missing {
        /// Fraction of the grid cells dropped.
        rate: f64,
        /// Side of a square in pixels.
        patch: usize,
    },
    /// Gaussian noise at `snr_db` relative to each band's standard deviation over the tile.
    Noise {
        /// Signal-to-noise ratio, dB.
        snr_db: f64,
    },
}

impl Perturbation {
    /// Its protocol.
    pub fn protocol(self) -> ProtocolKind {
        match self {
            Self::Missing { .. } => ProtocolKind::RandomMissing,
            Self::Noise { .. } => ProtocolKind::Noisy,
        }
    }

    /// The level it is recorded at: the rate or the SNR.
    pub fn level(self) -> f64 {
        match self {
            Self::Missing { rate, .. } => rate,
            Self::Noise { snr_db } => snr_db,
        }
    }

    /// The random stream of `tile`'s draws when this perturbation hits `modality`.
    pub fn tile_stream(self, seed: u64, modality: &str, tile: usize) -> SplitMix64 {
        let level = self.level().to_string();
        let setting = seed::stream(seed, &["protocol", self.protocol().as_str(), &level, modality]);
        SplitMix64::stream(setting, tile as u64)
    }

    /// Perturbs one tile's `[channels, height, width]` array in place with draws from `rng`.
    pub fn apply(self, tile: &mut [f32], (channels, height, width): (usize, usize, usize), rng: &mut SplitMix64) {
        debug_assert_eq!(tile.len(), channels * height * width);
        match self {
            Self::Missing { rate, patch } => {
                for cell in missing_cells(rng, height, width, patch, rate) {
                    for band in tile.chunks_exact_mut(height * width) {
                        for y in cell.y0..cell.y1 {
                            band[y * width + cell.x0..y * width + cell.x1].fill(MISSING_VALUE);
                        }
                    }
                }
            }
            Self::Noise { snr_db } => {
                for band in tile.chunks_exact_mut(height * width) {
                    add_noise(band, snr_db, rng);
                }
            }
        }
    }
}

/// A rectangle of pixels, `y0..y1` × `x0..x1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// First row.
    pub y0: usize,
    /// One past the last row.
    pub y1: usize,
    /// First column.
    pub x0: usize,
    /// One past the last column.
    pub x1: usize,
}

/// The tile as a grid of `patch`-pixel squares (the last row and column clipped at the edge),
/// and round(rate · N) of its N cells drawn without replacement (a partial Fisher–Yates
/// shuffle). The dropped area is exactly `rate` when `patch` divides the tile's sides.
pub fn missing_cells(rng: &mut SplitMix64, height: usize, width: usize, patch: usize, rate: f64) -> Vec<Cell> {
    let patch = patch.max(1);
    let (rows, cols) = (height.div_ceil(patch), width.div_ceil(patch));
    let n = rows * cols;
    let k = ((rate * n as f64).round() as usize).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + rng.below(n - i);
        order.swap(i, j);
    }
    order[..k]
        .iter()
        .map(|&c| {
            let (r, q) = (c / cols, c % cols);
            Cell { y0: r * patch, y1: ((r + 1) * patch).min(height), x0: q * patch, x1: ((q + 1) * patch).min(width) }
        })
        .collect()
}

/// Adds N(0, σ²) to every finite value of one band, σ = std · 10^(−snr/20) with std the
/// band's population standard deviation over its finite values (no-data stays as it is).
fn add_noise(band: &mut [f32], snr_db: f64, rng: &mut SplitMix64) {
    let finite = || band.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v));
    let count = finite().count();
    if count == 0 {
        return;
    }
    let mean = finite().sum::<f64>() / count as f64;
    let var = finite().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count as f64;
    let sigma = var.sqrt() * 10f64.powf(-snr_db / 20.0);
    let mut spare: Option<f64> = None;
    for v in band.iter_mut().filter(|v| v.is_finite()) {
        let z = match spare.take() {
            Some(z) => z,
            None => {
                let (a, b) = gaussian_pair(rng);
                spare = Some(b);
                a
            }
        };
        *v = (f64::from(*v) + sigma * z) as f32;
    }
}

/// Two independent standard normal draws (Box–Muller).
fn gaussian_pair(rng: &mut SplitMix64) -> (f64, f64) {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    // u1 in (0, 1] so the logarithm is finite; u2 in [0, 1).
    let u1 = ((rng.next_u64() >> 11) + 1) as f64 * SCALE;
    let u2 = (rng.next_u64() >> 11) as f64 * SCALE;
    let r = (-2.0 * u1.ln()).sqrt();
    let t = std::f64::consts::TAU * u2;
    (r * t.cos(), r * t.sin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_cells_cover_the_rate_and_clip_at_the_edge() {
        let mut rng = SplitMix64::new(1);
        // 64 × 64 in 16-pixel squares: 16 cells, r = 0.25 → 4 distinct cells, exactly a quarter.
        let cells = missing_cells(&mut rng, 64, 64, 16, 0.25);
        assert_eq!(cells.len(), 4);
        let area: usize = cells.iter().map(|c| (c.y1 - c.y0) * (c.x1 - c.x0)).sum();
        assert_eq!(area, 64 * 64 / 4);
        let mut sorted = cells.clone();
        sorted.sort_by_key(|c| (c.y0, c.x0));
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
        // 20 × 10 in 16-pixel squares: 2 × 1 cells, the second 4 rows high; r = 1 → both.
        let cells = missing_cells(&mut rng, 20, 10, 16, 1.0);
        assert_eq!(cells.len(), 2);
        assert!(cells.contains(&Cell { y0: 16, y1: 20, x0: 0, x1: 10 }));
        // A patch larger than the tile is the whole tile.
        assert_eq!(missing_cells(&mut rng, 8, 8, 16, 0.75), [Cell { y0: 0, y1: 8, x0: 0, x1: 8 }]);
    }

    #[test]
    fn missing_sets_every_band_of_the_cells_to_the_missing_value() {
        let (c, h, w) = (2, 4, 4);
        let mut tile: Vec<f32> = (0..c * h * w).map(|i| i as f32 + 1.0).collect();
        let p = Perturbation::Missing { rate: 0.5, patch: 2 };
        p.apply(&mut tile, (c, h, w), &mut p.tile_stream(0, "rgb", 0));
        for band in tile.chunks(h * w) {
            assert_eq!(band.iter().filter(|&&v| v == MISSING_VALUE).count(), 8);
        }
        // Both bands lose the same pixels.
        let zeros = |b: &[f32]| b.iter().map(|&v| v == 0.0).collect::<Vec<_>>();
        assert_eq!(zeros(&tile[..16]), zeros(&tile[16..]));
    }

    #[test]
    fn noise_has_the_requested_snr_and_depends_only_on_the_tile() {
        let n = 64 * 64;
        let band: Vec<f32> = (0..n).map(|i| ((i % 7) as f32 - 3.0) * 2.0).collect();
        let std = {
            let mean = band.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
            (band.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n as f64).sqrt()
        };
        let p = Perturbation::Noise { snr_db: 10.0 };
        let mut noisy = band.clone();
        p.apply(&mut noisy, (1, 64, 64), &mut p.tile_stream(3, "sar", 5));
        let noise: Vec<f64> = noisy.iter().zip(&band).map(|(a, b)| f64::from(a - b)).collect();
        let noise_std = (noise.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
        // 10 dB: σ_noise = σ_band / √10, within the sampling error of 4096 draws.
        let want = std / 10f64.sqrt();
        assert!((noise_std / want - 1.0).abs() < 0.05, "{noise_std} vs {want}");
        let mut again = band.clone();
        p.apply(&mut again, (1, 64, 64), &mut p.tile_stream(3, "sar", 5));
        assert_eq!(again, noisy);
        let mut other = band.clone();
        p.apply(&mut other, (1, 64, 64), &mut p.tile_stream(3, "sar", 6));
        assert_ne!(other, noisy);
    }

    #[test]
    fn streams_differ_by_setting_and_tile() {
        let a = Perturbation::Noise { snr_db: 10.0 };
        let b = Perturbation::Noise { snr_db: 0.0 };
        let first = |p: Perturbation, m: &str, t: usize| p.tile_stream(0, m, t).next_u64();
        assert_ne!(first(a, "rgb", 0), first(b, "rgb", 0));
        assert_ne!(first(a, "rgb", 0), first(a, "sar", 0));
        assert_ne!(first(a, "rgb", 0), first(a, "rgb", 1));
        let m = Perturbation::Missing { rate: 10.0, patch: 16 };
        assert_ne!(first(a, "rgb", 0), first(m, "rgb", 0));
    }
}
