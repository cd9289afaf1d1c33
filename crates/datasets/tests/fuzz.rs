//! Seeded, bounded mutation tests of every file the data sets read (docs/reliability.md §4):
//! TIFF rasters and whole Potsdam / DSTL layouts through GDAL, and DSTL's `grid_sizes.csv` and
//! `train_wkt_v4.csv`. Each case must end in an error, or in a success whose result passes
//! the checks below; never a panic. Cases that go through GDAL (a C library) run in a child
//! process (this test binary again, running only `gdal_child`), so a crash there is caught
//! and reported as a failure, not taken for the test binary's own.
//!
//! `LSSG_FUZZ_SCALE` multiplies the number of cases (default 1: a few seconds in a debug
//! build); the counts are printed (`cargo test -p lssg-datasets --test fuzz -- --nocapture`).

#[path = "../../../tests/mutate.rs"]
#[allow(dead_code)]
mod mutate;

use std::path::{Path, PathBuf};
use std::process::Command;

use lssg_datasets::DataConfig;
use lssg_datasets::IGNORE_INDEX;
use lssg_datasets::config::RealDataConfig;
use lssg_datasets::dstl::rasterize::{GridTransform, fill_polygons};
use lssg_datasets::dstl::{DstlConfig, read_grid_sizes, read_wkt};
use lssg_datasets::layouts::{Layout, SynthOptions, synth};
use lssg_datasets::potsdam::PotsdamConfig;
use lssg_datasets::raster::read_raster;
use mutate::{Outcome, Rng, Tally, mutate_bytes, mutate_text_numbers};

/// The environment variable that makes `gdal_child` run one case.
const CHILD: &str = "LSSG_FUZZ_CHILD";

