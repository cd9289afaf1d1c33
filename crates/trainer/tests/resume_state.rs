//! A resumed run checks what it reads back from its directory: a damaged `state.json` or
//! optimiser file is refused with an error naming the file and the field, never used and never
//! a panic.

#[path = "../../../tests/mutate.rs"]
#[allow(dead_code)]
mod mutate;

mod common;

use common::Tiny;

use std::path::Path;

use lssg_datasets::{DataConfig, DataSplits, SyntheticConfig, SyntheticDataConfig};
use lssg_scenario::SamplingStrategy;
use lssg_trainer::{Error, NoopObserver, OptimizerConfig, RunPaths, TrainConfig, train};
use serde_json::{Value, json};
use tch::nn;
use tch::{Device, Tensor};

fn data() -> DataSplits {
    let mut c = SyntheticDataConfig {
        generator: SyntheticConfig {
            tile_size: 8,
            tiles: 12,
            positive_class: Some("water".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    c.split.folds = 3;
    lssg_datasets::open(&DataConfig::Synthetic(c)).unwrap()
}

fn model(data: &DataSplits) -> (nn::VarStore, Tiny) {
    tch::set_num_threads(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let channels: Vec<i64> = data.train.modalities().channels().iter().map(|&c| c as i64).collect();
    let convs = channels
        .iter()
        .enumerate()
        .map(|(m, &c)| nn::conv2d(vs.root() / format!("conv{m}"), c, 1, 1, Default::default()))
        .collect();
    (vs, Tiny { convs, channels, classes: data.train.num_classes() as i64 })
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 4,
        optimizer: OptimizerConfig { lr: 0.05, ..Default::default() },
        ..Default::default()
    }
}

fn resume(
    data: &DataSplits,
    dir: &Path,
    strategy: SamplingStrategy,
) -> lssg_trainer::Result<lssg_trainer::TrainSummary> {
    let (vs, m) = model(data);
    train(&m, &vs, data, strategy, &config(), dir, &mut NoopObserver)
}

/// A directory with one finished epoch of three, copied from `template`.
fn copy_dir(template: &Path, to: &Path) {
    for entry in walk(template) {
        let target = to.join(entry.strip_prefix(template).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, target).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// An edit of a `state.json` value.
type Edit = Box<dyn Fn(&mut Value)>;

#[test]
fn a_damaged_state_is_refused_naming_the_file_and_field() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    {
        let (vs, m) = model(&data);
        let one = TrainConfig { epochs: 1, ..config() };
        train(&m, &vs, &data, SamplingStrategy::Uniform, &one, &template, &mut NoopObserver).unwrap();
    }
    let edits: Vec<(&str, Edit)> = vec![
        ("sampler", Box::new(|s| s["sampler"]["scenarios"] = json!([]))),
        ("sampler", Box::new(|s| s["sampler"]["scenarios"][0] = json!(0))),
        ("sampler", Box::new(|s| s["sampler"]["scenarios"][1] = json!(s["sampler"]["scenarios"][0].clone()))),
        ("epoch", Box::new(|s| s["epoch"] = json!(7))),
        ("epoch", Box::new(|s| s["epoch"] = json!(0))),
        ("model", Box::new(|s| s["model"] = json!("../../elsewhere.safetensors"))),
        ("best.epoch", Box::new(|s| s["best"] = json!({"epoch": 5, "monitor": "soft_jaccard", "value": 0.5}))),
        ("grad_scaler", Box::new(|s| s["grad_scaler"] = json!({"scale": 65536.0, "growth_tracker": 0}))),
    ];
    for (i, (field, edit)) in edits.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        copy_dir(&template, &dir);
        let state = RunPaths::new(&dir).state();
        let mut value: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        edit(&mut value);
        std::fs::write(&state, serde_json::to_vec(&value).unwrap()).unwrap();
        match resume(&data, &dir, SamplingStrategy::Uniform) {
            Err(Error::InvalidState { path, field: f, .. }) => {
                assert_eq!((path.as_path(), f.as_str()), (state.as_path(), *field), "case {i}");
            }
            other => panic!("case {i} ({field}): expected InvalidState, got {other:?}"),
        }
    }
    // A NaN in the optimiser's state.
    let dir = tmp.path().join("optim");
    copy_dir(&template, &dir);
    let path = RunPaths::new(&dir).epoch_optimizer(1);
    let mut named = Tensor::read_safetensors(&path).unwrap();
    let (key, t) = named.iter_mut().find(|(k, _)| k.starts_with("exp_avg/")).unwrap();
    let _ = t.fill_(f64::NAN);
    let key = key.clone();
    Tensor::write_safetensors(&named, &path).unwrap();
    match resume(&data, &dir, SamplingStrategy::Uniform) {
        Err(e @ Error::InvalidState { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&key) && text.contains("--restart-stage"), "{text}");
        }
        other => panic!("expected InvalidState, got {other:?}"),
    }
    // The untouched directory resumes.
    assert_eq!(resume(&data, &template, SamplingStrategy::Uniform).unwrap().epochs_run, 2);
}

/// Seeded mutations of `state.json` (values inside its structure and bytes) and of the
/// optimiser file: every case is refused with an error or resumes to a complete run with
/// finite weights; none panics (docs/reliability.md §4).
#[test]
fn fuzzed_run_states_are_refused_or_resume_cleanly() {
    use mutate::{Outcome, Rng, Tally, mutate_bytes, mutate_json};
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    {
        let (vs, m) = model(&data);
        let one = TrainConfig { epochs: 1, ..config() };
        train(&m, &vs, &data, SamplingStrategy::Uniform, &one, &template, &mut NoopObserver).unwrap();
    }
    let paths = RunPaths::new(&template);
    let state: Value = serde_json::from_slice(&std::fs::read(paths.state()).unwrap()).unwrap();
    let optimizer = std::fs::read(paths.epoch_optimizer(1)).unwrap();
    let scale: usize = std::env::var("LSSG_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut rng = Rng::new(0x57a7e);
    let mut tally = Tally::new("state.json + optimiser");
    for case in 0..300 * scale {
        let dir = tmp.path().join(format!("case{case}"));
        copy_dir(&template, &dir);
        let target = RunPaths::new(&dir);
        match rng.below(5) {
            0 => {
                let bytes = mutate_bytes(&mut rng, &serde_json::to_vec_pretty(&state).unwrap());
                std::fs::write(target.state(), bytes).unwrap();
            }
            1 => std::fs::write(target.epoch_optimizer(1), mutate_bytes(&mut rng, &optimizer)).unwrap(),
            _ => std::fs::write(target.state(), serde_json::to_vec(&mutate_json(&mut rng, &state)).unwrap()).unwrap(),
        }
        tally.case(
            || format!("case {case} in {}", dir.display()),
            || {
                let (vs, m) = model(&data);
                match train(&m, &vs, &data, SamplingStrategy::Uniform, &config(), &dir, &mut NoopObserver) {
                    Err(Error::Json { .. } | Error::Checkpoint { .. }) => Outcome::ParseError,
                    Err(Error::Backbone(lssg_backbones::Error::Torch { .. })) => Outcome::ParseError,
                    Err(_) => Outcome::Rejected,
                    Ok(summary) => {
                        assert_eq!(summary.epochs, config().epochs);
                        assert!(summary.history.iter().all(|r| r.train_loss.is_finite()));
                        for (name, t) in vs.variables() {
                            assert!(t.isfinite().all().int64_value(&[]) != 0, "{name} is not finite");
                        }
                        Outcome::Accepted
                    }
                }
            },
        );
    }
    tally.finish();
}
