//! What lssg reads back is checked (docs/reliability.md): `config check` rejects what a run
//! would reject, a damaged stage state is refused naming the file and field and recovered with
//! `--restart-stage`, and a checkpoint of NaN weights is refused at load.

use std::path::Path;

use crate::util::{fails, ok};

fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-run.toml").display().to_string()
}

/// The tiny run, shortened: one pretraining epoch and one method.
fn small_run(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["--quiet", "run", &fixture(), "--out", &out.display().to_string()].into_iter().map(String::from).collect();
    for set in ["pretrain.epochs=1", "finetune.methods=[\"uniform\"]"] {
        args.extend(["--set".to_string(), set.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn config_check_rejects_what_a_run_rejects() {
    for (set, needle) in [
        ("data.split.val_fraction=nan", "val_fraction"),
        ("data.split.fold=9", "fold"),
        ("data.split.folds=1", "folds"),
        ("eval.scenarios=\"optical+lidar\"", "lidar"),
        ("finetune.fixed_scenario=\"nothing\"", "nothing"),
        ("smoothing.tau=-0.5", "tau"),
    ] {
        let err = fails(&["config", "check", &fixture(), "--set", set]);
        assert_contains!(err, needle);
    }
}

/// ISPRS Potsdam-layout tiles of 2 × 2 pixels (torchgeo's test fixture) are below what any
/// backbone takes: refused by `config check`, naming the key, the backbone and the minimum.
#[test]
fn config_check_rejects_a_tile_smaller_than_the_backbone_takes() {
    let potsdam = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/potsdam-cmx.toml").display().to_string();
    let sets = ["--set", "data.reader.tile_size=2", "--set", "data.reader.stride=2"];
    let err = fails(&[&["config", "check", &potsdam][..], &sets].concat());
    for needle in ["data.reader.tile_size = 2", "cmx", "at least 32"] {
        assert_contains!(err, needle);
    }
    // One sample per training batch at 32² leaves batch norm one value per channel.
    let err = fails(&[
        "config",
        "check",
        &fixture(),
        "--set",
        "data.generator.tile_size=32",
        "--set",
        "pretrain.batch_size=1",
    ]);
    assert_contains!(err, "data.generator.tile_size = 32");
    assert_contains!(err, "at least 33");
    ok(&["config", "check", &fixture(), "--set", "data.generator.tile_size=32"]);
}

#[test]
fn a_damaged_stage_state_is_refused_and_restarted() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    ok(&strs(&small_run(&out, &[])));
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();

    // A sampler with no scenarios: refused naming the file and the field, not a panic.
    let state = out.join("finetune/uniform/checkpoint/state.json");
    let mut value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    value["sampler"]["scenarios"] = serde_json::json!([]);
    std::fs::write(&state, serde_json::to_vec(&value).unwrap()).unwrap();
    std::fs::remove_file(out.join("eval/uniform.json")).unwrap();
    let err = fails(&strs(&small_run(&out, &[])));
    assert_contains!(err, "state.json");
    assert_contains!(err, "sampler");
    assert_contains!(err, "--restart-stage");

    // Restarting the stage trains it afresh, to the same results.
    ok(&strs(&small_run(&out, &["--restart-stage", "finetune/uniform"])));
    assert_eq!(std::fs::read_to_string(out.join("results.json")).unwrap(), results);
    assert_contains!(fails(&strs(&small_run(&out, &["--restart-stage", "finetune/sideways"]))), "sideways");

    // A checkpoint whose weights are NaN is refused at load, naming a tensor.
    let last = out.join("pretrain/checkpoint/last.safetensors");
    let mut named = tch::Tensor::read_safetensors(&last).unwrap();
    for (_, t) in named.iter_mut() {
        if t.is_floating_point() {
            let _ = t.fill_(f64::NAN);
        }
    }
    let nan = tmp.path().join("nan.safetensors");
    tch::Tensor::write_safetensors(&named, &nan).unwrap();
    let err = fails(&["--quiet", "eval", &fixture(), "--checkpoint", &nan.display().to_string()]);
    assert_contains!(err, "NaN or infinite");
    assert_contains!(err, named[0].0.as_str());
}

#[test]
fn bench_restart_stage_redoes_a_cell_stage_to_the_same_record() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bench");
    let bench = crate::bench::fixture();
    let args = |extra: &[&str]| -> Vec<String> {
        ["--quiet", "bench", bench.as_str(), "--out", out.to_str().unwrap(), "--cells", "0,2"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    ok(&strs(&args(&[])));
    let before = crate::bench::records(&out);
    assert_eq!(before.len(), 2);
    // `scoring` of the pretraining cell also discards the fine-tuning cell computed from it.
    let out_text = crate::util::run_in(None, &strs(&args(&["--restart-stage", "scoring"])));
    assert!(out_text.status.success(), "{}", String::from_utf8_lossy(&out_text.stderr));
    let removed = String::from_utf8_lossy(&out_text.stderr).into_owned();
    assert_contains!(removed, "scoring");
    assert_eq!(crate::bench::records(&out), before);
    assert_contains!(
        fails(&strs(&args(&["--restart-stage", "finetune/lora"]))),
        "none of the 2 selected cells runs this stage"
    );
}
