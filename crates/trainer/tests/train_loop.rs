//! End-to-end tests of the training loop and the evaluation on the synthetic data set with a
//! tiny test-only model (a masked 1×1 convolution per modality plus dropout), on the CPU.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use lssg_backbones::model::check_inputs;
use lssg_backbones::{ModelOutput, SegmentationModel};
use lssg_datasets::{DataConfig, DataSplits, SyntheticConfig, SyntheticDataConfig, TileDataset};
use lssg_scenario::SamplingStrategy;
use lssg_trainer::{
    Error, Keep, NoopObserver, OptimizerConfig, RunPaths, SchedulerConfig, StepOrder, TrainConfig, TrainObserver,
    TrainSummary, evaluate, train,
};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// logits = Σ_m a[:, m] · conv1x1_m(x_m), then dropout; latent = the stacked per-modality maps.
/// After `poison_after` training forwards it returns NaN logits (to test the NaN guard).
#[derive(Debug)]
struct TinyModel {
    convs: Vec<nn::Conv2D>,
    /// Channels per modality, for `check_inputs`.
    channels: Vec<i64>,
    classes: i64,
    forwards: AtomicUsize,
    poison_after: usize,
    /// Availability rows seen, `(train, row)`.
    seen: Mutex<Vec<(bool, Vec<f32>)>>,
}

impl TinyModel {
    fn new(vs: &nn::VarStore, channels: &[usize], classes: i64) -> Self {
        let convs = channels
            .iter()
            .enumerate()
            .map(|(m, &c)| nn::conv2d(vs.root() / format!("conv{m}"), c as i64, classes, 1, Default::default()))
            .collect();
        Self {
            convs,
            channels: channels.iter().map(|&c| c as i64).collect(),
            classes,
            forwards: AtomicUsize::new(0),
            poison_after: usize::MAX,
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl SegmentationModel for TinyModel {
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, train: bool) -> lssg_backbones::Result<ModelOutput> {
        check_inputs(&self.channels, inputs, availability)?;
        let m = availability.size()[1] as usize;
        let flat = Vec::<f32>::try_from(availability.flatten(0, -1)).unwrap();
        self.seen.lock().unwrap().extend(flat.chunks(m).map(|r| (train, r.to_vec())));
        let maps: Vec<Tensor> = inputs
            .iter()
            .zip(&self.convs)
            .enumerate()
            .map(|(m, (x, conv))| lssg_backbones::layers::gate(&conv.forward(x), availability, m as i64))
            .collect();
        let latent = Tensor::stack(&maps, 1);
        let mut logits = latent.sum_dim_intlist(1, false, Kind::Float).dropout(0.2, train);
        if train && self.forwards.fetch_add(1, Ordering::SeqCst) >= self.poison_after {
            logits *= f64::NAN;
        }
        Ok(ModelOutput::new(logits, latent))
    }

    fn hook_point(&self) -> &str {
        "stack"
    }

    fn num_classes(&self) -> i64 {
        self.classes
    }
}

/// libtorch's RNG (initialisation, dropout) is process-global and the test harness runs tests
/// on parallel threads: every test holds this lock so RNG streams do not interleave.
static TORCH_RNG: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let guard = TORCH_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // These tensors are tiny: one intra-op thread avoids OpenMP spin-waiting on a shared
    // 2-core CI machine (measured here: 4.2 s with 2 threads vs 0.14 s with 1 for two epochs).
    tch::set_num_threads(1);
    guard
}

fn splits(positive: Option<&str>) -> DataSplits {
    let mut c = SyntheticDataConfig {
        generator: SyntheticConfig {
            tile_size: 16,
            tiles: 24,
            positive_class: positive.map(String::from),
            ..Default::default()
        },
        ..Default::default()
    };
    c.split.folds = 4;
    c.split.val_fraction = 0.2;
    c.normalize.std = true;
    lssg_datasets::open(&DataConfig::Synthetic(c)).unwrap()
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 4,
        shuffle: true,
        optimizer: OptimizerConfig { lr: 0.05, ..Default::default() },
        scheduler: SchedulerConfig::Step { step: 2, gamma: 0.5, order: StepOrder::Reference },
        grad_clip: Some(5.0),
        seed: 11,
        ..Default::default()
    }
}

