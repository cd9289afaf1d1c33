//! Writing: band-major rasters to TIFF through the `tiff` crate's directory encoder, with the
//! strips compressed (LZW, Deflate) and predicted here, planar or chunky.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use serde::{Deserialize, Serialize};
use tiff::encoder::TiffEncoder;
use tiff::tags::Tag;

use super::{Raster, RasterData, raster_err};
use crate::error::{Error, Result};

/// A stored sample type, written little-endian.
trait Pixel: Copy + Send + Sync + 'static {
    const BYTES: usize;
    fn to_le(self, out: &mut Vec<u8>);
}

impl Pixel for u8 {
    const BYTES: usize = 1;
    fn to_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

impl Pixel for u16 {
    const BYTES: usize = 2;
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Pixel for f32 {
    const BYTES: usize = 4;
    fn to_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Compression of written files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteCompression {
    /// Uncompressed strips.
    None,
    /// LZW (TIFF flavour, MSB first).
    #[default]
    Lzw,
    /// Deflate (zlib).
    Deflate,
}

/// Photometric interpretation of written files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Photometric {
    /// Grey / multiband (`MinIsBlack`); bands past the first are extra samples.
    #[default]
    MinIsBlack,
    /// RGB; bands past the third are extra samples (RGBIR).
    Rgb,
}

/// How [`write_tiff`] stores a raster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TiffWriteOptions {
    /// One plane after another (`true`) or interleaved pixels (`false`).
    pub planar: bool,
    /// Strip compression.
    pub compression: WriteCompression,
    /// Apply the horizontal (integers) or floating-point (f32) predictor.
    pub predictor: bool,
    /// Photometric interpretation.
    pub photometric: Photometric,
    /// Rows per strip (0: about 64 KiB per strip).
    pub rows_per_strip: usize,
}

impl Default for TiffWriteOptions {
    fn default() -> Self {
        Self {
            planar: false,
            compression: WriteCompression::Lzw,
            predictor: true,
            photometric: Photometric::MinIsBlack,
            rows_per_strip: 0,
        }
    }
}

/// Writes `raster` to `path` (atomically: temp file + rename), little-endian, in strips.
pub fn write_tiff(path: &Path, raster: &Raster, opts: &TiffWriteOptions) -> Result<()> {
    let bytes = encode_tiff(raster, opts).map_err(|e| raster_err(path, format!("encoding failed: {e}")))?;
    lssg_scenario::io::write_atomic(path, &bytes).map_err(|e| match e {
        lssg_scenario::Error::Io { path, source } => Error::Io { path, source },
        other => Error::Io { path: PathBuf::from(path), source: std::io::Error::other(other.to_string()) },
    })
}

/// The bytes of a TIFF file holding `raster`.
pub fn encode_tiff(raster: &Raster, opts: &TiffWriteOptions) -> std::result::Result<Vec<u8>, String> {
    match &raster.data {
        RasterData::U8(v) => encode_typed(raster, v, opts, 1),
        RasterData::U16(v) => encode_typed(raster, v, opts, 1),
        RasterData::F32(v) => encode_typed(raster, v, opts, 3),
    }
}

fn encode_typed<T: Pixel>(
    raster: &Raster,
    data: &[T],
    opts: &TiffWriteOptions,
    sample_format: u16,
) -> std::result::Result<Vec<u8>, String> {
    let (w, h, nb) = (raster.width, raster.height, raster.bands);
    if opts.photometric == Photometric::Rgb && nb < 3 {
        return Err(format!("RGB needs at least 3 bands, the raster has {nb}"));
    }
    let planar = opts.planar && nb > 1;
    // TIFF readers apply a predictor only to compressed data (libtiff's rule).
    let predictor = opts.predictor && opts.compression != WriteCompression::None;
    let spp = if planar { 1 } else { nb };
    let row_bytes = w * spp * T::BYTES;
    let rps = if opts.rows_per_strip > 0 { opts.rows_per_strip } else { (65536 / row_bytes.max(1)).max(1) }.min(h);
    let strips_per_plane = h.div_ceil(rps);
    let plane = w * h;
    let is_float = sample_format == 3;
    // Strip s of plane p (or of the interleaved image), encoded and compressed, in parallel.
    let planes = if planar { nb } else { 1 };
    let strips: Vec<Vec<u8>> = (0..planes * strips_per_plane)
        .into_par_iter()
        .map(|k| {
            let (p, s) = (k / strips_per_plane, k % strips_per_plane);
            let (y0, y1) = (s * rps, ((s + 1) * rps).min(h));
            let mut bytes = Vec::with_capacity((y1 - y0) * row_bytes);
            for y in y0..y1 {
                let start = bytes.len();
                if planar {
                    for &v in &data[p * plane + y * w..p * plane + (y + 1) * w] {
                        v.to_le(&mut bytes);
                    }
                } else {
                    for x in 0..w {
                        for b in 0..nb {
                            data[b * plane + y * w + x].to_le(&mut bytes);
                        }
                    }
                }
                if predictor {
                    predict_row(&mut bytes[start..], spp, T::BYTES, is_float);
                }
            }
            match opts.compression {
                WriteCompression::None => Ok(bytes),
                WriteCompression::Lzw => weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                    .encode(&bytes)
                    .map_err(|e| format!("LZW: {e}")),
                WriteCompression::Deflate => {
                    use std::io::Write;
                    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                    z.write_all(&bytes).and_then(|_| z.finish()).map_err(|e| format!("Deflate: {e}"))
                }
            }
        })
        .collect::<std::result::Result<_, String>>()?;
    let mut cursor = Cursor::new(Vec::new());
    {
        let te = |e: tiff::TiffError| e.to_string();
        let mut enc = TiffEncoder::new(&mut cursor).map_err(te)?;
        let mut dir = enc.image_directory().map_err(te)?;
        let mut offsets = Vec::with_capacity(strips.len());
        let mut counts = Vec::with_capacity(strips.len());
        for s in &strips {
            offsets.push(u32::try_from(dir.write_data(s.as_slice()).map_err(te)?).map_err(|_| "file over 4 GiB")?);
            counts.push(s.len() as u32);
        }
        let bits = vec![(T::BYTES * 8) as u16; nb];
        let compression: u16 = match opts.compression {
            WriteCompression::None => 1,
            WriteCompression::Lzw => 5,
            WriteCompression::Deflate => 8,
        };
        let (photometric, colour) = match opts.photometric {
            Photometric::MinIsBlack => (1u16, 1usize),
            Photometric::Rgb => (2, 3),
        };
        dir.write_tag(Tag::ImageWidth, w as u32).map_err(te)?;
        dir.write_tag(Tag::ImageLength, h as u32).map_err(te)?;
        dir.write_tag(Tag::BitsPerSample, bits.as_slice()).map_err(te)?;
        dir.write_tag(Tag::Compression, compression).map_err(te)?;
        dir.write_tag(Tag::PhotometricInterpretation, photometric).map_err(te)?;
        dir.write_tag(Tag::StripOffsets, offsets.as_slice()).map_err(te)?;
        dir.write_tag(Tag::SamplesPerPixel, nb as u16).map_err(te)?;
        dir.write_tag(Tag::RowsPerStrip, rps as u32).map_err(te)?;
        dir.write_tag(Tag::StripByteCounts, counts.as_slice()).map_err(te)?;
        dir.write_tag(Tag::PlanarConfiguration, if planar { 2u16 } else { 1 }).map_err(te)?;
        if predictor {
            dir.write_tag(Tag::Predictor, if is_float { 3u16 } else { 2 }).map_err(te)?;
        }
        if nb > colour {
            dir.write_tag(Tag::ExtraSamples, vec![0u16; nb - colour].as_slice()).map_err(te)?;
        }
        dir.write_tag(Tag::SampleFormat, vec![sample_format; nb].as_slice()).map_err(te)?;
        dir.finish().map_err(te)?;
    }
    Ok(cursor.into_inner())
}

/// Applies the predictor to one row of little-endian samples in place.
fn predict_row(row: &mut [u8], spp: usize, bytes: usize, float: bool) {
    if float {
        // Split into byte planes, most significant first, then difference with stride spp.
        let wc = row.len() / bytes;
        let tmp = row.to_vec();
        for c in 0..wc {
            for b in 0..bytes {
                row[b * wc + c] = tmp[c * bytes + (bytes - 1 - b)];
            }
        }
        for i in (spp..row.len()).rev() {
            row[i] = row[i].wrapping_sub(row[i - spp]);
        }
    } else if bytes == 1 {
        for i in (spp..row.len()).rev() {
            row[i] = row[i].wrapping_sub(row[i - spp]);
        }
    } else {
        let n = row.len() / 2;
        for i in (spp..n).rev() {
            let cur = u16::from_le_bytes([row[2 * i], row[2 * i + 1]]);
            let prev = u16::from_le_bytes([row[2 * (i - spp)], row[2 * (i - spp) + 1]]);
            row[2 * i..2 * i + 2].copy_from_slice(&cur.wrapping_sub(prev).to_le_bytes());
        }
    }
}
