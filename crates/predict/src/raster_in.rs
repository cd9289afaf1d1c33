//! Raster input through GDAL (docs/predict.md §5): one file per modality (GeoTIFF, COG,
//! JPEG 2000, VRT, anything GDAL opens), an optional band subset, windowed reads of row blocks,
//! and bilinear resampling of coarser or finer rasters to the grid of the first given modality.
//! Every raster must cover the same ground: same CRS and footprint when georeferenced, the same
//! size otherwise.

use std::path::{Path, PathBuf};

use gdal::Dataset;
use gdal::spatial_ref::SpatialRef;

use crate::error::{Error, Result};
use crate::source::RowSource;

/// GDAL's geotransform of a raster without georeferencing.
const NO_GEOTRANSFORM: [f64; 6] = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0];

/// One modality's raster: a path and, optionally, which of its bands (1-based, GDAL's numbering)
/// form the modality's channels, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModalityInput {
    /// The file (or VRT, or `/vsi…` path).
    pub path: PathBuf,
    /// The bands to use; all of them when `None`.
    pub bands: Option<Vec<usize>>,
}

impl ModalityInput {
    /// Every band of `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), bands: None }
    }
}

/// The grid a prediction is written on: the first given modality's.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoInfo {
    /// The raster that defines it.
    pub path: PathBuf,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// GDAL geotransform, `None` without georeferencing.
    pub geo_transform: Option<[f64; 6]>,
    /// The CRS as WKT (empty when none).
    pub projection: String,
    /// The first band's no-data value.
    pub nodata: Option<f64>,
}

/// An opened modality raster.
struct Opened {
    path: PathBuf,
    ds: Dataset,
    bands: Vec<usize>,
    nodata: Vec<Option<f64>>,
    size: (usize, usize),
}

/// A scene of per-modality rasters on one grid, read in row blocks ([`RowSource`]).
pub struct GdalScene {
    grid: GeoInfo,
    channels: Vec<usize>,
    inputs: Vec<Option<Opened>>,
}

impl std::fmt::Debug for GdalScene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdalScene").field("grid", &self.grid).field("channels", &self.channels).finish()
    }
}

fn read_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Read { path: path.to_path_buf(), message: e.to_string() }
}

/// Opens `input` as modality `name` of `channels` channels and checks its band count.
fn open_one(name: &str, channels: usize, input: &ModalityInput) -> Result<Opened> {
    let path = &input.path;
    let ds = Dataset::open(path).map_err(|e| read_error(path, e))?;
    let count = ds.raster_count();
    let bands = input.bands.clone().unwrap_or_else(|| (1..=count).collect());
    if let Some(&bad) = bands.iter().find(|&&b| b == 0 || b > count) {
        return Err(read_error(path, format!("band {bad} requested for `{name}`, the file has bands 1..={count}")));
    }
    if bands.len() != channels {
        return Err(Error::Bands { path: path.clone(), modality: name.into(), expected: channels, got: bands.len() });
    }
    let mut nodata = Vec::with_capacity(bands.len());
    for &b in &bands {
        nodata.push(ds.rasterband(b).map_err(|e| read_error(path, e))?.no_data_value());
    }
    let size = ds.raster_size();
    if size.0 == 0 || size.1 == 0 {
        return Err(read_error(path, "the raster is empty"));
    }
    Ok(Opened { path: path.clone(), ds, bands, nodata, size })
}

fn geo_of(o: &Opened) -> GeoInfo {
    let gt = o.ds.geo_transform().ok().filter(|gt| *gt != NO_GEOTRANSFORM);
    GeoInfo {
        path: o.path.clone(),
        width: o.size.0,
        height: o.size.1,
        geo_transform: gt,
        projection: o.ds.projection(),
        nodata: o.nodata.first().copied().flatten(),
    }
}

