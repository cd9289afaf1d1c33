//! Blending overlapping tile predictions (docs/predict.md §2): each tile's class probabilities
//! are weighted by a smooth window (Hann or Gaussian, highest in the tile's centre) and summed
//! per pixel with the weights; a pixel's prediction is the weighted mean. The accumulator holds
//! one strip of `tile` rows only and emits rows as soon as no later tile can touch them.

use crate::error::{Error, Result};

/// The smallest weight a window gives a pixel, so that border pixels covered by one tile's edge
/// only still get a well-defined (and exact) mean.
const MIN_WEIGHT: f32 = 1e-4;

/// The per-pixel weight of a tile's prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlendWindow {
    /// Every pixel weighs 1 (a plain mean of the overlapping tiles).
    Flat,
    /// `sin²(π (i + ½) / n)` per axis, the product of both axes (the default).
    #[default]
    Hann,
    /// `exp(−(i + ½ − n/2)² / (2 σ²))` per axis with σ = n / 8.
    Gaussian,
}

impl BlendWindow {
    /// Parses `flat`, `hann` or `gaussian`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "flat" => Ok(Self::Flat),
            "hann" => Ok(Self::Hann),
            "gaussian" => Ok(Self::Gaussian),
            _ => Err(Error::config("blend", text, "flat, hann or gaussian")),
        }
    }

    /// The weights along one axis of `n` pixels, each at least `1e-4`.
    pub fn weights_1d(self, n: usize) -> Vec<f32> {
        let nf = n as f64;
        (0..n)
            .map(|i| {
                let t = i as f64 + 0.5;
                let w = match self {
                    Self::Flat => 1.0,
                    Self::Hann => (std::f64::consts::PI * t / nf).sin().powi(2),
                    Self::Gaussian => {
                        let sigma = nf / 8.0;
                        (-(t - nf / 2.0).powi(2) / (2.0 * sigma * sigma)).exp()
                    }
                };
                (w as f32).max(MIN_WEIGHT)
            })
            .collect()
    }

    /// The `n × n` window, row-major.
    pub fn weights_2d(self, n: usize) -> Vec<f32> {
        let w = self.weights_1d(n);
        w.iter().flat_map(|&a| w.iter().map(move |&b| a * b)).collect()
    }
}

/// Rows whose blending is complete: `probs` is `[classes, rows, width]`, each pixel the
/// weighted mean of the tiles that cover it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRows {
    /// First scene row.
    pub y0: usize,
    /// Number of rows.
    pub rows: usize,
    /// Scene width.
    pub width: usize,
    /// Number of probability channels (1 for a binary model: the positive class).
    pub classes: usize,
    /// `[classes, rows, width]`.
    pub probs: Vec<f32>,
    /// `[rows, width]`: pixels without any input data (every channel of every available
    /// modality no-data), written as the label no-data value; empty when none is known.
    pub nodata: Vec<bool>,
}

impl FinishedRows {
    /// The label of each pixel, `[rows, width]`: the most probable class, or for a binary model
    /// 1 where the positive probability is at least ½.
    pub fn labels(&self) -> Vec<u8> {
        let plane = self.rows * self.width;
        (0..plane)
            .map(|p| {
                if self.classes == 1 {
                    return u8::from(self.probs[p] >= 0.5);
                }
                let mut best = (0usize, f32::NEG_INFINITY);
                for c in 0..self.classes {
                    let v = self.probs[c * plane + p];
                    if v > best.1 {
                        best = (c, v);
                    }
                }
                best.0.min(u8::MAX as usize) as u8
            })
            .collect()
    }
}

/// Sums `weight · probabilities` for the strip of rows `[top, top + tile)` of a scene `width`
/// pixels wide; memory is `(classes + 1) · tile · width` floats whatever the scene's height.
#[derive(Debug, Clone)]
pub struct StripAccumulator {
    classes: usize,
    width: usize,
    height: usize,
    tile: usize,
    top: usize,
    window: Vec<f32>,
    sum: Vec<f32>,
    weight: Vec<f32>,
}

impl StripAccumulator {
    /// An accumulator for a `height × width` scene, `tile × tile` tiles of `classes` channels
    /// blended with `window`.
    pub fn new(classes: usize, height: usize, width: usize, tile: usize, window: BlendWindow) -> Self {
        Self {
            classes,
            width,
            height,
            tile,
            top: 0,
            window: window.weights_2d(tile),
            sum: vec![0.0; classes * tile * width],
            weight: vec![0.0; tile * width],
        }
    }

    /// The first row not yet emitted.
    pub fn top(&self) -> usize {
        self.top
    }

    /// Adds one tile's probabilities `[classes, tile, tile]` at scene position (`y0`, `x0`);
    /// the parts outside the scene are dropped. The tile must lie in the current strip.
    pub fn add(&mut self, y0: usize, x0: usize, probs: &[f32]) -> Result<()> {
        let t = self.tile;
        if probs.len() != self.classes * t * t {
            return Err(Error::Shape {
                what: "tile probabilities".into(),
                expected: self.classes * t * t,
                got: probs.len(),
            });
        }
        let in_strip = y0 >= self.top && y0 < self.height && y0 + t.min(self.height - y0) <= self.top + t;
        if !in_strip || x0 >= self.width {
            return Err(Error::config("tile origin", format!("({y0}, {x0})"), "a tile inside the current strip"));
        }
        let rows = t.min(self.height - y0);
        let cols = t.min(self.width - x0);
        let strip = t * self.width;
        for r in 0..rows {
            let dst = (y0 - self.top + r) * self.width + x0;
            let win = &self.window[r * t..r * t + cols];
            for (w, &k) in self.weight[dst..dst + cols].iter_mut().zip(win) {
                *w += k;
            }
            for c in 0..self.classes {
                let src = &probs[c * t * t + r * t..c * t * t + r * t + cols];
                let acc = &mut self.sum[c * strip + dst..c * strip + dst + cols];
                for ((a, &p), &k) in acc.iter_mut().zip(src).zip(win) {
                    *a += p * k;
                }
            }
        }
        Ok(())
    }

