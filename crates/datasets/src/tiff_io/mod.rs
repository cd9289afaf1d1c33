//! GeoTIFF reading and writing for the real data sets (docs/method.md §8): strips or tiles, planar or
//! chunky, u8 / u16 / f32 samples, no compression, LZW, Deflate or PackBits, the horizontal
//! (2) and floating-point (3) predictors, either byte order.
//!
//! The `tiff` crate (0.11.3) parses the header and the IFD tags; the pixel data is decoded here
//! from the raw strips/tiles, because the crate's own image decoding has pitfalls that lose
//! data: `read_image()` returns only the first plane of a planar file, and a file tagged RGB
//! with an extra sample (how RGBIR imagery is usually written) comes back with 3 samples and
//! wrong values under the horizontal predictor. Here every sample of every pixel is decoded and
//! the band count is whatever `SamplesPerPixel` says; callers check it against the layout with
//! [`Raster::expect_bands`]. Chunks are decompressed in parallel (rayon) in batches of about
//! 32 MB of compressed data, so a large file is never held twice.
//!
//! A decoded [`Raster`] is band-major (`[bands, height, width]`) in its stored sample type.
//! [`write_tiff`] writes the same through the `tiff` crate's directory encoder, with the strips
//! compressed and predicted here (the crate's image encoder cannot write planar files).
//!
//! [`read`] holds the layout parsing and the decoding, [`write`] the encoder.

use std::path::Path;

use rayon::prelude::*;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod read;
mod write;

pub use read::{TiffLayout, read_layout, read_stack, read_tiff, read_tiff_bands};
pub use write::{Photometric, TiffWriteOptions, WriteCompression, encode_tiff, write_tiff};

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
        Ok(Self { width, height, bands, data })
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

    /// Fails with [`Error::Tiff`] naming `path` unless the raster has `bands` bands.
    pub fn expect_bands(&self, path: &Path, bands: usize) -> Result<()> {
        if self.bands != bands {
            return Err(tiff_err(path, format!("expected {bands} bands (samples per pixel), found {}", self.bands)));
        }
        Ok(())
    }

    /// Fails with [`Error::Tiff`] naming `path` unless the samples are of type `ty`.
    pub fn expect_type(&self, path: &Path, ty: SampleType) -> Result<()> {
        let got = self.data.sample_type();
        if got != ty {
            return Err(tiff_err(path, format!("expected {ty} samples, found {got}")));
        }
        Ok(())
    }
}

pub(crate) fn tiff_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Tiff { path: path.to_path_buf(), reason: reason.into() }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// A stored sample type.
pub(crate) trait Pixel: Copy + Default + Send + Sync + 'static {
    const BYTES: usize;
    fn from_bytes(b: &[u8], little_endian: bool) -> Self;
    fn wrapping_add(self, other: Self) -> Self;
    fn to_le(self, out: &mut Vec<u8>);
}

impl Pixel for u8 {
    const BYTES: usize = 1;
    fn from_bytes(b: &[u8], _: bool) -> Self {
        b[0]
    }
    fn wrapping_add(self, o: Self) -> Self {
        u8::wrapping_add(self, o)
    }
    fn to_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

impl Pixel for u16 {
    const BYTES: usize = 2;
    fn from_bytes(b: &[u8], le: bool) -> Self {
        if le { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) }
    }
    fn wrapping_add(self, o: Self) -> Self {
        u16::wrapping_add(self, o)
    }
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Pixel for f32 {
    const BYTES: usize = 4;
    fn from_bytes(b: &[u8], le: bool) -> Self {
        let a = [b[0], b[1], b[2], b[3]];
        if le { f32::from_le_bytes(a) } else { f32::from_be_bytes(a) }
    }
    fn wrapping_add(self, o: Self) -> Self {
        self + o
    }
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

#[cfg(test)]
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
                        let back = read_tiff(&p).unwrap();
                        assert_eq!(&back, r, "{ri} {opts:?}");
                        let sub = read_tiff_bands(&p, Some(&[1, 0])).unwrap();
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
        let e = read_tiff(&p).unwrap().expect_bands(&p, 8).unwrap_err().to_string();
        assert!(e.contains("a.tif") && e.contains("expected 8 bands") && e.contains("found 3"), "{e}");
        let e = read_tiff_bands(&p, Some(&[3])).unwrap_err().to_string();
        assert!(e.contains("band 3 requested"), "{e}");
        // Truncated: cut the file inside its strip data (the IFD comes last, so cut a copy
        // after moving nothing: truncate to half, which also loses the IFD).
        let bytes = std::fs::read(&p).unwrap();
        let t = dir.path().join("t.tif");
        std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_tiff(&t).unwrap_err().to_string();
        assert!(e.contains("t.tif"), "{e}");
        let missing = read_tiff(&dir.path().join("nope.tif")).unwrap_err();
        assert!(matches!(missing, Error::Missing { .. }), "{missing}");
        let junk = dir.path().join("junk.tif");
        std::fs::write(&junk, b"this is not a tiff").unwrap();
        let e = read_tiff(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.tif") && e.contains("not a readable TIFF"), "{e}");
    }

    #[test]
    fn packbits_decodes_runs_and_literals() {
        // Apple's example: FE AA 02 80 00 2A FD AA 03 80 00 2A 22 F7 AA
        let raw = [0xFE, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0xFD, 0xAA, 0x03, 0x80, 0x00, 0x2A, 0x22, 0xF7, 0xAA];
        let out = read::unpackbits(&raw, 100);
        assert_eq!(out.len(), 24);
        assert_eq!(&out[..5], &[0xAA, 0xAA, 0xAA, 0x80, 0x00]);
        assert_eq!(&out[14..], &[0xAA; 10]);
    }
}
