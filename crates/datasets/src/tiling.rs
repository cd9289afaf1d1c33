//! Tiling of a scene (SPEC §8): an `H × W` scene is cut into `size × size` windows every
//! `stride` pixels. At the right and bottom edges a window that does not fit is either
//! dropped ([`EdgeMode::Drop`]) or kept and padded ([`EdgeMode::Pad`]: data with 0, labels
//! with [`IGNORE_INDEX`], so padding never counts in a loss or metric).
//!
//! Pure index maths plus the copy of one window out of a `[C, H, W]` array.
//!
//! ```
//! use lssg_datasets::tiling::{EdgeMode, TileGrid};
//! let g = TileGrid::new(10, 7, 4, 4, EdgeMode::Pad).unwrap();
//! assert_eq!((g.rows(), g.cols()), (&[0, 4, 8][..], &[0, 4][..]));
//! let w = g.window(5);
//! assert_eq!((w.y, w.x, w.valid_height, w.valid_width), (8, 4, 2, 3));
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sample::{IGNORE_INDEX, ModalityArray};

/// What happens to windows that overhang the scene's edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeMode {
    /// Keep only windows that fit entirely (the remainder of the scene is not used).
    #[default]
    Drop,
    /// Keep overhanging windows so the whole scene is covered; pad the outside.
    Pad,
}

/// Window origins along one axis of length `extent`.
///
/// `Drop`: `0, stride, …` while the window fits. `Pad`: `0, stride, …` until a window reaches
/// the end (at least one window when `extent > 0`).
pub fn starts(extent: usize, size: usize, stride: usize, mode: EdgeMode) -> Vec<usize> {
    if size == 0 || stride == 0 || extent == 0 {
        return Vec::new();
    }
    match mode {
        EdgeMode::Drop if extent < size => Vec::new(),
        EdgeMode::Drop => (0..=extent - size).step_by(stride).collect(),
        EdgeMode::Pad => {
            let mut s = vec![0];
            while let Some(&last) = s.last()
                && last + size < extent
            {
                s.push(last + stride);
            }
            s
        }
    }
}

/// One window: its origin in the scene and how much of it lies inside the scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileWindow {
    /// Top row in the scene.
    pub y: usize,
    /// Left column in the scene.
    pub x: usize,
    /// Rows of the window inside the scene (`size` unless it overhangs the bottom).
    pub valid_height: usize,
    /// Columns inside the scene.
    pub valid_width: usize,
}

/// The windows of one scene, row-major (all windows of the first row of windows first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileGrid {
    height: usize,
    width: usize,
    size: usize,
    rows: Vec<usize>,
    cols: Vec<usize>,
}

impl TileGrid {
    /// The grid of `size × size` windows every `stride` pixels over a `height × width`
    /// scene; a zero size or stride is an [`Error::Config`].
    pub fn new(height: usize, width: usize, size: usize, stride: usize, mode: EdgeMode) -> Result<Self> {
        for (field, v) in [("tile_size", size), ("stride", stride)] {
            if v == 0 {
                return Err(Error::Config {
                    field: field.into(),
                    value: "0".into(),
                    expected: "at least 1 pixel".into(),
                });
            }
        }
        Ok(Self {
            height,
            width,
            size,
            rows: starts(height, size, stride, mode),
            cols: starts(width, size, stride, mode),
        })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    /// Whether the scene yields no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Window side.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Row origins.
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }

    /// Column origins.
    pub fn cols(&self) -> &[usize] {
        &self.cols
    }

    /// Window `index` (row-major); panics if out of range, like slice indexing (use
    /// [`TileGrid::get`] for a checked lookup).
    pub fn window(&self, index: usize) -> TileWindow {
        self.get(index).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Window `index`, or [`Error::IndexOutOfRange`].
    pub fn get(&self, index: usize) -> Result<TileWindow> {
        if index >= self.len() {
            return Err(Error::IndexOutOfRange { index, len: self.len() });
        }
        let (y, x) = (self.rows[index / self.cols.len()], self.cols[index % self.cols.len()]);
        Ok(TileWindow {
            y,
            x,
            valid_height: self.size.min(self.height - y),
            valid_width: self.size.min(self.width - x),
        })
    }

    /// All windows, row-major.
    pub fn windows(&self) -> impl Iterator<Item = TileWindow> + '_ {
        (0..self.len()).map(|i| self.window(i))
    }
}

/// Copies the `size × size` window `w` out of a `[channels, height, width]` buffer,
/// filling the part outside the scene with `pad`.
pub fn extract<T: Copy>(
    data: &[T],
    channels: usize,
    height: usize,
    width: usize,
    w: &TileWindow,
    size: usize,
    pad: T,
) -> Result<Vec<T>> {
    if data.len() != channels * height * width {
        return Err(Error::Mismatch {
            what: "tiled array [C, H, W] values".into(),
            expected: format!("{channels}·{height}·{width} = {}", channels * height * width),
            got: data.len().to_string(),
        });
    }
    if w.y + w.valid_height > height || w.x + w.valid_width > width || w.valid_height > size || w.valid_width > size {
        return Err(Error::Mismatch {
            what: "tile window".into(),
            expected: format!("inside the {height}×{width} scene and at most {size}×{size}"),
            got: format!("{}×{} at ({}, {})", w.valid_height, w.valid_width, w.y, w.x),
        });
    }
    let mut out = vec![pad; channels * size * size];
    for c in 0..channels {
        for r in 0..w.valid_height {
            let src = c * height * width + (w.y + r) * width + w.x;
            let dst = c * size * size + r * size;
            out[dst..dst + w.valid_width].copy_from_slice(&data[src..src + w.valid_width]);
        }
    }
    Ok(out)
}

