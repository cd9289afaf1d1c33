//! Reading through GDAL: a file's size, bands, type and georeferencing ([`read_info`]), and
//! whole bands decoded by windowed reads of row blocks in parallel, one dataset handle per
//! thread ([`read_bands`]); writing any GDAL format by `CreateCopy` ([`write_with_gdal`]).

use std::path::Path;

use gdal::raster::{ColorInterpretation, GdalDataType, GdalType, RasterCreationOptions};
use gdal::{Dataset, DatasetOptions, DriverManager, GdalOpenFlags};
use rayon::prelude::*;

use super::{Georef, Raster, RasterData, RasterInfo, SampleType, raster_err};
use crate::error::{Error, Result};

/// GDAL's geotransform of a raster without georeferencing.
const NO_GEOTRANSFORM: [f64; 6] = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0];

/// Drivers that decode a file from its start (no random access to row blocks): read by one
/// thread in one pass, never re-decoded per block.
const SEQUENTIAL_DRIVERS: [&str; 3] = ["JPEG", "PNG", "GIF"];

/// Rows read per call at least (a multiple of the file's block height): fewer calls for files
/// stored in one-row strips, and chunky files' blocks serve every band from GDAL's cache.
const MIN_ROWS_PER_READ: usize = 256;

/// Opens `path`: [`Error::Missing`] when a plain file does not exist, [`Error::Gdal`] with
/// GDAL's message as the source when GDAL cannot open it.
pub(crate) fn open(path: &Path) -> Result<Dataset> {
    static STRICT: std::sync::Once = std::sync::Once::new();
    // A truncated JPEG is otherwise a libjpeg warning and a grey remainder: make it an error.
    STRICT.call_once(|| {
        let _ = gdal::config::set_config_option("GDAL_ERROR_ON_LIBJPEG_WARNING", "TRUE");
    });
    let virtual_path = path.to_str().is_some_and(|s| s.starts_with("/vsi"));
    if !virtual_path && !path.exists() {
        return Err(Error::Missing { path: path.to_path_buf(), hint: "a raster file of the data-set layout".into() });
    }
    // Verbose errors: GDAL then says why (e.g. "not recognized as a supported file format").
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
        ..Default::default()
    };
    Dataset::open_ex(path, options).map_err(gdal_err(path, "cannot open as a raster"))
}

fn gdal_err(path: &Path, action: impl Into<String>) -> impl FnOnce(gdal::errors::GdalError) -> Error {
    let (path, action) = (path.to_path_buf(), action.into());
    move |source| Error::Gdal { path, action, source: Box::new(source) }
}

/// The georeferencing of an opened dataset.
pub(crate) fn georef_of(ds: &Dataset) -> Option<Georef> {
    let gt = ds.geo_transform().ok().filter(|gt| *gt != NO_GEOTRANSFORM)?;
    Some(Georef { geo_transform: gt, projection: ds.projection() })
}

fn sample_type_of(t: GdalDataType) -> SampleType {
    match t {
        GdalDataType::UInt8 => SampleType::U8,
        GdalDataType::UInt16 => SampleType::U16,
        _ => SampleType::F32,
    }
}

fn info_of(path: &Path, ds: &Dataset) -> Result<RasterInfo> {
    let (width, height) = ds.raster_size();
    let bands = ds.raster_count();
    if width == 0 || height == 0 || bands == 0 {
        return Err(raster_err(path, format!("empty image: {width} × {height} with {bands} bands")));
    }
    let first = ds.rasterband(1).map_err(gdal_err(path, "band 1"))?;
    if first.color_interpretation() == ColorInterpretation::PaletteIndex {
        return Err(raster_err(path, "palette-colour image: expected direct values (grey, RGB or multiband)"));
    }
    let mut sample_type = sample_type_of(first.band_type());
    for b in 2..=bands {
        let t = sample_type_of(ds.rasterband(b).map_err(gdal_err(path, format!("band {b}")))?.band_type());
        if t != sample_type {
            sample_type = SampleType::F32;
        }
    }
    Ok(RasterInfo {
        width,
        height,
        bands,
        sample_type,
        driver: ds.driver().short_name(),
        block: first.block_size(),
        georef: georef_of(ds),
    })
}

/// The size, bands, type, driver and georeferencing of `path` without decoding pixels.
pub fn read_info(path: &Path) -> Result<RasterInfo> {
    info_of(path, &open(path)?)
}

/// Decodes every band of `path`.
pub fn read_raster(path: &Path) -> Result<Raster> {
    read_bands(path, None)
}

/// Decodes bands `bands` (0-based) of `path` after checking that the file has exactly
/// `expected` bands, as the data-set layout prescribes; the error names the file.
pub fn read_stack(path: &Path, expected: usize, bands: &[usize]) -> Result<Raster> {
    let ds = open(path)?;
    let info = info_of(path, &ds)?;
    if info.bands != expected {
        return Err(raster_err(path, format!("expected {expected} bands (samples per pixel), found {}", info.bands)));
    }
    decode(path, ds, &info, bands)
}

/// Decodes the bands `bands` (0-based) of `path` (all when `None`), in that order.
pub fn read_bands(path: &Path, bands: Option<&[usize]>) -> Result<Raster> {
    let ds = open(path)?;
    let info = info_of(path, &ds)?;
    let all: Vec<usize> = (0..info.bands).collect();
    decode(path, ds, &info, bands.unwrap_or(&all))
}

