//! The real-data readers on hand-made fixtures written at test time in the real layouts:
//! DSTL (planar u16, a polygon with a hole, an empty and a two-part multipolygon, overlapping
//! classes), Potsdam (every colour, an ignore pixel, an off-palette pixel), Hunan (every raw
//! code), and bad input (missing file, wrong band count, truncated TIFF, malformed WKT,
//! mismatched sizes), which must be a typed error naming the file.
#![cfg(feature = "gdal")]

use std::path::Path;

use lssg_datasets::dstl::rasterize::GridTransform;
use lssg_datasets::dstl::{DstlConfig, DstlStack, DstlTarget};
use lssg_datasets::hunan::{Class7, HunanConfig, HunanStack};
use lssg_datasets::inspect::{InspectDataset, inspect};
use lssg_datasets::potsdam::{PotsdamConfig, PotsdamLabels, PotsdamStack};
use lssg_datasets::raster::{Photometric, Raster, RasterData, TiffWriteOptions, write_tiff};
use lssg_datasets::scene_reader::{OffPalette, SceneAssignment, SceneSource};
use lssg_datasets::{Error, IGNORE_INDEX};

fn u16_raster(w: usize, h: usize, bands: usize, f: impl Fn(usize, usize, usize) -> u16) -> Raster {
    let v = (0..bands * h * w).map(|i| f(i / (h * w), i / w % h, i % w)).collect();
    Raster::new(w, h, bands, RasterData::U16(v)).unwrap()
}

fn planar() -> TiffWriteOptions {
    TiffWriteOptions { planar: true, ..Default::default() }
}

// ---------------------------------------------------------------- DSTL

const DW: usize = 40;
const DH: usize = 36;
const ID: &str = "6100_1_3";
const XMAX: f64 = 0.0093;
const YMIN: f64 = -0.0087;

