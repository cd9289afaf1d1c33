//! `lssg predict` end to end (docs/predict.md §8): a short run on Potsdam-layout synthetic data,
//! then whole-scene prediction of a larger scene under several `--available` settings (and with
//! packed inference), and every
//! command-line error with exit status 2 and no output file.

use std::path::Path;

use crate::util::{fails, ok};

const CONFIG: &str = r#"
[run]
seed = 0
device = "cpu"
threads = 1
[data]
kind = "potsdam"
[data.reader]
root = "ROOT"
tile_size = 64
stride = 64
[data.split]
method = "official"
val_fraction = 0.1
[model]
backbone = "cmx"
preset = "tiny"
[pretrain]
epochs = 1
batch_size = 8
[scoring]
batch_size = 8
max_samples = 8
[finetune]
methods = ["guided"]
[finetune.train]
epochs = 1
batch_size = 8
[eval]
scenarios = "all"
batch_size = 16
"#;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A GDAL VRT of `size`² stacking RGBIR bands 1–4 and DSM band 1 (five bands).
fn stacked_vrt(rgbir: &Path, dsm: &Path, size: usize) -> String {
    let band = |i: usize, file: &Path, b: usize| {
        format!(
            "<VRTRasterBand dataType=\"Float32\" band=\"{i}\"><SimpleSource><SourceFilename relativeToVRT=\"0\">{}\
             </SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>",
            file.display()
        )
    };
    let bands: Vec<String> = (1..=4).map(|b| band(b, rgbir, b)).chain(std::iter::once(band(5, dsm, 1))).collect();
    format!("<VRTDataset rasterXSize=\"{size}\" rasterYSize=\"{size}\">{}</VRTDataset>", bands.concat())
}

#[test]
fn predict_whole_scenes_under_several_scenarios_and_report_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (data, big, run) = (dir.path().join("data"), dir.path().join("big"), dir.path().join("run"));
    ok(&["data", "synth", "--layout", "potsdam", "--tiles", "6", "--size", "128", "--out", s(&data)]);
    ok(&["data", "synth", "--layout", "potsdam", "--tiles", "1", "--size", "300", "--seed", "7", "--out", s(&big)]);
    let config = dir.path().join("config.toml");
    std::fs::write(&config, CONFIG.replace("ROOT", s(&data))).unwrap();
    ok(&["run", s(&config), "--out", s(&run), "--quiet"]);

    let scene = ["predict", "--run", s(&run), "--method", "guided", "--scene", "2_10", "--scene-root", s(&big)];
    for available in ["all", "rgb,dsm", "ir", "2"] {
        let out = dir.path().join(format!("labels-{available}.tif"));
        let mut args = scene.to_vec();
        args.extend(["--available", available, "--out", s(&out), "--overlap", "16", "--quiet"]);
        let stdout = ok(&args);
        assert_contains!(stdout, s(&out));
        let geo = lssg_predict::GdalScene::open(&["l".into()], &[1], &[Some(lssg_predict::ModalityInput::new(&out))])
            .unwrap()
            .geo()
            .clone();
        assert_eq!((geo.width, geo.height), (300, 300), "{available}");
    }

    // Packed inference (docs/speed.md §10) maps the scene as the eager forwards do: the labels
    // differ at most where two classes' probabilities tie to rounding.
    let packed = dir.path().join("labels-packed.tif");
    let mut args = scene.to_vec();
    args.extend(["--available", "all", "--out", s(&packed), "--overlap", "16", "--quiet"]);
    args.extend(["--set", "run.inference=packed"]);
    ok(&args);
    let labels = |path: &Path| {
        let scene = lssg_predict::GdalScene::open(&["l".into()], &[1], &[Some(lssg_predict::ModalityInput::new(path))])
            .unwrap();
        scene.read_rows(0, 0, 300).unwrap()
    };
    let (eager, packed) = (labels(&dir.path().join("labels-all.tif")), labels(&packed));
    let differ = eager.iter().zip(&packed).filter(|(a, b)| a != b).count();
    assert!(differ * 1000 <= eager.len(), "{differ} of {} labels differ", eager.len());

    let rgbir = big.join("4_Ortho_RGBIR/top_potsdam_2_10_RGBIR.tif");
    // One raster holding every modality's bands in model order (rgb 3, ir 1, dsm 1) gives the
    // same map as the scene id.
    let stacked = dir.path().join("stacked.vrt");
    std::fs::write(&stacked, stacked_vrt(&rgbir, &big.join("1_DSM/dsm_potsdam_02_10.tif"), 300)).unwrap();
    let by_path = dir.path().join("by-path.tif");
    ok(&[
        "predict",
        "--run",
        s(&run),
        "--method",
        "guided",
        "--scene",
        s(&stacked),
        "--available",
        "rgb,dsm",
        "--out",
        s(&by_path),
        "--overlap",
        "16",
        "--quiet",
    ]);
    let by_id = std::fs::read(dir.path().join("labels-rgb,dsm.tif")).unwrap();
    assert_eq!(std::fs::read(&by_path).unwrap(), by_id, "--scene PATH vs --scene ID");
    let dsm_small = data.join("1_DSM/dsm_potsdam_02_10.tif");
    let junk = dir.path().join("junk.tif");
    std::fs::write(&junk, b"not a raster").unwrap();
    let out = dir.path().join("never.tif");
    let base = ["predict", "--run", s(&run), "--quiet"];
    let fail = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        if !extra.contains(&"--out") {
            args.extend(["--out", s(&out)]);
        }
        let err = fails(&args);
        assert!(!out.exists(), "no output after {extra:?}");
        err
    };
    assert_contains!(fail(&["--scene", s(&rgbir), "--available", "rgb"]), "4 band(s)");
    assert_contains!(fail(&["--scene", "gone.tif", "--available", "rgb"]), "gone.tif");
    let rgb = format!("rgb={}:1,2,3", s(&rgbir));
    assert_contains!(
        fail(&["--modality", &format!("nir={}", s(&rgbir)), "--available", "rgb"]),
        "unknown modality `nir`"
    );
    assert_contains!(fail(&["--modality", &rgb, "--available", " , "]), "names no modality");
    assert_contains!(fail(&["--modality", &rgb, "--available", "rgb,lidar"]), "lidar");
    assert_contains!(fail(&["--modality", &format!("rgb={}", s(&rgbir)), "--available", "rgb"]), "4 band(s)");
    assert_contains!(fail(&["--modality", &format!("rgb={}", s(&junk)), "--available", "rgb"]), "junk.tif");
    let dsm = format!("dsm={}", s(&dsm_small));
    assert_contains!(
        fail(&["--modality", &rgb, "--modality", &dsm, "--available", "rgb,dsm"]),
        "dsm_potsdam_02_10.tif"
    );
    assert_contains!(fail(&["--modality", &rgb, "--available", "rgb,dsm"]), "`dsm`");
    assert_contains!(fail(&["--modality", &rgb, "--available", "rgb", "--tile", "16"]), "--tile = 16");
    let unwritable = junk.join("labels.tif");
    assert_contains!(fail(&["--modality", &rgb, "--available", "rgb", "--out", s(&unwritable)]), "labels.tif");
    // The same network given as a config and a checkpoint gives the same map.
    let (by_run, by_ckpt) = (dir.path().join("by-run.tif"), dir.path().join("by-ckpt.tif"));
    let ckpt = run.join("finetune/guided/checkpoint/last.safetensors");
    let common = ["--modality", &rgb, "--available", "rgb", "--quiet"];
    let mut a = vec!["predict", "--run", s(&run), "--out", s(&by_run)];
    a.extend(common);
    ok(&a);
    let mut b = vec!["predict", "--config", s(&config), "--checkpoint", s(&ckpt), "--out", s(&by_ckpt)];
    b.extend(common);
    ok(&b);
    assert_eq!(std::fs::read(&by_run).unwrap(), std::fs::read(&by_ckpt).unwrap());
    // An unavailable modality's file may be missing.
    let rgb_only = dir.path().join("rgb-only.tif");
    ok(&["predict", "--run", s(&run), "--modality", &rgb, "--available", "rgb", "--out", s(&rgb_only), "--quiet"]);
    assert!(rgb_only.exists());
}

