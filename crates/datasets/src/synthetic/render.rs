//! Sensors of the synthetic generator: renders a laid-out window of the world into the
//! `optical` (R, G, B, NIR reflectance in [0, 1]), `sar` (VV, VH backscatter in dB with
//! multiplicative speckle) and `height` (a DSM in metres) arrays, `[C, H, W]` row-major.
//!
//! Per-pixel randomness is a hash of (stream, world x, world y), so overlapping windows (a
//! tile and a scene) agree pixel for pixel and rendering order never matters.

use super::noise::{Octave, add_value_noise, hash2, normal, pixel_hash, speckle_db_table, stream};
use super::world::{BUILDING, Cell, Scratch, World};
use super::{ModalityKind, SyntheticConfig};
use crate::sample::ModalityArray;

/// Mean reflectance (R, G, B, NIR) per class. Optical separates water, the vegetation types
/// and bare soil, but roads and (mostly grey) roofs look alike.
const OPTICAL: [[f32; 4]; 7] = [
    [0.03, 0.05, 0.07, 0.02], // water
    [0.22, 0.19, 0.16, 0.27], // bare soil
    [0.05, 0.11, 0.04, 0.48], // crops
    [0.09, 0.14, 0.07, 0.36], // low vegetation
    [0.06, 0.10, 0.05, 0.31], // trees
    [0.19, 0.19, 0.19, 0.21], // road
    [0.20, 0.20, 0.20, 0.22], // building (± its roof tone)
];
/// How strongly the per-object tone modulates each class's reflectance (relative).
const OPTICAL_TONE: [f32; 7] = [0.0, 0.06, 0.08, 0.05, 0.0, 0.0, 0.12];
/// Sensor noise (reflectance units) at `noise = 1`.
const OPTICAL_SIGMA: f32 = 0.025;
/// Reflectance of a thick cloud.
const CLOUD: [f32; 4] = [0.75, 0.76, 0.78, 0.72];

/// Mean backscatter (VV, VH) in dB per class. SAR sees smooth surfaces dark (water, roads),
/// volume scattering bright in VH (trees, crops) and double bounce very bright (buildings);
/// bare soil and low vegetation are within a dB of each other.
const SAR: [[f32; 2]; 7] = [
    [-21.0, -28.0], // water
    [-11.0, -19.0], // bare soil
    [-9.0, -14.5],  // crops
    [-10.5, -18.0], // low vegetation
    [-7.5, -12.0],  // trees
    [-17.0, -25.0], // road
    [-1.5, -9.0],   // building
];
/// dB per unit of tone (crop vigour changes backscatter a little).
const SAR_TONE: [f32; 7] = [0.0, 0.5, 1.0, 0.5, 0.0, 0.0, 1.0];

/// DSM noise (m) at `noise = 1`.
const HEIGHT_SIGMA: f32 = 0.25;

/// Raw arrays of one rendered scene: every modality plus the class-index label map
/// (`[H, W]`, indices into [`super::CLASS_NAMES`]), in physical-ish units.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneArrays {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `optical`: `[4, H, W]` reflectance (R, G, B, NIR) in [0, 1].
    pub optical: ModalityArray,
    /// `sar`: `[2, H, W]` backscatter (VV, VH) in dB, typically −35 … +5.
    pub sar: ModalityArray,
    /// `height`: `[1, H, W]` digital surface model in metres above datum (about 20 … 50).
    pub dsm: ModalityArray,
    /// `[H, W]` class indices (never ignored: the synthetic truth is exact).
    pub labels: Vec<u8>,
}

/// Renders windows of the world for one configuration.
#[derive(Debug, Clone)]
pub(crate) struct Renderer {
    world: World,
    optical_noise: u64,
    sar_noise: u64,
    /// Quantiles of the speckle in dB (see [`speckle_db_table`]).
    speckle: std::sync::Arc<Vec<f32>>,
    height_noise: u64,
    cloud_seed: u64,
    cloud_threshold: f32,
    noise: f32,
    resolution: usize,
    coarse: Option<ModalityKind>,
    misregistration: usize,
    clouds: f32,
}