/// Checks that `other` covers the ground of `grid`: the same CRS and footprint (within half of
/// the coarser pixel) when both are georeferenced, the same size otherwise.
fn check_footprint(grid: &GeoInfo, other: &GeoInfo) -> Result<()> {
    let mismatch = |what: String| Err(Error::Mismatch { path: other.path.clone(), reference: grid.path.clone(), what });
    let (Some(a), Some(b)) = (grid.geo_transform, other.geo_transform) else {
        if (grid.width, grid.height) != (other.width, other.height) {
            return mismatch(format!(
                "size {} × {} vs {} × {} (without georeferencing the sizes must be equal)",
                other.width, other.height, grid.width, grid.height
            ));
        }
        return Ok(());
    };
    if grid.projection != other.projection {
        let same = match (SpatialRef::from_wkt(&grid.projection), SpatialRef::from_wkt(&other.projection)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        };
        if !same {
            return mismatch(format!("CRS {:?} vs {:?}", short(&other.projection), short(&grid.projection)));
        }
    }
    let extent = |g: &[f64; 6], w: usize, h: usize| [g[0], g[3], g[0] + w as f64 * g[1], g[3] + h as f64 * g[5]];
    let (ea, eb) = (extent(&a, grid.width, grid.height), extent(&b, other.width, other.height));
    let tol = 0.5 * a[1].abs().max(b[1].abs()).max(a[5].abs()).max(b[5].abs());
    if a[2] != 0.0 || a[4] != 0.0 || b[2] != 0.0 || b[4] != 0.0 {
        return mismatch("rotated geotransforms are not supported".into());
    }
    if ea.iter().zip(&eb).any(|(x, y)| (x - y).abs() > tol) {
        return mismatch(format!("footprint {eb:?} vs {ea:?} (left, top, right, bottom)"));
    }
    Ok(())
}

/// The first 60 characters of a WKT, for messages.
fn short(wkt: &str) -> String {
    if wkt.is_empty() { "none".into() } else { wkt.chars().take(60).collect() }
}

impl GdalScene {
    /// Opens the rasters of the modalities `names` (`channels[m]` channels each); `inputs[m]` is
    /// `None` for a modality without a file. The first given modality defines the grid.
    pub fn open(names: &[String], channels: &[usize], inputs: &[Option<ModalityInput>]) -> Result<Self> {
        if names.len() != channels.len() || inputs.len() != channels.len() {
            return Err(Error::Shape { what: "modality inputs".into(), expected: channels.len(), got: inputs.len() });
        }
        let mut opened = Vec::with_capacity(inputs.len());
        let mut grid: Option<GeoInfo> = None;
        for (m, input) in inputs.iter().enumerate() {
            let Some(input) = input else {
                opened.push(None);
                continue;
            };
            let o = open_one(&names[m], channels[m], input)?;
            let geo = geo_of(&o);
            match &grid {
                None => grid = Some(geo),
                Some(g) => check_footprint(g, &geo)?,
            }
            opened.push(Some(o));
        }
        let grid = grid.ok_or_else(|| Error::Modality("no raster was given for any modality".into()))?;
        Ok(Self { grid, channels: channels.to_vec(), inputs: opened })
    }

    /// The grid of the prediction (the first given modality's).
    pub fn geo(&self) -> &GeoInfo {
        &self.grid
    }
}

/// Source coordinate of destination pixel `i` when `src` pixels map onto `dst` (pixel centres
/// aligned), clamped to the source.
fn source_coord(i: usize, src: usize, dst: usize) -> f64 {
    let s = (i as f64 + 0.5) * src as f64 / dst as f64 - 0.5;
    s.clamp(0.0, (src - 1) as f64)
}

