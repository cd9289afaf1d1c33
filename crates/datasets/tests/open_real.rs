//! `open` on the file-backed kinds: synthetic scenes written in the real Potsdam, Hunan and
//! DSTL layouts (by the layout writers), then split, tiled and normalised end to end.
#![cfg(feature = "gdal")]

use std::path::Path;

use lssg_datasets::config::RealDataConfig;
use lssg_datasets::dstl::DstlConfig;
use lssg_datasets::hunan::HunanConfig;
use lssg_datasets::layouts::{Layout, SynthOptions, synth};
use lssg_datasets::normalize::{STATS_FILE, StatsFile, compute_stats};
use lssg_datasets::potsdam::PotsdamConfig;
use lssg_datasets::split::{SplitMethod, SplitUnit};
use lssg_datasets::{BatchLoader, DataConfig, Error, LoaderConfig, SplitConfig, open};

fn write(layout: Layout, root: &Path, tiles: usize) {
    synth(root, &SynthOptions { layout, tiles, size: 64, seed: 3 }).unwrap();
}

fn assert_normalised_train(splits: &lssg_datasets::DataSplits) {
    let stats = compute_stats(splits.train.as_ref(), "after").unwrap();
    for m in &stats.modalities {
        for &mu in &m.mean {
            assert!(mu.abs() < 1e-3, "{}: training mean {mu} after normalisation", m.name);
        }
    }
}

#[test]
fn potsdam_official_split_with_validation_from_training_scenes() {
    let dir = tempfile::tempdir().unwrap();
    write(Layout::Potsdam, dir.path(), 6);
    let reader = PotsdamConfig { root: dir.path().to_path_buf(), tile_size: 32, stride: 32, ..Default::default() };
    let config = DataConfig::Potsdam(RealDataConfig {
        reader,
        split: SplitConfig { val_fraction: 0.34, ..Default::default() },
        ..Default::default()
    });
    let splits = open(&config).unwrap();
    // 6 scenes alternate train/test in the writer: 3 train scenes (1 held out) and 3 test; 4 tiles each.
    assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (8, 4, 12));
    assert_normalised_train(&splits);
    // The statistics are cached next to the data, and a second open reuses them.
    let cache: StatsFile = serde_json::from_slice(&std::fs::read(dir.path().join(STATS_FILE)).unwrap()).unwrap();
    assert_eq!(cache.entries.len(), 1);
    assert_eq!(cache.entries[0].tiles, 8);
    let again = open(&config).unwrap();
    assert_eq!(again.test.sample(3).unwrap(), splits.test.sample(3).unwrap());
    // Batches flow through the loader.
    let loader = BatchLoader::new(splits.test.clone(), LoaderConfig { batch_size: 5, ..Default::default() }).unwrap();
    let sizes: Vec<usize> = loader.epoch(0).map(|b| b.unwrap().size).collect();
    assert_eq!(sizes, [5, 5, 2]);
}

#[test]
fn hunan_uses_its_official_val_list_and_scene_kfold_works() {
    let dir = tempfile::tempdir().unwrap();
    write(Layout::Hunan, dir.path(), 10);
    let reader = HunanConfig { root: dir.path().to_path_buf(), tile_size: 64, stride: 64, ..Default::default() };
    let official = DataConfig::Hunan(RealDataConfig { reader: reader.clone(), ..Default::default() });
    let s = open(&official).unwrap();
    // split_of(i): i % 5 == 1 → val, 2 → test, else train.
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (6, 2, 2));
    assert_normalised_train(&s);
    let kfold = DataConfig::Hunan(RealDataConfig {
        reader,
        split: SplitConfig {
            method: SplitMethod::Kfold,
            unit: SplitUnit::Scenes,
            val_fraction: 0.0,
            ..Default::default()
        },
        ..Default::default()
    });
    let k = open(&kfold).unwrap();
    assert_eq!((k.train.len(), k.val.len(), k.test.len()), (8, 0, 2));
}

#[test]
fn dstl_defaults_to_tile_kfold_and_rejects_official() {
    let dir = tempfile::tempdir().unwrap();
    write(Layout::Dstl, dir.path(), 3);
    let reader = DstlConfig { root: dir.path().to_path_buf(), tile_size: 32, stride: 32, ..Default::default() };
    let config = DataConfig::Dstl(RealDataConfig {
        reader: reader.clone(),
        split: SplitConfig { folds: 3, val_fraction: 0.25, ..Default::default() },
        ..Default::default()
    });
    let s = open(&config).unwrap();
    // 3 scenes × 4 tiles = 12 tiles: 4 test, 2 of the other 8 validate.
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (6, 2, 4));
    assert_eq!(s.train.num_classes(), 1);
    assert_normalised_train(&s);
    let official = DataConfig::Dstl(RealDataConfig {
        reader,
        split: SplitConfig { method: SplitMethod::Official, ..Default::default() },
        ..Default::default()
    });
    assert!(matches!(open(&official), Err(Error::Config { .. })));
}

#[test]
fn real_kinds_parse_from_toml_like_json() {
    let c: DataConfig = serde_json::from_str(
        r#"{"kind": "potsdam", "reader": {"root": "x", "tile_size": 32}, "split": {"method": "official"}}"#,
    )
    .unwrap();
    let DataConfig::Potsdam(p) = c else { panic!("potsdam expected") };
    assert_eq!((p.reader.tile_size, p.split.method), (32, SplitMethod::Official));
    assert!(serde_json::from_str::<DataConfig>(r#"{"kind": "hunan", "root": "x"}"#).is_err());
    let missing = DataConfig::Potsdam(RealDataConfig {
        reader: PotsdamConfig { root: "/nonexistent/potsdam".into(), ..Default::default() },
        ..Default::default()
    });
    assert!(matches!(open(&missing), Err(Error::Missing { .. })));
}
