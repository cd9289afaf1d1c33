//! The fine-tuning strategies `dro`, `distill`, `curriculum` and `prior` (docs/method.md
//! §5.10–§5.14) on a tiny CMX and synthetic tiles, CPU, one thread: each records what it
//! should per epoch, and a run interrupted after epoch 1 resumes to the same numbers, the same
//! state and the same weights, bit for bit, as an uninterrupted one. Its own test binary, the
//! tests one at a time (`SERIAL`): libtorch's RNG is process-global.

use std::path::{Path, PathBuf};

use lssg_backbones::{ArchitectureConfig, BackboneKind, Preset};
use lssg_datasets::{DataConfig, DataSplits, SyntheticConfig, SyntheticDataConfig};
use lssg_trainer::finetune::curriculum::{CurriculumConfig, distribution};
use lssg_trainer::finetune::dro::DroConfig;
use lssg_trainer::finetune::recipe::{Objective, RecipeOverride};
use lssg_trainer::{
    EpochRecord, FinetuneConfig, FinetuneFrom, Method, Network, NoopObserver, OptimizerConfig, TrainConfig, finetune,
    pretrain,
};
use serde_json::Value;
use tch::Device;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Setup {
    data: DataSplits,
    network: Network,
    pretrained: PathBuf,
    _work: tempfile::TempDir,
}

fn setup() -> Setup {
    tch::set_num_threads(1);
    let generator = SyntheticConfig { tile_size: 32, tiles: 24, ..Default::default() };
    let data =
        lssg_datasets::open(&DataConfig::Synthetic(SyntheticDataConfig { generator, ..Default::default() })).unwrap();
    let architecture = ArchitectureConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, ..Default::default() };
    let network = Network::for_data(&architecture, &data, 3, Device::Cpu);
    let work = tempfile::tempdir().unwrap();
    let config = TrainConfig { epochs: 1, batch_size: 8, ..Default::default() };
    let pretrained =
        pretrain(&network, &data, &config, &work.path().join("pre"), &mut NoopObserver).unwrap().checkpoint;
    Setup { data, network, pretrained, _work: work }
}

fn config(method: Method, epochs: usize) -> FinetuneConfig {
    let optimizer = OptimizerConfig { lr: 1e-3, ..Default::default() };
    FinetuneConfig {
        methods: vec![method],
        train: TrainConfig { epochs, batch_size: 4, optimizer, shuffle: true, seed: 5, ..Default::default() },
        // A large step, so that q moves visibly within a few steps.
        dro: DroConfig { step: 1.0 },
        curriculum: CurriculumConfig { ramp_epochs: Some(2) },
        ..Default::default()
    }
}

fn run(s: &Setup, method: Method, epochs: usize, dir: &Path) -> Vec<EpochRecord> {
    let from = FinetuneFrom::weights(&s.pretrained);
    finetune(method, &config(method, epochs), &s.network, from, &s.data, dir, &mut NoopObserver).unwrap().history
}

fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let mut named = tch::Tensor::read_safetensors(path).unwrap();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(n, t)| (n, Vec::<f32>::try_from(t.flatten(0, -1)).unwrap())).collect()
}

fn state(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint/state.json")).unwrap()).unwrap()
}

/// Runs `method` for 3 epochs at once and for 1 + 2 epochs (interrupted, then resumed), and
/// checks that both end identically. Returns the uninterrupted history and final state.
fn resumes_identically(s: &Setup, method: Method) -> (Vec<EpochRecord>, Value) {
    let work = tempfile::tempdir().unwrap();
    let whole_dir = work.path().join("whole");
    let whole = run(s, method, 3, &whole_dir);
    let dir = work.path().join("resumed");
    run(s, method, 1, &dir);
    let resumed = run(s, method, 3, &dir);
    assert_eq!(resumed.len(), 3);
    for (a, b) in whole.iter().zip(&resumed) {
        assert_eq!(a.train_loss, b.train_loss, "{method} epoch {}", a.epoch);
        assert_eq!(a.val, b.val, "{method} epoch {}", a.epoch);
        assert_eq!(a.sampling, b.sampling, "{method} epoch {}", a.epoch);
        assert_eq!(a.weights, b.weights, "{method} epoch {}", a.epoch);
    }
    let last = |d: &Path| d.join("checkpoint/last.safetensors");
    assert_eq!(weights(&last(&whole_dir)), weights(&last(&dir)), "{method}");
    let (a, b) = (state(&whole_dir), state(&dir));
    assert_eq!(a["sampler"], b["sampler"], "{method}");
    assert_eq!(a["loss_state"], b["loss_state"], "{method}");
    (whole, a)
}