    /// Emits rows `[top, upto)` as weighted means and moves the strip down to start at `upto`.
    /// A pixel no tile covered gets probability 0.
    pub fn finish(&mut self, upto: usize) -> Result<FinishedRows> {
        let upto = upto.min(self.height);
        if upto < self.top || upto > self.top + self.tile {
            return Err(Error::config("finished rows", upto, "within the current strip"));
        }
        let (rows, w, strip) = (upto - self.top, self.width, self.tile * self.width);
        let n = rows * w;
        let mut probs = vec![0.0f32; self.classes * n];
        for c in 0..self.classes {
            for (i, out) in probs[c * n..(c + 1) * n].iter_mut().enumerate() {
                let k = self.weight[i];
                if k > 0.0 {
                    *out = self.sum[c * strip + i] / k;
                }
            }
        }
        // Shift the unfinished rows up and clear the rest.
        self.weight.copy_within(n.., 0);
        self.weight[strip - n..].fill(0.0);
        for c in 0..self.classes {
            let s = &mut self.sum[c * strip..(c + 1) * strip];
            s.copy_within(n.., 0);
            s[strip - n..].fill(0.0);
        }
        let out = FinishedRows { y0: self.top, rows, width: w, classes: self.classes, probs, nodata: Vec::new() };
        self.top = upto;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::TilePlan;

    #[test]
    fn windows_are_positive_symmetric_and_peak_in_the_centre() {
        for kind in [BlendWindow::Hann, BlendWindow::Gaussian] {
            let w = kind.weights_1d(64);
            assert!(w.iter().all(|&v| (MIN_WEIGHT..=1.0).contains(&v)));
            assert!((0..32).all(|i| (w[i] - w[63 - i]).abs() < 1e-6));
            assert!(w[31] > w[10] && w[10] > w[0]);
        }
        assert!(BlendWindow::Flat.weights_2d(5).iter().all(|&v| v == 1.0));
        assert_eq!(BlendWindow::parse("Gaussian").unwrap(), BlendWindow::Gaussian);
        assert!(BlendWindow::parse("cosine").is_err());
    }

    /// Blends a constant prediction per class over a whole plan, strip by strip.
    fn blend_constant(h: usize, w: usize, tile: usize, overlap: usize, window: BlendWindow) -> Vec<FinishedRows> {
        let plan = TilePlan::new(h, w, tile, overlap).unwrap();
        let mut acc = StripAccumulator::new(3, h, w, tile, window);
        let tile_probs: Vec<f32> = [0.2f32, 0.3, 0.5].iter().flat_map(|&p| vec![p; tile * tile]).collect();
        let mut out = Vec::new();
        for (i, &y0) in plan.rows.iter().enumerate() {
            for &x0 in &plan.cols {
                acc.add(y0, x0, &tile_probs).unwrap();
            }
            out.push(acc.finish(plan.finished_after(i)).unwrap());
        }
        out
    }

    #[test]
    fn blending_constant_predictions_is_exact_and_covers_every_row_once() {
        for window in [BlendWindow::Flat, BlendWindow::Hann, BlendWindow::Gaussian] {
            for (h, w) in [(100, 77), (20, 20), (13, 50), (64, 64)] {
                let strips = blend_constant(h, w, 20, 6, window);
                let mut next = 0;
                for s in &strips {
                    assert_eq!(s.y0, next);
                    next += s.rows;
                    let n = s.rows * s.width;
                    for (c, want) in [0.2f32, 0.3, 0.5].into_iter().enumerate() {
                        let got = &s.probs[c * n..(c + 1) * n];
                        assert!(got.iter().all(|&p| (p - want).abs() < 1e-6), "{window:?} {h}×{w} class {c}");
                    }
                    assert!(s.labels().iter().all(|&l| l == 2));
                }
                assert_eq!(next, h);
            }
        }
    }

    #[test]
    fn rejects_tiles_outside_the_strip_and_wrong_sizes() {
        let mut acc = StripAccumulator::new(2, 100, 50, 10, BlendWindow::Hann);
        assert!(acc.add(0, 0, &[0.0; 10]).is_err());
        assert!(acc.add(10, 0, &[0.0; 200]).is_err());
        acc.finish(8).unwrap();
        assert!(acc.add(5, 0, &[0.0; 200]).is_err());
        assert!(acc.add(8, 0, &[0.0; 200]).is_ok());
        assert!(acc.add(9, 0, &[0.0; 200]).is_err(), "a tile reaching past the strip");
        assert!(acc.finish(30).is_err());
    }

    #[test]
    fn binary_labels_threshold_at_one_half() {
        let rows =
            FinishedRows { y0: 0, rows: 1, width: 3, classes: 1, probs: vec![0.2, 0.5, 0.9], nodata: Vec::new() };
        assert_eq!(rows.labels(), [0, 1, 1]);
    }
}
