//! The tiles the readers load from synthetic Potsdam, Hunan and DSTL layouts, pinned by hash.
//!
//! The golden values were produced by the hand-written TIFF decoder that preceded the GDAL
//! raster layer (run this test with `GOLDEN_PRINT=1 --nocapture` to print the current values):
//! the GDAL layer must load byte-identical tiles (raw f32 bits and labels).
#![cfg(feature = "gdal")]

use std::path::Path;
use std::sync::Arc;

use lssg_datasets::TileDataset;
use lssg_datasets::dstl::{DstlConfig, DstlStack};
use lssg_datasets::hunan::HunanConfig;
use lssg_datasets::layouts::{Layout, SynthOptions, synth};
use lssg_datasets::potsdam::{PotsdamConfig, PotsdamLabels};
use lssg_datasets::scene_reader::{ModalitySlot, SceneAssignment, SceneSource, SceneTiles};

/// FNV-1a over the bytes of every tile, in tile order.
fn hash_tiles(tiles: &dyn TileDataset) -> (usize, u64) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for i in 0..tiles.len() {
        let s = tiles.sample(i).unwrap();
        for m in &s.modalities {
            for v in &m.data {
                eat(&v.to_bits().to_le_bytes());
            }
        }
        eat(&s.labels);
    }
    (tiles.len(), h)
}

fn all_scenes<S: SceneSource>(reader: Arc<S>, tile: usize, stride: usize) -> (usize, u64) {
    let every = (0..reader.scenes().len()).collect();
    hash_tiles(&SceneTiles::new(reader, every, tile, stride, 2).unwrap())
}

fn check(name: &str, got: (usize, u64), want: (usize, u64)) {
    if std::env::var_os("GOLDEN_PRINT").is_some() {
        println!("{name}: ({}, {:#018x})", got.0, got.1);
        return;
    }
    assert_eq!(got, want, "{name}: (tiles, hash)");
}

fn synth_at(root: &Path, layout: Layout) {
    synth(root, &SynthOptions { layout, tiles: 3, size: 96, seed: 11 }).unwrap();
}

#[test]
fn potsdam_tiles_match_the_golden_hashes() {
    let dir = tempfile::tempdir().unwrap();
    synth_at(dir.path(), Layout::Potsdam);
    let cfg = PotsdamConfig { root: dir.path().into(), tile_size: 40, stride: 28, ..Default::default() };
    let full = all_scenes(lssg_datasets::potsdam::open(&cfg).unwrap(), 40, 28);
    check("potsdam full", full, (27, 0x5f9a_c801_270d_2221));
    let nb = PotsdamConfig { labels: PotsdamLabels::NoBoundary, ..cfg };
    check(
        "potsdam noBoundary",
        all_scenes(lssg_datasets::potsdam::open(&nb).unwrap(), 40, 28),
        (27, 0x3dff_9e08_67e3_e1bf),
    );
}

#[test]
fn hunan_tiles_match_the_golden_hashes() {
    let dir = tempfile::tempdir().unwrap();
    synth_at(dir.path(), Layout::Hunan);
    let cfg = HunanConfig { root: dir.path().into(), tile_size: 48, stride: 48, ..Default::default() };
    check("hunan", all_scenes(lssg_datasets::hunan::open(&cfg).unwrap(), 48, 48), (12, 0x47db_0c13_7585_6adc));
}

#[test]
fn dstl_tiles_match_the_golden_hashes() {
    let dir = tempfile::tempdir().unwrap();
    synth_at(dir.path(), Layout::Dstl);
    // The default slots (three_band, M and A resampled) and the panchromatic P.
    let mut cfg = DstlConfig { root: dir.path().into(), tile_size: 32, stride: 32, ..Default::default() };
    cfg.modalities.push(ModalitySlot::new("pan", [(DstlStack::P, 0)]));
    check("dstl", all_scenes(lssg_datasets::dstl::open(&cfg).unwrap(), 32, 32), (27, 0x0bac_ca21_7de3_af67));
}

#[test]
fn split_view_matches_the_reader_view() {
    // The official split view loads the same bytes as the reader's tiles of those scenes.
    let dir = tempfile::tempdir().unwrap();
    synth_at(dir.path(), Layout::Potsdam);
    let cfg = PotsdamConfig { root: dir.path().into(), tile_size: 40, stride: 28, ..Default::default() };
    let reader = lssg_datasets::potsdam::open(&cfg).unwrap();
    let official = SceneAssignment::official(reader.scenes());
    let splits = lssg_datasets::potsdam::open_splits(&cfg, &official).unwrap();
    let direct = SceneTiles::new(reader, official.test.clone(), 40, 28, 2).unwrap();
    assert_eq!(hash_tiles(splits.test.as_ref()), hash_tiles(&direct));
}
