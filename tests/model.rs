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
