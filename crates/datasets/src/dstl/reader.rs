//! The DSTL reader proper: CSV indexing at open, scene decoding, tiles with bilinear
//! resampling of the coarser stacks to the three_band grid (see the module doc of `dstl`).
//!
//! Resampling maps pixel centres: source coordinate `u = (x + ½)·w_src/W − ½`, clamped to the
//! source, then bilinear between the four neighbours (OpenCV's `INTER_LINEAR` convention).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lssg_scenario::ModalitySet;
use rayon::prelude::*;

use super::rasterize::{GridTransform, fill_polygons};
use super::wkt::{Polygon, parse_multipolygon};
use super::{CLASS_NAMES, DstlConfig, DstlStack, DstlTarget, MULTICLASS_PRIORITY};
use crate::config::DataSplits;
use crate::error::{Error, Result};
use crate::inspect::SceneCensus;
use crate::raster::{Raster, read_info, read_stack};
use crate::sample::{ModalityArray, Sample};
use crate::scene_reader::{
    OfficialSplit, SceneAssignment, SceneInfo, SceneSource, StackPlan, label_window, modality_set,
};

/// The polygons of one image: class `c` at index `c - 1`.
type ClassPolygons = [Vec<Polygon>; 10];

/// The DSTL reader.
#[derive(Debug)]
pub struct DstlReader {
    config: DstlConfig,
    scenes: Vec<SceneInfo>,
    transforms: Vec<GridTransform>,
    polygons: Vec<ClassPolygons>,
    plan: StackPlan<DstlStack>,
    set: ModalitySet,
}

/// A decoded DSTL image: the used stacks at native resolution and the target labels.
#[derive(Debug)]
pub struct DstlScene {
    stacks: Vec<Raster>,
    labels: Vec<u8>,
    width: usize,
    height: usize,
}

fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing { path: path.to_path_buf(), hint: "a CSV file of the DSTL Kaggle layout".into() }
        } else {
            Error::Io { path: path.to_path_buf(), source }
        }
    })?;
    Ok(csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(file))
}

fn csv_err(path: &Path, e: &csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line() as usize);
    Error::Parse { path: path.to_path_buf(), line, reason: format!("malformed CSV: {e}") }
}

fn check_header(path: &Path, rdr: &mut csv::Reader<std::fs::File>, expected: &[&str]) -> Result<()> {
    let headers = rdr.headers().map_err(|e| csv_err(path, &e))?;
    let got: Vec<&str> = headers.iter().map(str::trim).collect();
    if got != expected {
        return Err(Error::Parse {
            path: path.to_path_buf(),
            line: 1,
            reason: format!("header {got:?}, expected {expected:?}"),
        });
    }
    Ok(())
}

/// `grid_sizes.csv`: image id → (Xmax, Ymin).
pub fn read_grid_sizes(path: &Path) -> Result<BTreeMap<String, (f64, f64)>> {
    let mut rdr = csv_reader(path)?;
    check_header(path, &mut rdr, &["", "Xmax", "Ymin"])?;
    let mut out = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_err(path, &e))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let num = |i: usize, name: &str| -> Result<f64> {
            rec[i].trim().parse::<f64>().map_err(|_| Error::Parse {
                path: path.to_path_buf(),
                line,
                reason: format!("{name} `{}` is not a number", &rec[i]),
            })
        };
        let (xmax, ymin) = (num(1, "Xmax")?, num(2, "Ymin")?);
        // Finite and far from 0 and infinity, so that the pixel scales W / Xmax and H / Ymin
        // are finite and non-zero (an infinite extent maps every polygon onto pixel 0).
        let extent = 1e-12..=1e12;
        if !(xmax > 0.0 && ymin < 0.0 && extent.contains(&xmax) && extent.contains(&-ymin)) {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line,
                reason: format!("expected 1e-12 <= Xmax <= 1e12 and -1e12 <= Ymin <= -1e-12, got {xmax}, {ymin}"),
            });
        }
        out.insert(rec[0].trim().to_string(), (xmax, ymin));
    }
    Ok(out)
}