const CLOUD_OCTAVES: [Octave; 2] = [Octave { cell: 96, amplitude: 1.0 }, Octave { cell: 32, amplitude: 0.4 }];
/// Width of the cloud edge in units of cloud noise (soft, semi-transparent borders).
const CLOUD_EDGE: f32 = 0.06;

/// Reusable buffers of one thread.
#[derive(Debug, Default)]
pub(crate) struct RenderScratch {
    world: Scratch,
    cells: Vec<Cell>,
    clouds: Vec<f32>,
}

impl Renderer {
    /// A renderer for a validated configuration.
    pub(crate) fn new(config: &SyntheticConfig) -> Self {
        let seed = config.seed;
        let cloud_seed = stream(seed, 50);
        let coarse = ModalityKind::from_name(&config.coarse_modality);
        Self {
            world: World::new(seed),
            optical_noise: stream(seed, 60),
            sar_noise: stream(seed, 70),
            speckle: cached_speckle(config.sar_speckle),
            height_noise: stream(seed, 80),
            cloud_seed,
            cloud_threshold: cloud_threshold(cloud_seed, config.clouds),
            noise: config.noise.max(0.0),
            resolution: config.resolution.max(1),
            coarse,
            misregistration: config.misregistration,
            clouds: config.clouds.clamp(0.0, 1.0),
        }
    }

    /// Renders the window with top-left world pixel (`x0`, `y0`): the requested modalities in
    /// the given order and the class-index labels.
    pub(crate) fn render(
        &self,
        x0: i64,
        y0: i64,
        height: usize,
        width: usize,
        kinds: &[ModalityKind],
        scratch: &mut RenderScratch,
    ) -> (Vec<ModalityArray>, Vec<u8>) {
        // SAR is shifted by `misregistration` pixels: it sees the world at (x + m, y + m), so
        // lay out a window that much larger and read it at an offset.
        let m = if kinds.contains(&ModalityKind::Sar) { self.misregistration } else { 0 };
        let stride = width + m;
        self.world.layout(x0, y0, height + m, stride, &mut scratch.world, &mut scratch.cells);
        let window = Window { x0, y0, height, width, stride, cells: &scratch.cells };
        let mut labels = Vec::with_capacity(height * width);
        window.for_each(0, |_, _, _, cell| labels.push(cell.class));
        let arrays = kinds
            .iter()
            .map(|&kind| {
                let mut a = match kind {
                    ModalityKind::Optical => self.optical(&window, &mut scratch.clouds),
                    ModalityKind::Sar => self.sar(&window, m),
                    ModalityKind::Height => self.height(&window),
                };
                if self.coarse == Some(kind) && self.resolution > 1 {
                    block_average(&mut a, self.resolution);
                }
                a
            })
            .collect();
        (arrays, labels)
    }

    fn optical(&self, window: &Window, clouds: &mut Vec<f32>) -> ModalityArray {
        let (x0, y0, height, width) = (window.x0, window.y0, window.height, window.width);
        let mut a = ModalityArray::zeros(4, height, width);
        let plane = height * width;
        let sigma = OPTICAL_SIGMA * self.noise;
        let cloudy = self.clouds > 0.0;
        if cloudy {
            clouds.clear();
            clouds.resize(plane, 0.0);
            add_value_noise(self.cloud_seed, &CLOUD_OCTAVES, x0, y0, height, width, clouds);
        }
        window.for_each(0, |i, x, y, cell| {
            let k = cell.class as usize;
            let gain = 1.0 + OPTICAL_TONE[k] * cell.tone;
            let alpha = if cloudy { ((clouds[i] - self.cloud_threshold) / CLOUD_EDGE).clamp(0.0, 1.0) } else { 0.0 };
            // One hash per pixel: a 16-bit quarter (12 bits used) per band.
            let h = pixel_hash(self.optical_noise, x, y);
            for b in 0..4 {
                let v = OPTICAL[k][b] * gain + sigma * normal(h >> (16 * b));
                let v = v + alpha * (CLOUD[b] - v);
                a.data[b * plane + i] = v.clamp(0.0, 1.0);
            }
        });
        a
    }

