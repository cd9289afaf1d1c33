//! `prepare` on small archives built here in the shapes of the official downloads: Potsdam's
//! four zips (labels at the archive's top level), DSTL's Kaggle zips, a Hunan archive; what is
//! missing is reported.

use std::io::Write;
use std::path::Path;

use lssg_datasets::prepare::{PrepareDataset, prepare};

fn zip(path: &Path, entries: &[(String, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        z.start_file(name.as_str(), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn potsdam_archives_unpack_into_the_reader_layout() {
    let from = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let ids = [(2, 10), (6, 7)];
    let each =
        |f: &dyn Fn(u32, u32) -> String| ids.iter().map(|&(a, b)| (f(a, b), b"x".as_slice())).collect::<Vec<_>>();
    zip(&from.path().join("4_Ortho_RGBIR.zip"), &each(&|a, b| format!("4_Ortho_RGBIR/top_potsdam_{a}_{b}_RGBIR.tif")));
    zip(&from.path().join("1_DSM.zip"), &each(&|a, b| format!("1_DSM/dsm_potsdam_{a:02}_{b:02}.tif")));
    let mut ndsm = each(&|a, b| format!("1_DSM_normalisation/dsm_potsdam_{a:02}_{b:02}_normalized_lastools.jpg"));
    ndsm.push(("1_DSM_normalisation/dsm_potsdam_02_10_normalized_lastools.jgw".into(), b"0.05"));
    ndsm.push(("1_DSM_normalisation/readme.txt".into(), b"-"));
    zip(&from.path().join("1_DSM_normalisation.zip"), &ndsm);
    // Labels at the archive's top level.
    zip(&from.path().join("5_Labels_all.zip"), &each(&|a, b| format!("top_potsdam_{a}_{b}_label.tif")));
    let report = prepare(PrepareDataset::Potsdam, from.path(), out.path()).unwrap();
    assert_eq!(report.archives.len(), 4);
    assert_eq!(report.skipped, 1);
    assert_eq!(report.written["5_Labels_all"], 2);
    assert_eq!(report.written["1_DSM_normalisation"], 3);
    for p in [
        "4_Ortho_RGBIR/top_potsdam_6_7_RGBIR.tif",
        "1_DSM/dsm_potsdam_06_07.tif",
        "1_DSM_normalisation/dsm_potsdam_02_10_normalized_lastools.jpg",
        "1_DSM_normalisation/dsm_potsdam_02_10_normalized_lastools.jgw",
        "5_Labels_all/top_potsdam_2_10_label.tif",
    ] {
        assert!(out.path().join(p).is_file(), "{p}");
    }
    // Two tiles of the release's 38: every folder is short.
    assert_eq!(report.missing.len(), 4, "{:?}", report.missing);
    assert!(report.missing[0].contains("4_Ortho_RGBIR/: 2 files, the release has 38"), "{:?}", report.missing);
    // Without the nDSM archive, its folder is named with the archive to fetch.
    let out2 = tempfile::tempdir().unwrap();
    std::fs::remove_file(from.path().join("1_DSM_normalisation.zip")).unwrap();
    let report = prepare(PrepareDataset::Potsdam, from.path(), out2.path()).unwrap();
    assert!(report.missing.iter().any(|m| m.contains("1_DSM_normalisation/: no files (from 1_DSM_normalisation.zip)")));
}

#[test]
fn dstl_and_hunan_archives_and_errors() {
    let from = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    zip(&from.path().join("three_band.zip"), &[("three_band/6010_0_0.tif".into(), b"x")]);
    let sixteen: Vec<(String, &[u8])> =
        ["M", "A", "P"].iter().map(|k| (format!("sixteen_band/6010_0_0_{k}.tif"), b"x".as_slice())).collect();
    zip(&from.path().join("sixteen_band.zip"), &sixteen);
    zip(
        &from.path().join("train_wkt_v4.csv.zip"),
        &[("train_wkt_v4.csv".into(), b"ImageId,ClassType,MultipolygonWKT\n")],
    );
    let report = prepare(PrepareDataset::Dstl, from.path(), out.path()).unwrap();
    assert_eq!((report.written["three_band"], report.written["sixteen_band"], report.written["."]), (1, 3, 1));
    assert_eq!(report.missing, ["grid_sizes.csv: missing (from grid_sizes.csv.zip)"]);

    let from = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut files: Vec<(String, &[u8])> = Vec::new();
    for kind in ["s2", "s1", "topo", "lc"] {
        files.push((format!("Hunan/train/{kind}/{kind}_0001.tif"), b"x"));
        files.push((format!("Hunan/test/{kind}/{kind}_0002.tif"), b"x"));
    }
    files.pop(); // the test split loses its label patch
    zip(&from.path().join("hunan.zip"), &files);
    let report = prepare(PrepareDataset::Hunan, from.path(), out.path()).unwrap();
    assert!(out.path().join("train/s2/s2_0001.tif").is_file());
    assert!(report.missing.contains(&"test/lc/: no label patches".to_string()), "{:?}", report.missing);

    // A corrupt archive names itself; a missing folder is Missing.
    std::fs::write(from.path().join("bad.zip"), b"not a zip").unwrap();
    let e = prepare(PrepareDataset::Hunan, from.path(), out.path()).unwrap_err().to_string();
    assert!(e.contains("bad.zip") && e.contains("zip"), "{e}");
    let e = prepare(PrepareDataset::Hunan, &from.path().join("nope"), out.path()).unwrap_err();
    assert!(matches!(e, lssg_datasets::Error::Missing { .. }), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let e = prepare(PrepareDataset::Dstl, empty.path(), out.path()).unwrap_err().to_string();
    assert!(e.contains("*.zip") && e.contains("three_band.zip"), "{e}");
}