/// The window `w` of a modality array, padded with 0.
pub fn extract_array(a: &ModalityArray, w: &TileWindow, size: usize) -> Result<ModalityArray> {
    let data = extract(&a.data, a.channels, a.height, a.width, w, size, 0.0)?;
    Ok(ModalityArray { channels: a.channels, height: size, width: size, data })
}

/// The window `w` of an `[H, W]` label map, padded with [`IGNORE_INDEX`].
pub fn extract_labels(labels: &[u8], height: usize, width: usize, w: &TileWindow, size: usize) -> Result<Vec<u8>> {
    extract(labels, 1, height, width, w, size, IGNORE_INDEX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_drop_and_pad() {
        assert_eq!(starts(10, 4, 4, EdgeMode::Drop), [0, 4]);
        assert_eq!(starts(10, 4, 4, EdgeMode::Pad), [0, 4, 8]);
        assert_eq!(starts(8, 4, 4, EdgeMode::Drop), [0, 4]);
        assert_eq!(starts(8, 4, 4, EdgeMode::Pad), [0, 4]);
        // Overlapping windows (stride < size).
        assert_eq!(starts(10, 4, 2, EdgeMode::Drop), [0, 2, 4, 6]);
        assert_eq!(starts(10, 4, 3, EdgeMode::Pad), [0, 3, 6]);
        // Gaps (stride > size).
        assert_eq!(starts(10, 2, 5, EdgeMode::Drop), [0, 5]);
        // Scenes smaller than a tile.
        assert!(starts(3, 4, 4, EdgeMode::Drop).is_empty());
        assert_eq!(starts(3, 4, 4, EdgeMode::Pad), [0]);
        assert!(starts(0, 4, 4, EdgeMode::Pad).is_empty());
        assert_eq!(starts(4, 4, 1, EdgeMode::Drop), [0]);
    }

    #[test]
    fn pad_covers_every_pixel_and_drop_stays_inside() {
        for extent in 1..40 {
            for size in 1..9 {
                for stride in 1..=size {
                    let pad = starts(extent, size, stride, EdgeMode::Pad);
                    let mut covered = vec![false; extent];
                    for &s in &pad {
                        assert!(s < extent);
                        covered[s..(s + size).min(extent)].iter_mut().for_each(|c| *c = true);
                    }
                    assert!(covered.iter().all(|&c| c), "extent {extent} size {size} stride {stride}");
                    for &s in &starts(extent, size, stride, EdgeMode::Drop) {
                        assert!(s + size <= extent);
                    }
                }
            }
        }
    }

    #[test]
    fn grid_windows_and_extraction_with_padding() {
        let (h, w) = (5, 6);
        let data: Vec<f32> = (0..2 * h * w).map(|v| v as f32).collect();
        let g = TileGrid::new(h, w, 4, 4, EdgeMode::Pad).unwrap();
        assert_eq!(g.len(), 4);
        let win = g.window(3);
        assert_eq!(win, TileWindow { y: 4, x: 4, valid_height: 1, valid_width: 2 });
        let a = ModalityArray { channels: 2, height: h, width: w, data };
        let t = extract_array(&a, &win, 4).unwrap();
        // Channel 1, row 0: scene values at (4, 4) and (4, 5), then zeros.
        assert_eq!(&t.data[16..20], &[(30 + 28) as f32, (30 + 29) as f32, 0.0, 0.0]);
        assert!(t.data[20..32].iter().all(|&v| v == 0.0));
        let labels: Vec<u8> = (0..(h * w) as u8).collect();
        let l = extract_labels(&labels, h, w, &win, 4).unwrap();
        assert_eq!(&l[..4], &[28, 29, IGNORE_INDEX, IGNORE_INDEX]);
        assert_eq!(l.iter().filter(|&&v| v == IGNORE_INDEX).count(), 14);
        // An interior window is a plain copy.
        let t0 = extract_array(&a, &g.window(0), 4).unwrap();
        assert_eq!(&t0.data[4..8], &[6.0, 7.0, 8.0, 9.0]);
    }

    #[test]
    fn drop_grid_and_errors() {
        let g = TileGrid::new(5, 6, 4, 4, EdgeMode::Drop).unwrap();
        assert_eq!(g.len(), 1);
        assert!(matches!(g.get(1), Err(Error::IndexOutOfRange { index: 1, len: 1 })));
        assert!(TileGrid::new(5, 6, 0, 4, EdgeMode::Drop).is_err());
        assert!(TileGrid::new(5, 6, 4, 0, EdgeMode::Pad).is_err());
        assert!(TileGrid::new(2, 2, 4, 4, EdgeMode::Drop).unwrap().is_empty());
        let win = TileWindow { y: 3, x: 0, valid_height: 4, valid_width: 4 };
        assert!(extract(&[0u8; 30], 1, 5, 6, &win, 4, 0).is_err());
        assert!(extract(&[0u8; 29], 1, 5, 6, &g.window(0), 4, 0).is_err());
    }
}