    /// SAR sees the world `m` pixels down and right of the window (misregistration).
    fn sar(&self, window: &Window, m: usize) -> ModalityArray {
        let mut a = ModalityArray::zeros(2, window.height, window.width);
        let plane = window.height * window.width;
        let table = &self.speckle;
        window.for_each(m, |i, x, y, cell| {
            let k = cell.class as usize;
            // Speckle by inverse transform: one hash, 32 bits per band (12 used) index the
            // quantiles of 10·log10(Gamma(L)/L).
            let h = pixel_hash(self.sar_noise, x, y);
            a.data[i] = SAR[k][0] + SAR_TONE[k] * cell.tone + table[(h & 0xfff) as usize];
            a.data[plane + i] = SAR[k][1] + SAR_TONE[k] * cell.tone + table[((h >> 32) & 0xfff) as usize];
        });
        a
    }

    fn height(&self, window: &Window) -> ModalityArray {
        let mut a = ModalityArray::zeros(1, window.height, window.width);
        let sigma = HEIGHT_SIGMA * self.noise;
        window.for_each(0, |i, x, y, cell| {
            // Buildings are flat-roofed; tree canopies and crops are rough.
            let rough = if cell.class == BUILDING { 0.3 } else { 1.0 };
            a.data[i] = cell.ground + cell.object + rough * sigma * normal(pixel_hash(self.height_noise, x, y));
        });
        a
    }
}

/// A laid-out window of the world: its origin `(x0, y0)`, its size and its cells, rows
/// `stride` cells apart.
struct Window<'a> {
    x0: i64,
    y0: i64,
    height: usize,
    width: usize,
    stride: usize,
    cells: &'a [Cell],
}

impl Window<'_> {
    /// Calls `f(i, x, y, cell)` for every pixel in row-major order: `i = r·width + c`, world
    /// position `(x0 + c, y0 + r)` and the cell `shift` rows and columns further on.
    fn for_each(&self, shift: usize, mut f: impl FnMut(usize, i64, i64, Cell)) {
        for r in 0..self.height {
            let y = self.y0 + r as i64;
            for c in 0..self.width {
                f(r * self.width + c, self.x0 + c as i64, y, self.cells[(r + shift) * self.stride + c + shift]);
            }
        }
    }
}

/// The speckle table of `looks`, built once per process (a few milliseconds each).
fn cached_speckle(looks: u32) -> std::sync::Arc<Vec<f32>> {
    type Tables = std::sync::Mutex<std::collections::HashMap<u32, std::sync::Arc<Vec<f32>>>>;
    static TABLES: std::sync::LazyLock<Tables> = std::sync::LazyLock::new(Default::default);
    let mut tables = TABLES.lock().unwrap_or_else(|p| p.into_inner());
    tables.entry(looks).or_insert_with(|| std::sync::Arc::new(speckle_db_table(looks))).clone()
}

/// Replaces every `k × k` block (aligned to the window's origin; partial at the edges) of
/// every channel by its mean: a coarse sensor resampled to the common grid.
fn block_average(a: &mut ModalityArray, k: usize) {
    let (h, w) = (a.height, a.width);
    for plane in a.data.chunks_exact_mut(h * w) {
        for br in (0..h).step_by(k) {
            for bc in (0..w).step_by(k) {
                let (r1, c1) = ((br + k).min(h), (bc + k).min(w));
                let mut sum = 0.0f32;
                for r in br..r1 {
                    sum += plane[r * w + bc..r * w + c1].iter().sum::<f32>();
                }
                let mean = sum / ((r1 - br) * (c1 - bc)) as f32;
                for r in br..r1 {
                    plane[r * w + bc..r * w + c1].fill(mean);
                }
            }
        }
    }
}

