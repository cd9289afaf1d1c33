//! The raster layer of the real data sets and of prediction (docs/data.md): every format GDAL
//! reads (GeoTIFF with any compression, COG, JPEG, JPEG 2000, VRT, …) through one reader, and
//! a small TIFF writer for the synthetic layouts and test fixtures.
//!
//! A decoded [`Raster`] is band-major (`[bands, height, width]`) in its stored sample type
//! (u8, u16 or f32; other GDAL types are read as f32), with the file's georeferencing. Scenes
//! are decoded by windowed reads of row blocks aligned with the file's blocks, in parallel
//! with one GDAL dataset handle per thread where the format allows random access (tiles and
//! strips); formats that decode sequentially (JPEG, PNG) are read by one thread, once.
//! [`grid`] opens the per-modality rasters of a prediction on one grid and reads them in row
//! blocks, resampling coarser or finer rasters bilinearly (`resample`).
//!
//! Without the `gdal` cargo feature the types and the writer remain, and every read fails with
//! [`Error::NoGdal`] naming the file: the synthetic data and the commands that read no raster
//! keep working.
//!
//! [`write_tiff`] writes through the `tiff` crate's directory encoder, with the strips
//! compressed and predicted here (the crate's image encoder cannot write planar files);
//! [`write_with_gdal`] writes any GDAL format with `CreateCopy` (JPEG, JPEG 2000).

use std::path::Path;

use rayon::prelude::*;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[cfg(feature = "gdal")]
mod gdal;
#[cfg(feature = "gdal")]
pub mod grid;
#[cfg(feature = "gdal")]
mod resample;
mod write;

#[cfg(feature = "gdal")]
pub use gdal::{read_bands, read_info, read_raster, read_stack, write_with_gdal};
#[cfg(not(feature = "gdal"))]
pub use without_gdal::{read_bands, read_info, read_raster, read_stack};
pub use write::{Photometric, TiffWriteOptions, WriteCompression, encode_tiff, write_tiff};

/// What [`read_info`] reports of a file without decoding its pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct RasterInfo {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bands.
    pub bands: usize,
    /// The type the bands decode to: u8, u16 or f32 as stored, any other type as f32.
    pub sample_type: SampleType,
    /// The GDAL driver (`GTiff`, `JPEG`, `JP2OpenJPEG`, `VRT`, …).
    pub driver: String,
    /// The file's block size `(width, height)` (band 1).
    pub block: (usize, usize),
    /// The georeferencing, `None` without one.
    pub georef: Option<Georef>,
}

/// The stored sample type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleType {
    /// Unsigned 8-bit.
    U8,
    /// Unsigned 16-bit.
    U16,
    /// IEEE 32-bit float.
    F32,
}

impl SampleType {
    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::F32 => 4,
        }
    }
}

impl std::fmt::Display for SampleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::F32 => "f32",
        })
    }
}

/// Band-major sample storage.
#[derive(Debug, Clone, PartialEq)]
pub enum RasterData {
    /// u8 samples.
    U8(Vec<u8>),
    /// u16 samples.
    U16(Vec<u16>),
    /// f32 samples.
    F32(Vec<f32>),
}

impl RasterData {
    /// The sample type.
    pub fn sample_type(&self) -> SampleType {
        match self {
            Self::U8(_) => SampleType::U8,
            Self::U16(_) => SampleType::U16,
            Self::F32(_) => SampleType::F32,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::F32(v) => v.len(),
        }
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `i` as f32.
    #[inline]
    pub fn get(&self, i: usize) -> f32 {
        match self {
            Self::U8(v) => f32::from(v[i]),
            Self::U16(v) => f32::from(v[i]),
            Self::F32(v) => v[i],
        }
    }
}

/// Where a raster lies: GDAL's geotransform and the CRS as WKT.
#[derive(Debug, Clone, PartialEq)]
pub struct Georef {
    /// `[x0, pixel width, row rotation, y0, column rotation, pixel height]`.
    pub geo_transform: [f64; 6],
    /// The CRS as WKT (empty when the file names none).
    pub projection: String,
}

/// A decoded image: `bands` planes of `height × width` samples, band-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Planes.
    pub bands: usize,
    /// `bands * height * width` samples.
    pub data: RasterData,
    /// The file's georeferencing, `None` without one.
    pub georef: Option<Georef>,
}

