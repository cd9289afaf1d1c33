//! GeoTIFF reading and writing for the real data sets (SPEC §8): strips or tiles, planar or
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

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tiff::decoder::Decoder;
use tiff::encoder::TiffEncoder;
use tiff::tags::Tag;

use crate::error::{Error, Result};

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

fn tiff_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Tiff { path: path.to_path_buf(), reason: reason.into() }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// How the pixel data of a file is stored (from its first IFD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiffLayout {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Samples per pixel.
    pub samples: usize,
    /// Sample type.
    pub sample_type: SampleType,
    /// PlanarConfiguration = 2 (one plane after another).
    pub planar: bool,
    /// Compression tag value (1 none, 5 LZW, 8 / 32946 Deflate, 32773 PackBits).
    pub compression: u16,
    /// Predictor tag value (1 none, 2 horizontal, 3 floating point).
    pub predictor: u16,
    /// PhotometricInterpretation tag value.
    pub photometric: u16,
    /// `Some((tile_width, tile_height))` for a tiled file, `None` for strips.
    pub tile: Option<(usize, usize)>,
    /// Rows per strip (strip files).
    pub rows_per_strip: usize,
    /// Chunk (strip or tile) offsets.
    pub offsets: Vec<u64>,
    /// Chunk byte counts.
    pub byte_counts: Vec<u64>,
    /// File byte order.
    pub little_endian: bool,
}

impl TiffLayout {
    fn chunk_samples(&self) -> usize {
        if self.planar { 1 } else { self.samples }
    }

    /// `(across, down)` chunks per plane.
    fn grid(&self) -> (usize, usize) {
        match self.tile {
            Some((tw, th)) => (self.width.div_ceil(tw), self.height.div_ceil(th)),
            None => (1, self.height.div_ceil(self.rows_per_strip)),
        }
    }

    /// Chunk `k`: (plane or None for chunky, x0, y0, stored width, stored rows, valid width, valid rows).
    fn chunk(&self, k: usize) -> (Option<usize>, usize, usize, usize, usize, usize, usize) {
        let (across, down) = self.grid();
        let per_plane = across * down;
        let plane = self.planar.then_some(k / per_plane);
        let local = k % per_plane;
        let (cx, cy) = (local % across, local / across);
        match self.tile {
            Some((tw, th)) => {
                let (x0, y0) = (cx * tw, cy * th);
                (plane, x0, y0, tw, th, tw.min(self.width - x0), th.min(self.height - y0))
            }
            None => {
                let y0 = cy * self.rows_per_strip;
                let rows = self.rows_per_strip.min(self.height - y0);
                (plane, 0, y0, self.width, rows, self.width, rows)
            }
        }
    }
}

