//! The raster layer on the formats the field ships besides plain GeoTIFF: the JPEG nDSM of
//! ISPRS Potsdam as a reader slot, JPEG 2000 (Sentinel-2's format) as a Hunan stack, COG and
//! VRT files, and parallel windowed reads of a striped file (one GDAL handle per thread).
#![cfg(feature = "gdal")]

use std::path::Path;

use lssg_datasets::TileDataset;
use lssg_datasets::hunan::{HunanConfig, HunanStack};
use lssg_datasets::layouts::{Layout, SynthOptions, synth};
use lssg_datasets::potsdam::{PotsdamConfig, PotsdamStack};
use lssg_datasets::raster::{
    Raster, RasterData, SampleType, TiffWriteOptions, WriteCompression, read_bands, read_info, read_raster, read_stack,
    write_tiff, write_with_gdal,
};
use lssg_datasets::scene_reader::{ModalitySlot, SceneSource, SceneTiles};

fn ramp_u16(w: usize, h: usize, bands: usize) -> Raster {
    let v = (0..bands * w * h).map(|i| ((i * 37) % 4001) as u16).collect();
    Raster::new(w, h, bands, RasterData::U16(v)).unwrap()
}

fn all_tiles(tiles: &dyn TileDataset) -> Vec<lssg_datasets::Sample> {
    (0..tiles.len()).map(|i| tiles.sample(i).unwrap()).collect()
}

#[test]
fn potsdam_jpeg_ndsm_is_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), &SynthOptions { layout: Layout::Potsdam, tiles: 2, size: 64, seed: 5 }).unwrap();
    let jpg = PotsdamStack::Ndsm.path(dir.path(), 2, 10);
    assert!(jpg.to_string_lossy().ends_with("1_DSM_normalisation/dsm_potsdam_02_10_normalized_lastools.jpg"));
    let info = read_info(&jpg).unwrap();
    assert_eq!((info.driver.as_str(), info.bands, info.sample_type), ("JPEG", 1, SampleType::U8));
    let mut cfg = PotsdamConfig { root: dir.path().into(), tile_size: 32, stride: 32, ..Default::default() };
    cfg.modalities.push(ModalitySlot::new("ndsm", [(PotsdamStack::Ndsm, 0)]));
    let reader = lssg_datasets::potsdam::open(&cfg).unwrap();
    assert_eq!(reader.modalities().names().last().copied(), Some("ndsm"));
    let tiles = SceneTiles::new(reader, vec![0], 32, 32, 1).unwrap();
    // The slot's tiles are windows of the decoded JPEG.
    let whole = read_raster(&jpg).unwrap();
    let s = tiles.sample(3).unwrap(); // origin (32, 32)
    let ndsm = &s.modalities[3];
    assert_eq!(ndsm.data.len(), 32 * 32);
    for (k, &v) in ndsm.data.iter().enumerate() {
        assert_eq!(v, whole.at(0, 32 + k / 32, 32 + k % 32));
    }
    // Heights above ground, close to the DSM minus its minimum (JPEG is lossy).
    let dsm = read_raster(&PotsdamStack::Dsm.path(dir.path(), 2, 10)).unwrap();
    let min = dsm.band_f32(0).into_iter().fold(f32::INFINITY, f32::min);
    let err = (0..64 * 64).map(|i| (whole.data.get(i) - (dsm.data.get(i) - min)).abs()).fold(0.0, f32::max);
    assert!(err <= 8.0, "largest nDSM deviation {err}");
    // `inspect` with this configuration reports the nDSM slot.
    let data =
        lssg_datasets::DataConfig::Potsdam(lssg_datasets::config::RealDataConfig { reader: cfg, ..Default::default() });
    let report = lssg_datasets::inspect::inspect_config(&data).unwrap();
    let names: Vec<&str> = report.scenes[0].modalities.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["rgb", "ir", "dsm", "ndsm"]);
}

#[test]
fn hunan_s2_as_lossless_jpeg2000_loads_the_same_tiles() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), &SynthOptions { layout: Layout::Hunan, tiles: 2, size: 64, seed: 2 }).unwrap();
    let cfg = HunanConfig { root: dir.path().into(), tile_size: 32, stride: 32, ..Default::default() };
    let reader = lssg_datasets::hunan::open(&cfg).unwrap();
    let before = all_tiles(&SceneTiles::new(reader.clone(), vec![0, 1], 32, 32, 1).unwrap());
    // Replace each s2 stack by a lossless JPEG 2000 file under the same name: the readers find
    // the format from the content.
    for s in reader.scenes() {
        let p = HunanStack::S2.path(dir.path(), s.split.as_str(), &s.id);
        let r = read_raster(&p).unwrap();
        let jp2 = p.with_extension("jp2");
        write_with_gdal(&jp2, &r, "JP2OpenJPEG", &["REVERSIBLE=YES", "QUALITY=100", "BLOCKXSIZE=32", "BLOCKYSIZE=32"])
            .unwrap();
        assert_eq!(read_info(&jp2).unwrap().driver, "JP2OpenJPEG");
        assert_eq!(read_raster(&jp2).unwrap().data, r.data, "lossless JPEG 2000 round trip");
        std::fs::rename(&jp2, &p).unwrap();
    }
    let reader = lssg_datasets::hunan::open(&cfg).unwrap();
    let after = all_tiles(&SceneTiles::new(reader, vec![0, 1], 32, 32, 1).unwrap());
    assert_eq!(before, after);
}