fn scale() -> usize {
    std::env::var("LSSG_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

/// Writes a one-scene synthetic layout of 32² pixels.
fn layout(dir: &Path, layout: Layout) -> PathBuf {
    let root = dir.join(format!("{layout:?}"));
    synth(&root, &SynthOptions { layout, tiles: 1, size: 32, seed: 3 }).unwrap();
    root
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for f in files(from) {
        let target = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&f, target).unwrap();
    }
}

/// Every tile of every split decodes into a sample of the data set's shape, with finite
/// values and labels that are classes or the ignore index.
fn check_splits(config: &DataConfig) -> Outcome {
    let Ok(splits) = lssg_datasets::open(config) else { return Outcome::Rejected };
    for split in [&splits.train, &splits.val, &splits.test] {
        let classes = split.num_classes().max(2);
        for i in 0..split.len() {
            let Ok(s) = split.sample(i) else { return Outcome::Rejected };
            assert_eq!(s.modalities.len(), split.modalities().len());
            for m in &s.modalities {
                assert_eq!(m.data.len(), m.channels * s.height * s.width);
                assert!(m.data.iter().all(|v| v.is_finite()), "a non-finite input value");
            }
            assert!(s.labels.iter().all(|&l| usize::from(l) < classes || l == IGNORE_INDEX), "a label out of range");
        }
    }
    Outcome::Accepted
}

/// One GDAL case in this process: `raster:<file>`, `potsdam:<root>` or `dstl:<root>`.
fn child_case(spec: &str) -> Outcome {
    let (kind, path) = spec.split_once(':').unwrap();
    let path = PathBuf::from(path);
    match kind {
        "raster" => match read_raster(&path) {
            Err(_) => Outcome::ParseError,
            Ok(r) => {
                assert_eq!(r.data.len(), r.width * r.height * r.bands, "raster buffer size");
                assert!(r.width > 0 && r.height > 0 && r.bands > 0);
                Outcome::Accepted
            }
        },
        "potsdam" => {
            let reader = PotsdamConfig { root: path, tile_size: 16, stride: 16, ..Default::default() };
            check_splits(&DataConfig::Potsdam(with_split(reader)))
        }
        "dstl" => {
            let reader = DstlConfig { root: path, tile_size: 16, stride: 16, ..Default::default() };
            check_splits(&DataConfig::Dstl(with_split(reader)))
        }
        other => panic!("unknown child case {other}"),
    }
}

fn with_split<R>(reader: R) -> RealDataConfig<R> {
    let mut c = RealDataConfig { reader, split: Default::default(), normalize: Default::default(), stats: None };
    // One 32² scene gives four 16² tiles: k-fold over tiles.
    c.split.method = lssg_datasets::split::SplitMethod::Kfold;
    c.split.folds = 2;
    c.split.val_fraction = 0.0;
    c
}

/// A value mutation inside a valid TIFF: one entry of the first directory (little-endian, as
/// lssg writes them) gets an edge value (sizes, sample formats, offsets, counts) or another type.
fn mutate_ifd(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    let ifd = u32_at(bytes, 4);
    if ifd + 2 > bytes.len() {
        return mutate_bytes(rng, bytes);
    }
    let count = usize::from(u16::from_le_bytes([bytes[ifd], bytes[ifd + 1]]));
    let entry = ifd + 2 + 12 * rng.below(count.max(1));
    if entry + 12 > bytes.len() {
        return mutate_bytes(rng, bytes);
    }
    if rng.below(4) == 0 {
        let kind = *rng.pick(&[1u16, 3, 4, 5, 11, 12, 16, 0, 99]);
        out[entry + 2..entry + 4].copy_from_slice(&kind.to_le_bytes());
    } else {
        let value = *rng.pick(&[0u32, 1, 2, 3, 7, 8, 16, 31, 33, 64, 255, 65535, 1 << 20, u32::MAX]);
        let at = entry + if rng.below(3) == 0 { 4 } else { 8 };
        out[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
    out
}

/// Not a test of its own: the child process of the GDAL cases (does nothing unless
/// `LSSG_FUZZ_CHILD` is set). Prints the outcome on its last line.
#[test]
fn gdal_child() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let outcome = child_case(&spec);
    println!("OUTCOME {outcome:?}");
}

/// Runs `spec` in a child process; a crash or a panic there is a panic here (caught by the
/// tally and reported with the case).
fn in_child(spec: &str) -> Outcome {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "gdal_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, spec)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest may print its own "test gdal_child ... " on the same line.
    match stdout.lines().rev().find_map(|l| l.split_once("OUTCOME ").map(|(_, o)| o.trim())) {
        Some("ParseError") => Outcome::ParseError,
        Some("Rejected") => Outcome::Rejected,
        Some("Accepted") => Outcome::Accepted,
        _ => panic!("child {spec} ended with {}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
    }
}

#[test]
fn tiff_files_and_layouts_through_gdal() {
    let tmp = tempfile::tempdir().unwrap();
    let potsdam = layout(tmp.path(), Layout::Potsdam);
    let dstl = layout(tmp.path(), Layout::Dstl);
    let rasters: Vec<(PathBuf, &Path, &str)> = files(&potsdam)
        .into_iter()
        .map(|f| (f, potsdam.as_path(), "potsdam"))
        .chain(files(&dstl).into_iter().map(|f| (f, dstl.as_path(), "dstl")))
        .filter(|(f, _, _)| f.extension().is_some_and(|e| e == "tif"))
        .collect();
    let mut rng = Rng::new(0x7157);
    let (mut single, mut whole) = (Tally::new("TIFF (GDAL)"), Tally::new("layouts (GDAL)"));
    for case in 0..80 * scale() {
        let (file, root, kind) = rng.pick(&rasters).clone();
        let original = std::fs::read(&file).unwrap();
        let bytes = if case % 3 == 0 { mutate_bytes(&mut rng, &original) } else { mutate_ifd(&mut rng, &original) };
        let mutated = tmp.path().join(format!("case-{case}.tif"));
        std::fs::write(&mutated, &bytes).unwrap();
        single.case(
            || format!("{} mutated as {}", file.display(), mutated.display()),
            || in_child(&format!("raster:{}", mutated.display())),
        );
        // The same damage inside a whole layout, opened, split and decoded tile by tile.
        if case % 2 == 0 {
            let copy = tmp.path().join(format!("layout-{case}"));
            copy_tree(root, &copy);
            std::fs::write(copy.join(file.strip_prefix(root).unwrap()), &bytes).unwrap();
            whole.case(
                || format!("{} in layout {}", file.display(), copy.display()),
                || in_child(&format!("{kind}:{}", copy.display())),
            );
        }
    }
    single.finish();
    whole.finish();
}

/// A refusal of a value that parsed (out of range, no rows, a missing class) or of the text.
fn refused(e: &lssg_datasets::Error) -> Outcome {
    let text = e.to_string();
    let range = ["out of range", "expected 1e-12", "no polygon rows", "appears twice", "no row for class", "1..=10"];
    if range.iter().any(|r| text.contains(r)) { Outcome::Rejected } else { Outcome::ParseError }
}

#[test]
fn dstl_csv_and_wkt() {
    let tmp = tempfile::tempdir().unwrap();
    let root = layout(tmp.path(), Layout::Dstl);
    let grid = std::fs::read_to_string(root.join("grid_sizes.csv")).unwrap();
    let wkt = std::fs::read_to_string(root.join("train_wkt_v4.csv")).unwrap();
    let mut rng = Rng::new(0xd571);
    let mut tally = Tally::new("DSTL CSV/WKT");
    let path = tmp.path().join("case.csv");
    for case in 0..600 * scale() {
        let grid_file = case % 2 == 0;
        let base = if grid_file { &grid } else { &wkt };
        let text = match rng.below(3) {
            0 => String::from_utf8_lossy(&mutate_bytes(&mut rng, base.as_bytes())).into_owned(),
            _ => mutate_text_numbers(&mut rng, base),
        };
        std::fs::write(&path, &text).unwrap();
        tally.case(
            || format!("case {case}: {text:?}"),
            || {
                if grid_file {
                    let sizes = match read_grid_sizes(&path) {
                        Ok(sizes) => sizes,
                        Err(e) => return refused(&e),
                    };
                    for &(xmax, ymin) in sizes.values() {
                        assert!(xmax.is_finite() && ymin.is_finite() && xmax > 0.0 && ymin < 0.0, "{xmax} {ymin}");
                        let t = GridTransform::new(32, 32, xmax, ymin);
                        assert!(t.sx.is_finite() && t.sy.is_finite() && t.sx != 0.0 && t.sy != 0.0);
                    }
                    Outcome::Accepted
                } else {
                    let by_image = match read_wkt(&path) {
                        Ok(by_image) => by_image,
                        Err(e) => return refused(&e),
                    };
                    assert!(!by_image.is_empty(), "a WKT file of no image was accepted");
                    // The accepted polygons rasterise on the layout's grid without overflow.
                    let t = GridTransform::new(32, 32, 0.009, -0.009);
                    let mut mask = vec![0u8; 32 * 32];
                    for polys in by_image.values().flatten() {
                        fill_polygons(polys, &t, 32, 32, &mut mask, 1);
                    }
                    Outcome::Accepted
                }
            },
        );
    }
    tally.finish();
}