/// Reads the layout of the first image of `path`, leaving the file open for the data.
fn open_layout(path: &Path) -> Result<(TiffLayout, Decoder<BufReader<File>>)> {
    let file = File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing { path: path.to_path_buf(), hint: "a TIFF file of the data-set layout".into() }
        } else {
            Error::Io { path: path.to_path_buf(), source }
        }
    })?;
    let terr = |e: tiff::TiffError| tiff_err(path, format!("not a readable TIFF: {e}"));
    let mut dec = Decoder::new(BufReader::new(file)).map_err(terr)?;
    let (w, h) = dec.dimensions().map_err(terr)?;
    let samples: usize = dec.find_tag_unsigned(Tag::SamplesPerPixel).map_err(terr)?.unwrap_or(1);
    let bits: Vec<u16> = dec.find_tag_unsigned_vec(Tag::BitsPerSample).map_err(terr)?.unwrap_or_else(|| vec![1]);
    let formats: Vec<u16> = dec.find_tag_unsigned_vec(Tag::SampleFormat).map_err(terr)?.unwrap_or_else(|| vec![1]);
    let planar = dec.find_tag_unsigned::<u16>(Tag::PlanarConfiguration).map_err(terr)?.unwrap_or(1) == 2;
    let compression = dec.find_tag_unsigned::<u16>(Tag::Compression).map_err(terr)?.unwrap_or(1);
    let predictor = dec.find_tag_unsigned::<u16>(Tag::Predictor).map_err(terr)?.unwrap_or(1);
    let photometric = dec.find_tag_unsigned::<u16>(Tag::PhotometricInterpretation).map_err(terr)?.unwrap_or(1);
    if samples == 0 || w == 0 || h == 0 {
        return Err(tiff_err(path, format!("empty image: {w} × {h} with {samples} samples per pixel")));
    }
    if bits.iter().any(|&b| b != bits[0]) || formats.iter().any(|&f| f != formats[0]) {
        return Err(tiff_err(path, format!("mixed sample types per band (bits {bits:?}, formats {formats:?})")));
    }
    let sample_type = match (bits[0], formats[0]) {
        (8, 1) => SampleType::U8,
        (16, 1) => SampleType::U16,
        (32, 3) => SampleType::F32,
        (b, f) => {
            let kind = match f {
                1 => "unsigned",
                2 => "signed",
                3 => "float",
                _ => "unknown-format",
            };
            return Err(tiff_err(path, format!("unsupported samples: {b}-bit {kind}; expected u8, u16 or f32")));
        }
    };
    if photometric == 3 {
        return Err(tiff_err(path, "palette-colour image: expected direct values (grey, RGB or multiband)"));
    }
    if !matches!(compression, 1 | 5 | 8 | 32946 | 32773) {
        return Err(tiff_err(
            path,
            format!("unsupported compression {compression}; expected none (1), LZW (5), Deflate (8) or PackBits"),
        ));
    }
    let predictor_ok = match predictor {
        1 => true,
        2 => sample_type != SampleType::F32,
        3 => sample_type == SampleType::F32,
        _ => false,
    };
    if !predictor_ok {
        return Err(tiff_err(path, format!("unsupported predictor {predictor} for {sample_type} samples")));
    }
    let tw = dec.find_tag_unsigned::<u64>(Tag::TileWidth).map_err(terr)?;
    let th = dec.find_tag_unsigned::<u64>(Tag::TileLength).map_err(terr)?;
    let (tile, offsets_tag, counts_tag) = match (tw, th) {
        (Some(tw), Some(th)) if tw > 0 && th > 0 => {
            (Some((tw as usize, th as usize)), Tag::TileOffsets, Tag::TileByteCounts)
        }
        _ => (None, Tag::StripOffsets, Tag::StripByteCounts),
    };
    let rows_per_strip =
        dec.find_tag_unsigned::<u64>(Tag::RowsPerStrip).map_err(terr)?.unwrap_or(u64::from(h)).clamp(1, u64::from(h))
            as usize;
    let offsets: Vec<u64> = dec.find_tag_unsigned_vec(offsets_tag).map_err(terr)?.unwrap_or_default();
    let byte_counts: Vec<u64> = dec.find_tag_unsigned_vec(counts_tag).map_err(terr)?.unwrap_or_default();
    let little_endian = matches!(dec.byte_order(), tiff::tags::ByteOrder::LittleEndian);
    let layout = TiffLayout {
        width: w as usize,
        height: h as usize,
        samples,
        sample_type,
        planar: planar && samples > 1,
        compression,
        predictor,
        photometric,
        tile,
        rows_per_strip,
        offsets,
        byte_counts,
        little_endian,
    };
    let (across, down) = layout.grid();
    let expected = across * down * if layout.planar { samples } else { 1 };
    if layout.offsets.len() != expected || layout.byte_counts.len() != expected {
        return Err(tiff_err(
            path,
            format!(
                "expected {expected} {} offsets and byte counts, found {} and {}",
                if tile.is_some() { "tile" } else { "strip" },
                layout.offsets.len(),
                layout.byte_counts.len()
            ),
        ));
    }
    Ok((layout, dec))
}

/// The layout of `path` (dimensions, bands, type, compression) without decoding pixels.
pub fn read_layout(path: &Path) -> Result<TiffLayout> {
    Ok(open_layout(path)?.0)
}

/// Decodes every band of `path`.
pub fn read_tiff(path: &Path) -> Result<Raster> {
    read_tiff_bands(path, None)
}

