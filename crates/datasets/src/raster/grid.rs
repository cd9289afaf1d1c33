//! The per-modality rasters of one scene on one grid (docs/predict.md §5), as prediction reads
//! them: one file per modality (GeoTIFF, COG, JPEG, JPEG 2000, VRT, anything GDAL opens), an
//! optional band subset, windowed reads of row blocks,
//! a modality assembled from the bands of several files, and bilinear resampling of coarser or
//! finer rasters to one grid (the first given modality's, or a named reference raster's). Every
//! raster must cover the same ground: same CRS and footprint when georeferenced, the same size
//! otherwise, unless the data-set layout guarantees it ([`Footprint::Assumed`]).

use std::path::{Path, PathBuf};

use gdal::Dataset;
use gdal::spatial_ref::SpatialRef;

use super::gdal::{georef_of, open};
use super::resample::{resample_into, source_coord};
use crate::error::{Error, Result};

/// One modality's raster: a path and, optionally, which of its bands (1-based, GDAL's numbering)
/// form the modality's channels, in order; `then` holds further files whose bands follow (a
/// modality assembled from several files, e.g. DSTL's `nir` from M bands 7–8 and A band 1),
/// each resampled to the grid on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModalityInput {
    /// The file (or VRT, or `/vsi…` path).
    pub path: PathBuf,
    /// The bands to use; all of them when `None`.
    pub bands: Option<Vec<usize>>,
    /// Further files whose bands follow these, in order.
    pub then: Vec<ModalityInput>,
}

impl ModalityInput {
    /// Every band of `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), bands: None, then: Vec::new() }
    }

    /// Bands `bands` (1-based) of `path`.
    pub fn bands(path: impl Into<PathBuf>, bands: Vec<usize>) -> Self {
        Self { path: path.into(), bands: Some(bands), then: Vec::new() }
    }

    /// This input and every file in `then`, flattened, in band order.
    fn parts(&self) -> Vec<(&Path, Option<&[usize]>)> {
        let mut out = vec![(self.path.as_path(), self.bands.as_deref())];
        out.extend(self.then.iter().flat_map(ModalityInput::parts));
        out
    }
}

/// How the rasters of one scene are checked for covering the same ground.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Footprint {
    /// Same CRS and footprint when georeferenced, same size otherwise (files given by path).
    #[default]
    Checked,
    /// The data-set layout guarantees one footprint (DSTL's 3-band and 16-band files of one
    /// image: different sizes, no georeferencing); rasters are resampled without a check.
    Assumed,
}

/// How [`GdalScene::open_with`] builds the grid.
#[derive(Debug, Clone, Default)]
pub struct SceneGrid {
    /// The footprint check.
    pub footprint: Footprint,
    /// A raster that defines the grid (opened for its size and georeferencing only), instead of
    /// the first given modality: DSTL's 3-band file, the label grid of training, whether or not
    /// `rgb` is available.
    pub reference: Option<PathBuf>,
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

/// One opened file of a modality and the bands taken from it.
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
    inputs: Vec<Option<Vec<Opened>>>,
}

impl std::fmt::Debug for GdalScene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GdalScene").field("grid", &self.grid).field("channels", &self.channels).finish()
    }
}

fn read_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Raster { path: path.to_path_buf(), reason: e.to_string() }
}

fn gdal_error(path: &Path, action: String) -> impl FnOnce(gdal::errors::GdalError) -> Error + '_ {
    move |source| Error::Gdal { path: path.to_path_buf(), action, source: Box::new(source) }
}

/// Opens every file of `input` as modality `name` of `channels` channels and checks the band
/// count over all of them.
fn open_modality(name: &str, channels: usize, input: &ModalityInput) -> Result<Vec<Opened>> {
    let parts =
        input.parts().into_iter().map(|(path, bands)| open_part(name, path, bands)).collect::<Result<Vec<_>>>()?;
    let got: usize = parts.iter().map(|p| p.bands.len()).sum();
    if got != channels {
        let path = input.path.clone();
        return Err(Error::Bands { path, modality: name.into(), expected: channels, got });
    }
    Ok(parts)
}

/// The number of bands of the raster at `path`.
pub fn band_count(path: &Path) -> Result<usize> {
    Ok(open(path)?.raster_count())
}

/// Opens `path` and checks the requested bands exist.
fn open_part(name: &str, path: &Path, bands: Option<&[usize]>) -> Result<Opened> {
    let ds = open(path)?;
    let count = ds.raster_count();
    let bands = bands.map_or_else(|| (1..=count).collect(), <[usize]>::to_vec);
    if let Some(&bad) = bands.iter().find(|&&b| b == 0 || b > count) {
        return Err(read_error(path, format!("band {bad} requested for `{name}`, the file has bands 1..={count}")));
    }
    let mut nodata = Vec::with_capacity(bands.len());
    for &b in &bands {
        nodata.push(ds.rasterband(b).map_err(gdal_error(path, format!("band {b}")))?.no_data_value());
    }
    let size = ds.raster_size();
    if size.0 == 0 || size.1 == 0 {
        return Err(read_error(path, "the raster is empty"));
    }
    Ok(Opened { path: path.to_path_buf(), ds, bands, nodata, size })
}

