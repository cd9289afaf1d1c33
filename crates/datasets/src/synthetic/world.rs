//! The procedural world of the synthetic generator: a pure function from world pixel
//! coordinates to a class and the few physical attributes the sensors need.
//!
//! Layers, in order of precedence (docs/method.md §8.4):
//! 1. terrain: three octaves of value noise; **water** fills the ground below a fixed level;
//! 2. **roads**: a sparse major grid (period 128 px, 5 px wide) everywhere and a dense minor
//!    grid (period 32 px, 4 px wide) in towns, each segment between crossings present or not;
//! 3. towns (a low-frequency noise above a threshold): lots of 14 × 14 px between the minor
//!    roads, most holding a **building** (inset by 1–3 px, 5–17 m tall, its own roof tone),
//!    the rest gardens (**low vegetation**) and a few **trees**;
//! 4. countryside: forest patches (**trees**, 8–18 m) from a medium-frequency noise, and a
//!    brick pattern of 60 × 40 px parcels of **crops**, **bare soil** or **low vegetation**,
//!    each with its own vigour tone.
//!
//! A window is laid out into a `Vec<Cell>` (row-major) reused across calls.

use super::noise::{Octave, add_value_noise, hash2, stream, unit};

/// Class indices (see [`super::CLASS_NAMES`]).
pub(crate) const WATER: u8 = 0;
pub(crate) const BARE_SOIL: u8 = 1;
pub(crate) const CROPS: u8 = 2;
pub(crate) const LOW_VEGETATION: u8 = 3;
pub(crate) const TREES: u8 = 4;
pub(crate) const ROAD: u8 = 5;
pub(crate) const BUILDING: u8 = 6;

const TERRAIN: [Octave; 3] =
    [Octave { cell: 192, amplitude: 1.0 }, Octave { cell: 64, amplitude: 0.45 }, Octave { cell: 20, amplitude: 0.15 }];
const URBAN: [Octave; 2] = [Octave { cell: 320, amplitude: 1.0 }, Octave { cell: 96, amplitude: 0.35 }];
const FOREST: [Octave; 2] = [Octave { cell: 72, amplitude: 1.0 }, Octave { cell: 24, amplitude: 0.4 }];

/// Terrain below this (of a range [0, 1.6)) is water.
pub(crate) const WATER_LEVEL: f32 = 0.5;
/// Urban noise above this (of [0, 1.35)) is town.
const TOWN: f32 = 0.78;
/// Forest noise above this (of [0, 1.4)) is trees; in towns a higher threshold (parks, rows).
const FOREST_RURAL: f32 = 0.86;
const FOREST_TOWN: f32 = 1.0;

const MAJOR_PERIOD: i64 = 128;
const MAJOR_WIDTH: i64 = 5;
const MINOR_PERIOD: i64 = 32;
const MINOR_WIDTH: i64 = 4;
const LOT: i64 = 14;
const PARCEL_W: i64 = 60;
const PARCEL_H: i64 = 40;

/// Ground elevation (m) of terrain value 0, and metres per unit of terrain value.
pub(crate) const BASE_ELEVATION: f32 = 20.0;
pub(crate) const RELIEF: f32 = 8.0;

/// The state of one world pixel.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Cell {
    /// Class index.
    pub class: u8,
    /// Ground (or water surface) elevation in metres.
    pub ground: f32,
    /// Height of the object above ground (buildings, trees, crops), metres.
    pub object: f32,
    /// Per-object variation in [−1, 1] (roof colour, crop vigour).
    pub tone: f32,
}

/// The seeded world: only stream seeds, so it is `Copy` and free to share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct World {
    terrain: u64,
    urban: u64,
    forest: u64,
    major: u64,
    minor: u64,
    lots: u64,
    parcels: u64,
}

/// Scratch buffers of one layout call (kept by the caller to avoid reallocating per tile).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    terrain: Vec<f32>,
    urban: Vec<f32>,
    forest: Vec<f32>,
}

