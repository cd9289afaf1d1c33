//! The scene-tiling planner (docs/predict.md §1): tile origins every `tile − overlap` pixels
//! along each axis, the last tile flush with the border, so every pixel is covered; a scene
//! smaller than a tile gets one tile at 0 that the reader pads.

use crate::error::{Error, Result};

/// The tiles of one scene: origins of rows of tiles and of columns, each tile `tile × tile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TilePlan {
    /// Scene height in pixels.
    pub height: usize,
    /// Scene width in pixels.
    pub width: usize,
    /// Tile side.
    pub tile: usize,
    /// Overlap between neighbouring tiles (at least; the last tile may overlap more).
    pub overlap: usize,
    /// Row origins (`y0` of each row of tiles), increasing.
    pub rows: Vec<usize>,
    /// Column origins (`x0`), increasing.
    pub cols: Vec<usize>,
}

/// Origins along one axis of `size` pixels: 0, s, 2s, … while the tile ends inside, then
/// `size − tile` (flush with the border); `[0]` when the axis is no longer than a tile.
pub fn axis_origins(size: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if size <= tile {
        return vec![0];
    }
    let stride = tile - overlap;
    let mut out: Vec<usize> = (0..).map(|i| i * stride).take_while(|&o| o + tile < size).collect();
    out.push(size - tile);
    out
}

impl TilePlan {
    /// The plan of a `height × width` scene; fails on an empty scene, `tile = 0` or
    /// `overlap ≥ tile`.
    pub fn new(height: usize, width: usize, tile: usize, overlap: usize) -> Result<Self> {
        if height == 0 || width == 0 {
            return Err(Error::config("scene size", format!("{height} × {width}"), "at least 1 × 1 pixels"));
        }
        if tile == 0 {
            return Err(Error::config("tile", tile, "a positive tile side"));
        }
        if overlap >= tile {
            return Err(Error::config("overlap", overlap, &format!("less than the tile side {tile}")));
        }
        let rows = axis_origins(height, tile, overlap);
        let cols = axis_origins(width, tile, overlap);
        Ok(Self { height, width, tile, overlap, rows, cols })
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    /// Whether the plan has no tiles (never for a plan from [`TilePlan::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows of tile row `i` that lie inside the scene.
    pub fn tile_rows(&self, i: usize) -> usize {
        self.tile.min(self.height - self.rows[i])
    }

    /// The first row not covered by any tile row after `i`: every row above it is final once
    /// tile row `i` has been blended.
    pub fn finished_after(&self, i: usize) -> usize {
        self.rows.get(i + 1).copied().unwrap_or(self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_cover_every_pixel_with_the_overlap() {
        for size in [1, 5, 223, 224, 225, 400, 447, 448, 449, 1000, 6000] {
            for (tile, overlap) in [(224, 32), (224, 0), (64, 63), (7, 3)] {
                let o = axis_origins(size, tile, overlap);
                let mut covered = vec![0u32; size];
                for &x in &o {
                    (x..(x + tile).min(size)).for_each(|i| covered[i] += 1);
                }
                assert!(covered.iter().all(|&c| c > 0), "size {size} tile {tile}: {o:?}");
                if size > tile {
                    assert_eq!(*o.last().unwrap() + tile, size, "last tile flush");
                    assert!(o.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= tile - overlap));
                } else {
                    assert_eq!(o, [0]);
                }
            }
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(matches!(TilePlan::new(10, 10, 0, 0), Err(Error::Config { .. })));
        assert!(matches!(TilePlan::new(10, 10, 8, 8), Err(Error::Config { .. })));
        assert!(matches!(TilePlan::new(0, 10, 8, 2), Err(Error::Config { .. })));
        let p = TilePlan::new(500, 300, 224, 32).unwrap();
        assert_eq!(p.rows, [0, 192, 276]);
        assert_eq!(p.cols, [0, 76]);
        assert_eq!(p.len(), 6);
        assert_eq!(p.finished_after(0), 192);
        assert_eq!(p.finished_after(2), 500);
    }
}