impl Raster {
    /// A raster from parts; the length must be `bands * height * width`.
    pub fn new(width: usize, height: usize, bands: usize, data: RasterData) -> Result<Self> {
        if data.len() != width * height * bands {
            return Err(Error::Mismatch {
                what: "raster samples".into(),
                expected: format!("{bands} × {height} × {width} = {}", bands * height * width),
                got: data.len().to_string(),
            });
        }
        Ok(Self { width, height, bands, data, georef: None })
    }

    /// Sample of band `b` at row `y`, column `x`, as f32.
    #[inline]
    pub fn at(&self, b: usize, y: usize, x: usize) -> f32 {
        self.data.get((b * self.height + y) * self.width + x)
    }

    /// Band `b` as f32 values (a copy).
    pub fn band_f32(&self, b: usize) -> Vec<f32> {
        let n = self.width * self.height;
        (b * n..(b + 1) * n).map(|i| self.data.get(i)).collect()
    }

    /// Copies the `h × w` window at (`y0`, `x0`) of band `b` into `out` as f32.
    pub fn copy_window(&self, b: usize, y0: usize, x0: usize, h: usize, w: usize, out: &mut [f32]) {
        let base = b * self.height * self.width;
        for r in 0..h {
            let start = base + (y0 + r) * self.width + x0;
            let dst = &mut out[r * w..(r + 1) * w];
            match &self.data {
                RasterData::U8(v) => dst.iter_mut().zip(&v[start..start + w]).for_each(|(d, &s)| *d = f32::from(s)),
                RasterData::U16(v) => dst.iter_mut().zip(&v[start..start + w]).for_each(|(d, &s)| *d = f32::from(s)),
                RasterData::F32(v) => dst.copy_from_slice(&v[start..start + w]),
            }
        }
    }

    /// Mean of band `b` (f64 accumulation).
    pub fn band_mean(&self, b: usize) -> f64 {
        let n = self.width * self.height;
        if n == 0 {
            return 0.0;
        }
        let sum: f64 = match &self.data {
            RasterData::U8(v) => v[b * n..(b + 1) * n].par_iter().map(|&x| f64::from(x)).sum(),
            RasterData::U16(v) => v[b * n..(b + 1) * n].par_iter().map(|&x| f64::from(x)).sum(),
            RasterData::F32(v) => v[b * n..(b + 1) * n].par_iter().map(|&x| f64::from(x)).sum(),
        };
        sum / n as f64
    }

    /// Fails with [`Error::Raster`] naming `path` unless the samples are of type `ty`. naming `path` unless the samples are of type `ty`.
    pub fn expect_type(&self, path: &Path, ty: SampleType) -> Result<()> {
        let got = self.data.sample_type();
        if got != ty {
            return Err(raster_err(path, format!("expected {ty} samples, found {got}")));
        }
        Ok(())
    }
}

/// Fails with [`Error::Footprint`] when both rasters are georeferenced and differ in CRS or
/// footprint (within half of the coarser pixel): the files of one scene must cover the same
/// ground. Rasters without georeferencing pass (their sizes are the readers' check).
pub fn check_same_ground(reference: (&Path, &Raster), other: (&Path, &Raster)) -> Result<()> {
    #[cfg(feature = "gdal")]
    if reference.1.georef.is_some() && other.1.georef.is_some() {
        let (a, b) = (grid::GeoInfo::of_raster(reference.0, reference.1), grid::GeoInfo::of_raster(other.0, other.1));
        return grid::check_footprint(&a, &b);
    }
    let _ = (reference, other);
    Ok(())
}

pub(crate) fn raster_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Raster { path: path.to_path_buf(), reason: reason.into() }
}

/// The reads of a build without GDAL: each fails naming the file and the feature.
#[cfg(not(feature = "gdal"))]
mod without_gdal {
    use std::path::Path;

    use super::{Raster, RasterInfo};
    use crate::error::{Error, Result};

    fn no_gdal(path: &Path) -> Error {
        Error::NoGdal { path: path.to_path_buf() }
    }

