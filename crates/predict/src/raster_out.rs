//! Raster output through GDAL (docs/predict.md §6): a uint8 label GeoTIFF (tiled, deflate, or a
//! COG) on the input's grid with its geotransform, CRS and no-data, the class names as category
//! names and the palette as colour table; optionally float32 class probabilities. Rows are
//! written as they finish; everything goes to temporary siblings renamed over the targets only
//! when the whole scene is written, so a failure leaves no partial output.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, ColorEntry, ColorInterpretation, ColorTable, PaletteInterpretation, RasterCreationOptions};
use gdal::{Dataset, DriverManager};
use lssg_datasets::raster::grid::GeoInfo;

use crate::blend::FinishedRows;
use crate::error::{Error, Result};
use crate::predict::RowSink;

/// What to write and how.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    /// The label raster.
    pub labels: PathBuf,
    /// The float32 probability raster (one band per probability channel), if wanted.
    pub probs: Option<PathBuf>,
    /// Write the labels as a cloud-optimised GeoTIFF.
    pub cog: bool,
    /// Class names, in label order (category names of the label band).
    pub class_names: Vec<String>,
    /// Colour per class (the colour table).
    pub palette: Vec<[u8; 3]>,
    /// The labels' no-data value, if any.
    pub nodata: Option<u8>,
}

/// GDAL's `.aux.xml` sidecar of `path`.
fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".aux.xml");
    PathBuf::from(s)
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Write { path: path.to_path_buf(), message: e.to_string() }
}

/// Creates a tiled, deflate-compressed GeoTIFF of `bands` bands of `T` at `tmp` on `geo`'s grid.
fn create_tiff<T: gdal::raster::GdalType>(tmp: &Path, target: &Path, geo: &GeoInfo, bands: usize) -> Result<Dataset> {
    let driver = DriverManager::get_driver_by_name("GTiff").map_err(|e| write_error(target, e))?;
    let options: RasterCreationOptions =
        ["TILED=YES", "COMPRESS=DEFLATE", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "BIGTIFF=IF_SAFER"].into_iter().collect();
    let mut ds = driver
        .create_with_band_type_with_options::<T, _>(tmp, geo.width, geo.height, bands, &options)
        .map_err(|e| write_error(target, e))?;
    if let Some(gt) = geo.geo_transform {
        ds.set_geo_transform(&gt).map_err(|e| write_error(target, e))?;
    }
    if !geo.projection.is_empty() {
        ds.set_projection(&geo.projection).map_err(|e| write_error(target, e))?;
    }
    Ok(ds)
}

/// Sets the colour table, palette interpretation and category names of the label band.
fn describe_labels(ds: &Dataset, spec: &OutputSpec) -> Result<()> {
    let target = &spec.labels;
    let mut band = ds.rasterband(1).map_err(|e| write_error(target, e))?;
    band.set_no_data_value(spec.nodata.map(f64::from)).map_err(|e| write_error(target, e))?;
    let mut table = ColorTable::new(PaletteInterpretation::Rgba);
    for (i, c) in spec.palette.iter().enumerate().take(256) {
        table.set_color_entry(i as u16, &ColorEntry::rgba(c[0].into(), c[1].into(), c[2].into(), 255));
    }
    band.set_color_table(&table);
    band.set_color_interpretation(ColorInterpretation::PaletteIndex).map_err(|e| write_error(target, e))?;
    let names: Vec<CString> =
        spec.class_names.iter().map(|n| CString::new(n.replace('\0', " ")).unwrap_or_default()).collect();
    let mut ptrs: Vec<*const std::ffi::c_char> = names.iter().map(|n| n.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: the band handle is valid while `ds` lives; GDAL copies the NULL-terminated list,
    // whose strings `names` keeps alive for the call.
    let rv = unsafe { gdal_sys::GDALSetRasterCategoryNames(band.c_rasterband(), ptrs.as_ptr() as _) };
    if rv != gdal_sys::CPLErr::CE_None {
        return Err(write_error(target, "cannot set the category names"));
    }
    Ok(())
}

/// Writes predictions row block by row block; [`RasterWriter::finish`] renames the files into
/// place, dropping an unfinished writer removes them.
pub struct RasterWriter {
    spec: OutputSpec,
    width: usize,
    classes: usize,
    labels_tmp: PathBuf,
    labels: Option<Dataset>,
    probs_tmp: Option<PathBuf>,
    probs: Option<Dataset>,
}

impl std::fmt::Debug for RasterWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RasterWriter").field("spec", &self.spec).finish()
    }
}