impl Opened {
    /// Rows `[y0, y0 + rows)` of the `width × height` grid, every band, resampled bilinearly when
    /// this raster's size differs; no-data becomes NaN.
    fn read_rows(&self, y0: usize, rows: usize, width: usize, height: usize) -> Result<Vec<f32>> {
        let (sw, sh) = self.size;
        let same = (sw, sh) == (width, height);
        let (r0, r1) = if same {
            (y0, y0 + rows)
        } else {
            let first = source_coord(y0, sh, height).floor() as usize;
            let last = (source_coord(y0 + rows - 1, sh, height).floor() as usize + 2).min(sh);
            (first, last)
        };
        let mut out = Vec::with_capacity(self.bands.len() * rows * width);
        let mut block = vec![0.0f32; (r1 - r0) * sw];
        for (&b, nodata) in self.bands.iter().zip(&self.nodata) {
            let band = self.ds.rasterband(b).map_err(|e| read_error(&self.path, e))?;
            band.read_into_slice::<f32>((0, r0 as isize), (sw, r1 - r0), (sw, r1 - r0), &mut block, None)
                .map_err(|e| read_error(&self.path, format!("rows {r0}..{r1} of band {b}: {e}")))?;
            if let Some(nd) = nodata {
                let nd = *nd as f32;
                block.iter_mut().filter(|v| **v == nd).for_each(|v| *v = f32::NAN);
            }
            if same {
                out.extend_from_slice(&block);
            } else {
                resample_into(&block, (sw, sh), r0, (y0, rows), (width, height), &mut out);
            }
        }
        Ok(out)
    }
}

/// Bilinear interpolation of `block` (source rows from `r0`, `sw` wide) onto destination rows
/// `[y0, y0 + rows)` of a `width × height` grid, appended to `out`.
fn resample_into(
    block: &[f32],
    (sw, sh): (usize, usize),
    r0: usize,
    (y0, rows): (usize, usize),
    (width, height): (usize, usize),
    out: &mut Vec<f32>,
) {
    let block_rows = block.len() / sw;
    let xs: Vec<(usize, usize, f32)> = (0..width)
        .map(|x| {
            let fx = source_coord(x, sw, width);
            let i = fx.floor() as usize;
            (i, (i + 1).min(sw - 1), (fx - i as f64) as f32)
        })
        .collect();
    for y in y0..y0 + rows {
        let fy = source_coord(y, sh, height);
        let i = fy.floor() as usize;
        let (a, b) = ((i - r0).min(block_rows - 1), ((i + 1).min(sh - 1) - r0).min(block_rows - 1));
        let ty = (fy - i as f64) as f32;
        let (ra, rb) = (&block[a * sw..(a + 1) * sw], &block[b * sw..(b + 1) * sw]);
        out.extend(xs.iter().map(|&(i0, i1, tx)| {
            let top = ra[i0] + (ra[i1] - ra[i0]) * tx;
            let bottom = rb[i0] + (rb[i1] - rb[i0]) * tx;
            top + (bottom - top) * ty
        }));
    }
}

impl RowSource for GdalScene {
    fn height(&self) -> usize {
        self.grid.height
    }
    fn width(&self) -> usize {
        self.grid.width
    }
    fn channels(&self) -> &[usize] {
        &self.channels
    }
    fn has(&self, m: usize) -> bool {
        self.inputs.get(m).is_some_and(Option::is_some)
    }
    fn read_rows(&mut self, m: usize, y0: usize, rows: usize) -> Result<Vec<f32>> {
        let Some(Some(o)) = self.inputs.get(m) else {
            return Err(Error::Modality(format!("modality {m} has no raster")));
        };
        o.read_rows(y0, rows, self.grid.width, self.grid.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_coordinates_align_pixel_centres() {
        // 2× upsampling: destination 0 and 1 sit at source −0.25 (clamped) and 0.25.
        assert_eq!(source_coord(0, 5, 10), 0.0);
        assert!((source_coord(1, 5, 10) - 0.25).abs() < 1e-12);
        assert!((source_coord(9, 5, 10) - 4.0).abs() < 1e-12);
        assert_eq!(source_coord(3, 10, 10), 3.0);
    }

    #[test]
    fn bilinear_of_a_ramp_is_a_ramp() {
        // A horizontal ramp 0..4 over 5 columns, 2 rows, upsampled to 10 × 4.
        let block: Vec<f32> = (0..2).flat_map(|_| (0..5).map(|x| x as f32)).collect();
        let mut out = Vec::new();
        resample_into(&block, (5, 2), 0, (0, 4), (10, 4), &mut out);
        assert_eq!(out.len(), 40);
        for row in out.chunks(10) {
            for (x, &v) in row.iter().enumerate() {
                let want = source_coord(x, 5, 10) as f32;
                assert!((v - want).abs() < 1e-6, "x {x}: {v} vs {want}");
            }
        }
    }
}