/// Decodes the bands `bands` of `path` (all when `None`), in that order. For a planar file only
/// the selected planes are read.
pub fn read_tiff_bands(path: &Path, bands: Option<&[usize]>) -> Result<Raster> {
    let (layout, mut dec) = open_layout(path)?;
    let selected: Vec<usize> = bands.map_or_else(|| (0..layout.samples).collect(), <[usize]>::to_vec);
    if let Some(&b) = selected.iter().find(|&&b| b >= layout.samples) {
        return Err(tiff_err(path, format!("band {b} requested, the file has {} bands", layout.samples)));
    }
    let reader = dec.inner();
    let file_len = reader.seek(SeekFrom::End(0)).map_err(io_err(path))?;
    let plane = layout.width * layout.height;
    let n = selected.len() * plane;
    match layout.sample_type {
        SampleType::U8 => {
            let mut out = vec![0u8; n];
            decode_into(path, &layout, reader, file_len, &selected, &mut out)?;
            Raster::new(layout.width, layout.height, selected.len(), RasterData::U8(out))
        }
        SampleType::U16 => {
            let mut out = vec![0u16; n];
            decode_into(path, &layout, reader, file_len, &selected, &mut out)?;
            Raster::new(layout.width, layout.height, selected.len(), RasterData::U16(out))
        }
        SampleType::F32 => {
            let mut out = vec![0f32; n];
            decode_into(path, &layout, reader, file_len, &selected, &mut out)?;
            Raster::new(layout.width, layout.height, selected.len(), RasterData::F32(out))
        }
    }
}

/// Decodes bands `bands` of `path` after checking that the file has exactly `expected` bands
/// (samples per pixel), as the data-set layout prescribes; the error names the file.
pub fn read_stack(path: &Path, expected: usize, bands: &[usize]) -> Result<Raster> {
    let layout = read_layout(path)?;
    if layout.samples != expected {
        return Err(tiff_err(path, format!("expected {expected} bands (samples per pixel), found {}", layout.samples)));
    }
    read_tiff_bands(path, Some(bands))
}

/// A stored sample type.
trait Pixel: Copy + Default + Send + Sync + 'static {
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

/// Compressed bytes read per batch before decoding it in parallel.
const BATCH_BYTES: u64 = 32 << 20;

fn decode_into<T: Pixel, R: Read + Seek>(
    path: &Path,
    layout: &TiffLayout,
    reader: &mut R,
    file_len: u64,
    selected: &[usize],
    out: &mut [T],
) -> Result<()> {
    let plane = layout.width * layout.height;
    // Chunks holding a selected band (all chunks of a chunky file).
    let chunks: Vec<usize> = (0..layout.offsets.len())
        .filter(|&k| match layout.chunk(k).0 {
            Some(p) => selected.contains(&p),
            None => true,
        })
        .collect();
    let mut start = 0;
    while start < chunks.len() {
        let mut end = start;
        let mut bytes = 0u64;
        while end < chunks.len() && (end == start || bytes + layout.byte_counts[chunks[end]] <= BATCH_BYTES) {
            bytes += layout.byte_counts[chunks[end]];
            end += 1;
        }
        // Read the batch's compressed chunks in file order.
        let mut raw = Vec::with_capacity(end - start);
        for &k in &chunks[start..end] {
            let (off, len) = (layout.offsets[k], layout.byte_counts[k]);
            if off.checked_add(len).is_none_or(|e| e > file_len) {
                return Err(tiff_err(
                    path,
                    format!("truncated: chunk {k} spans bytes {off}..{} but the file has {file_len}", off + len),
                ));
            }
            let mut buf = vec![0u8; len as usize];
            reader.seek(SeekFrom::Start(off)).map_err(io_err(path))?;
            reader.read_exact(&mut buf).map_err(io_err(path))?;
            raw.push(buf);
        }
        let decoded: Vec<Vec<T>> = chunks[start..end]
            .par_iter()
            .zip(raw.into_par_iter())
            .map(|(&k, buf)| decode_chunk::<T>(path, layout, k, &buf))
            .collect::<Result<_>>()?;
        // Scatter into the band-major output.
        for (&k, values) in chunks[start..end].iter().zip(&decoded) {
            let (plane_of, x0, y0, cw, _, vw, vh) = layout.chunk(k);
            let spp = layout.chunk_samples();
            for (oi, &band) in selected.iter().enumerate() {
                let s = match plane_of {
                    Some(p) if p == band => 0,
                    Some(_) => continue,
                    None => band,
                };
                let dst = &mut out[oi * plane..(oi + 1) * plane];
                for r in 0..vh {
                    let row = &values[r * cw * spp..];
                    let d = &mut dst[(y0 + r) * layout.width + x0..][..vw];
                    if spp == 1 {
                        d.copy_from_slice(&row[..vw]);
                    } else {
                        for (c, v) in d.iter_mut().enumerate() {
                            *v = row[c * spp + s];
                        }
                    }
                }
            }
        }
        start = end;
    }
    Ok(())
}