    /// Fails: reading rasters needs the `gdal` feature.
    pub fn read_info(path: &Path) -> Result<RasterInfo> {
        Err(no_gdal(path))
    }

    /// Fails: reading rasters needs the `gdal` feature.
    pub fn read_raster(path: &Path) -> Result<Raster> {
        Err(no_gdal(path))
    }

    /// Fails: reading rasters needs the `gdal` feature.
    pub fn read_bands(path: &Path, _bands: Option<&[usize]>) -> Result<Raster> {
        Err(no_gdal(path))
    }

    /// Fails: reading rasters needs the `gdal` feature.
    pub fn read_stack(path: &Path, _expected: usize, _bands: &[usize]) -> Result<Raster> {
        Err(no_gdal(path))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn reads_name_the_file_and_the_feature() {
            let e = super::read_info(std::path::Path::new("scene.tif")).unwrap_err().to_string();
            assert!(e.contains("scene.tif") && e.contains("`gdal` cargo feature"), "{e}");
        }
    }
}

#[cfg(all(test, feature = "gdal"))]
mod tests {
    use super::*;

    fn ramp(bands: usize, h: usize, w: usize) -> Vec<u16> {
        (0..bands * h * w).map(|i| (i * 37 % 2048) as u16).collect()
    }

    #[test]
    fn round_trips_every_option() {
        let dir = tempfile::tempdir().unwrap();
        let (w, h) = (13, 9);
        let rasters = [
            Raster::new(w, h, 3, RasterData::U16(ramp(3, h, w))).unwrap(),
            Raster::new(w, h, 4, RasterData::U8((0..4 * w * h).map(|i| (i * 7) as u8).collect())).unwrap(),
            Raster::new(w, h, 2, RasterData::F32((0..2 * w * h).map(|i| (i as f32 * 0.37).sin() * 1e3).collect()))
                .unwrap(),
        ];
        for (ri, r) in rasters.iter().enumerate() {
            for planar in [false, true] {
                for compression in [WriteCompression::None, WriteCompression::Lzw, WriteCompression::Deflate] {
                    for predictor in [false, true] {
                        let opts = TiffWriteOptions {
                            planar,
                            compression,
                            predictor,
                            photometric: if r.bands >= 3 { Photometric::Rgb } else { Photometric::MinIsBlack },
                            rows_per_strip: 4,
                        };
                        let p = dir.path().join(format!("r{ri}.tif"));
                        write_tiff(&p, r, &opts).unwrap();
                        let back = read_raster(&p).unwrap();
                        assert_eq!(&back, r, "{ri} {opts:?}");
                        let sub = read_bands(&p, Some(&[1, 0])).unwrap();
                        assert_eq!(sub.bands, 2);
                        assert_eq!(sub.band_f32(0), r.band_f32(1));
                        assert_eq!(sub.band_f32(1), r.band_f32(0));
                    }
                }
            }
        }
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tif");
        let r = Raster::new(8, 8, 3, RasterData::U16(ramp(3, 8, 8))).unwrap();
        write_tiff(&p, &r, &TiffWriteOptions { planar: true, ..Default::default() }).unwrap();
        let e = read_stack(&p, 8, &[0]).unwrap_err().to_string();
        assert!(e.contains("a.tif") && e.contains("expected 8 bands") && e.contains("found 3"), "{e}");
        let e = read_bands(&p, Some(&[3])).unwrap_err().to_string();
        assert!(e.contains("band 3 requested"), "{e}");
        // Truncated to half, which also loses the IFD (written last).
        let bytes = std::fs::read(&p).unwrap();
        let t = dir.path().join("t.tif");
        std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_raster(&t).unwrap_err().to_string();
        assert!(e.contains("t.tif"), "{e}");
        let missing = read_raster(&dir.path().join("nope.tif")).unwrap_err();
        assert!(matches!(missing, Error::Missing { .. }), "{missing}");
        let junk = dir.path().join("junk.tif");
        std::fs::write(&junk, b"this is not a tiff").unwrap();
        let e = read_raster(&junk).unwrap_err();
        assert!(matches!(&e, Error::Gdal { path, .. } if path == &junk), "{e}");
        // GDAL's own message follows in the error chain.
        let cause = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
        assert!(cause.contains("not recognized as a supported file format"), "{cause}");
    }
}