fn rect_px(t: &GridTransform, x0: f64, y0: f64, x1: f64, y1: f64) -> String {
    [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        .iter()
        .map(|&p| {
            let (x, y) = t.to_geo(p);
            format!("{x} {y}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a one-image DSTL root. Class 6 (crops): a square with a hole; class 1 (buildings):
/// two rectangles; class 5 (trees) overlaps the first building; the rest are empty.
fn write_dstl(root: &Path) {
    let t = GridTransform::new(DW, DH, XMAX, YMIN);
    write_tiff(
        &DstlStack::ThreeBand.path(root, ID),
        &u16_raster(DW, DH, 3, |b, y, x| (b * 700 + y * 13 + x) as u16),
        &planar(),
    )
    .unwrap();
    // M and A constant per band (bilinear of a constant is exact), P a ramp.
    write_tiff(&DstlStack::M.path(root, ID), &u16_raster(10, 9, 8, |b, _, _| 100 * b as u16 + 5), &planar()).unwrap();
    write_tiff(&DstlStack::A.path(root, ID), &u16_raster(4, 4, 8, |b, _, _| 1000 + b as u16), &planar()).unwrap();
    write_tiff(&DstlStack::P.path(root, ID), &u16_raster(DW, DH, 1, |_, y, x| (y * DW + x) as u16), &planar()).unwrap();
    std::fs::write(root.join("grid_sizes.csv"), format!(",Xmax,Ymin\n{ID},{XMAX},{YMIN}\n6010_0_0,0.009,-0.009\n"))
        .unwrap();
    let mut wkt = String::from("ImageId,ClassType,MultipolygonWKT\n");
    for c in 1..=10 {
        let geom = match c {
            6 => format!(
                "MULTIPOLYGON ((({}), ({})))",
                rect_px(&t, 2.0, 2.0, 20.0, 18.0),
                rect_px(&t, 6.0, 6.0, 10.0, 10.0)
            ),
            1 => format!(
                "MULTIPOLYGON ((({})), (({})))",
                rect_px(&t, 25.0, 25.0, 30.0, 28.0),
                rect_px(&t, 32.0, 2.0, 38.0, 6.0)
            ),
            5 => format!("MULTIPOLYGON ((({})))", rect_px(&t, 24.0, 24.0, 28.0, 34.0)),
            _ => "MULTIPOLYGON EMPTY".to_string(),
        };
        wkt.push_str(&format!("{ID},{c},\"{geom}\"\n"));
    }
    std::fs::write(root.join("train_wkt_v4.csv"), wkt).unwrap();
}

fn in_rect(x: usize, y: usize, r: (usize, usize, usize, usize)) -> bool {
    x >= r.0 && x < r.2 && y >= r.1 && y < r.3
}

#[test]
fn dstl_polygons_holes_empty_and_two_parts() {
    let dir = tempfile::tempdir().unwrap();
    write_dstl(dir.path());
    let cfg = DstlConfig { root: dir.path().into(), tile_size: 12, stride: 12, ..Default::default() };
    let reader = lssg_datasets::dstl::open(&cfg).unwrap();
    assert_eq!(reader.scenes().len(), 1);
    assert_eq!((reader.scenes()[0].width, reader.scenes()[0].height), (DW, DH));
    let crops = reader.class_mask(0, 6).unwrap();
    let buildings = reader.class_mask(0, 1).unwrap();
    for y in 0..DH {
        for x in 0..DW {
            let want = in_rect(x, y, (2, 2, 20, 18)) && !in_rect(x, y, (6, 6, 10, 10));
            assert_eq!(crops[y * DW + x] == 1, want, "crops at ({x},{y})");
            let want = in_rect(x, y, (25, 25, 30, 28)) || in_rect(x, y, (32, 2, 38, 6));
            assert_eq!(buildings[y * DW + x] == 1, want, "buildings at ({x},{y})");
        }
    }
    assert!(reader.class_mask(0, 2).unwrap().iter().all(|&v| v == 0));

    // Tiles: the paper's slots, binary crops labels, rgb exact, nir/swir resampled constants.
    let splits =
        lssg_datasets::dstl::open_splits(&cfg, &SceneAssignment { train: vec![0], ..Default::default() }).unwrap();
    assert_eq!(splits.train.len(), 4 * 3);
    assert_eq!(splits.train.num_classes(), 1);
    assert_eq!(splits.train.modalities().channels(), vec![3, 3, 3]);
    let s = splits.train.sample(0).unwrap();
    assert_eq!(s.modalities[0].channel(2)[12 * 3 + 4], (2 * 700 + 3 * 13 + 4) as f32);
    assert!(s.modalities[1].channel(0).iter().all(|&v| v == 605.0)); // m:6
    assert!(s.modalities[1].channel(2).iter().all(|&v| v == 1000.0)); // a:0
    assert!(s.modalities[2].channel(2).iter().all(|&v| v == 1003.0)); // a:3
    assert_eq!(s.labels[3 * 12 + 3], 1);
    assert_eq!(s.labels[7 * 12 + 7], 0); // in the hole

    // Multi-class: buildings win over the overlapping trees.
    let multi = DstlConfig { target: DstlTarget::MultiClass, ..cfg.clone() };
    let reader = lssg_datasets::dstl::open(&multi).unwrap();
    let scene = reader.load(0).unwrap();
    let full = reader.window(&scene, 0, 0, DH, DW).unwrap();
    assert_eq!(full.labels[26 * DW + 26], 1);
    assert_eq!(full.labels[30 * DW + 26], 5);
    assert_eq!(full.labels[3 * DW + 3], 6);
    assert_eq!(full.labels[0], 0);

    // Inspect: ten classes plus "none", ignore 0, native means.
    let report = inspect(InspectDataset::Dstl, dir.path()).unwrap();
    let st = &report.scenes[0];
    assert_eq!(st.class_pixels[&6], 18 * 16 - 16);
    assert_eq!(st.class_pixels[&1], 15 + 24);
    assert_eq!(st.class_pixels[&2], 0);
    assert_eq!(st.modalities[1].mean, vec![605.0, 705.0, 1000.0]);
}

#[test]
fn dstl_bad_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_dstl(dir.path());
    let cfg = DstlConfig { root: dir.path().into(), ..Default::default() };
    // Malformed WKT on line 4 (class 3).
    let csv = dir.path().join("train_wkt_v4.csv");
    let good = std::fs::read_to_string(&csv).unwrap();
    let bad: String = good
        .lines()
        .enumerate()
        .map(
            |(i, l)| {
                if i == 3 { format!("{ID},3,\"MULTIPOLYGON (((0 0, 1 0, 1 x, 0 0)))\"\n") } else { format!("{l}\n") }
            },
        )
        .collect();
    std::fs::write(&csv, bad).unwrap();
    let e = lssg_datasets::dstl::open(&cfg).unwrap_err();
    assert!(matches!(&e, Error::Parse { line: 4, .. }), "{e}");
    assert!(e.to_string().contains("train_wkt_v4.csv:4") && e.to_string().contains("expected a number"), "{e}");
    std::fs::write(&csv, &good).unwrap();

    // Wrong band count of M.
    let m = DstlStack::M.path(dir.path(), ID);
    write_tiff(&m, &u16_raster(10, 9, 4, |_, _, _| 1), &planar()).unwrap();
    let reader = lssg_datasets::dstl::open(&cfg).unwrap();
    let e = reader.load(0).unwrap_err().to_string();
    assert!(e.contains(&format!("{ID}_M.tif")) && e.contains("expected 8 bands") && e.contains("found 4"), "{e}");
    // A stack with the wrong aspect ratio.
    write_tiff(&m, &u16_raster(10, 30, 8, |_, _, _| 1), &planar()).unwrap();
    let e = reader.load(0).unwrap_err();
    assert!(matches!(&e, Error::Mismatch { what, .. } if what.contains("_M.tif")), "{e}");
    // Missing file.
    std::fs::remove_file(&m).unwrap();
    let e = lssg_datasets::dstl::open(&cfg).unwrap_err();
    assert!(matches!(&e, Error::Missing { path, .. } if path == &m), "{e}");
    // No grid size for a labelled image.
    std::fs::write(dir.path().join("grid_sizes.csv"), ",Xmax,Ymin\n6010_0_0,0.009,-0.009\n").unwrap();
    let e = lssg_datasets::dstl::open(&DstlConfig { modalities: vec![], ..cfg.clone() }).unwrap_err();
    assert!(e.to_string().contains("grid_sizes.csv") || matches!(e, Error::Scenario(_)), "{e}");
    std::fs::write(dir.path().join("grid_sizes.csv"), ",Xmax,Ymin\n6100_1_3,0.009,0.009\n").unwrap();
    let e = lssg_datasets::dstl::open(&cfg).unwrap_err().to_string();
    assert!(e.contains("grid_sizes.csv:2") && e.contains("Ymin <= -1e-12"), "{e}");
}

// ---------------------------------------------------------------- Potsdam

const PW: usize = 12;
const PH: usize = 10;

/// Colour labels: every class colour in row 0, black at (6, 0), off-palette (7, 0), the rest
/// impervious white.
fn potsdam_colours() -> Raster {
    let palette = lssg_datasets::potsdam::PALETTE;
    let mut v = vec![255u8; 3 * PW * PH];
    let mut set = |x: usize, c: [u8; 3]| (0..3).for_each(|ch| v[ch * PW * PH + x] = c[ch]);
    for (k, c) in palette.iter().enumerate() {
        set(k, *c);
    }
    set(6, [0, 0, 0]);
    set(7, [250, 3, 0]);
    Raster::new(PW, PH, 3, RasterData::U8(v)).unwrap()
}

fn write_potsdam(root: &Path, a: u32, b: u32) {
    let rgb = TiffWriteOptions { photometric: Photometric::Rgb, ..Default::default() };
    let rgbir = Raster::new(PW, PH, 4, RasterData::U8((0..4 * PW * PH).map(|i| (i % 251) as u8).collect())).unwrap();
    write_tiff(&PotsdamStack::Rgbir.path(root, a, b), &rgbir, &rgb).unwrap();
    let dsm = Raster::new(PW, PH, 1, RasterData::F32((0..PW * PH).map(|i| 30.0 + i as f32 * 0.5).collect())).unwrap();
    write_tiff(&PotsdamStack::Dsm.path(root, a, b), &dsm, &TiffWriteOptions::default()).unwrap();
    let colours = potsdam_colours();
    write_tiff(&root.join(format!("5_Labels_all/top_potsdam_{a}_{b}_label.tif")), &colours, &rgb).unwrap();
    write_tiff(&root.join(format!("5_Labels_all_noBoundary/top_potsdam_{a}_{b}_label_noBoundary.tif")), &colours, &rgb)
        .unwrap();
}

#[test]
fn potsdam_colours_ignore_and_off_palette() {
    let dir = tempfile::tempdir().unwrap();
    write_potsdam(dir.path(), 2, 10);
    write_potsdam(dir.path(), 2, 13);
    let cfg = PotsdamConfig { root: dir.path().into(), tile_size: PW.min(PH), stride: 4, ..Default::default() };
    let reader = lssg_datasets::potsdam::open(&cfg).unwrap();
    let ids: Vec<_> = reader.scenes().iter().map(|s| (s.id.as_str(), s.split.as_str())).collect();
    assert_eq!(ids, vec![("2_10", "train"), ("2_13", "test")]);
    // Full labels: black and the odd colour are off-palette: an error by default, naming the file.
    let e = reader.load(0).unwrap_err();
    match &e {
        Error::OffPalette { path, count, x, y, .. } => {
            assert!(path.ends_with("top_potsdam_2_10_label.tif"));
            assert_eq!((*count, *x, *y), (2, 6, 0));
        }
        other => panic!("expected OffPalette, got {other}"),
    }
    // Ignored: mapped to 255 and counted.
    let ignore = PotsdamConfig { off_palette: OffPalette::Ignore, ..cfg.clone() };
    let splits = lssg_datasets::potsdam::open_splits(&ignore, &SceneAssignment::official(reader.scenes())).unwrap();
    assert_eq!(splits.train.len(), 2); // x origins 0 and 2 (flush), one row
    let s = splits.train.sample(0).unwrap();
    assert_eq!(&s.labels[..8], &[0, 1, 2, 3, 4, 5, IGNORE_INDEX, IGNORE_INDEX]);
    assert_eq!(s.modalities.len(), 3);
    assert_eq!(s.modalities[1].data[5], ((3 * PW * PH + 5) % 251) as f32); // ir = band 3
    assert_eq!(s.modalities[2].data[10 + 1], 30.0 + (PW + 1) as f32 * 0.5); // tile row 1 = scene row 1
    // noBoundary: black is ignore, only the odd colour is off-palette.
    let nb = PotsdamConfig { labels: PotsdamLabels::NoBoundary, ..cfg.clone() };
    let e = lssg_datasets::potsdam::open(&nb).unwrap().load(0).unwrap_err();
    assert!(matches!(e, Error::OffPalette { count: 1, x: 7, .. }), "{e}");
    // Inspect counts instead of failing.
    let report = inspect(InspectDataset::Potsdam, dir.path()).unwrap();
    let st = &report.scenes[0];
    assert_eq!((st.off_palette_pixels, st.ignore_pixels), (2, 2));
    assert_eq!(st.class_pixels[&1], (PW * PH - 8 + 1) as u64);
    assert_eq!(st.class_pixels.values().sum::<u64>() + st.ignore_pixels, (PW * PH) as u64);
    assert_eq!(report.totals.off_palette_pixels, 4);
}

#[test]
fn potsdam_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    write_potsdam(dir.path(), 6, 7);
    let cfg = PotsdamConfig { root: dir.path().into(), off_palette: OffPalette::Ignore, ..Default::default() };
    // Mismatched DSM size.
    let dsm_path = PotsdamStack::Dsm.path(dir.path(), 6, 7);
    assert!(dsm_path.ends_with("1_DSM/dsm_potsdam_06_07.tif"));
    let small = Raster::new(5, 5, 1, RasterData::F32(vec![0.0; 25])).unwrap();
    write_tiff(&dsm_path, &small, &TiffWriteOptions::default()).unwrap();
    let e = lssg_datasets::potsdam::open(&cfg).unwrap().load(0).unwrap_err();
    assert!(matches!(&e, Error::Mismatch { what, .. } if what.contains("dsm_potsdam_06_07.tif")), "{e}");
    // Truncated RGBIR.
    let rgbir = PotsdamStack::Rgbir.path(dir.path(), 6, 7);
    let bytes = std::fs::read(&rgbir).unwrap();
    std::fs::write(&rgbir, &bytes[..bytes.len() / 3]).unwrap();
    let e = lssg_datasets::potsdam::open(&cfg).unwrap_err().to_string();
    assert!(e.contains("top_potsdam_6_7_RGBIR.tif"), "{e}");
    // A 3-band "RGBIR".
    let three = Raster::new(PW, PH, 3, RasterData::U8(vec![1; 3 * PW * PH])).unwrap();
    write_tiff(&rgbir, &three, &TiffWriteOptions { photometric: Photometric::Rgb, ..Default::default() }).unwrap();
    write_tiff(
        &dsm_path,
        &Raster::new(PW, PH, 1, RasterData::F32(vec![0.0; PW * PH])).unwrap(),
        &TiffWriteOptions::default(),
    )
    .unwrap();
    let e = lssg_datasets::potsdam::open(&cfg).unwrap().load(0).unwrap_err().to_string();
    assert!(e.contains("RGBIR.tif") && e.contains("expected 4 bands") && e.contains("found 3"), "{e}");
    // An nDSM slot without the nDSM: missing, naming the release's JPEG and its archive.
    let mut nd = cfg.clone();
    nd.modalities.push(lssg_datasets::scene_reader::ModalitySlot::new("ndsm", [(PotsdamStack::Ndsm, 0)]));
    let e = lssg_datasets::potsdam::open(&nd).unwrap_err().to_string();
    assert!(e.contains("normalized_lastools.jpg") && e.contains("1_DSM_normalisation.zip"), "{e}");
    // Missing root.
    let e = lssg_datasets::potsdam::open(&PotsdamConfig { root: dir.path().join("nope"), ..cfg }).unwrap_err();
    assert!(matches!(e, Error::Missing { .. }), "{e}");
}

// ---------------------------------------------------------------- Hunan

fn write_hunan(root: &Path, split: &str, id: &str, codes: &[u8], w: usize, h: usize) {
    let opts = TiffWriteOptions::default();
    let f32r = |bands: usize, base: f32| {
        Raster::new(w, h, bands, RasterData::F32((0..bands * w * h).map(|i| base + i as f32).collect())).unwrap()
    };
    write_tiff(
        &HunanStack::S2.path(root, split, id),
        &u16_raster(w, h, 13, |b, y, x| (b * 100 + y * w + x) as u16),
        &opts,
    )
    .unwrap();
    write_tiff(&HunanStack::S1.path(root, split, id), &f32r(2, -20.0), &opts).unwrap();
    write_tiff(&HunanStack::Topo.path(root, split, id), &f32r(2, 100.0), &opts).unwrap();
    let lc = Raster::new(w, h, 1, RasterData::U8(codes.to_vec())).unwrap();
    write_tiff(&lssg_datasets::hunan::label_path(root, split, id), &lc, &opts).unwrap();
}

#[test]
fn hunan_every_raw_code() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (4, 4);
    let codes: Vec<u8> = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255, 1, 1, 2, 2];
    write_hunan(dir.path(), "train", "0001", &codes, w, h);
    write_hunan(dir.path(), "test", "0002", &[6; 16], w, h);
    let cfg = HunanConfig { root: dir.path().into(), tile_size: 4, stride: 4, ..Default::default() };
    let reader = lssg_datasets::hunan::open(&cfg).unwrap();
    let splits: Vec<_> = reader.scenes().iter().map(|s| s.split.as_str()).collect();
    assert_eq!(splits, vec!["train", "test"]);
    let s = reader.window(&reader.load(0).unwrap(), 0, 0, h, w).unwrap();
    assert_eq!(s.labels, vec![0, 1, 2, 1, 3, 4, 6, 6, 5, 6, 6, 255, 0, 0, 1, 1]);
    assert_eq!(s.modalities.iter().map(|m| m.channels).collect::<Vec<_>>(), vec![13, 2, 2]);
    assert_eq!(s.modalities[0].channel(12)[5], 1205.0);
    assert_eq!(s.modalities[1].channel(1)[0], -20.0 + 16.0);
    let ignore7 = HunanConfig { class7: Class7::Ignore, ..cfg.clone() };
    let r = lssg_datasets::hunan::open(&ignore7).unwrap();
    assert_eq!(r.window(&r.load(0).unwrap(), 0, 0, h, w).unwrap().labels[10], IGNORE_INDEX);
    let report = inspect(InspectDataset::Hunan, dir.path()).unwrap();
    assert_eq!(report.scenes[0].class7_pixels, Some(1));
    assert_eq!(report.scenes[0].class_pixels[&6], 4);
    assert_eq!(report.scenes[1].class_pixels[&4], 16);
    // A code off the table (0) is an error naming the file, or ignored and counted.
    let mut bad = codes.clone();
    bad[15] = 0;
    write_hunan(dir.path(), "train", "0001", &bad, w, h);
    let e = reader.load(0).unwrap_err();
    assert!(matches!(&e, Error::OffPalette { path, count: 1, x: 3, y: 3, .. } if path.ends_with("lc_0001.tif")), "{e}");
    let report = inspect(InspectDataset::Hunan, dir.path()).unwrap();
    assert_eq!(report.scenes[0].off_palette_pixels, 1);
    // Wrong band count of s1.
    let s1 = HunanStack::S1.path(dir.path(), "train", "0001");
    write_tiff(&s1, &u16_raster(w, h, 3, |_, _, _| 0), &TiffWriteOptions::default()).unwrap();
    let e = reader.load(0).unwrap_err().to_string();
    assert!(e.contains("s1_0001.tif") && e.contains("expected 2 bands"), "{e}");
    // Mismatched size.
    write_tiff(&s1, &u16_raster(3, 4, 2, |_, _, _| 0), &TiffWriteOptions::default()).unwrap();
    let e = reader.load(0).unwrap_err();
    assert!(matches!(&e, Error::Mismatch { what, .. } if what.contains("s1_0001.tif")), "{e}");
}

/// Reader throughput on a synthetic 2048² Potsdam tile (run with `--ignored --nocapture`):
/// decode time of the scene, then the cost of all 224² tiles from the cached scene.
#[test]
#[ignore = "timing, run by hand"]
fn potsdam_throughput() {
    use lssg_datasets::layouts::{Layout, SynthOptions, synth};
    use rayon::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let size = 2048;
    synth(dir.path(), &SynthOptions { layout: Layout::Potsdam, tiles: 1, size, seed: 1 }).unwrap();
    let cfg = PotsdamConfig { root: dir.path().into(), ..Default::default() };
    let reader = lssg_datasets::potsdam::open(&cfg).unwrap();
    // CPU seconds of this process (all threads), from /proc: the machine may be shared.
    let cpu = || -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        f.get(11..13).map_or(0.0, |v| v.iter().map(|x| x.parse::<f64>().unwrap_or(0.0)).sum::<f64>() / 100.0)
    };
    for f in [
        "4_Ortho_RGBIR/top_potsdam_2_10_RGBIR.tif",
        "1_DSM/dsm_potsdam_02_10.tif",
        "5_Labels_all/top_potsdam_2_10_label.tif",
    ] {
        let (t, c) = (std::time::Instant::now(), cpu());
        lssg_datasets::raster::read_raster(&dir.path().join(f)).unwrap();
        println!("{f}: {:.3} s wall, {:.2} s CPU", t.elapsed().as_secs_f64(), cpu() - c);
    }
    let (t, c) = (std::time::Instant::now(), cpu());
    reader.load(0).unwrap();
    let decode = t.elapsed().as_secs_f64();
    println!("scene decode: {:.2} s CPU", cpu() - c);
    let splits =
        lssg_datasets::potsdam::open_splits(&cfg, &SceneAssignment { train: vec![0], ..Default::default() }).unwrap();
    let t = std::time::Instant::now();
    let n = (0..splits.train.len()).into_par_iter().map(|i| splits.train.sample(i).unwrap().labels.len()).count();
    let tiles = t.elapsed().as_secs_f64();
    let mpx = (size * size) as f64 / 1e6;
    println!(
        "potsdam {size}²: decode {decode:.3} s ({:.1} Mpx/s); {n} tiles incl. one decode {tiles:.3} s ({:.1} tiles/s)",
        mpx / decode,
        n as f64 / tiles
    );
}