/// Decompresses chunk `k` and undoes its predictor: `stored rows × stored width × spp` values.
fn decode_chunk<T: Pixel>(path: &Path, layout: &TiffLayout, k: usize, raw: &[u8]) -> Result<Vec<T>> {
    let (_, _, _, cw, ch, _, vh) = layout.chunk(k);
    let spp = layout.chunk_samples();
    let row_bytes = cw * spp * T::BYTES;
    let expected = row_bytes * ch;
    let mut bytes = match layout.compression {
        1 => raw.to_vec(),
        5 => {
            let mut out = Vec::with_capacity(expected);
            let mut d = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
            let res = d.into_vec(&mut out).decode(raw);
            if let Err(e) = res.status {
                return Err(tiff_err(path, format!("chunk {k}: corrupt LZW data: {e}")));
            }
            out
        }
        8 | 32946 => {
            let mut out = Vec::with_capacity(expected);
            let mut z = flate2::read::ZlibDecoder::new(raw).take(expected as u64);
            z.read_to_end(&mut out).map_err(|e| tiff_err(path, format!("chunk {k}: corrupt Deflate data: {e}")))?;
            out
        }
        32773 => unpackbits(raw, expected),
        c => return Err(tiff_err(path, format!("unsupported compression {c}"))),
    };
    // The last strip may legitimately stop after its valid rows.
    let needed = if layout.tile.is_some() { expected } else { row_bytes * vh };
    if bytes.len() < needed {
        return Err(tiff_err(
            path,
            format!("truncated: chunk {k} decodes to {} bytes, expected {needed}", bytes.len()),
        ));
    }
    bytes.resize(expected, 0);
    let le = layout.little_endian;
    let mut values: Vec<T> = Vec::with_capacity(cw * ch * spp);
    match layout.predictor {
        3 => {
            // Floating point: bytes of each row were split into planes (most significant
            // first) and byte-differenced with stride `spp`; independent of the file's byte
            // order (libtiff's fpAcc).
            let wc = cw * spp;
            for row in bytes.chunks_exact_mut(row_bytes) {
                for i in spp..row_bytes {
                    row[i] = row[i].wrapping_add(row[i - spp]);
                }
                let mut be = [0u8; 8];
                for c in 0..wc {
                    for (b, slot) in be.iter_mut().take(T::BYTES).enumerate() {
                        *slot = row[b * wc + c];
                    }
                    values.push(T::from_bytes(&be[..T::BYTES], false));
                }
            }
        }
        _ => {
            values.extend(bytes.chunks_exact(T::BYTES).map(|b| T::from_bytes(b, le)));
            if layout.predictor == 2 {
                for row in values.chunks_exact_mut(cw * spp) {
                    for i in spp..row.len() {
                        row[i] = row[i].wrapping_add(row[i - spp]);
                    }
                }
            }
        }
    }
    Ok(values)
}

/// PackBits (Apple RLE) decoding, stopping after `limit` bytes.
fn unpackbits(raw: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut i = 0;
    while i < raw.len() && out.len() < limit {
        let n = raw[i] as i8;
        i += 1;
        if n >= 0 {
            let len = n as usize + 1;
            let end = (i + len).min(raw.len());
            out.extend_from_slice(&raw[i..end]);
            i = end;
        } else if n != -128 {
            if let Some(&b) = raw.get(i) {
                out.extend(std::iter::repeat_n(b, (1 - n as isize) as usize));
            }
            i += 1;
        }
    }
    out
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
    let bytes = encode_tiff(raster, opts).map_err(|e| tiff_err(path, format!("encoding failed: {e}")))?;
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
                if opts.predictor {
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
        if opts.predictor {
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
        let out = unpackbits(&raw, 100);
        assert_eq!(out.len(), 24);
        assert_eq!(&out[..5], &[0xAA, 0xAA, 0xAA, 0x80, 0x00]);
        assert_eq!(&out[14..], &[0xAA; 10]);
    }
}