impl World {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            terrain: stream(seed, 1),
            urban: stream(seed, 2),
            forest: stream(seed, 3),
            major: stream(seed, 4),
            minor: stream(seed, 5),
            lots: stream(seed, 6),
            parcels: stream(seed, 7),
        }
    }

    /// Lays out the window with top-left world pixel (`x0`, `y0`) into `cells`.
    pub(crate) fn layout(
        &self,
        x0: i64,
        y0: i64,
        height: usize,
        width: usize,
        scratch: &mut Scratch,
        cells: &mut Vec<Cell>,
    ) {
        let n = height * width;
        for (buf, seed, oct) in [
            (&mut scratch.terrain, self.terrain, &TERRAIN[..]),
            (&mut scratch.urban, self.urban, &URBAN[..]),
            (&mut scratch.forest, self.forest, &FOREST[..]),
        ] {
            buf.clear();
            buf.resize(n, 0.0);
            add_value_noise(seed, oct, x0, y0, height, width, buf);
        }
        cells.clear();
        cells.reserve(n);
        for r in 0..height {
            let y = y0 + r as i64;
            for c in 0..width {
                let x = x0 + c as i64;
                let k = r * width + c;
                cells.push(self.cell(x, y, scratch.terrain[k], scratch.urban[k], scratch.forest[k]));
            }
        }
    }

    /// Whether the road segment of a grid line is present: `line` indexes the line, `span`
    /// the stretch between two crossings, `axis` 0 for vertical and 1 for horizontal lines.
    #[inline]
    fn segment(seed: u64, axis: i64, line: i64, span: i64, p: f32) -> bool {
        unit(hash2(seed ^ axis as u64, line, span)) < p
    }

    #[inline]
    fn on_grid(seed: u64, x: i64, y: i64, period: i64, width: i64, p: f32) -> bool {
        (x.rem_euclid(period) < width && Self::segment(seed, 0, x.div_euclid(period), y.div_euclid(period), p))
            || (y.rem_euclid(period) < width && Self::segment(seed, 1, y.div_euclid(period), x.div_euclid(period), p))
    }

    #[inline]
    fn cell(&self, x: i64, y: i64, terrain: f32, urban: f32, forest: f32) -> Cell {
        let ground = BASE_ELEVATION + RELIEF * terrain;
        if terrain < WATER_LEVEL {
            return Cell { class: WATER, ground: BASE_ELEVATION + RELIEF * WATER_LEVEL, object: 0.0, tone: 0.0 };
        }
        let town = urban > TOWN;
        if Self::on_grid(self.major, x, y, MAJOR_PERIOD, MAJOR_WIDTH, 0.6)
            || (town && Self::on_grid(self.minor, x, y, MINOR_PERIOD, MINOR_WIDTH, 0.85))
        {
            return Cell { class: ROAD, ground, object: 0.0, tone: 0.0 };
        }
        if town {
            // Lots between the minor roads: the block interior starts after the road width.
            let (bx, by) = (x.rem_euclid(MINOR_PERIOD) - MINOR_WIDTH, y.rem_euclid(MINOR_PERIOD) - MINOR_WIDTH);
            if bx >= 0 && by >= 0 && bx < 2 * LOT && by < 2 * LOT {
                let (lx, ly) = (x.div_euclid(MINOR_PERIOD) * 2 + bx / LOT, y.div_euclid(MINOR_PERIOD) * 2 + by / LOT);
                let h = hash2(self.lots, lx, ly);
                if unit(h) < 0.7 {
                    let (ix, iy) = (bx % LOT, by % LOT);
                    let inset = |s: u32| 1 + ((h >> s) & 3) as i64 % 3;
                    if ix >= inset(8) && iy >= inset(12) && ix < LOT - inset(16) && iy < LOT - inset(20) {
                        let object = 5.0 + 12.0 * ((h >> 24) & 0xff) as f32 / 255.0;
                        let tone = ((h >> 32) & 0xff) as f32 / 127.5 - 1.0;
                        return Cell { class: BUILDING, ground, object, tone };
                    }
                }
            }
            if forest > FOREST_TOWN {
                return Cell { class: TREES, ground, object: 8.0 + 25.0 * (forest - FOREST_TOWN), tone: 0.0 };
            }
            return Cell { class: LOW_VEGETATION, ground, object: 0.2, tone: 0.0 };
        }
        if forest > FOREST_RURAL {
            let object = (8.0 + 25.0 * (forest - FOREST_RURAL)).min(18.0);
            return Cell { class: TREES, ground, object, tone: 0.0 };
        }
        // Brick pattern of parcels: each row of parcels is shifted by its own offset.
        let row = y.div_euclid(PARCEL_H);
        let shift = (hash2(self.parcels, row, -1) % PARCEL_W as u64) as i64;
        let col = (x + shift).div_euclid(PARCEL_W);
        let h = hash2(self.parcels, col, row);
        let u = unit(h);
        let tone = ((h & 0xff) as f32 / 127.5) - 1.0;
        let (class, object) = if u < 0.45 {
            (CROPS, 0.8)
        } else if u < 0.7 {
            (BARE_SOIL, 0.0)
        } else {
            (LOW_VEGETATION, 0.2)
        };
        Cell { class, ground, object, tone }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_occurs_in_a_large_window() {
        let world = World::new(0);
        let (mut scratch, mut cells) = (Scratch::default(), Vec::new());
        world.layout(1000, -3000, 512, 512, &mut scratch, &mut cells);
        let mut counts = [0usize; 7];
        for c in &cells {
            counts[c.class as usize] += 1;
        }
        assert!(counts.iter().all(|&n| n > 0), "class counts {counts:?}");
    }

    #[test]
    fn layout_depends_only_on_world_coordinates() {
        let world = World::new(5);
        let (mut scratch, mut big, mut small) = (Scratch::default(), Vec::new(), Vec::new());
        world.layout(-40, 10, 80, 90, &mut scratch, &mut big);
        world.layout(-5, 30, 16, 20, &mut scratch, &mut small);
        for r in 0..16 {
            for c in 0..20 {
                assert_eq!(small[r * 20 + c], big[(r + 20) * 90 + c + 35]);
            }
        }
    }
}
