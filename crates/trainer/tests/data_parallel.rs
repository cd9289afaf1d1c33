//! Data-parallel training and evaluation on two ranks of a Gloo group (two threads of this
//! process, each with its own installed group, on localhost): the averaged gradients are the
//! mean of the ranks' own, the weights stay identical across ranks, two ranks train what one
//! process trains, a two-rank evaluation and scoring equal the one-process ones exactly, rank 0
//! alone writes and a resume with another world size is refused, and a rank that leaves stops
//! the other with an error, leaving the last committed epoch intact.

mod common;

use common::{Tiny, two_ranks};

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use lssg_datasets::{DataConfig, DataSplits, SyntheticConfig, SyntheticDataConfig};
use lssg_scenario::SamplingStrategy;
use lssg_torch::distributed;
use lssg_trainer::dist::GradientAverager;
use lssg_trainer::train::{GradientHook, StepBatch, StepContext, StepIndex};
use lssg_trainer::{Error, EvalReport, NoopObserver, OptimizerConfig, RunPaths, TrainConfig, evaluate, train};
use tch::nn;
use tch::{Device, Kind, Tensor};

fn data() -> DataSplits {
    let mut c = SyntheticDataConfig {
        generator: SyntheticConfig {
            tile_size: 8,
            tiles: 15,
            positive_class: Some("water".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    c.split.folds = 3;
    lssg_datasets::open(&DataConfig::Synthetic(c)).unwrap()
}

/// The model with fixed weights, shifted by `offset` (a rank's own initialisation).
fn model(data: &DataSplits, offset: f64) -> (nn::VarStore, Tiny) {
    tch::set_num_threads(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let channels: Vec<i64> = data.train.modalities().channels().iter().map(|&c| c as i64).collect();
    let convs = channels
        .iter()
        .enumerate()
        .map(|(m, &c)| nn::conv2d(vs.root() / format!("conv{m}"), c, 1, 1, Default::default()))
        .collect();
    tch::no_grad(|| {
        for (i, (_, v)) in sorted(&vs).into_iter().enumerate() {
            let values =
                Tensor::arange(v.numel() as i64, (Kind::Float, Device::Cpu)).sin() * 0.3 + offset + i as f64 * 0.01;
            v.shallow_clone().copy_(&values.view(v.size().as_slice()));
        }
    });
    (vs, Tiny { convs, channels, classes: data.train.num_classes() as i64 })
}

fn sorted(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn host(vs: &nn::VarStore) -> Vec<(String, Vec<f32>)> {
    sorted(vs).into_iter().map(|(n, t)| (n, Vec::<f32>::try_from(t.reshape([-1])).unwrap())).collect()
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 4,
        optimizer: OptimizerConfig { lr: 0.05, ..Default::default() },
        ..Default::default()
    }
}

/// Every step's gradients, flattened, before and after averaging.
type Seen = Rc<RefCell<Vec<(Vec<f32>, Vec<f32>)>>>;

/// Copies the gradients before and after the averager.
struct Capture {
    inner: GradientAverager,
    seen: Seen,
}

impl GradientHook for Capture {
    fn after_backward(&mut self, gradients: &[Tensor], at: StepIndex) -> lssg_trainer::Result<()> {
        let flat = |gs: &[Tensor]| -> Vec<f32> {
            gs.iter().flat_map(|g| Vec::<f32>::try_from(g.reshape([-1])).unwrap()).collect()
        };
        let before = flat(gradients);
        self.inner.after_backward(gradients, at)?;
        self.seen.borrow_mut().push((before, flat(gradients)));
        Ok(())
    }
}

#[test]
fn averaged_gradients_are_the_ranks_mean_and_weights_stay_identical() {
    let data = data();
    let train_set = data.train.clone();
    let [a, b] = two_ranks(Duration::from_secs(30), move |rank| {
        let d = DataSplits { train: train_set.clone(), val: train_set.clone(), test: train_set.clone() };
        let (vs, net) = model(&d, 0.0);
        let mut ctx = StepContext::new(&net, &vs, &config(1)).unwrap();
        let group = distributed::current().unwrap();
        let variables: Vec<Tensor> = sorted(&vs).into_iter().map(|(_, t)| t).collect();
        let seen = Rc::default();
        ctx.gradient_hook =
            Some(Box::new(Capture { inner: GradientAverager::new(group, variables), seen: Rc::clone(&seen) }));
        let mut weights = Vec::new();
        for step in 0..2 {
            // Rank r's own two samples of the step's batch of four.
            let samples: Vec<_> = (0..2).map(|j| d.train.sample(4 * step + 2 * rank + j).unwrap()).collect();
            let batch = lssg_datasets::Batch::from_samples(&samples, vec![0, 1]).unwrap();
            let (inputs, labels) = lssg_backbones::input::batch_to_tensors(&batch, Device::Cpu).unwrap();
            let scenarios = vec![d.train.modalities().full_scenario(); 2];
            let avail = lssg_backbones::input::availability(&scenarios, inputs.len(), Device::Cpu);
            let step_batch =
                StepBatch { inputs: &inputs, labels: &labels, availability: &avail, scenarios: &scenarios };
            ctx.step(&step_batch, StepIndex { epoch: 1, step: step + 1 }).unwrap();
            weights.push(host(&vs));
        }
        drop(ctx);
        let seen = seen.borrow().clone();
        (seen, weights)
    });
    for step in 0..2 {
        let ((before0, after0), (before1, after1)) = (&a.0[step], &b.0[step]);
        assert_ne!(before0, before1, "the ranks computed different gradients");
        let mean: Vec<f32> = before0.iter().zip(before1).map(|(x, y)| (x + y) / 2.0).collect();
        assert_eq!(after0, &mean, "step {step}: rank 0 holds the mean");
        assert_eq!(after1, &mean, "step {step}: rank 1 holds the mean");
        assert_eq!(a.1[step], b.1[step], "step {step}: identical weights");
    }
}

/// Trains `config` in `dir` on this thread (rank 0 of 1, or a rank of the installed group).
fn train_in(dir: &Path, epochs: usize, offset: f64) -> lssg_trainer::Result<Vec<(String, Vec<f32>)>> {
    let d = data();
    let (vs, net) = model(&d, offset);
    train(&net, &vs, &d, SamplingStrategy::Uniform, &config(epochs), dir, &mut NoopObserver)?;
    Ok(host(&vs))
}

#[test]
fn two_ranks_train_what_one_process_trains_and_only_rank_0_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let single = train_in(&tmp.path().join("single"), 2, 0.0).unwrap();
    let (dir0, dir1) = (tmp.path().join("rank0"), tmp.path().join("rank1"));
    let dirs = [dir0.clone(), dir1.clone()];
    // Rank 1 starts from other weights: rank 0's are broadcast first.
    let [w0, w1] = two_ranks(Duration::from_secs(30), move |rank| train_in(&dirs[rank], 2, rank as f64).unwrap());
    assert_eq!(w0, w1, "identical weights on both ranks");
    for ((name, a), (_, b)) in single.iter().zip(&w0) {
        let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{name}: two ranks differ from one process by {diff}");
    }
    assert!(RunPaths::new(&dir0).state().exists());
    assert!(!dir1.join("checkpoint").exists(), "rank 1 writes nothing");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(RunPaths::new(&dir0).state()).unwrap()).unwrap();
    assert_eq!(state["world_size"], 2);
    let single_state = std::fs::read_to_string(RunPaths::new(&tmp.path().join("single")).state()).unwrap();
    assert!(!single_state.contains("world_size"), "a single process records none");
    // One process may not resume what two trained.
    let more = train_in(&dir0, 3, 0.0).unwrap_err();
    assert!(matches!(more, Error::WorldSizeChanged { written: 2, now: 1, .. }), "{more}");
    assert!(more.to_string().contains("--nproc 2"), "{more}");
}

fn without_time(mut r: EvalReport) -> EvalReport {
    r.seconds = 0.0;
    r
}

#[test]
fn a_two_rank_evaluation_equals_one_process_exactly() {
    let d = data();
    let all = d.train.modalities().scenarios();
    let evaluate_here = move || {
        let d = data();
        let (_vs, net) = model(&d, 0.0);
        // Batches of 3: the ranks' blocks differ in size when the batches are odd in number.
        without_time(evaluate(&net, d.train.clone(), &all, 3, Device::Cpu, &mut NoopObserver).unwrap())
    };
    let single = evaluate_here();
    assert!(single.scenarios.iter().all(|s| s.tiles.as_ref().is_some_and(|t| t.confusion.len() == d.train.len())));
    let [a, b] = two_ranks(Duration::from_secs(30), move |_| evaluate_here());
    assert_eq!(a, single, "rank 0");
    assert_eq!(b, single, "rank 1");
}

#[test]
fn a_rank_that_leaves_stops_the_other_within_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: [PathBuf; 2] = [tmp.path().join("rank0"), tmp.path().join("rank1")];
    let timeout = Duration::from_secs(5);
    let dirs2 = dirs.clone();
    let started = Instant::now();
    // Rank 1 trains one epoch and leaves; rank 0 wants three.
    let [r0, r1] =
        two_ranks(timeout, move |rank| train_in(&dirs2[rank], if rank == 0 { 3 } else { 1 }, 0.0).map(|_| ()));
    r1.unwrap();
    let err = r0.unwrap_err();
    assert!(err.to_string().contains("rank 0 of 2"), "{err}");
    assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
    // The first epoch's commit is intact and resumable in the right world size.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(RunPaths::new(&dirs[0]).state()).unwrap()).unwrap();
    assert_eq!(state["epoch"], 1);
    let weights = RunPaths::new(&dirs[0]).checkpoint_dir.join(state["model"].as_str().unwrap());
    let vs = model(&data(), 0.0).0;
    lssg_backbones::checkpoint::load(&vs, &weights).unwrap();
}

#[test]
fn a_two_rank_scoring_equals_one_process_exactly() {
    let score_here = || {
        let d = data();
        let (_vs, net) = model(&d, 0.0);
        // Batches of 2: the ranks' blocks differ in size when the batches are odd in number.
        let config = lssg_scoring::ScoringConfig { batch_size: 2, ..Default::default() };
        lssg_scoring::measure_scores(&net, d.train.clone(), &config, Device::Cpu, &mut |_, _| {}).unwrap()
    };
    let single = score_here();
    assert_eq!(single.1.latent.len(), data().train.len());
    let [a, b] = two_ranks(Duration::from_secs(30), move |_| score_here());
    assert_eq!(a, single, "rank 0");
    assert_eq!(b, single, "rank 1");
}

/// Group DRO trained in `dir` on this thread: its final q and weights.
fn train_dro(dir: &Path) -> (Vec<f64>, Vec<(String, Vec<f32>)>) {
    use lssg_trainer::finetune::dro::{DroConfig, GroupDro};
    let d = data();
    let (vs, net) = model(&d, 0.0);
    let config = config(2);
    let loss = GroupDro::new(config.loss.clone(), DroConfig { step: 0.5 }, d.train.modalities());
    let sampling =
        lssg_trainer::Sampling { strategy: SamplingStrategy::Uniform, hook: None, loss: Some(Box::new(loss)) };
    let summary = train(&net, &vs, &d, sampling, &config, dir, &mut NoopObserver).unwrap();
    (summary.history.last().unwrap().weights.clone().unwrap(), host(&vs))
}

#[test]
fn group_dro_moves_its_weights_on_two_ranks_as_in_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (q, weights) = train_dro(&tmp.path().join("single"));
    let dirs = [tmp.path().join("rank0"), tmp.path().join("rank1")];
    let [a, b] = two_ranks(Duration::from_secs(30), move |rank| train_dro(&dirs[rank]));
    assert_eq!(a, b, "identical q and weights on both ranks");
    assert!(q.iter().any(|&v| (v - q[0]).abs() > 1e-3), "q moved away from uniform: {q:?}");
    for (x, y) in q.iter().zip(&a.0) {
        assert!((x - y).abs() < 1e-6, "q {:?} on two ranks, {q:?} in one process", a.0);
    }
    for ((name, x), (_, y)) in weights.iter().zip(&a.1) {
        let diff = x.iter().zip(y).map(|(u, v)| (u - v).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{name}: two ranks differ from one process by {diff}");
    }
}