/// The cloud-noise level above which a fraction `clouds` of pixels is covered, estimated
/// from 64 windows of 32 × 32 scattered over the world (deterministic per seed).
fn cloud_threshold(seed: u64, clouds: f32) -> f32 {
    if clouds <= 0.0 {
        return f32::INFINITY;
    }
    let mut values = Vec::with_capacity(64 * 1024);
    let mut window = vec![0f32; 1024];
    for i in 0..64 {
        let h = hash2(seed, i, 99);
        let (x0, y0) = ((h & 0xfffff) as i64, ((h >> 20) & 0xfffff) as i64);
        window.fill(0.0);
        add_value_noise(seed, &CLOUD_OCTAVES, x0, y0, 32, 32, &mut window);
        values.extend_from_slice(&window);
    }
    values.sort_by(f32::total_cmp);
    let q = ((1.0 - clouds.min(1.0)) * values.len() as f32) as usize;
    // Centre the soft edge on the quantile so about `clouds` of the area is (mostly) covered.
    values[q.min(values.len() - 1)] - 0.5 * CLOUD_EDGE - if clouds >= 1.0 { 10.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::super::world::{BASE_ELEVATION, RELIEF, WATER, WATER_LEVEL};
    use super::*;

    fn water_surface() -> f32 {
        BASE_ELEVATION + RELIEF * WATER_LEVEL
    }

    #[test]
    fn block_average_keeps_the_mean_and_makes_blocks_constant() {
        let mut a = ModalityArray { channels: 1, height: 3, width: 5, data: (0..15).map(|v| v as f32).collect() };
        block_average(&mut a, 2);
        // Block rows {0,1} × cols {0,1}: values 0,1,5,6 → 3.
        assert_eq!(a.data[0], 3.0);
        assert_eq!(a.data[6], 3.0);
        // Edge block: row 2, col 4 alone → 14.
        assert_eq!(a.data[14], 14.0);
        // Row 2, cols 2..4 → (12 + 13) / 2.
        assert_eq!(a.data[12], 12.5);
    }

    #[test]
    fn speckle_is_mean_preserving_in_linear_units() {
        let config = SyntheticConfig { sar_speckle: 3, ..Default::default() };
        let r = Renderer::new(&config);
        let mut scratch = RenderScratch::default();
        let (a, labels) = r.render(0, 0, 128, 128, &[ModalityKind::Sar], &mut scratch);
        // Average linear backscatter divided by the class mean ≈ 1 (Gamma(L)/L has mean 1).
        let (mut sum, mut n) = (0f64, 0usize);
        for (i, &k) in labels.iter().enumerate() {
            let lin = 10f64.powf(a[0].data[i] as f64 / 10.0) / 10f64.powf(SAR[k as usize][0] as f64 / 10.0);
            if SAR_TONE[k as usize] == 0.0 {
                sum += lin;
                n += 1;
            }
        }
        assert!(n > 1000);
        assert!((sum / n as f64 - 1.0).abs() < 0.05, "mean speckle {}", sum / n as f64);
    }

    #[test]
    fn water_is_flat_in_the_dsm() {
        let config = SyntheticConfig { noise: 0.0, ..Default::default() };
        let r = Renderer::new(&config);
        let mut scratch = RenderScratch::default();
        for i in 0..20 {
            let (a, labels) = r.render(i * 300, 50, 64, 64, &[ModalityKind::Height], &mut scratch);
            for (v, &k) in a[0].data.iter().zip(&labels) {
                if k == WATER {
                    assert_eq!(*v, water_surface());
                } else {
                    assert!(*v >= water_surface());
                }
            }
        }
    }

    #[test]
    fn cloud_fraction_is_roughly_as_configured() {
        let config = SyntheticConfig { clouds: 0.3, ..Default::default() };
        let r = Renderer::new(&config);
        let mut scratch = RenderScratch::default();
        let (mut covered, mut total) = (0usize, 0usize);
        for i in 0..16 {
            let (a, _) = r.render(i * 1000, -i * 700, 64, 64, &[ModalityKind::Optical], &mut scratch);
            // Clouds are bright in blue, which no ground class is.
            covered += a[0].channel(2).iter().filter(|&&v| v > 0.45).count();
            total += 64 * 64;
        }
        let f = covered as f32 / total as f32;
        assert!((0.15..0.45).contains(&f), "cloud fraction {f}");
    }
}
