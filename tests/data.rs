//! `lssg data synth` + `lssg data inspect` for each layout on tiny sizes: the files land in the
//! real layout, and the inspected class counts add up to width × height per scene.

use serde_json::Value;

use crate::util::{fails, ok};

/// Synthesises `layout`, inspects it as JSON and checks every scene's counts.
fn synth_and_inspect(layout: &str, tiles: usize, size: usize) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let out = ok(&[
        "data",
        "synth",
        "--out",
        root,
        "--layout",
        layout,
        "--tiles",
        &tiles.to_string(),
        "--size",
        &size.to_string(),
        "--seed",
        "3",
    ]);
    assert_contains!(out, format!("wrote {tiles} scenes"));
    let json: Value =
        serde_json::from_str(&ok(&["data", "inspect", "--dataset", layout, "--root", root, "--json"])).unwrap();
    let scenes = json["scenes"].as_array().unwrap();
    assert_eq!(scenes.len(), tiles);
    for s in scenes {
        assert_eq!((s["width"].as_u64(), s["height"].as_u64()), (Some(size as u64), Some(size as u64)));
        let classes: u64 = s["class_pixels"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        // Synthetic DSTL classes do not overlap, and index 0 counts pixels in none.
        assert_eq!(classes + s["ignore_pixels"].as_u64().unwrap(), (size * size) as u64, "{layout} {}", s["id"]);
        assert!(
            s["modalities"]
                .as_object()
                .unwrap()
                .values()
                .all(|m| m["mean"].as_array().unwrap().len() == m["bands"].as_u64().unwrap() as usize)
        );
    }
    let totals: u64 = json["totals"]["class_pixels"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(totals + json["totals"]["ignore_pixels"].as_u64().unwrap(), (tiles * size * size) as u64);
    if layout == "potsdam" {
        // The table prints one row per scene plus the header and the totals.
        let table = ok(&["data", "inspect", "--dataset", layout, "--root", root]);
        assert_eq!(table.lines().count(), tiles + 2);
        assert_contains!(table, "total (");
        assert_contains!(table, "1:impervious_surfaces");
    }
    json
}

#[test]
fn potsdam_synth_inspect() {
    let json = synth_and_inspect("potsdam", 2, 32);
    let s = &json["scenes"][0];
    assert_eq!(s["id"], "2_10");
    assert_eq!(s["split"], "train");
    assert_eq!(s["modalities"]["rgb"]["bands"], 3);
    assert_eq!(json["scenes"][1]["split"], "test");
}

#[test]
fn hunan_synth_inspect() {
    let json = synth_and_inspect("hunan", 3, 24);
    assert_eq!(json["scenes"][0]["modalities"]["s2"]["bands"], 13);
    let splits: Vec<&str> = json["scenes"].as_array().unwrap().iter().map(|s| s["split"].as_str().unwrap()).collect();
    assert_eq!(splits, vec!["train", "val", "test"]);
    // Patch 1 has the 6 × 6 no-data corner.
    assert!(json["scenes"][1]["ignore_pixels"].as_u64().unwrap() >= 36);
}

#[test]
fn dstl_synth_inspect() {
    let json = synth_and_inspect("dstl", 2, 50);
    let s = &json["scenes"][0];
    assert_eq!(s["modalities"]["nir"]["bands"], 3);
    assert_eq!(s["class_pixels"].as_object().unwrap().len(), 11);
}

#[test]
fn synthetic_inspect_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    ok(&["data", "synth", "--out", root, "--layout", "hunan", "--tiles", "2", "--size", "16"]);
    let json: Value =
        serde_json::from_str(&ok(&["data", "inspect", "--dataset", "synthetic", "--root", root, "--json"])).unwrap();
    assert_eq!(json["scenes"].as_array().unwrap().len(), 2);
    assert_eq!(json["scenes"][0]["modalities"]["optical"]["bands"], 4);
    let err = fails(&["data", "inspect", "--dataset", "potsdam", "--root", root]);
    assert_contains!(err, "4_Ortho_RGBIR");
    let err = fails(&["data", "synth", "--out", root, "--layout", "potsdam", "--tiles", "39", "--size", "16"]);
    assert_contains!(err, "at most 38");
}
