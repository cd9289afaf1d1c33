//! Synthetic scenes in the DSTL raw Kaggle layout (see [`crate::dstl`] for the files).
//!
//! three_band: R, G, B reflectance × 2047 (11-bit) as u16, planar, LZW + predictor. M (8 × u16,
//! box-averaged to size/4): coastal, blue, green, yellow, red, red edge, NIR1, NIR2 from the
//! optical bands. A (8 × u16, box-averaged to size/25, at least 2²): SWIR-like bands from SAR
//! VV, VH (dB + 40, × 50) and the DSM. P: the mean of R, G, B × 2047. Image ids look like the
//! real ones (`6010_0_0`, …); grid sizes vary slightly per image.
//!
//! Polygons: synthetic classes map to DSTL classes (building → 1 Buildings, road → 3 Road,
//! trees → 5 Trees, crops → 6 Crops, water → 8 Standing water; bare soil and low vegetation to
//! none); classes 2, 4, 7, 9 and 10 are `MULTIPOLYGON EMPTY`. Each class mask is traced into
//! rectangles: maximal runs of a row, extended down while the next row has the same run. Their
//! corners lie on pixel edges, so filling them at pixel centres gives back the mask exactly.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{SynthOptions, quantise, scene, write_file};
use crate::dstl::DstlStack;
use crate::dstl::rasterize::GridTransform;
use crate::error::Result;
use crate::raster::{Raster, RasterData, TiffWriteOptions, write_tiff};
use crate::synthetic::SceneArrays;

/// Synthetic class → DSTL class type (0 = none).
pub const CLASS_MAP: [u8; 7] = [8, 0, 6, 0, 5, 3, 1];

/// A rendered image.
#[derive(Debug, Clone, PartialEq)]
pub struct DstlImage {
    /// 3 × u16 at the label grid.
    pub three_band: Raster,
    /// 8 × u16 at about size/4.
    pub m: Raster,
    /// 8 × u16 at about size/25.
    pub a: Raster,
    /// 1 × u16 at the label grid.
    pub p: Raster,
    /// DSTL class type per pixel (0 = none).
    pub classes: Vec<u8>,
}

/// The id of image `index`.
pub fn image_id(index: usize) -> String {
    format!("6{:03}_{}_{}", 10 + (index / 25) * 10, (index / 5) % 5, index % 5)
}

/// The grid size (Xmax, Ymin) of image `index`.
pub fn grid_size(index: usize) -> (f64, f64) {
    (0.009 + 0.0001 * (index % 7) as f64, -0.009 + 0.00005 * (index % 3) as f64)
}

/// Box-averages `bands` planes of `h × w` to `oh × ow` (each output pixel the mean of its
/// source rectangle).
fn box_average(src: &[f32], bands: usize, h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    let mut out = vec![0f32; bands * oh * ow];
    for b in 0..bands {
        for oy in 0..oh {
            let (y0, y1) = (oy * h / oh, ((oy + 1) * h / oh).max(oy * h / oh + 1));
            for ox in 0..ow {
                let (x0, x1) = (ox * w / ow, ((ox + 1) * w / ow).max(ox * w / ow + 1));
                let mut sum = 0.0;
                for y in y0..y1 {
                    for x in x0..x1 {
                        sum += src[b * h * w + y * w + x];
                    }
                }
                out[b * oh * ow + oy * ow + ox] = sum / ((y1 - y0) * (x1 - x0)) as f32;
            }
        }
    }
    out
}

/// Converts a synthetic scene to DSTL arrays.
pub fn render(s: &SceneArrays) -> DstlImage {
    let (h, w) = (s.height, s.width);
    let n = h * w;
    let o = &s.optical.data;
    let dn = |v: f32| quantise(v, 2047.0, 0.0, 2047.0) as u16;
    let three_band: Vec<u16> = o[..3 * n].iter().map(|&v| dn(v)).collect();
    let p: Vec<u16> = (0..n).map(|i| dn((o[i] + o[n + i] + o[2 * n + i]) / 3.0)).collect();
    // M: 8 bands derived from R, G, B, NIR, then averaged to size/4.
    let mut m_full = vec![0f32; 8 * n];
    for i in 0..n {
        let (r, g, b, ni) = (o[i], o[n + i], o[2 * n + i], o[3 * n + i]);
        let bands = [b * 0.9, b, g, 0.5 * (r + g), r, 0.5 * (r + ni), ni, ni * 0.95];
        for (k, v) in bands.into_iter().enumerate() {
            m_full[k * n + i] = v;
        }
    }
    let (mh, mw) = ((h / 4).max(2), (w / 4).max(2));
    let m: Vec<u16> = box_average(&m_full, 8, h, w, mh, mw).into_iter().map(dn).collect();
    // A: 8 SWIR-like bands from SAR and height.
    let sar = &s.sar.data;
    let mut a_full = vec![0f32; 8 * n];
    for i in 0..n {
        let (vv, vh, z) = (sar[i] + 40.0, sar[n + i] + 40.0, s.dsm.data[i]);
        let bands = [vv, vh, 0.5 * (vv + vh), vv * 0.9, vh * 0.9, z, 0.5 * vv + 0.1 * z, 0.5 * vh + 0.1 * z];
        for (k, v) in bands.into_iter().enumerate() {
            a_full[k * n + i] = v;
        }
    }
    let (ah, aw) = ((h / 25).max(2), (w / 25).max(2));
    let a: Vec<u16> =
        box_average(&a_full, 8, h, w, ah, aw).into_iter().map(|v| quantise(v, 50.0, 0.0, 65535.0) as u16).collect();
    DstlImage {
        three_band: Raster::new(w, h, 3, RasterData::U16(three_band)).expect("3 × h × w"),
        m: Raster::new(mw, mh, 8, RasterData::U16(m)).expect("8 × mh × mw"),
        a: Raster::new(aw, ah, 8, RasterData::U16(a)).expect("8 × ah × aw"),
        p: Raster::new(w, h, 1, RasterData::U16(p)).expect("1 × h × w"),
        classes: s.labels.iter().map(|&c| CLASS_MAP[usize::from(c.min(6))]).collect(),
    }
}

