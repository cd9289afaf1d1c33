//! Synthetic scenes in the ISPRS Potsdam layout (see [`crate::potsdam`] for the files).
//!
//! Optical R, G, B, NIR reflectance → RGBIR u8 (×255, rounded), chunky, tagged RGB with one
//! extra sample, LZW + horizontal predictor; DSM metres → f32 with Deflate + floating-point
//! predictor; classes → colours: water and bare soil → clutter, crops and low vegetation → low
//! vegetation, trees → tree, road → impervious, building → building, and a regular pattern of
//! 2 × 4 "cars" on roads. noBoundary labels blacken pixels whose 4-neighbour differs. With
//! GDAL (the `gdal` feature), the nDSM is written as the release ships it: an 8-bit JPEG of the
//! height above the tile's lowest DSM point (metres, rounded, clamped to 0..=255).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::potsdam::{PALETTE, PotsdamStack};
use crate::raster::{Photometric, Raster, RasterData, TiffWriteOptions, WriteCompression, write_tiff};
use crate::synthetic::SceneArrays;

/// The 38 real tile ids, alternating official train and test tiles so that a few synthetic
/// tiles cover both splits.
pub const TILE_IDS: [(u32, u32); 38] = [
    (2, 10),
    (2, 13),
    (2, 11),
    (2, 14),
    (2, 12),
    (3, 13),
    (3, 10),
    (3, 14),
    (3, 11),
    (4, 13),
    (3, 12),
    (4, 14),
    (4, 10),
    (4, 15),
    (4, 11),
    (5, 13),
    (4, 12),
    (5, 14),
    (5, 10),
    (5, 15),
    (5, 11),
    (6, 13),
    (5, 12),
    (6, 14),
    (6, 10),
    (6, 15),
    (6, 11),
    (7, 13),
    (6, 12),
    (6, 7),
    (6, 8),
    (6, 9),
    (7, 10),
    (7, 11),
    (7, 12),
    (7, 7),
    (7, 8),
    (7, 9),
];

/// Synthetic class → Potsdam class (before cars).
const CLASS_MAP: [u8; 7] = [0, 0, 3, 3, 4, 1, 2];

/// A rendered tile.
#[derive(Debug, Clone, PartialEq)]
pub struct PotsdamTile {
    /// `4 × H × W` u8: R, G, B, IR.
    pub rgbir: Raster,
    /// `1 × H × W` f32 heights.
    pub dsm: Raster,
    /// `1 × H × W` u8 heights above the lowest point.
    pub ndsm: Raster,
    /// Class indices (0..6).
    pub labels: Vec<u8>,
    /// `3 × H × W` u8 colour labels.
    pub colours: Raster,
    /// The noBoundary colour labels (boundaries black).
    pub colours_no_boundary: Raster,
}

/// Converts a synthetic scene to Potsdam arrays.
pub fn render(s: &SceneArrays) -> PotsdamTile {
    let (h, w) = (s.height, s.width);
    let rgbir: Vec<u8> = s.optical.data.iter().map(|&v| super::quantise(v, 255.0, 0.0, 255.0) as u8).collect();
    let mut labels: Vec<u8> = s.labels.iter().map(|&c| CLASS_MAP[usize::from(c.min(6))]).collect();
    for y in 0..h {
        for x in 0..w {
            // Cars: 2 × 4 blocks on a sparse lattice, where the whole block is road.
            let (by, bx) = (y / 2, x / 4);
            if (by * 7 + bx * 3) % 11 == 0 && s.labels[y * w + x] == 5 {
                labels[y * w + x] = 5;
            }
        }
    }
    let colour = |labels: &[u8], black: &dyn Fn(usize) -> bool| {
        let mut v = vec![0u8; 3 * h * w];
        for (i, &l) in labels.iter().enumerate() {
            if !black(i) {
                for ch in 0..3 {
                    v[ch * h * w + i] = PALETTE[usize::from(l)][ch];
                }
            }
        }
        Raster::new(w, h, 3, RasterData::U8(v)).expect("3 × h × w")
    };
    let boundary = |i: usize| {
        let (y, x) = (i / w, i % w);
        let l = labels[i];
        (x > 0 && labels[i - 1] != l)
            || (x + 1 < w && labels[i + 1] != l)
            || (y > 0 && labels[i - w] != l)
            || (y + 1 < h && labels[i + w] != l)
    };
    let lowest = s.dsm.data.iter().copied().fold(f32::INFINITY, f32::min);
    let ndsm: Vec<u8> = s.dsm.data.iter().map(|&z| (z - lowest).round().clamp(0.0, 255.0) as u8).collect();
    let colours = colour(&labels, &|_| false);
    let colours_no_boundary = colour(&labels, &boundary);
    PotsdamTile {
        rgbir: Raster::new(w, h, 4, RasterData::U8(rgbir)).expect("4 × h × w"),
        dsm: Raster::new(w, h, 1, RasterData::F32(s.dsm.data.clone())).expect("1 × h × w"),
        ndsm: Raster::new(w, h, 1, RasterData::U8(ndsm)).expect("1 × h × w"),
        labels,
        colours,
        colours_no_boundary,
    }
}

/// Writes scene `index` as tile `TILE_IDS[index]` under `root`; returns its id and files.
pub fn write_tile(root: &Path, index: usize, s: &SceneArrays) -> Result<(String, Vec<PathBuf>)> {
    let (a, b) = TILE_IDS[index];
    let t = render(s);
    let rgb = TiffWriteOptions { photometric: Photometric::Rgb, ..Default::default() };
    let files = vec![
        PotsdamStack::Rgbir.path(root, a, b),
        PotsdamStack::Dsm.path(root, a, b),
        root.join("5_Labels_all").join(format!("top_potsdam_{a}_{b}_label.tif")),
        root.join("5_Labels_all_noBoundary").join(format!("top_potsdam_{a}_{b}_label_noBoundary.tif")),
    ];
    write_tiff(&files[0], &t.rgbir, &rgb)?;
    let dsm = TiffWriteOptions { compression: WriteCompression::Deflate, ..Default::default() };
    write_tiff(&files[1], &t.dsm, &dsm)?;
    write_tiff(&files[2], &t.colours, &rgb)?;
    write_tiff(&files[3], &t.colours_no_boundary, &rgb)?;
    let files = files.into_iter().chain(write_ndsm(root, (a, b), &t.ndsm)?).collect();
    Ok((format!("{a}_{b}"), files))
}

/// Writes the nDSM JPEG of tile `(a, b)` (GDAL's JPEG driver) and returns its path.
#[cfg(feature = "gdal")]
fn write_ndsm(root: &Path, (a, b): (u32, u32), ndsm: &Raster) -> Result<Option<PathBuf>> {
    let path = PotsdamStack::Ndsm.path(root, a, b);
    crate::raster::write_with_gdal(&path, ndsm, "JPEG", &["QUALITY=95"])?;
    Ok(Some(path))
}

/// Without GDAL no JPEG is written: the layout has no nDSM.
#[cfg(not(feature = "gdal"))]
fn write_ndsm(_root: &Path, _tile: (u32, u32), _ndsm: &Raster) -> Result<Option<PathBuf>> {
    Ok(None)
}