fn decode(path: &Path, ds: Dataset, info: &RasterInfo, bands: &[usize]) -> Result<Raster> {
    if let Some(&b) = bands.iter().find(|&&b| b >= info.bands) {
        return Err(raster_err(path, format!("band {b} requested, the file has {} bands", info.bands)));
    }
    let n = bands.len() * info.width * info.height;
    let data = match info.sample_type {
        SampleType::U8 => RasterData::U8(read_planes(path, ds, info, bands, vec![0u8; n])?),
        SampleType::U16 => RasterData::U16(read_planes(path, ds, info, bands, vec![0u16; n])?),
        SampleType::F32 => RasterData::F32(read_planes(path, ds, info, bands, vec![0f32; n])?),
    };
    let mut raster = Raster::new(info.width, info.height, bands.len(), data)?;
    raster.georef = info.georef.clone();
    Ok(raster)
}

/// Fills `out` (band-major, the planes of `bands`) by windowed reads: the rows are cut into
/// one span per thread, aligned with the file's blocks, and each span is read through its own
/// dataset handle (`ds` serves the first), block row by block row, every band per block row.
fn read_planes<T: GdalType + Copy + Send + Sync>(
    path: &Path,
    ds: Dataset,
    info: &RasterInfo,
    bands: &[usize],
    mut out: Vec<T>,
) -> Result<Vec<T>> {
    let (w, h) = (info.width, info.height);
    let block_rows = info.block.1.clamp(1, h);
    let step = block_rows * MIN_ROWS_PER_READ.div_ceil(block_rows);
    let sequential = SEQUENTIAL_DRIVERS.contains(&info.driver.as_str()) || block_rows >= h;
    let spans = if sequential { 1 } else { rayon::current_num_threads().min(h.div_ceil(block_rows)).max(1) };
    let span_rows = block_rows * h.div_ceil(block_rows).div_ceil(spans);
    // Per span, one slice of each band's plane: disjoint, so the spans fill them in parallel.
    let mut per_span: Vec<Vec<&mut [T]>> = (0..h.div_ceil(span_rows)).map(|_| Vec::new()).collect();
    for plane in out.chunks_mut(w * h) {
        for (k, rows) in plane.chunks_mut(span_rows * w).enumerate() {
            per_span[k].push(rows);
        }
    }
    let first = std::sync::Mutex::new(Some(ds));
    per_span.into_par_iter().enumerate().try_for_each(|(k, mut planes)| {
        let taken = first.lock().unwrap_or_else(|p| p.into_inner()).take();
        let ds = match taken {
            Some(ds) => ds,
            None => open(path)?,
        };
        let y_start = k * span_rows;
        let y_end = (y_start + span_rows).min(h);
        for y0 in (y_start..y_end).step_by(step) {
            let rows = step.min(y_end - y0);
            for (&b, plane) in bands.iter().zip(planes.iter_mut()) {
                let what = || format!("reading rows {y0}..{} of band {}", y0 + rows, b + 1);
                let band = ds.rasterband(b + 1).map_err(gdal_err(path, what()))?;
                let dst = &mut plane[(y0 - y_start) * w..(y0 - y_start + rows) * w];
                band.read_into_slice::<T>((0, y0 as isize), (w, rows), (w, rows), dst, None)
                    .map_err(gdal_err(path, what()))?;
            }
        }
        Ok::<(), Error>(())
    })?;
    Ok(out)
}

/// Writes `raster` to `path` in the GDAL format `driver` (`JPEG`, `JP2OpenJPEG`, `GTiff`, …)
/// with creation `options` (`QUALITY=90`, `REVERSIBLE=YES`, …), through an in-memory copy.
pub fn write_with_gdal(path: &Path, raster: &Raster, driver: &str, options: &[&str]) -> Result<()> {
    let err = |action: &str| gdal_err(path, action.to_string());
    let mem = DriverManager::get_driver_by_name("MEM").map_err(err("the MEM driver"))?;
    let target = DriverManager::get_driver_by_name(driver).map_err(err(&format!("the {driver} driver")))?;
    let (w, h, n) = (raster.width, raster.height, raster.bands);
    let mut ds = match &raster.data {
        RasterData::U8(_) => mem.create_with_band_type::<u8, _>("", w, h, n),
        RasterData::U16(_) => mem.create_with_band_type::<u16, _>("", w, h, n),
        RasterData::F32(_) => mem.create_with_band_type::<f32, _>("", w, h, n),
    }
    .map_err(err("creating the in-memory copy"))?;
    if let Some(g) = &raster.georef {
        ds.set_geo_transform(&g.geo_transform).map_err(err("setting the geotransform"))?;
        ds.set_projection(&g.projection).map_err(err("setting the CRS"))?;
    }
    let plane = w * h;
    for b in 0..n {
        let mut band = ds.rasterband(b + 1).map_err(err("band"))?;
        let range = b * plane..(b + 1) * plane;
        let written = match &raster.data {
            RasterData::U8(v) => band.write((0, 0), (w, h), &mut gdal::raster::Buffer::new((w, h), v[range].to_vec())),
            RasterData::U16(v) => band.write((0, 0), (w, h), &mut gdal::raster::Buffer::new((w, h), v[range].to_vec())),
            RasterData::F32(v) => band.write((0, 0), (w, h), &mut gdal::raster::Buffer::new((w, h), v[range].to_vec())),
        };
        written.map_err(err("filling the in-memory copy"))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    }
    let options = RasterCreationOptions::from_iter(options.iter().copied());
    ds.create_copy(&target, path, &options).map_err(err(&format!("writing as {driver}")))?;
    Ok(())
}