/// `train_wkt_v4.csv`: image id → polygons per class (every class 1..=10 must have a row).
pub fn read_wkt(path: &Path) -> Result<BTreeMap<String, ClassPolygons>> {
    let mut rdr = csv_reader(path)?;
    check_header(path, &mut rdr, &["ImageId", "ClassType", "MultipolygonWKT"])?;
    let mut rows: Vec<(usize, String, u8, String)> = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_err(path, &e))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let class = rec[1].trim().parse::<u8>().ok().filter(|c| (1..=10).contains(c)).ok_or_else(|| Error::Parse {
            path: path.to_path_buf(),
            line,
            reason: format!("ClassType `{}`: expected 1..=10", &rec[1]),
        })?;
        rows.push((line, rec[0].trim().to_string(), class, rec[2].to_string()));
    }
    if rows.is_empty() {
        // Not "a data set of 0 scenes": a truncated or wrong file.
        let reason = "no polygon rows after the header: expected one row per image and class 1..=10".into();
        return Err(Error::Parse { path: path.to_path_buf(), line: 1, reason });
    }
    let parsed: Vec<Vec<Polygon>> = rows
        .par_iter()
        .map(|(line, id, class, text)| {
            parse_multipolygon(text).map_err(|reason| Error::Parse {
                path: path.to_path_buf(),
                line: *line,
                reason: format!("image {id} class {class}: {reason}"),
            })
        })
        .collect::<Result<_>>()?;
    let mut out: BTreeMap<String, (ClassPolygons, [bool; 10])> = BTreeMap::new();
    for ((line, id, class, _), polys) in rows.into_iter().zip(parsed) {
        let entry = out.entry(id.clone()).or_default();
        let k = usize::from(class - 1);
        if entry.1[k] {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line,
                reason: format!("image {id} class {class} appears twice"),
            });
        }
        entry.1[k] = true;
        entry.0[k] = polys;
    }
    out.into_iter()
        .map(|(id, (polys, seen))| match seen.iter().position(|s| !s) {
            None => Ok((id, polys)),
            Some(k) => Err(Error::Mismatch {
                what: format!("{}: rows of image {id}", path.display()),
                expected: "one row per class 1..=10".into(),
                got: format!("no row for class {}", k + 1),
            }),
        })
        .collect()
}

/// Opens the DSTL images under `config.root` that have polygons: reads both CSV files,
/// parses every WKT field, checks the configured stacks exist and reads the image sizes.
pub fn open(config: &DstlConfig) -> Result<Arc<DstlReader>> {
    let set = modality_set(&config.modalities)?;
    let plan = StackPlan::new(&config.modalities, DstlStack::bands)?;
    match config.target {
        DstlTarget::Binary { class } if !(1..=10).contains(&class) => {
            return Err(Error::Config {
                field: "target.class".into(),
                value: class.to_string(),
                expected: "a DSTL class type 1..=10".into(),
            });
        }
        _ => {}
    }
    let root = &config.root;
    let grid_path = root.join("grid_sizes.csv");
    let grids = read_grid_sizes(&grid_path)?;
    let by_id = read_wkt(&root.join("train_wkt_v4.csv"))?;
    let ids: Vec<&String> = by_id.keys().collect();
    let infos = ids
        .par_iter()
        .map(|id| {
            let &(xmax, ymin) = grids.get(*id).ok_or_else(|| Error::Parse {
                path: grid_path.clone(),
                line: 0,
                reason: format!("no row for image {id}, which train_wkt_v4.csv labels"),
            })?;
            for (stack, _) in &plan.stacks {
                let p = stack.path(root, id);
                if !p.is_file() {
                    return Err(Error::Missing { path: p, hint: format!("the {stack} stack of image {id}") });
                }
            }
            let l = read_info(&DstlStack::ThreeBand.path(root, id))?;
            let t = GridTransform::new(l.width, l.height, xmax, ymin);
            Ok((SceneInfo { id: (*id).clone(), split: OfficialSplit::Unassigned, width: l.width, height: l.height }, t))
        })
        .collect::<Result<Vec<_>>>()?;
    let (scenes, transforms) = infos.into_iter().unzip();
    let polygons = by_id.into_values().collect();
    Ok(Arc::new(DstlReader { config: config.clone(), scenes, transforms, polygons, plan, set }))
}

/// [`open`], then one tile view per split of `assignment`.
pub fn open_splits(config: &DstlConfig, assignment: &SceneAssignment) -> Result<DataSplits> {
    DataSplits::from_scenes(open(config)?, assignment, config.tile_size, config.stride, config.cache_scenes)
}

impl DstlReader {
    /// The configuration.
    pub fn config(&self) -> &DstlConfig {
        &self.config
    }

    /// The binary mask of DSTL class `class` (1..=10) of scene `index`.
    pub fn class_mask(&self, index: usize, class: u8) -> Result<Vec<u8>> {
        let info = self.scenes.get(index).ok_or(Error::IndexOutOfRange { index, len: self.scenes.len() })?;
        let mut mask = vec![0u8; info.width * info.height];
        let polys = &self.polygons[index][usize::from(class - 1)];
        fill_polygons(polys, &self.transforms[index], info.width, info.height, &mut mask, 1);
        Ok(mask)
    }