#[test]
fn predict_a_hunan_patch_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let (data, run) = (dir.path().join("data"), dir.path().join("run"));
    ok(&["data", "synth", "--layout", "hunan", "--tiles", "6", "--size", "64", "--out", s(&data)]);
    let config = dir.path().join("config.toml");
    let text = CONFIG.replace("kind = \"potsdam\"", "kind = \"hunan\"").replace("stride = 64\n", "");
    std::fs::write(&config, text.replace("ROOT", s(&data))).unwrap();
    ok(&["run", s(&config), "--out", s(&run), "--quiet"]);
    for available in ["all", "s1", "topo,s2"] {
        let out = dir.path().join(format!("{available}.tif"));
        ok(&["predict", "--run", s(&run), "--scene", "00002", "--available", available, "--out", s(&out), "--quiet"]);
        assert!(out.exists(), "{available}");
    }
    let out = dir.path().join("x.tif");
    let err = fails(&["predict", "--run", s(&run), "--scene", "99999", "--out", s(&out)]);
    assert_contains!(err, "no Hunan patch");
}

#[test]
fn predict_a_dstl_image_by_id_on_the_three_band_grid() {
    let dir = tempfile::tempdir().unwrap();
    let (data, run) = (dir.path().join("data"), dir.path().join("run"));
    ok(&["data", "synth", "--layout", "dstl", "--tiles", "4", "--size", "128", "--out", s(&data)]);
    let config = dir.path().join("config.toml");
    let text = CONFIG
        .replace("kind = \"potsdam\"", "kind = \"dstl\"")
        .replace("method = \"official\"", "method = \"kfold\"\nfolds = 4\nfold = 0")
        .replace("[data.split]", "[data.reader.target]\nkind = \"binary\"\nclass = 6\n[data.split]");
    std::fs::write(&config, text.replace("ROOT", s(&data))).unwrap();
    ok(&["run", s(&config), "--out", s(&run), "--quiet"]);
    // The 16-band stacks are 32² and 5² here: every map is on the 128² three-band grid, also
    // when rgb is unavailable.
    for available in ["all", "nir", "nir,swir"] {
        let out = dir.path().join(format!("dstl-{available}.tif"));
        ok(&[
            "predict",
            "--run",
            s(&run),
            "--scene",
            "6010_0_0",
            "--available",
            available,
            "--out",
            s(&out),
            "--quiet",
        ]);
        let geo = lssg_predict::GdalScene::open(&["l".into()], &[1], &[Some(lssg_predict::ModalityInput::new(&out))])
            .unwrap()
            .geo()
            .clone();
        assert_eq!((geo.width, geo.height), (128, 128), "{available}");
    }
    let out = dir.path().join("x.tif");
    assert_contains!(fails(&["predict", "--run", s(&run), "--scene", "6999_9_9", "--out", s(&out)]), "no DSTL image");
}