fn geo_of(o: &Opened) -> GeoInfo {
    let georef = georef_of(&o.ds);
    GeoInfo {
        path: o.path.clone(),
        width: o.size.0,
        height: o.size.1,
        geo_transform: georef.as_ref().map(|g| g.geo_transform),
        projection: georef.map(|g| g.projection).unwrap_or_else(|| o.ds.projection()),
        nodata: o.nodata.first().copied().flatten(),
    }
}

impl GeoInfo {
    /// The grid of a decoded raster read from `path`.
    pub fn of_raster(path: &Path, raster: &super::Raster) -> Self {
        let georef = raster.georef.as_ref();
        GeoInfo {
            path: path.to_path_buf(),
            width: raster.width,
            height: raster.height,
            geo_transform: georef.map(|g| g.geo_transform),
            projection: georef.map(|g| g.projection.clone()).unwrap_or_default(),
            nodata: None,
        }
    }
}

/// Checks that `other` covers the ground of `grid`: the same CRS and footprint (within half of
/// the coarser pixel) when both are georeferenced, the same size otherwise.
pub(crate) fn check_footprint(grid: &GeoInfo, other: &GeoInfo) -> Result<()> {
    let mismatch =
        |what: String| Err(Error::Footprint { path: other.path.clone(), reference: grid.path.clone(), what });
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
    /// `None` for a modality without a file. The first given modality defines the grid, and
    /// every raster's footprint is checked against it.
    pub fn open(names: &[String], channels: &[usize], inputs: &[Option<ModalityInput>]) -> Result<Self> {
        Self::open_with(names, channels, inputs, &SceneGrid::default())
    }

    /// [`GdalScene::open`] with a grid reference and footprint rule.
    pub fn open_with(
        names: &[String],
        channels: &[usize],
        inputs: &[Option<ModalityInput>],
        how: &SceneGrid,
    ) -> Result<Self> {
        if names.len() != channels.len() || inputs.len() != channels.len() {
            return Err(Error::Mismatch {
                what: "modality inputs".into(),
                expected: channels.len().to_string(),
                got: inputs.len().to_string(),
            });
        }
        let mut grid = match &how.reference {
            Some(path) => Some(geo_of(&open_part("the grid reference", path, Some(&[1]))?)),
            None => None,
        };
        let mut opened = Vec::with_capacity(inputs.len());
        for (m, input) in inputs.iter().enumerate() {
            let Some(input) = input else {
                opened.push(None);
                continue;
            };
            let parts = open_modality(&names[m], channels[m], input)?;
            for part in &parts {
                let geo = geo_of(part);
                match &grid {
                    None => grid = Some(geo),
                    Some(g) if how.footprint == Footprint::Checked => check_footprint(g, &geo)?,
                    Some(_) => {}
                }
            }
            opened.push(Some(parts));
        }
        let grid = grid.ok_or_else(|| Error::Config {
            field: "inputs".into(),
            value: "none".into(),
            expected: "a raster for at least one modality".into(),
        })?;
        Ok(Self { grid, channels: channels.to_vec(), inputs: opened })
    }

    /// The grid of the prediction.
    pub fn geo(&self) -> &GeoInfo {
        &self.grid
    }
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
            let what = || format!("reading rows {r0}..{r1} of band {b}");
            let band = self.ds.rasterband(b).map_err(gdal_error(&self.path, what()))?;
            band.read_into_slice::<f32>((0, r0 as isize), (sw, r1 - r0), (sw, r1 - r0), &mut block, None)
                .map_err(gdal_error(&self.path, what()))?;
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

impl GdalScene {
    /// Channels per modality.
    pub fn channels(&self) -> &[usize] {
        &self.channels
    }

    /// Whether modality `m` has a raster.
    pub fn has(&self, m: usize) -> bool {
        self.inputs.get(m).is_some_and(Option::is_some)
    }

    /// Raw values of rows `[y0, y0 + rows)` of modality `m` on the grid, `[C_m, rows, width]`
    /// (band-major); no-data is NaN.
    pub fn read_rows(&self, m: usize, y0: usize, rows: usize) -> Result<Vec<f32>> {
        let Some(Some(parts)) = self.inputs.get(m) else {
            return Err(Error::Config {
                field: format!("inputs[{m}]"),
                value: "none".into(),
                expected: "a raster for the modality read".into(),
            });
        };
        // Band-major blocks, so the files' blocks concatenate in band order.
        let mut out = Vec::with_capacity(self.channels[m] * rows * self.grid.width);
        for part in parts {
            out.extend(part.read_rows(y0, rows, self.grid.width, self.grid.height)?);
        }
        Ok(out)
    }
}