/// A fresh model whose initial weights depend on `init_seed`.
fn model(data: &DataSplits, init_seed: i64) -> (nn::VarStore, TinyModel) {
    tch::manual_seed(init_seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = TinyModel::new(&vs, &data.train.modalities().channels(), data.train.num_classes() as i64);
    (vs, m)
}

fn run(
    data: &DataSplits,
    vs: &nn::VarStore,
    m: &TinyModel,
    cfg: &TrainConfig,
    dir: &Path,
) -> lssg_trainer::Result<TrainSummary> {
    train(m, vs, data, SamplingStrategy::Uniform, cfg, dir, &mut NoopObserver)
}

fn weights(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn assert_same_weights(a: &nn::VarStore, b: &nn::VarStore) {
    for ((na, ta), (nb, tb)) in weights(a).iter().zip(weights(b)) {
        assert_eq!(na, &nb);
        assert!(ta.equal(&tb), "{na} differs by {}", (ta - &tb).abs().max().double_value(&[]));
    }
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let _guard = serial();
    let data = splits(Some("water"));
    let tmp = tempfile::tempdir().unwrap();
    let (straight_dir, resumed_dir) = (tmp.path().join("straight"), tmp.path().join("resumed"));

    let (vs_a, a) = model(&data, 1);
    let straight = run(&data, &vs_a, &a, &config(4), &straight_dir).unwrap();
    assert_eq!((straight.epochs, straight.epochs_run, straight.resumed_at), (4, 4, None));

    let (vs_b, b) = model(&data, 1);
    let first = run(&data, &vs_b, &b, &config(2), &resumed_dir).unwrap();
    assert_eq!(first.epochs_run, 2);
    // A fresh model with other initial weights: everything must come from the checkpoint.
    let (vs_c, c) = model(&data, 999);
    let resumed = run(&data, &vs_c, &c, &config(4), &resumed_dir).unwrap();
    assert_eq!((resumed.epochs, resumed.epochs_run, resumed.resumed_at), (4, 2, Some(3)));

    assert_same_weights(&vs_a, &vs_c);
    assert_eq!(straight.history.len(), 4);
    for (x, y) in straight.history.iter().zip(&resumed.history) {
        assert_eq!((x.epoch, x.lr, x.train_loss, x.val_loss), (y.epoch, y.lr, y.train_loss, y.val_loss));
        assert_eq!(x.val, y.val, "epoch {}", x.epoch);
    }
    // The reference's legacy StepLR order with step 2: lr0, lr0/2, lr0/2, lr0/4.
    let lrs: Vec<f64> = straight.history.iter().map(|r| r.lr).collect();
    assert_eq!(lrs, [0.05, 0.025, 0.025, 0.0125]);

    // Files: the last two epochs, last/best, state and one metrics line per epoch.
    let paths = RunPaths::new(&resumed_dir);
    for e in [3, 4] {
        assert!(paths.epoch_model(e).exists() && paths.epoch_optimizer(e).exists(), "epoch {e}");
    }
    for e in [1, 2] {
        assert!(!paths.epoch_model(e).exists() && !paths.epoch_optimizer(e).exists(), "epoch {e} not pruned");
    }
    assert!(paths.last().exists() && paths.best().exists() && paths.state().exists());
    assert!(paths.is_complete(4) && !paths.is_complete(5));
    let lines = std::fs::read_to_string(paths.metrics()).unwrap();
    assert_eq!(lines.lines().count(), 4);
    assert!(lines.lines().all(|l| l.contains("\"train_loss\"") && l.contains("\"soft_jaccard\"")));

    // A complete directory returns at once and puts the last weights into the store.
    let (vs_d, d) = model(&data, 5);
    let again = run(&data, &vs_d, &d, &config(4), &resumed_dir).unwrap();
    assert_eq!(again.epochs_run, 0);
    assert_eq!(again.history, resumed.history);
    assert_same_weights(&vs_a, &vs_d);
}

#[test]
fn training_reduces_the_loss_and_keeps_the_best() {
    let _guard = serial();
    let data = splits(None); // seven classes: cross-entropy
    let tmp = tempfile::tempdir().unwrap();
    let (vs, m) = model(&data, 3);
    let cfg = TrainConfig { keep: Keep::Best, scheduler: SchedulerConfig::Constant, grad_clip: None, ..config(4) };
    let s = run(&data, &vs, &m, &cfg, tmp.path()).unwrap();
    let losses: Vec<f64> = s.history.iter().map(|r| r.train_loss).collect();
    assert!(losses[3] < losses[0], "training loss did not fall: {losses:?}");
    let best = s.best.expect("validated every epoch");
    let best_value = s.history[best.epoch - 1].val.as_ref().unwrap().soft_jaccard.mean;
    assert!(s.history.iter().all(|r| r.val.as_ref().unwrap().soft_jaccard.mean <= best_value));
    assert_eq!(s.checkpoint, RunPaths::new(tmp.path()).best());
    // One 1×1 convolution per modality: C_m·7 weights + 7 biases.
    let expected: usize = data.train.modalities().channels().iter().map(|c| (c + 1) * 7).sum();
    assert_eq!(s.trainable_parameters, expected as i64);
    // The store now holds the best weights.
    let (vs_best, _) = model(&data, 8);
    lssg_backbones::checkpoint::load(&vs_best, &s.checkpoint).unwrap();
    assert_same_weights(&vs, &vs_best);
}

#[test]
fn non_finite_loss_stops_and_keeps_the_last_good_checkpoint() {
    let _guard = serial();
    let data = splits(Some("water"));
    let tmp = tempfile::tempdir().unwrap();
    let (vs, mut m) = model(&data, 2);
    let steps = data.train.len().div_ceil(4);
    m.poison_after = steps + 1; // the second step of epoch 2
    match run(&data, &vs, &m, &config(3), tmp.path()) {
        Err(Error::NonFiniteLoss { epoch, step, value }) => {
            assert_eq!((epoch, step), (2, 2));
            assert!(value.is_nan());
        }
        other => panic!("expected NonFiniteLoss, got {other:?}"),
    }
    let paths = RunPaths::new(tmp.path());
    assert!(paths.is_complete(1) && !paths.is_complete(2));
    assert_eq!(std::fs::read(paths.last()).unwrap(), std::fs::read(paths.epoch_model(1)).unwrap());
    assert!(!paths.epoch_model(2).exists());
}

#[test]
fn resume_refuses_a_changed_configuration() {
    let _guard = serial();
    let data = splits(Some("water"));
    let tmp = tempfile::tempdir().unwrap();
    let (vs, m) = model(&data, 4);
    run(&data, &vs, &m, &config(1), tmp.path()).unwrap();
    let changed = TrainConfig { optimizer: OptimizerConfig { lr: 0.5, ..Default::default() }, ..config(2) };
    match run(&data, &vs, &m, &changed, tmp.path()) {
        Err(Error::ResumeMismatch { what, .. }) => assert_eq!(what, "train.optimizer"),
        other => panic!("expected ResumeMismatch, got {other:?}"),
    }
    let guided = SamplingStrategy::FullOnly;
    let err = train(&m, &vs, &data, guided, &config(2), tmp.path(), &mut NoopObserver);
    assert!(matches!(err, Err(Error::ResumeMismatch { what, .. }) if what == "sampling strategy"));
}

#[test]
fn every_sample_draws_its_own_scenario_and_validation_sees_all_modalities() {
    let _guard = serial();
    let data = splits(Some("water"));
    let set = data.train.modalities().clone();
    let tmp = tempfile::tempdir().unwrap();
    let (vs, m) = model(&data, 7);
    run(&data, &vs, &m, &config(1), &tmp.path().join("uniform")).unwrap();
    let seen = std::mem::take(&mut *m.seen.lock().unwrap());
    let train_rows: Vec<&Vec<f32>> = seen.iter().filter(|(t, _)| *t).map(|(_, r)| r).collect();
    assert_eq!(train_rows.len(), data.train.len());
    // Uniform over 7 scenarios: 14 draws contain several distinct rows, never an empty one.
    let distinct: std::collections::BTreeSet<Vec<u32>> =
        train_rows.iter().map(|r| r.iter().map(|v| v.to_bits()).collect()).collect();
    assert!(distinct.len() >= 3, "{distinct:?}");
    assert!(train_rows.iter().all(|r| r.contains(&1.0)));
    let val_rows: Vec<&Vec<f32>> = seen.iter().filter(|(t, _)| !*t).map(|(_, r)| r).collect();
    assert_eq!(val_rows.len(), data.val.len());
    assert!(val_rows.iter().all(|r| r.iter().all(|&v| v == 1.0)), "validation must use every modality");

    let sar = set.parse_scenario("sar").unwrap();
    let fixed = SamplingStrategy::Fixed { scenario: sar };
    let dir = tmp.path().join("fixed");
    train(&m, &vs, &data, fixed, &config(1), &dir, &mut NoopObserver).unwrap();
    let seen = m.seen.lock().unwrap();
    let expected = sar.availability(set.len());
    assert!(seen.iter().filter(|(t, _)| *t).all(|(_, r)| *r == expected));
}

/// Counts events, to check the observer protocol.
#[derive(Default)]
struct Counter {
    epochs: usize,
    steps: usize,
    val_batches: usize,
    eval_batches: usize,
}

impl TrainObserver for Counter {
    fn epoch_end(&mut self, _: &lssg_trainer::EpochRecord) {
        self.epochs += 1;
    }
    fn step(&mut self, e: &lssg_trainer::StepEvent) {
        assert!(e.loss.is_finite() && e.samples_per_s > 0.0);
        self.steps += 1;
    }
    fn validation_progress(&mut self, _: usize, _: usize) {
        self.val_batches += 1;
    }
    fn evaluation_progress(&mut self, done: usize, total: usize) {
        assert!(done <= total);
        self.eval_batches += 1;
    }
}

#[test]
fn evaluation_covers_every_scenario_and_matches_validation() {
    let _guard = serial();
    let data = splits(Some("water"));
    let tmp = tempfile::tempdir().unwrap();
    let (vs, m) = model(&data, 6);
    let mut counter = Counter::default();
    let cfg = TrainConfig { val_batch_size: Some(3), ..config(1) };
    let s = train(&m, &vs, &data, SamplingStrategy::Uniform, &cfg, tmp.path(), &mut counter).unwrap();
    assert_eq!((counter.epochs, counter.steps), (1, data.train.len().div_ceil(4)));
    assert_eq!(counter.val_batches, data.val.len().div_ceil(3));

    let set = data.val.modalities().clone();
    let mut reversed = set.scenarios();
    reversed.reverse();
    let report = evaluate(&m, data.val.clone(), &reversed, 2, Device::Cpu, &mut counter).unwrap();
    assert_eq!(counter.eval_batches, data.val.len().div_ceil(2));
    let names: Vec<&str> = report.scenarios.iter().map(|s| s.scenario.as_str()).collect();
    assert_eq!(names, set.scenario_names(), "canonical order");
    assert_eq!(report.samples, data.val.len());
    assert_eq!(report.class_names, ["background", "water"]);
    // The full scenario reproduces the validation metrics (batching differs: 2 vs 3 per batch).
    let full = &report.get(&set.scenario_name(set.full_scenario())).unwrap().metrics;
    let val = s.last.unwrap().val.unwrap();
    assert_eq!(full.confusion, val.confusion);
    assert!((full.soft_jaccard.mean - val.soft_jaccard.mean).abs() < 1e-9);
    // Dropping modalities changes the predictions of this model.
    let single = &report.scenarios[0].metrics;
    assert_ne!(single.confusion, full.confusion);
    let md = report.to_markdown();
    assert!(md.lines().count() >= 2 * (set.num_scenarios() + 2));
    assert_eq!(report.to_csv().lines().count(), set.num_scenarios() + 1);

    assert!(evaluate(&m, data.val.clone(), &[], 2, Device::Cpu, &mut NoopObserver).is_err());
    assert!(evaluate(&m, data.val.clone(), &reversed, 0, Device::Cpu, &mut NoopObserver).is_err());
}

#[test]
fn mismatched_model_and_data_are_rejected() {
    let _guard = serial();
    let data = splits(Some("water"));
    let tmp = tempfile::tempdir().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let m = TinyModel::new(&vs, &data.train.modalities().channels(), 3);
    assert!(matches!(run(&data, &vs, &m, &config(1), tmp.path()), Err(Error::Shape { .. })));
    let other: Arc<dyn TileDataset> = splits(None).val;
    let (vs2, m2) = model(&data, 1);
    let err = train(
        &m2,
        &vs2,
        &DataSplits { train: data.train.clone(), val: other, test: data.test.clone() },
        SamplingStrategy::Uniform,
        &config(1),
        tmp.path(),
        &mut NoopObserver,
    );
    assert!(matches!(err, Err(Error::Shape { .. })));
}

/// Runs only where libtorch sees a CUDA device (elsewhere, e.g. in CI, it says it skipped): training
/// and evaluation on the GPU must agree with the CPU for the same weights and data.
#[test]
fn cuda_agrees_with_cpu() {
    if !tch::Cuda::is_available() {
        println!("skipped: CUDA is not available");
        return;
    }
    let _guard = serial();
    let data = splits(Some("water"));
    let tmp = tempfile::tempdir().unwrap();
    let (vs_cpu, m_cpu) = model(&data, 9);
    let mut vs_gpu = nn::VarStore::new(Device::Cuda(0));
    let m_gpu = TinyModel::new(&vs_gpu, &data.train.modalities().channels(), 1);
    vs_gpu.copy(&vs_cpu).unwrap();
    let scenarios = data.val.modalities().scenarios();
    let on_cpu = evaluate(&m_cpu, data.val.clone(), &scenarios, 3, Device::Cpu, &mut NoopObserver).unwrap();
    let on_gpu = evaluate(&m_gpu, data.val.clone(), &scenarios, 3, Device::Cuda(0), &mut NoopObserver).unwrap();
    for (c, g) in on_cpu.scenarios.iter().zip(&on_gpu.scenarios) {
        assert_eq!(c.metrics.pixels, g.metrics.pixels);
        assert!((c.metrics.soft_jaccard.mean - g.metrics.soft_jaccard.mean).abs() < 1e-5, "{}", c.scenario);
        let (ca, ga) = (c.metrics.accuracy.unwrap(), g.metrics.accuracy.unwrap());
        assert!((ca - ga).abs() < 1e-3, "{}", c.scenario);
    }
    let cfg = config(2);
    let s_gpu =
        train(&m_gpu, &vs_gpu, &data, SamplingStrategy::Uniform, &cfg, &tmp.path().join("gpu"), &mut NoopObserver)
            .unwrap();
    let s_cpu =
        train(&m_cpu, &vs_cpu, &data, SamplingStrategy::Uniform, &cfg, &tmp.path().join("cpu"), &mut NoopObserver)
            .unwrap();
    // Dropout masks come from different generators on the two devices, so the runs are
    // compared loosely: same shape of history, finite losses of the same magnitude.
    assert_eq!(s_cpu.history.len(), s_gpu.history.len());
    for (c, g) in s_cpu.history.iter().zip(&s_gpu.history) {
        assert!(g.train_loss.is_finite() && (c.train_loss - g.train_loss).abs() < 0.5 * c.train_loss, "{c:?} vs {g:?}");
        assert!(g.val.is_some());
    }
    // A GPU checkpoint loads into a CPU store.
    let (vs_back, _) = model(&data, 10);
    lssg_backbones::checkpoint::load(&vs_back, &s_gpu.checkpoint).unwrap();
}
