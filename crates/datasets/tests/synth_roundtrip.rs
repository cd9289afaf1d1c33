//! `layouts::synth` → the real readers gives back exactly what the writers rendered: values,
//! labels (through the colour palette, the raw-code lookup, and the WKT polygons) and splits.
#![cfg(feature = "gdal")]

use lssg_datasets::dstl::{DstlConfig, DstlTarget};
use lssg_datasets::hunan::{Class7, HunanConfig, map_codes};
use lssg_datasets::layouts::{self, Layout, SynthOptions};
use lssg_datasets::potsdam::PotsdamConfig;
use lssg_datasets::raster::{RasterData, read_raster};
use lssg_datasets::scene_reader::SceneSource;

const SIZE: usize = 40;

fn options(layout: Layout, tiles: usize) -> SynthOptions {
    SynthOptions { layout, tiles, size: SIZE, seed: 7 }
}

#[test]
fn potsdam_synth_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(Layout::Potsdam, 3);
    let report = layouts::synth(dir.path(), &opts).unwrap();
    assert_eq!(report.scenes, vec!["2_10", "2_13", "2_11"]);
    let reader =
        lssg_datasets::potsdam::open(&PotsdamConfig { root: dir.path().into(), ..Default::default() }).unwrap();
    let ids: Vec<_> = reader.scenes().iter().map(|s| (s.id.clone(), s.split.as_str())).collect();
    assert_eq!(ids, vec![("2_10".into(), "train"), ("2_11".into(), "train"), ("2_13".into(), "test")]);
    for (k, gen_index) in [(0, 0), (1, 2), (2, 1)] {
        let want = layouts::potsdam::render(&layouts::scene(&opts, gen_index));
        let got = reader.window(&reader.load(k).unwrap(), 0, 0, SIZE, SIZE).unwrap();
        assert_eq!(got.labels, want.labels, "labels of scene {k}");
        assert_eq!(
            got.modalities[0].data,
            want.rgbir
                .band_f32(0)
                .into_iter()
                .chain(want.rgbir.band_f32(1))
                .chain(want.rgbir.band_f32(2))
                .collect::<Vec<_>>()
        );
        assert_eq!(got.modalities[1].data, want.rgbir.band_f32(3));
        assert_eq!(got.modalities[2].data, want.dsm.band_f32(0));
    }
    // Cars (class 5) sit on roads only: an all-road scene gets some, an all-building one none.
    let mut s = layouts::scene(&opts, 0);
    s.labels.fill(5);
    let road = layouts::potsdam::render(&s).labels;
    assert!(road.contains(&5) && road.contains(&1));
    s.labels.fill(6);
    assert!(layouts::potsdam::render(&s).labels.iter().all(|&c| c == 2));
}

#[test]
fn hunan_synth_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(Layout::Hunan, 3);
    layouts::synth(dir.path(), &opts).unwrap();
    let reader = lssg_datasets::hunan::open(&HunanConfig { root: dir.path().into(), ..Default::default() }).unwrap();
    let ids: Vec<_> = reader.scenes().iter().map(|s| (s.id.as_str(), s.split.as_str())).collect();
    assert_eq!(ids, vec![("00000", "train"), ("00001", "val"), ("00002", "test")]);
    for (k, info) in reader.scenes().iter().enumerate() {
        let i: usize = info.id.parse().unwrap();
        let want = layouts::hunan::render(i, &layouts::scene(&opts, i));
        let got = reader.window(&reader.load(k).unwrap(), 0, 0, SIZE, SIZE).unwrap();
        let RasterData::U8(codes) = &want.codes.data else { panic!() };
        let (labels, _, off, _) = map_codes(codes, Class7::Merge);
        assert_eq!(off, 0);
        assert_eq!(got.labels, labels);
        assert_eq!(got.modalities[0].data, (0..13).flat_map(|b| want.s2.band_f32(b)).collect::<Vec<_>>());
        assert_eq!(got.modalities[1].data, (0..2).flat_map(|b| want.s1.band_f32(b)).collect::<Vec<_>>());
        assert_eq!(got.modalities[2].data, (0..2).flat_map(|b| want.topo.band_f32(b)).collect::<Vec<_>>());
        if i % 2 == 1 {
            assert_eq!(got.labels[0], 255, "no-data corner");
        }
    }
    // Buildings are written as raw 7 or, on one block in five, 11 (lookup class 7).
    let mut s = layouts::scene(&opts, 0);
    s.labels.fill(6);
    let RasterData::U8(codes) = layouts::hunan::render(0, &s).codes.data else { panic!() };
    assert!(codes.contains(&11) && codes.contains(&7));
    assert_eq!(map_codes(&codes, Class7::Merge).0, vec![6; SIZE * SIZE]);
}

#[test]
fn dstl_synth_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(Layout::Dstl, 2);
    layouts::synth(dir.path(), &opts).unwrap();
    for target in [DstlTarget::Binary { class: 6 }, DstlTarget::MultiClass] {
        let cfg = DstlConfig { root: dir.path().into(), target, ..Default::default() };
        let reader = lssg_datasets::dstl::open(&cfg).unwrap();
        assert_eq!(reader.scenes().len(), 2);
        for k in 0..2 {
            let want = layouts::dstl::render(&layouts::scene(&opts, k));
            assert_eq!(reader.scenes()[k].id, layouts::dstl::image_id(k));
            let got = reader.window(&reader.load(k).unwrap(), 0, 0, SIZE, SIZE).unwrap();
            let labels: Vec<u8> = match target {
                DstlTarget::Binary { class } => want.classes.iter().map(|&c| u8::from(c == class)).collect(),
                DstlTarget::MultiClass => want.classes.clone(),
            };
            assert_eq!(got.labels, labels, "{target:?} image {k}");
            assert_eq!(got.modalities[0].data, (0..3).flat_map(|b| want.three_band.band_f32(b)).collect::<Vec<_>>());
            // The coarse stacks are stored as rendered.
            let m = read_raster(&lssg_datasets::dstl::DstlStack::M.path(dir.path(), &reader.scenes()[k].id)).unwrap();
            assert_eq!(m, want.m);
        }
    }
}
