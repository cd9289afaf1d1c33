//! End-to-end tests of `lssg run`, `lssg score`, `lssg eval` and `lssg config check` on the
//! tiny synthetic config `tests/fixtures/tiny-run.toml`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{fails, lssg, ok};

fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-run.toml").display().to_string()
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run_to_end(out: &Path) -> String {
    ok(&["--quiet", "run", &fixture(), "--out", &out.display().to_string()])
}

/// The whole pipeline: every stage's output, one table row per scenario plus the mean, one
/// column per method; then a second run redoes nothing; then an interrupted run (kill -9
/// after the first pretraining epoch) resumes to the same final numbers.
#[test]
fn run_writes_every_stage_and_resumes_to_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let stdout = run_to_end(&a);
    for file in [
        "config.toml",
        "run.log",
        "pretrain/metrics.jsonl",
        "scoring/distortion.json",
        "scoring/probabilities.json",
        "finetune/guided/metrics.jsonl",
        "finetune/lora/metrics.jsonl",
        "eval/pretrained.json",
        "eval/uniform.json",
        "eval/guided.json",
        "eval/lora.json",
        "eval/full-only.json",
        "eval/fixed.json",
        "eval/guided-adaptive.json",
        "eval/guided-task.json",
        "scoring/probabilities-task.json",
        "scoring/latent_per_sample.npy",
        "scoring/task_per_sample.npy",
        "results.md",
        "results.json",
        "results.csv",
    ] {
        assert!(a.join(file).is_file(), "missing {file}");
    }
    let results = read_json(&a.join("results.json"));
    let methods: Vec<&str> = results["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(
        methods,
        ["pretrained", "uniform", "guided", "lora", "full-only", "fixed", "guided-adaptive", "guided-task"]
    );
    let scenarios = results["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 7);
    assert_eq!(scenarios[6], "optical+sar+height");
    let main = &results["tables"][0];
    assert_eq!(main["values"].as_array().unwrap().len(), 7);
    for row in main["values"].as_array().unwrap() {
        for v in row.as_array().unwrap() {
            let v = v.as_f64().unwrap();
            assert!((0.0..=100.0).contains(&v), "{v}");
        }
    }
    // The printed table has a row per scenario and the mean.
    for s in ["| optical |", "| sar+height |", "| optical+sar+height |", "| **mean** |"] {
        assert_contains!(stdout, s);
    }
    // D_full = 0 and the full scenario gets the least probability.
    let p = read_json(&a.join("scoring/probabilities.json"));
    let d: Vec<f64> = p["D_sh"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(d[6], 0.0);
    assert!(d[..6].iter().all(|&x| x > 0.0), "{d:?}");
    let probs: Vec<f64> = p["final_probs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(probs[..6].iter().all(|&x| x > probs[6]), "{probs:?}");

    // The scores' bootstrap intervals bracket them; the task-score file says what it is.
    let lo_hi = &p["D_sh_interval"];
    for k in 0..7 {
        let (lo, hi) = (lo_hi[0][k].as_f64().unwrap(), lo_hi[1][k].as_f64().unwrap());
        assert!(lo <= d[k] + 1e-12 && d[k] <= hi + 1e-12, "scenario {k}: {lo} {} {hi}", d[k]);
    }
    assert_eq!(read_json(&a.join("scoring/probabilities-task.json"))["score"], "task");
    // A NumPy array [training tiles, 7 scenarios] of float32.
    let npy = std::fs::read(a.join("scoring/task_per_sample.npy")).unwrap();
    let header_len = 10 + u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let header = String::from_utf8_lossy(&npy[10..header_len]).into_owned();
    let rows: usize = header.split("'shape': (").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(header.contains(", 7)") && rows > 10, "{header}");
    assert_eq!(npy.len(), header_len + rows * 7 * 4);
    // guided-adaptive records the distribution of every epoch.
    let adaptive = std::fs::read_to_string(a.join("finetune/guided-adaptive/metrics.jsonl")).unwrap();
    assert_contains!(adaptive, "\"sampling\"");
    // `lssg score --diagnose` ranks the scores against the checkpoint's metric drop.
    let checkpoint = a.join("pretrain/checkpoint/last.safetensors").display().to_string();
    let diagnosis = ok(&["--quiet", "score", &fixture(), "--checkpoint", &checkpoint, "--diagnose"]);
    assert_contains!(diagnosis, "| sar+height |");
    assert_contains!(diagnosis, "Spearman ρ (miou");
    assert_eq!(diagnosis.lines().filter(|l| l.starts_with("- ")).count(), 3, "{diagnosis}");

    // Running again redoes no finished work and gives the same results.
    let log_len = std::fs::read_to_string(a.join("run.log")).unwrap().len();
    run_to_end(&a);
    let log = std::fs::read_to_string(a.join("run.log")).unwrap();
    assert_contains!(log[log_len..], "stage scoring: done earlier");
    assert_contains!(log[log_len..], "stage eval/guided: done earlier");
    assert_eq!(read_json(&a.join("results.json")), results);

    // Interrupt a second run with kill -9 after its first pretraining epoch, then resume.
    let b = tmp.path().join("b");
    let mut child = lssg()
        .args(["--quiet", "run", &fixture(), "--out", &b.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let marker: PathBuf = b.join("pretrain/checkpoint/epoch-0001.safetensors");
    let started = Instant::now();
    while !marker.exists() && started.elapsed() < Duration::from_secs(300) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().unwrap();
    assert!(interrupted, "the run finished before it could be interrupted; raise pretrain.epochs in the fixture");
    assert!(!b.join("results.json").exists());
    run_to_end(&b);
    assert_eq!(read_json(&b.join("results.json")), results, "resumed run differs from the uninterrupted one");
}

#[test]
fn config_check_prints_the_resolved_config_and_rejects_bad_ones() {
    let resolved = ok(&["config", "check", &fixture(), "--set", "pretrain.epochs=7"]);
    assert_contains!(resolved, "epochs = 7");
    assert_contains!(resolved, "[smoothing]");
    // run.seed seeds each stage that does not set its own.
    assert_contains!(resolved, "seed = 3");

    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[pretrain]\nepoch = 3\n").unwrap();
    let err = fails(&["config", "check", &bad.display().to_string()]);
    assert_contains!(err, "bad.toml");
    assert_contains!(err, "epoch");

    std::fs::write(&bad, "[finetune]\nmethods = [\"fixed\"]\n").unwrap();
    assert_contains!(fails(&["config", "check", &bad.display().to_string()]), "fixed_scenario");
    std::fs::write(&bad, "[finetune]\nmethods = [\"sideways\"]\n").unwrap();
    assert_contains!(fails(&["config", "check", &bad.display().to_string()]), "sideways");
    assert_contains!(fails(&["config", "check", &fixture(), "--set", "nodot=1"]), "nodot");
    // The class count and the adapters are derived, never silently overwritten.
    assert_contains!(fails(&["config", "check", &fixture(), "--set", "model.classes=3"]), "taken from the data set");
    assert_contains!(fails(&["config", "check", &fixture(), "--set", "model.lora.rank=4"]), "[finetune.lora]");
    for (set, key) in [
        ("pretrain.epochs=0", "[pretrain]"),
        ("scoring.batch_size=0", "[scoring]"),
        ("smoothing.gamma=2.0", "[smoothing]"),
        ("finetune.lora.rank=0", "[finetune.lora]"),
        ("finetune.train.optimizer.lr=-1.0", "[finetune.train]"),
    ] {
        assert_contains!(fails(&["config", "check", &fixture(), "--set", set]), key);
    }
    assert_contains!(fails(&["config", "check", &fixture(), "--set", "run.device=tpu"]), "tpu");
    assert_contains!(
        fails(&["config", "check", &tmp.path().join("missing.toml").display().to_string()]),
        "missing.toml"
    );
}

#[test]
fn a_run_directory_refuses_a_different_config() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    std::fs::create_dir_all(&out).unwrap();
    let config = std::fs::read_to_string(fixture()).unwrap().replace("seed = 3", "seed = 4");
    std::fs::write(out.join("config.toml"), config).unwrap();
    let err = fails(&["--quiet", "run", &fixture(), "--out", &out.display().to_string()]);
    assert_contains!(err, "different config");
    assert_contains!(err, "[run]");
}

/// Data roots can come from the environment: `${LSSG_DATA:-data}/dstl` in the paper configs.
#[test]
fn config_strings_expand_environment_variables() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/dstl-cmx.toml").display().to_string();
    let out = lssg().args(["config", "check", &config]).env("LSSG_DATA", "/srv/rs-data").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_contains!(String::from_utf8_lossy(&out.stdout), "root = \"/srv/rs-data/dstl\"");
    let out = lssg().args(["config", "check", &config]).env_remove("LSSG_DATA").output().unwrap();
    assert_contains!(String::from_utf8_lossy(&out.stdout), "root = \"data/dstl\"");
    let out = lssg()
        .args(["config", "check", &fixture(), "--set", "run.output_dir=${LSSG_SURELY_UNSET_VAR}/x"])
        .env_remove("LSSG_SURELY_UNSET_VAR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_contains!(String::from_utf8_lossy(&out.stderr), "LSSG_SURELY_UNSET_VAR");
}

/// A missing real data set says where it was looked for and what to do.
#[test]
fn a_missing_data_set_says_what_to_do() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/potsdam-cmx.toml").display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let out = lssg()
        .args(["--quiet", "run", &config, "--out", &tmp.path().join("r").display().to_string()])
        .env("LSSG_DATA", tmp.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_contains!(err, "nowhere/potsdam");
    assert_contains!(err, "LSSG_DATA");
    assert_contains!(err, "configs/README.md");
}

/// Every shipped config passes `config check` (bench files: `bench --list`), and the DSTL ones also with the reference's
/// cross-validation switched on as their comment says (`docs/reference.md §3`).
#[test]
fn every_shipped_config_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    for file in &files {
        let path = file.display().to_string();
        // Bench files expand into run configs, each resolved and validated by `--list`.
        if file.file_name().unwrap().to_string_lossy().starts_with("bench-") {
            assert_contains!(ok(&["bench", &path, "--list", "--out", "/nonexistent"]), "pending");
            continue;
        }
        ok(&["config", "check", &path]);
        if file.file_name().unwrap().to_string_lossy().starts_with("dstl-") {
            let reference = [
                "--set",
                "data.split.method=reference",
                "--set",
                "data.split.fold=1",
                "--set",
                "data.split.permutation=/data/dstl/randInd5985.txt",
            ];
            let args: Vec<&str> = ["config", "check", path.as_str()].into_iter().chain(reference).collect();
            let resolved = ok(&args);
            assert_contains!(resolved, "method = \"reference\"");
            assert_contains!(resolved, "randInd5985.txt");
        }
    }
}
