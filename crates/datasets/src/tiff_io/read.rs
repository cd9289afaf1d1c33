//! Reading: the layout of a file's first IFD (through the `tiff` crate) and the decoding of its
//! strips or tiles, done here in parallel batches (see the parent module for why).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use rayon::prelude::*;
use tiff::decoder::Decoder;
use tiff::tags::Tag;

use super::{Pixel, Raster, RasterData, SampleType, io_err, tiff_err};
use crate::error::{Error, Result};

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
pub(crate) fn unpackbits(raw: &[u8], limit: usize) -> Vec<u8> {
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