#[test]
fn dro_records_q_and_resumes_bit_for_bit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup();
    let (history, state) = resumes_identically(&s, Method::Dro);
    let q: Vec<&Vec<f64>> = history.iter().map(|r| r.weights.as_ref().expect("q recorded")).collect();
    for q in &q {
        assert_eq!(q.len(), 7);
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-9 && q.iter().all(|w| *w > 0.0), "{q:?}");
    }
    assert!(q[0].iter().any(|w| (w - 1.0 / 7.0).abs() > 1e-6), "q moved from uniform: {:?}", q[0]);
    assert_ne!(q[0], q[2]);
    assert_eq!(state["loss_state"]["kind"], "group-dro");
    let saved: Vec<f64> = serde_json::from_value(state["loss_state"]["q"].clone()).unwrap();
    assert_eq!(&saved, q[2], "state.json holds the last epoch's q");
    assert!(history.iter().all(|r| r.sampling.is_none()), "dro samples uniformly");
}

#[test]
fn distill_and_curriculum_resume_bit_for_bit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup();
    let (history, state) = resumes_identically(&s, Method::Distill);
    assert!(history.iter().all(|r| r.weights.is_none() && r.sampling.is_none()));
    assert!(state.get("loss_state").is_none(), "distillation carries no state");

    let (history, _) = resumes_identically(&s, Method::Curriculum);
    let sampling: Vec<Vec<f64>> = history.iter().map(|r| r.sampling.clone().expect("recorded")).collect();
    for (e, p) in sampling.iter().enumerate() {
        assert_eq!(p, &distribution(e, 2, 7), "epoch {}", e + 1);
    }
    assert_eq!(sampling[0][6], 1.0, "the first epoch sees every modality");
}

#[test]
fn prior_samples_the_failure_profile_and_resumes_bit_for_bit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup();
    let (_, state) = resumes_identically(&s, Method::Prior);
    let set = s.data.train.modalities();
    let expected = lssg_scenario::FailureProfile::uniform(0.1, set).unwrap().scenario_weights(&set.scenarios());
    let p: Vec<f64> = serde_json::from_value(state["sampler"]["strategy"]["probabilities"].clone()).unwrap();
    assert_eq!(p, expected);
}

#[test]
fn lora_with_group_dro_is_configuration() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup();
    let work = tempfile::tempdir().unwrap();
    let change = RecipeOverride { scenarios: None, objective: Some(Objective::GroupDro) };
    let config = FinetuneConfig { recipes: [("lora".to_string(), change)].into(), ..config(Method::Lora, 1) };
    let from = FinetuneFrom::weights(&s.pretrained);
    let dir = work.path().join("lora");
    let summary = finetune(Method::Lora, &config, &s.network, from, &s.data, &dir, &mut NoopObserver).unwrap();
    assert!(summary.history[0].weights.as_ref().is_some_and(|q| q.len() == 7), "q recorded");
    assert_eq!(state(&dir)["loss_state"]["kind"], "group-dro");
    let full = weights(&s.pretrained).len();
    assert!(weights(&summary.checkpoint).len() > full, "the checkpoint holds the adapters besides the base");
}

#[test]
fn a_damaged_dro_state_is_refused_naming_the_field() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("dro");
    run(&s, Method::Dro, 1, &dir);
    let path = dir.join("checkpoint/state.json");
    let good = std::fs::read_to_string(&path).unwrap();
    for (edit, field) in [
        (serde_json::json!([0.5, 0.5]), "loss_state.q"),
        (serde_json::json!([-0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.1]), "loss_state.q[0]"),
        (serde_json::json!([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]), "loss_state.q"),
    ] {
        let mut value: Value = serde_json::from_str(&good).unwrap();
        value["loss_state"]["q"] = edit;
        std::fs::write(&path, serde_json::to_string(&value).unwrap()).unwrap();
        let from = FinetuneFrom::weights(&s.pretrained);
        let e = finetune(Method::Dro, &config(Method::Dro, 2), &s.network, from, &s.data, &dir, &mut NoopObserver);
        let e = e.unwrap_err().to_string();
        assert!(e.contains("state.json") && e.contains(field), "{e}");
    }
}
