//! The PyTorch port of CMX (`benches/pytorch/lssg_cmx.py`, docs/pytorch.md §2) computes what lssg
//! computes: for every preset, lssg builds CMX (the constructors the trainer uses,
//! [`ModelConfig::build`]), writes its checkpoint, an input and its eval-mode logits and latent
//! to a temporary directory, and `benches/pytorch/check_logits.py` loads the checkpoint into the
//! port, runs it and fails when an element differs by more than 1e-4 · (1 + |lssg|).
//!
//! Every 1-D variable (batch-norm statistics and affines, LayerNorm affines, biases) is
//! perturbed after the build, so that a port which ignored the running statistics, swapped two
//! biases or loaded a zero-initialised bias into the wrong layer would fail: freshly built, they
//! are 0/1 and would hide such mistakes. The batch has a different scenario per sample,
//! including one without the first modality (stream 1 all zeros) and one without a second-stream
//! modality.
//!
//! 64² tiles rather than the paper's 224²: five stride-2 blocks leave a 2 × 2 latent, every
//! layer (attention over 4 tokens included) still runs, and the paper preset's forward stays
//! well under a second on one thread; 224² would spend ~12× the time on the same check.
//!
//! Needs `$LSSG_HOME/venv/bin/python` (LSSG_HOME defaults to `~/.cache/lssg`), which
//! `scripts/setup` creates; the test fails, rather than skips, without it.

use std::path::PathBuf;
use std::process::Command;

use lssg_backbones::{BackboneKind, ModelConfig, Preset, checkpoint};
use tch::{Device, Kind, Tensor, nn};

const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

fn python() -> PathBuf {
    let home = std::env::var_os("LSSG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/lssg"));
    let py = home.join("venv/bin/python");
    assert!(
        py.exists(),
        "{} not found: run scripts/setup (it creates the venv with PyPI's torch that the PyTorch port needs)",
        py.display()
    );
    py
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/pytorch/check_logits.py")
}

/// Gives every 1-D variable values a fresh build would not have (running variances stay positive).
fn perturb_vectors(vs: &nn::VarStore) {
    // Sorted: `variables()` is a HashMap, and the draws must not depend on its order.
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, var) in vars {
            if var.dim() != 1 {
                continue;
            }
            let mut v = var.shallow_clone();
            let noise = if name.ends_with("running_var") {
                Tensor::rand_like(&v) + 0.5 // U(0.5, 1.5)
            } else {
                &v + Tensor::randn_like(&v) * 0.1
            };
            v.copy_(&noise);
        }
    });
}

/// Builds CMX of `preset`, writes the check directory, runs the port; returns its JSON report.
fn check(preset: Preset, channels: &[i64], classes: i64, size: i64) -> serde_json::Value {
    tch::set_num_threads(1);
    tch::manual_seed(11);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = ModelConfig { backbone: BackboneKind::Cmx, preset, classes, lora: None, ..Default::default() };
    let model = cfg.build(&vs, channels).unwrap();
    perturb_vectors(&vs);

    let m = channels.len() as i64;
    // 4 samples: all modalities, no modality 0, no modality 1, only modality 0.
    let mut rows = vec![1f32; 4 * m as usize];
    rows[m as usize] = 0.0;
    rows[2 * m as usize + 1] = 0.0;
    for r in &mut rows[3 * m as usize + 1..] {
        *r = 0.0;
    }
    let availability = Tensor::from_slice(&rows).view([4, m]);
    let inputs: Vec<Tensor> = channels.iter().map(|&c| Tensor::randn([4, c, size, size], CPU)).collect();
    let out = tch::no_grad(|| model.forward_t(&inputs, &availability, false)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    checkpoint::save(&vs, &dir.path().join("model.safetensors")).unwrap();
    let names: Vec<String> = (0..inputs.len()).map(|i| format!("input_{i}")).collect();
    let mut io: Vec<(&str, &Tensor)> = names.iter().map(String::as_str).zip(&inputs).collect();
    // safetensors needs contiguous tensors; the logits come out of a resize, the latent of a batch norm.
    let (logits, latent) = (out.logits.contiguous(), out.latent.contiguous());
    io.extend([("availability", &availability), ("logits", &logits), ("latent", &latent)]);
    Tensor::write_safetensors(&io, dir.path().join("io.safetensors")).unwrap();
    let meta = serde_json::json!({ "preset": preset.as_str(), "channels": channels, "classes": classes });
    std::fs::write(dir.path().join("meta.json"), meta.to_string()).unwrap();

    let run = Command::new(python()).arg(script()).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{preset}: the PyTorch port differs from lssg ({}):\n{stdout}\n{stderr}", run.status);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let f = |k: &str, v: &str| report[k][v].as_f64().unwrap_or(f64::NAN);
    println!(
        "{preset}: logits max abs {:.3e}, max rel {:.3e} (max |lssg| {:.3}); latent max abs {:.3e}, max rel {:.3e} (max |lssg| {:.3})",
        f("logits", "max_abs"),
        f("logits", "max_rel"),
        f("logits", "max_ref"),
        f("latent", "max_abs"),
        f("latent", "max_rel"),
        f("latent", "max_ref"),
    );
    report
}

#[test]
fn tiny_matches_lssg() {
    check(Preset::Tiny, &[3, 2, 1], 3, 64);
}

#[test]
fn small_matches_lssg() {
    check(Preset::Small, &[4, 3], 1, 64);
}

#[test]
fn paper_matches_lssg() {
    check(Preset::Paper, &[3, 3, 3], 1, 64);
}

/// `benches/pytorch/loops.py` (docs/pytorch.md §3) runs every loop and reports samples/s as JSON.
#[test]
fn loops_report_every_loop() {
    let loops = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/pytorch/loops.py");
    let args = ["--preset", "tiny", "--batch", "2", "--size", "32", "--channels", "3,2", "--classes", "2"];
    let run = Command::new(python())
        .arg(loops)
        .args(args)
        .args(["--threads", "1", "--steps", "1", "--warmup", "0", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "loops.py failed ({}):\n{stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["scenarios"], 3);
    for name in ["train", "forward", "score_batched", "score_batch1", "eval", "train_loop"] {
        let rate = report["loops"][name]["samples_per_s"].as_f64().unwrap_or(0.0);
        assert!(rate.is_finite() && rate > 0.0, "{name}: {stdout}");
    }
}