#[test]
fn cog_and_vrt_read_like_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let tif = dir.path().join("a.tif");
    let r = ramp_u16(70, 50, 3);
    write_tiff(&tif, &r, &TiffWriteOptions::default()).unwrap();
    let cog = dir.path().join("a-cog.tif");
    write_with_gdal(&cog, &r, "COG", &["COMPRESS=DEFLATE", "BLOCKSIZE=32"]).unwrap();
    assert_eq!(read_info(&cog).unwrap().block, (32, 32));
    assert_eq!(read_raster(&cog).unwrap().data, r.data);
    let vrt = dir.path().join("a.vrt");
    let src = gdal::Dataset::open(&tif).unwrap();
    let driver = gdal::DriverManager::get_driver_by_name("VRT").unwrap();
    src.create_copy(&driver, &vrt, &Default::default()).unwrap();
    assert_eq!(read_info(&vrt).unwrap().driver, "VRT");
    assert_eq!(read_bands(&vrt, Some(&[2, 0])).unwrap().data, read_bands(&tif, Some(&[2, 0])).unwrap().data);
}

#[test]
fn parallel_windowed_reads_match_the_written_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.tif");
    let r = ramp_u16(301, 777, 4);
    for planar in [false, true] {
        let opts = TiffWriteOptions {
            planar,
            rows_per_strip: 7,
            compression: WriteCompression::Deflate,
            ..Default::default()
        };
        write_tiff(&p, &r, &opts).unwrap();
        for threads in [1, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let got = pool.install(|| read_stack(&p, 4, &[3, 1]).unwrap());
            assert_eq!(got.band_f32(0), r.band_f32(3), "planar {planar}, {threads} threads");
            assert_eq!(got.band_f32(1), r.band_f32(1), "planar {planar}, {threads} threads");
        }
    }
}

#[test]
fn corrupt_jpeg_names_the_file_and_keeps_gdals_message() {
    let dir = tempfile::tempdir().unwrap();
    let p: &Path = &dir.path().join("n.jpg");
    let r = Raster::new(64, 48, 1, RasterData::U8((0..64 * 48).map(|i| (i % 200) as u8).collect())).unwrap();
    write_with_gdal(p, &r, "JPEG", &["QUALITY=95"]).unwrap();
    let bytes = std::fs::read(p).unwrap();
    std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_raster(p).unwrap_err();
    assert!(e.to_string().contains("n.jpg"), "{e}");
    let chain = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
    assert!(!chain.is_empty(), "GDAL's message in the chain: {e:?}");
}

#[test]
fn files_of_a_scene_on_other_ground_are_an_error() {
    use lssg_datasets::raster::Georef;
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), &SynthOptions { layout: Layout::Potsdam, tiles: 1, size: 64, seed: 5 }).unwrap();
    let utm33 = gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap().to_wkt().unwrap();
    let rewrite = |p: &Path, x0: f64| {
        let mut r = read_raster(p).unwrap();
        r.georef = Some(Georef { geo_transform: [x0, 0.05, 0.0, 5_800_000.0, 0.0, -0.05], projection: utm33.clone() });
        write_with_gdal(p, &r, "GTiff", &[]).unwrap();
    };
    let label = dir.path().join("5_Labels_all/top_potsdam_2_10_label.tif");
    let dsm = PotsdamStack::Dsm.path(dir.path(), 2, 10);
    rewrite(&label, 366_000.0);
    rewrite(&dsm, 366_000.0);
    let cfg = PotsdamConfig { root: dir.path().into(), tile_size: 32, stride: 32, ..Default::default() };
    lssg_datasets::potsdam::open(&cfg).unwrap().load(0).unwrap();
    // The DSM shifted by 100 m: same size, other ground.
    rewrite(&dsm, 366_100.0);
    let e = lssg_datasets::potsdam::open(&cfg).unwrap().load(0).unwrap_err();
    assert!(
        matches!(&e, lssg_datasets::Error::Footprint { path, what, .. } if path == &dsm && what.starts_with("footprint")),
        "{e}"
    );
}