    /// The label map of scene `index` for the configured target.
    fn target_labels(&self, index: usize) -> Result<Vec<u8>> {
        match self.config.target {
            DstlTarget::Binary { class } => self.class_mask(index, class),
            DstlTarget::MultiClass => {
                let info = &self.scenes[index];
                let mut labels = vec![0u8; info.width * info.height];
                // Lowest priority first, so higher priorities overwrite.
                for &c in MULTICLASS_PRIORITY.iter().rev() {
                    let polys = &self.polygons[index][usize::from(c - 1)];
                    fill_polygons(polys, &self.transforms[index], info.width, info.height, &mut labels, c);
                }
                Ok(labels)
            }
        }
    }

    fn load_stacks(&self, index: usize) -> Result<Vec<Raster>> {
        let info = self.scenes.get(index).ok_or(Error::IndexOutOfRange { index, len: self.scenes.len() })?;
        self.plan
            .stacks
            .par_iter()
            .map(|(stack, bands)| {
                let p = stack.path(&self.config.root, &info.id);
                let r = read_stack(&p, stack.bands(), bands)?;
                if *stack == DstlStack::ThreeBand {
                    self.check_size(&p, &r, info)?;
                } else {
                    check_coarser_grid(&p, &r, *stack, info)?;
                }
                Ok(r)
            })
            .collect()
    }
}

/// The three_band stack defines the grid ([`SceneSource::check_size`]); the others are
/// resampled to it, so they must have its aspect ratio up to rounding (a source pixel, or 5 %)
/// and not exceed it.
fn check_coarser_grid(path: &Path, r: &Raster, stack: DstlStack, info: &SceneInfo) -> Result<()> {
    let (w, h) = (info.width as f64, info.height as f64);
    let (sw, sh) = (r.width as f64, r.height as f64);
    let ok = (sw - sh * w / h).abs() <= 1.0 + 0.05 * sw && sw <= w * 1.01 + 2.0 && sh <= h * 1.01 + 2.0;
    if !ok {
        return Err(Error::Mismatch {
            what: format!("{}: size of the {stack} stack of image {}", path.display(), info.id),
            expected: format!("the {} × {} three_band grid or a proportional coarser grid", info.width, info.height),
            got: format!("{} × {}", r.width, r.height),
        });
    }
    Ok(())
}

/// Per output index along one axis: (i0, i1, weight of i1) of the source.
fn axis_weights(start: usize, len: usize, dst: usize, src: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    (start..start + len)
        .map(|x| {
            let u = ((x as f64 + 0.5) * scale - 0.5).clamp(0.0, (src - 1) as f64);
            let i0 = u.floor() as usize;
            (i0, (i0 + 1).min(src - 1), (u - i0 as f64) as f32)
        })
        .collect()
}

/// An `h × w` window at row `y0`, column `x0` of a `width × height` grid.
#[derive(Debug, Clone, Copy)]
struct GridWindow {
    width: usize,
    height: usize,
    y0: usize,
    x0: usize,
    h: usize,
    w: usize,
}

/// Band `b` of `r` resampled bilinearly to the grid of `win`, over the window of `win`.
fn resample_window(r: &Raster, b: usize, win: GridWindow, out: &mut [f32]) {
    let xs = axis_weights(win.x0, win.w, win.width, r.width);
    let ys = axis_weights(win.y0, win.h, win.height, r.height);
    for (row, &(j0, j1, v)) in out.chunks_exact_mut(win.w).zip(&ys) {
        for (o, &(i0, i1, t)) in row.iter_mut().zip(&xs) {
            // a + (b − a)·t keeps constant fields exact.
            let (a00, a01) = (r.at(b, j0, i0), r.at(b, j0, i1));
            let (a10, a11) = (r.at(b, j1, i0), r.at(b, j1, i1));
            let top = a00 + (a01 - a00) * t;
            let bottom = a10 + (a11 - a10) * t;
            *o = top + (bottom - top) * v;
        }
    }
}

impl SceneSource for DstlReader {
    type Scene = DstlScene;

    fn scenes(&self) -> &[SceneInfo] {
        &self.scenes
    }

    fn modalities(&self) -> &ModalitySet {
        &self.set
    }

    fn num_classes(&self) -> usize {
        match self.config.target {
            DstlTarget::Binary { .. } => 1,
            DstlTarget::MultiClass => 11,
        }
    }