/// Rectangles `(x0, y0, x1, y1)` (pixel edges, exclusive ends) covering exactly the pixels
/// where `mask(i)` holds: maximal row runs, each extended down while the next row has the
/// identical run.
pub fn trace_rectangles(
    width: usize,
    height: usize,
    mask: impl Fn(usize) -> bool,
) -> Vec<(usize, usize, usize, usize)> {
    let mut done = Vec::new();
    // Open rectangles: (x0, x1, y0), sorted by x0.
    let mut open: Vec<(usize, usize, usize)> = Vec::new();
    for y in 0..=height {
        let mut runs = Vec::new();
        if y < height {
            let mut x = 0;
            while x < width {
                if mask(y * width + x) {
                    let x0 = x;
                    while x < width && mask(y * width + x) {
                        x += 1;
                    }
                    runs.push((x0, x));
                } else {
                    x += 1;
                }
            }
        }
        let mut next = Vec::with_capacity(runs.len());
        for &(x0, x1) in &runs {
            match open.iter().position(|&(a, b, _)| a == x0 && b == x1) {
                Some(k) => next.push(open.swap_remove(k)),
                None => next.push((x0, x1, y)),
            }
        }
        done.extend(open.drain(..).map(|(x0, x1, y0)| (x0, y0, x1, y)));
        open = next;
    }
    done
}

/// The WKT `MULTIPOLYGON` of the pixels of `classes` equal to `class`, in geo coordinates.
pub fn class_wkt(classes: &[u8], width: usize, height: usize, class: u8, t: &GridTransform) -> String {
    let rects = trace_rectangles(width, height, |i| classes[i] == class);
    if rects.is_empty() {
        return "MULTIPOLYGON EMPTY".into();
    }
    let mut s = String::from("MULTIPOLYGON (");
    for (k, &(x0, y0, x1, y1)) in rects.iter().enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push_str("((");
        let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
        for (j, &(x, y)) in corners.iter().enumerate() {
            let (gx, gy) = t.to_geo((x as f64, y as f64));
            if j > 0 {
                s.push(',');
            }
            let _ = write!(s, "{gx} {gy}");
        }
        s.push_str("))");
    }
    s.push(')');
    s
}

/// Writes every image of `options` and the two CSV files; returns ids and files per image.
pub fn write_all(root: &Path, options: &SynthOptions) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let per_image: Vec<(String, Vec<PathBuf>, Vec<String>)> = (0..options.tiles)
        .into_par_iter()
        .map(|i| {
            let id = image_id(i);
            let img = render(&scene(options, i));
            let planar = TiffWriteOptions { planar: true, ..Default::default() };
            let files = vec![
                DstlStack::ThreeBand.path(root, &id),
                DstlStack::M.path(root, &id),
                DstlStack::A.path(root, &id),
                DstlStack::P.path(root, &id),
            ];
            write_tiff(&files[0], &img.three_band, &planar)?;
            write_tiff(&files[1], &img.m, &planar)?;
            write_tiff(&files[2], &img.a, &planar)?;
            write_tiff(&files[3], &img.p, &planar)?;
            let (xmax, ymin) = grid_size(i);
            let t = GridTransform::new(options.size, options.size, xmax, ymin);
            let rows = (1..=10u8)
                .map(|c| format!("{id},{c},\"{}\"", class_wkt(&img.classes, options.size, options.size, c, &t)))
                .collect();
            Ok((id, files, rows))
        })
        .collect::<Result<_>>()?;
    let mut grid = String::from(",Xmax,Ymin\n");
    let mut wkt = String::from("ImageId,ClassType,MultipolygonWKT\n");
    for (i, (id, _, rows)) in per_image.iter().enumerate() {
        let (xmax, ymin) = grid_size(i);
        let _ = writeln!(grid, "{id},{xmax},{ymin}");
        for r in rows {
            wkt.push_str(r);
            wkt.push('\n');
        }
    }
    let (gp, wp) = (root.join("grid_sizes.csv"), root.join("train_wkt_v4.csv"));
    write_file(&gp, grid.as_bytes())?;
    write_file(&wp, wkt.as_bytes())?;
    let mut out: Vec<(String, Vec<PathBuf>)> = per_image.into_iter().map(|(id, files, _)| (id, files)).collect();
    if let Some(first) = out.first_mut() {
        first.1.extend([gp, wp]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dstl::rasterize::fill_polygons;
    use crate::dstl::wkt::parse_multipolygon;

    #[test]
    fn traced_rectangles_fill_back_to_the_mask() {
        let (w, h) = (23, 17);
        let classes: Vec<u8> = (0..w * h).map(|i| u8::from((i * 7919 % 13) < 5 || (i % w > 5 && i % w < 12))).collect();
        let t = GridTransform::new(w, h, 0.0091, -0.0089);
        let wkt = class_wkt(&classes, w, h, 1, &t);
        let polys = parse_multipolygon(&wkt).unwrap();
        let mut mask = vec![0u8; w * h];
        fill_polygons(&polys, &t, w, h, &mut mask, 1);
        assert_eq!(mask, classes);
        assert_eq!(class_wkt(&classes, w, h, 2, &t), "MULTIPOLYGON EMPTY");
    }
}
