//! The GDAL raster layer against TIFFs written by an independent writer (tifffile; see
//! `fixtures/tiff/gen.py`, which states the formulas recomputed here and the versions used).
//! Every value must match exactly: planar u16 LZW + horizontal predictor, RGB-tagged RGBIR
//! u8 with an extra sample + predictor, f32 Deflate + floating-point predictor (both byte
//! orders), tiled multiband u16, big-endian uncompressed.
#![cfg(feature = "gdal")]

use std::path::PathBuf;

use lssg_datasets::raster::{RasterData, SampleType, read_bands, read_info, read_raster};

const H: usize = 10;
const W: usize = 7;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiff").join(name)
}

fn u16_at(b: usize, y: usize, x: usize) -> u16 {
    ((b * 1000 + y * 37 + x * 11) % 2048) as u16
}

fn u8_at(b: usize, y: usize, x: usize) -> u8 {
    ((b * 60 + y * 7 + x * 13) % 256) as u8
}

fn f32_at(b: usize, y: usize, x: usize) -> f32 {
    (b * 100 + y * 10 + x) as f32 * 0.25 - 50.0
}

/// Compares band-major samples with the formula, reporting the first difference.
fn check<T: PartialEq + std::fmt::Debug + Copy>(
    name: &str,
    got: &[T],
    bands: usize,
    f: impl Fn(usize, usize, usize) -> T,
) {
    assert_eq!(got.len(), bands * H * W, "{name}: sample count");
    for b in 0..bands {
        for y in 0..H {
            for x in 0..W {
                let (g, e) = (got[(b * H + y) * W + x], f(b, y, x));
                assert_eq!(g, e, "{name}: band {b} row {y} col {x}: got {g:?}, expected {e:?}");
            }
        }
    }
}

#[test]
fn planar_u16_lzw_horizontal_predictor() {
    let p = fixture("planar_u16_lzw_pred.tif");
    let l = read_info(&p).unwrap();
    assert_eq!((l.bands, l.sample_type, l.driver.as_str()), (3, SampleType::U16, "GTiff"));
    let r = read_raster(&p).unwrap();
    let RasterData::U16(v) = &r.data else { panic!("u16 expected") };
    check("planar_u16", v, 3, u16_at);
    // Selecting one plane of a planar file reads only that plane.
    let r = read_bands(&p, Some(&[2])).unwrap();
    let RasterData::U16(v) = &r.data else { panic!("u16 expected") };
    check("planar_u16 band 2", v, 1, |_, y, x| u16_at(2, y, x));
}

#[test]
fn rgb_tagged_rgbir_keeps_the_fourth_band() {
    let p = fixture("rgbir_u8_lzw_pred.tif");
    let l = read_info(&p).unwrap();
    assert_eq!((l.bands, l.sample_type), (4, SampleType::U8));
    let r = lssg_datasets::raster::read_stack(&p, 4, &[0, 1, 2, 3]).unwrap();
    let RasterData::U8(v) = &r.data else { panic!("u8 expected") };
    check("rgbir", v, 4, u8_at);
}

#[test]
fn f32_deflate_floating_point_predictor_both_byte_orders() {
    let p = fixture("f32_deflate_fppred.tif");
    let r = read_raster(&p).unwrap();
    r.expect_type(&p, SampleType::F32).unwrap();
    let RasterData::F32(v) = &r.data else { panic!("f32 expected") };
    check("f32 le", v, 1, f32_at);
    let p = fixture("f32_deflate_fppred_be.tif");
    let l = read_info(&p).unwrap();
    assert_eq!((l.bands, l.sample_type), (2, SampleType::F32));
    let RasterData::F32(v) = read_raster(&p).unwrap().data else { panic!("f32 expected") };
    check("f32 be", &v, 2, f32_at);
}

#[test]
fn tiled_chunky_u16_deflate() {
    let p = fixture("tiled_u16_deflate_pred.tif");
    let l = read_info(&p).unwrap();
    assert_eq!(l.block, (16, 16));
    let RasterData::U16(v) = read_raster(&p).unwrap().data else { panic!("u16 expected") };
    check("tiled", &v, 4, u16_at);
    let RasterData::U16(v) = read_bands(&p, Some(&[3, 1])).unwrap().data else { panic!("u16 expected") };
    check("tiled bands 3,1", &v, 2, |b, y, x| u16_at([3, 1][b], y, x));
}

#[test]
fn big_endian_uncompressed_planar() {
    let p = fixture("planar_u16_be.tif");
    let RasterData::U16(v) = read_raster(&p).unwrap().data else { panic!("u16 expected") };
    check("be", &v, 2, u16_at);
}