    fn class_names(&self) -> Vec<String> {
        match self.config.target {
            DstlTarget::Binary { class } => vec![CLASS_NAMES[usize::from(class - 1)].to_string()],
            DstlTarget::MultiClass => std::iter::once("none").chain(CLASS_NAMES).map(str::to_string).collect(),
        }
    }

    fn load(&self, index: usize) -> Result<DstlScene> {
        let (stacks, labels) = rayon::join(|| self.load_stacks(index), || self.target_labels(index));
        let info = &self.scenes[index];
        Ok(DstlScene { stacks: stacks?, labels: labels?, width: info.width, height: info.height })
    }

    fn window(&self, scene: &DstlScene, y0: usize, x0: usize, h: usize, w: usize) -> Result<Sample> {
        let modalities = self
            .plan
            .slots
            .iter()
            .map(|chans| {
                let mut m = ModalityArray::zeros(chans.len(), h, w);
                for (c, &(s, b)) in chans.iter().enumerate() {
                    let r = &scene.stacks[s];
                    let out = &mut m.data[c * h * w..(c + 1) * h * w];
                    if (r.width, r.height) == (scene.width, scene.height) {
                        r.copy_window(b, y0, x0, h, w, out);
                    } else {
                        let win = GridWindow { width: scene.width, height: scene.height, y0, x0, h, w };
                        resample_window(r, b, win, out);
                    }
                }
                m
            })
            .collect();
        let labels = label_window(&scene.labels, scene.width, y0, x0, h, w);
        Ok(Sample { modalities, labels, height: h, width: w })
    }

    /// Native-resolution band means and the pixel counts of all ten (overlapping) classes,
    /// index 0 counting the pixels in none; DSTL has no ignore or off-palette labels.
    fn census(&self, index: usize) -> Result<SceneCensus> {
        let stacks = self.load_stacks(index)?;
        let info = &self.scenes[index];
        let mut any = vec![0u8; info.width * info.height];
        let mut class_pixels = BTreeMap::new();
        for c in 1..=10u8 {
            let mask = self.class_mask(index, c)?;
            class_pixels.insert(c, mask.iter().map(|&v| u64::from(v)).sum());
            any.iter_mut().zip(&mask).for_each(|(a, &m)| *a |= m);
        }
        class_pixels.insert(0, any.iter().filter(|&&v| v == 0).count() as u64);
        Ok(SceneCensus {
            channel_means: self.plan.channel_means(&stacks),
            class_pixels,
            ignore_pixels: 0,
            off_palette_pixels: 0,
            class7_pixels: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::RasterData;

    #[test]
    fn bilinear_reproduces_constant_and_linear_fields() {
        // A 2× coarser source of f(x) = 10·x_src: at pixel centres bilinear is exact inside.
        let src = Raster::new(4, 2, 1, RasterData::F32(vec![0.0, 10.0, 20.0, 30.0, 0.0, 10.0, 20.0, 30.0])).unwrap();
        let mut out = vec![0.0; 8 * 4];
        resample_window(&src, 0, GridWindow { width: 8, height: 4, y0: 0, x0: 0, h: 4, w: 8 }, &mut out);
        // dst x → src u = (x + ½)/2 − ½: x=1 → 0.25 → 2.5; x=0 clamps to 0; x=7 clamps to 3.
        assert_eq!(&out[..8], &[0.0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30.0]);
        assert_eq!(&out[8..16], &out[..8]);
    }

    #[test]
    fn extents_out_of_range_and_a_header_only_wkt_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let grid = dir.path().join("grid_sizes.csv");
        std::fs::write(&grid, ",Xmax,Ymin\n6010_0_0,0.009,-0.009\n").unwrap();
        assert_eq!(read_grid_sizes(&grid).unwrap()["6010_0_0"], (0.009, -0.009));
        for row in ["inf,-0.009", "0.009,-inf", "1e308,-0.009", "0.009,-1e-300", "NaN,-0.009", "0,-0.009"] {
            std::fs::write(&grid, format!(",Xmax,Ymin\n6010_0_0,{row}\n")).unwrap();
            let e = read_grid_sizes(&grid).unwrap_err();
            assert!(matches!(e, Error::Parse { line: 2, .. }), "{row}: {e}");
        }
        let wkt = dir.path().join("train_wkt_v4.csv");
        std::fs::write(&wkt, "ImageId,ClassType,MultipolygonWKT\n").unwrap();
        let e = read_wkt(&wkt).unwrap_err();
        assert!(e.to_string().contains("no polygon rows"), "{e}");
    }
}