impl RasterWriter {
    /// Creates the outputs on `geo`'s grid for `classes` probability channels. Fails, naming the
    /// file, when an output cannot be created (missing directory, no permission).
    pub fn create(spec: OutputSpec, geo: &GeoInfo, classes: usize) -> Result<Self> {
        let labels_tmp = lssg_scenario::io::temp_path(&spec.labels);
        let labels = create_tiff::<u8>(&labels_tmp, &spec.labels, geo, 1)?;
        let mut writer =
            Self { width: geo.width, classes, labels_tmp, labels: Some(labels), probs_tmp: None, probs: None, spec };
        if let Some(ds) = &writer.labels {
            describe_labels(ds, &writer.spec)?;
        }
        if let Some(path) = writer.spec.probs.clone() {
            let tmp = lssg_scenario::io::temp_path(&path);
            writer.probs_tmp = Some(tmp.clone());
            writer.probs = Some(create_tiff::<f32>(&tmp, &path, geo, classes)?);
        }
        Ok(writer)
    }

    /// Flushes, closes and renames the outputs into place (a COG is translated from the tiled
    /// GeoTIFF first).
    pub fn finish(mut self) -> Result<()> {
        if let Some(mut ds) = self.probs.take() {
            let target = self.spec.probs.clone().unwrap_or_default();
            ds.flush_cache().map_err(|e| write_error(&target, e))?;
            drop(ds);
        }
        let mut ds = self.labels.take().ok_or_else(|| write_error(&self.spec.labels, "already finished"))?;
        ds.flush_cache().map_err(|e| write_error(&self.spec.labels, e))?;
        if self.spec.cog {
            let cog_tmp = self.labels_tmp.with_extension("cog.tif");
            let driver = DriverManager::get_driver_by_name("COG").map_err(|e| write_error(&self.spec.labels, e))?;
            let options: RasterCreationOptions = ["COMPRESS=DEFLATE"].into_iter().collect();
            let cog = ds.create_copy(&driver, &cog_tmp, &options).map_err(|e| write_error(&self.spec.labels, e));
            drop(ds);
            let _ = std::fs::remove_file(&self.labels_tmp);
            let _ = std::fs::remove_file(sidecar(&self.labels_tmp));
            self.labels_tmp = cog_tmp;
            drop(cog?);
        } else {
            drop(ds);
        }
        // GDAL keeps what TIFF tags cannot hold (the category names) in a `.aux.xml` sidecar.
        let rename = |tmp: &Path, target: &Path| -> Result<()> {
            let (tmp_aux, aux) = (sidecar(tmp), sidecar(target));
            if tmp_aux.exists() {
                std::fs::rename(&tmp_aux, &aux).map_err(|e| write_error(&aux, e))?;
            } else if aux.exists() {
                std::fs::remove_file(&aux).map_err(|e| write_error(&aux, e))?;
            }
            std::fs::rename(tmp, target).map_err(|e| write_error(target, e))
        };
        if let (Some(tmp), Some(target)) = (&self.probs_tmp, &self.spec.probs) {
            rename(tmp, target)?;
        }
        rename(&self.labels_tmp, &self.spec.labels)?;
        self.probs_tmp = None;
        self.labels_tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for RasterWriter {
    fn drop(&mut self) {
        self.labels.take();
        self.probs.take();
        let remove = |p: &Path| {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_file(sidecar(p));
        };
        if !self.labels_tmp.as_os_str().is_empty() {
            remove(&self.labels_tmp);
            remove(&self.labels_tmp.with_extension("cog.tif"));
        }
        if let Some(tmp) = &self.probs_tmp {
            remove(tmp);
        }
    }
}

impl RowSink for RasterWriter {
    fn write_rows(&mut self, rows: &FinishedRows) -> Result<()> {
        if rows.width != self.width || rows.classes != self.classes {
            return Err(Error::Shape { what: "finished rows width".into(), expected: self.width, got: rows.width });
        }
        let mut labels = rows.labels();
        if let Some(nd) = self.spec.nodata {
            labels.iter_mut().zip(&rows.nodata).filter(|(_, n)| **n).for_each(|(l, _)| *l = nd);
        }
        let target = self.spec.labels.clone();
        let ds = self.labels.as_ref().ok_or_else(|| write_error(&target, "already finished"))?;
        let mut band = ds.rasterband(1).map_err(|e| write_error(&target, e))?;
        let shape = (rows.width, rows.rows);
        let mut buf = Buffer::new(shape, labels);
        band.write((0, rows.y0 as isize), shape, &mut buf).map_err(|e| write_error(&target, e))?;
        if let Some(ds) = &self.probs {
            let target = self.spec.probs.clone().unwrap_or_default();
            let n = rows.rows * rows.width;
            for c in 0..rows.classes {
                let mut band = ds.rasterband(c + 1).map_err(|e| write_error(&target, e))?;
                let mut buf = Buffer::new(shape, rows.probs[c * n..(c + 1) * n].to_vec());
                band.write((0, rows.y0 as isize), shape, &mut buf).map_err(|e| write_error(&target, e))?;
            }
        }
        Ok(())
    }
}
