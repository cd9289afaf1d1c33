//! `guided-adaptive` (docs/method.md §5.9) on a tiny CMX and synthetic tiles, CPU, one thread:
//! without a re-scoring it is static guided sampling bit for bit; with re-scoring every epoch
//! the distribution moves, is recorded per epoch, and a run interrupted in the middle resumes
//! to the same final numbers and weights. Its own test binary, the tests one at a time
//! (`SERIAL`): libtorch's RNG is process-global, so two seeded runs must not interleave.

use std::path::Path;

use lssg_backbones::{ArchitectureConfig, BackboneKind, Preset, Weights};
use lssg_core::ScoreKind;
use lssg_core::seed::stream;
use lssg_datasets::{DataConfig, DataSplits, SyntheticConfig, SyntheticDataConfig};
use lssg_scenario::{ProbabilitiesFile, SamplingStrategy};
use lssg_scoring::ScoringConfig;
use lssg_smoothing::SmoothingConfig;
use lssg_trainer::{
    EpochRecord, FinetuneConfig, FinetuneFrom, Method, Network, NoopObserver, OptimizerConfig, TrainConfig, finetune,
    pretrain, train,
};
use tch::Device;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Setup {
    data: DataSplits,
    network: Network,
    pretrained: std::path::PathBuf,
    probabilities: ProbabilitiesFile,
    _work: tempfile::TempDir,
}

fn setup() -> Setup {
    tch::set_num_threads(1);
    let generator = SyntheticConfig { tile_size: 32, tiles: 40, ..Default::default() };
    let data =
        lssg_datasets::open(&DataConfig::Synthetic(SyntheticDataConfig { generator, ..Default::default() })).unwrap();
    let architecture = ArchitectureConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, ..Default::default() };
    let network = Network::for_data(&architecture, &data, 3, Device::Cpu);
    let work = tempfile::tempdir().unwrap();
    let config = TrainConfig { epochs: 1, batch_size: 8, ..Default::default() };
    let pretrained =
        pretrain(&network, &data, &config, &work.path().join("pre"), &mut NoopObserver).unwrap().checkpoint;
    let model = network.load(&network.model, Weights::Checkpoint(&pretrained)).unwrap();
    let (report, _) = lssg_scoring::measure_scores(
        model.net.as_ref(),
        data.train.clone(),
        &ScoringConfig::default(),
        Device::Cpu,
        &mut |_, _| {},
    )
    .unwrap();
    let set = data.train.modalities();
    let probabilities =
        lssg_scoring::probabilities(ScoreKind::Latent, &report, set, &SmoothingConfig::default(), "cmx", "pre")
            .unwrap();
    Setup { data, network, pretrained, probabilities, _work: work }
}

fn config(epochs: usize, rescore_every: usize) -> FinetuneConfig {
    let optimizer = OptimizerConfig { lr: 1e-3, ..Default::default() };
    FinetuneConfig {
        methods: vec![Method::GuidedAdaptive],
        train: TrainConfig { epochs, batch_size: 8, optimizer, shuffle: true, seed: 11, ..Default::default() },
        rescore_every,
        rescore_samples: 12,
        ..Default::default()
    }
}

fn adaptive(s: &Setup, config: &FinetuneConfig, dir: &Path) -> Vec<EpochRecord> {
    let (scoring, smoothing) = (ScoringConfig::default(), SmoothingConfig::default());
    let from = FinetuneFrom {
        probabilities: Some((&s.probabilities, Path::new("p.json"))),
        rescoring: Some((&scoring, &smoothing)),
        ..FinetuneFrom::weights(&s.pretrained)
    };
    finetune(Method::GuidedAdaptive, config, &s.network, from, &s.data, dir, &mut NoopObserver).unwrap().history
}

fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let mut named = tch::Tensor::read_safetensors(path).unwrap();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named.into_iter().map(|(n, t)| (n, Vec::<f32>::try_from(t.flatten(0, -1)).unwrap())).collect()
}

#[test]
fn adaptive_without_rescoring_is_static_guided() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup();
    let work = tempfile::tempdir().unwrap();
    let config = config(2, 100);
    let history = adaptive(&s, &config, &work.path().join("adaptive"));

    // Static guided sampling from the same distribution, on the streams finetune() uses.
    let parts = ["finetune", "guided-adaptive"];
    let network = Network { init_seed: stream(s.network.init_seed, &parts), ..s.network.clone() };
    let model = network.load(&network.model, Weights::Base(&s.pretrained)).unwrap();
    let train_config = TrainConfig { seed: stream(config.train.seed, &parts), ..config.train.clone() };
    let strategy = SamplingStrategy::Weighted { probabilities: s.probabilities.final_probs.clone() };
    let dir = work.path().join("static");
    let fixed =
        train(model.net.as_ref(), &model.vs, &s.data, strategy, &train_config, &dir, &mut NoopObserver).unwrap();

    assert_eq!(history.len(), 2);
    for (a, b) in history.iter().zip(&fixed.history) {
        assert_eq!(a.train_loss, b.train_loss, "epoch {}", a.epoch);
        assert_eq!(a.val, b.val, "epoch {}", a.epoch);
        assert_eq!(a.sampling.as_deref(), Some(&s.probabilities.final_probs[..]), "the distribution never changed");
    }
    let last = |d: &Path| d.join("checkpoint/last.safetensors");
    assert_eq!(weights(&last(&work.path().join("adaptive"))), weights(&last(&dir)));
}

#[test]
fn adaptive_rescoring_moves_the_distribution_and_resumes_identically() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = setup();
    let work = tempfile::tempdir().unwrap();
    let whole = adaptive(&s, &config(3, 1), &work.path().join("whole"));
    let sampling: Vec<&Vec<f64>> = whole.iter().map(|r| r.sampling.as_ref().expect("recorded")).collect();
    assert_eq!(sampling[0], &s.probabilities.final_probs, "epoch 1 samples the static distribution");
    assert_ne!(sampling[1], sampling[0], "re-scoring before epoch 2 changed nothing");
    for p in &sampling {
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    // Interrupted after epoch 1 (a run of 1 epoch), then resumed to 3.
    let dir = work.path().join("resumed");
    adaptive(&s, &config(1, 1), &dir);
    let resumed = adaptive(&s, &config(3, 1), &dir);
    assert_eq!(resumed.len(), 3);
    for (a, b) in whole.iter().zip(&resumed) {
        assert_eq!(a.train_loss, b.train_loss, "epoch {}", a.epoch);
        assert_eq!(a.val, b.val, "epoch {}", a.epoch);
        assert_eq!(a.sampling, b.sampling, "epoch {}", a.epoch);
    }
    let last = |d: &Path| d.join("checkpoint/last.safetensors");
    assert_eq!(weights(&last(&work.path().join("whole"))), weights(&last(&dir)));
}
