//! Synthetic scenes in the Hunan layout (see [`crate::hunan`] for the files).
//!
//! s2: 13 Sentinel-2 bands as u16 reflectance × 10000 (B2, B3, B4, B8 from blue, green, red,
//! NIR; red-edge bands interpolated between red and NIR; B1, B8A, B9–B12 derived); s1: VV, VH
//! in dB (f32); topo: elevation (the DSM, f32) and slope in degrees (central differences at
//! 10 m). Land cover as raw codes: crops 1, trees 2 or 4, low vegetation 3, water 6, bare soil
//! 9, road 8 or 10, building 7, or 11 (lookup class 7) on one 8² block in five; every other
//! patch gets a 6 × 6 no-data (255) corner. Patch `i` goes to train, val or test by `i % 5`
//! (val for 1, test for 2, train otherwise).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::hunan::{HunanStack, label_path};
use crate::raster::{Raster, RasterData, TiffWriteOptions, write_tiff};
use crate::synthetic::SceneArrays;

/// A rendered patch.
#[derive(Debug, Clone, PartialEq)]
pub struct HunanPatch {
    /// 13 × u16.
    pub s2: Raster,
    /// 2 × f32.
    pub s1: Raster,
    /// 2 × f32.
    pub topo: Raster,
    /// 1 × u8 raw codes.
    pub codes: Raster,
}

/// The split directory of patch `index`.
pub fn split_of(index: usize) -> &'static str {
    match index % 5 {
        1 => "val",
        2 => "test",
        _ => "train",
    }
}

/// The id of patch `index`.
pub fn patch_id(index: usize) -> String {
    format!("{index:05}")
}

/// Converts a synthetic scene to Hunan arrays (patch `index` decides the no-data corner).
pub fn render(index: usize, s: &SceneArrays) -> HunanPatch {
    let (h, w) = (s.height, s.width);
    let n = h * w;
    let o = &s.optical.data;
    let (red, green, blue, nir) = (&o[..n], &o[n..2 * n], &o[2 * n..3 * n], &o[3 * n..4 * n]);
    let mut s2 = vec![0u16; 13 * n];
    for i in 0..n {
        let (r, g, b, ni) = (red[i], green[i], blue[i], nir[i]);
        let lerp = |t: f32| r + (ni - r) * t;
        let bands = [
            b * 0.9 + 0.02,
            b,
            g,
            r,
            lerp(0.25),
            lerp(0.5),
            lerp(0.75),
            ni,
            ni * 0.97,
            ni * 0.3,
            0.01 + 0.02 * b,
            0.5 * (r + ni) * 0.8,
            r * 0.9,
        ];
        for (k, v) in bands.into_iter().enumerate() {
            s2[k * n + i] = super::quantise(v, 10000.0, 0.0, 65535.0) as u16;
        }
    }
    let d = &s.dsm.data;
    let mut topo = vec![0f32; 2 * n];
    topo[..n].copy_from_slice(d);
    for y in 0..h {
        for x in 0..w {
            let (xl, xr) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let (yu, yd) = (y.saturating_sub(1), (y + 1).min(h - 1));
            let dx = (d[y * w + xr] - d[y * w + xl]) / (10.0 * (xr - xl).max(1) as f32);
            let dy = (d[yd * w + x] - d[yu * w + x]) / (10.0 * (yd - yu).max(1) as f32);
            topo[n + y * w + x] = (dx * dx + dy * dy).sqrt().atan().to_degrees();
        }
    }
    let codes: Vec<u8> = (0..n)
        .map(|i| {
            let (y, x) = (i / w, i % w);
            let block = (y / 8) * 7 + x / 8;
            if index % 2 == 1 && y < 6 && x < 6 {
                return 255;
            }
            match s.labels[i] {
                0 => 6,
                1 => 9,
                2 => 1,
                3 => 3,
                4 => {
                    if block % 2 == 0 {
                        2
                    } else {
                        4
                    }
                }
                5 => {
                    if block % 2 == 0 {
                        8
                    } else {
                        10
                    }
                }
                _ => {
                    if block % 5 == 0 {
                        11
                    } else {
                        7
                    }
                }
            }
        })
        .collect();
    HunanPatch {
        s2: Raster::new(w, h, 13, RasterData::U16(s2)).expect("13 × h × w"),
        s1: Raster::new(w, h, 2, RasterData::F32(s.sar.data.clone())).expect("2 × h × w"),
        topo: Raster::new(w, h, 2, RasterData::F32(topo)).expect("2 × h × w"),
        codes: Raster::new(w, h, 1, RasterData::U8(codes)).expect("1 × h × w"),
    }
}

/// Writes patch `index` under `root`; returns its id and files.
pub fn write_patch(root: &Path, index: usize, s: &SceneArrays) -> Result<(String, Vec<PathBuf>)> {
    let (split, id) = (split_of(index), patch_id(index));
    let p = render(index, s);
    let files = vec![
        HunanStack::S2.path(root, split, &id),
        HunanStack::S1.path(root, split, &id),
        HunanStack::Topo.path(root, split, &id),
        label_path(root, split, &id),
    ];
    let opts = TiffWriteOptions::default();
    write_tiff(&files[0], &p.s2, &opts)?;
    write_tiff(&files[1], &p.s1, &opts)?;
    write_tiff(&files[2], &p.topo, &opts)?;
    write_tiff(&files[3], &p.codes, &opts)?;
    Ok((id, files))
}
