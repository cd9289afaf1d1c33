//! `lssg model summary | bench | check-device` (docs/method.md §7, docs/gpu.md §3) on tiny presets.

use crate::util;

#[test]
fn summary_json_of_tiny_cmx() {
    let out = util::ok(&["model", "summary", "--backbone", "cmx", "--preset", "tiny", "--size", "64", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["backbone"], "cmx");
    assert_eq!(v["preset"], "tiny");
    assert_eq!(v["hook"], "backbone.ffm[3]");
    assert_eq!(v["hook_shape"], serde_json::json!([1, 64, 2, 2]));
    assert_eq!(v["output_shape"], serde_json::json!([1, 1, 64, 64]));
    let total = v["params_total"].as_i64().unwrap();
    assert!(total > 10_000, "{total}");
    assert_eq!(v["params_trainable"].as_i64().unwrap(), total);
}

#[test]
fn summary_table_with_lora_shows_frozen_modules() {
    let out =
        util::ok(&["model", "summary", "--preset", "tiny", "--channels", "4,2,1", "--size", "32", "--lora-rank", "2"]);
    assert_contains!(out, "cmx tiny (channels [4, 2, 1], 32×32)");
    assert_contains!(out, "hook backbone.ffm[3]: [1, 64, 1, 1]");
    assert_contains!(out, "output: [1, 1, 32, 32]");
    let head = out.lines().find(|l| l.starts_with("decode_head")).expect("decode_head row");
    assert!(head.trim_end().ends_with(" 0"), "the decoder has no adapters: {head}");
}

#[test]
fn bad_channels_are_rejected() {
    let err = util::fails(&["model", "summary", "--preset", "tiny", "--channels", "3,x"]);
    assert_contains!(err, "channels");
    let err = util::fails(&["model", "summary", "--preset", "tiny", "--channels", "3"]);
    assert_contains!(err, "at least 2 modalities");
    let err = util::fails(&["model", "summary", "--preset", "tiny", "--channels", "3,0"]);
    assert_contains!(err, "modality 1");
    let err = util::fails(&["model", "summary", "--backbone", "unet"]);
    assert_contains!(err, "cbc-slp");
}

#[test]
fn bench_reports_samples_per_second() {
    let out = util::ok(&[
        "model", "bench", "--preset", "tiny", "--batch", "2", "--size", "32", "--steps", "1", "--warmup", "0",
        "--device", "cpu", "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["device"], "Cpu");
    assert!(v["train"]["samples_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["forward"]["samples_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["score_batched"].is_null(), "only the default loops run");
    assert!(v["threads"].as_i64().unwrap() >= 1);
}

#[test]
fn bench_runs_the_chosen_loops_and_names_a_wrong_one() {
    let out = util::ok(&[
        "model",
        "bench",
        "--preset",
        "tiny",
        "--batch",
        "2",
        "--size",
        "32",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--loops",
        "score_batched,eval,train_loop",
    ]);
    assert!(out.contains("(1 threads"), "{out}");
    for row in ["score (batched)", "eval (all scenarios)", "train loop (+data)"] {
        assert!(out.contains(row), "{row}: {out}");
    }
    assert!(!out.contains("forward (eval)"), "{out}");
    let err = util::fails(&["model", "bench", "--preset", "tiny", "--loops", "train,scoring"]);
    assert!(err.contains("unknown loop \"scoring\"") && err.contains("score_batch1"), "{err}");
}

#[test]
fn bench_on_missing_cuda_is_a_clear_error() {
    if tch::Cuda::is_available() {
        println!("skipped: CUDA is available");
        return;
    }
    let err = util::fails(&["model", "bench", "--preset", "tiny", "--device", "cuda"]);
    assert_contains!(err, "CUDA is not usable");
}

#[test]
fn check_device_reports_cuda_absent_or_compares() {
    // `lssg model check-device` (docs/gpu.md §3) succeeds on a CPU-only machine, saying so.
    let out = util::ok(&["model", "check-device", "--preset", "tiny", "--size", "32", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["cuda"]["cuda_available"], tch::Cuda::is_available());
    assert!(v["cuda"]["libtorch_cuda"]["state"].is_string(), "{v}");
    if tch::Cuda::is_available() {
        assert!(v["agreement"]["forward"]["relative"].as_f64().unwrap() < 1e-2, "{v}");
    } else {
        assert_contains!(v["absent"].as_str().unwrap(), "CUDA is not usable");
    }
}

#[test]
fn check_device_on_the_cpu_checks_the_check() {
    let out = util::ok(&[
        "model",
        "check-device",
        "--device",
        "cpu",
        "--backbone",
        "cbc-slp",
        "--preset",
        "tiny",
        "--size",
        "32",
        "--strict",
    ]);
    assert_contains!(out, "cbc-slp tiny on Cpu vs Cpu");
    assert_contains!(out, "logits after step");
    assert_contains!(out, "agrees");
}

/// `scripts/bench-vs-pytorch.py` (docs/speed.md §1) with the debug binary on a tiny model: the
/// table and `result.json` hold every loop of every block, each ratio is lssg / PyTorch of the
/// medians, and the targets are judged from those ratios. (Rates at this size say nothing
/// about speed; the structure and the arithmetic are what is checked.)
#[test]
fn bench_vs_pytorch_writes_one_row_per_loop_with_its_ratio() {
    let home = std::env::var_os("LSSG_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/lssg"));
    let python = home.join("venv/bin/python");
    assert!(python.exists(), "{} not found: run scripts/setup", python.display());
    let out = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(python)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .arg("scripts/bench-vs-pytorch.py")
        .args(["--lssg", env!("CARGO_BIN_EXE_lssg"), "--preset", "tiny", "--sizes", "32", "--threads", "1"])
        .args(["--batch", "2", "--steps", "1", "--warmup", "0", "--reps", "2", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("| 1 | 32² | train step | samples/s |"), "{stdout}");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("result.json")).unwrap()).unwrap();
    let blocks = result["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 1);
    let rows = blocks[0]["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["loop"].as_str().unwrap()).collect();
    assert_eq!(names, ["train", "train_loop", "forward", "score_batched", "eval", "score_vs_reference"]);
    assert_eq!(blocks[0]["rounds"].as_array().unwrap().len(), 2);
    for r in rows {
        let (l, p, ratio) = (r["lssg"].as_f64().unwrap(), r["pytorch"].as_f64().unwrap(), r["ratio"].as_f64().unwrap());
        assert!(l > 0.0 && p > 0.0 && (ratio - l / p).abs() < 1e-9 * ratio, "{r}");
    }
    assert!(std::fs::read_to_string(out.path().join("result.md")).unwrap().contains("lssg / PyTorch"));
    assert!(stdout.contains("targets met:"), "{stdout}");
}
