//! Mixed precision on the CPU (docs/precision.md): a tiny CMX pretrained in bf16 finishes with
//! finite losses, an interrupted bf16 run resumes to the same weights bit for bit, resuming at
//! another precision is refused, fp16 is refused on the CPU before anything runs, and a bf16
//! evaluation stays within 0.3 mIoU points of fp32 and bf16 scores give scenario probabilities
//! within 1e-3 of fp32's; so do evaluations and scores with packed weights (docs/speed.md §10)
//! in both precisions. Its own test binary, the tests one at a
//! time (`SERIAL`): libtorch's RNG is process-global.

use lssg_backbones::{ArchitectureConfig, BackboneKind, Preset, Weights};
use lssg_core::ScoreKind;
use lssg_datasets::{DataConfig, DataSplits, SyntheticConfig, SyntheticDataConfig};
use lssg_scoring::ScoringConfig;
use lssg_smoothing::SmoothingConfig;
use lssg_torch::{Inference, Precision};
use lssg_trainer::{Network, NoopObserver, OptimizerConfig, TrainConfig, pretrain};
use tch::{Device, Tensor};

/// Pretraining epochs of the scores test: enough that the scenarios' latent distortions differ
/// (0.006–0.16 here). After 2 epochs they are about 1e-4, the size of bf16's own rounding of
/// them, and the smoothed probabilities move by 1e-2 (docs/precision.md §1).
const SCORED_EPOCHS: usize = 8;
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup() -> (DataSplits, Network) {
    tch::set_num_threads(1);
    let generator = SyntheticConfig { tile_size: 32, tiles: 24, ..Default::default() };
    let data =
        lssg_datasets::open(&DataConfig::Synthetic(SyntheticDataConfig { generator, ..Default::default() })).unwrap();
    let architecture = ArchitectureConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, ..Default::default() };
    let network = Network::for_data(&architecture, &data, 5, Device::Cpu);
    (data, network)
}

fn config(epochs: usize, precision: Precision) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 8,
        optimizer: OptimizerConfig { lr: 1e-3, ..Default::default() },
        seed: 9,
        precision,
        ..Default::default()
    }
}

fn weights(network: &Network, checkpoint: &std::path::Path) -> Vec<(String, Tensor)> {
    let model = network.load(&network.model, Weights::Checkpoint(checkpoint)).unwrap();
    let mut v: Vec<(String, Tensor)> = model.vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn bf16_pretraining_is_finite_and_resumes_bit_exactly() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (data, network) = setup();
    let work = tempfile::tempdir().unwrap();
    let straight =
        pretrain(&network, &data, &config(2, Precision::Bf16), &work.path().join("a"), &mut NoopObserver).unwrap();
    assert_eq!(straight.epochs_run, 2);
    for r in &straight.history {
        assert!(r.train_loss.is_finite() && r.val_loss.is_some_and(f64::is_finite), "{r:?}");
    }
    let state = std::fs::read_to_string(work.path().join("a/checkpoint/state.json")).unwrap();
    assert!(state.contains("\"precision\": \"bf16\"") && !state.contains("grad_scaler"), "{state}");

    // One epoch, then resume to two: the same weights bit for bit.
    let dir = work.path().join("b");
    pretrain(&network, &data, &config(1, Precision::Bf16), &dir, &mut NoopObserver).unwrap();
    let resumed = pretrain(&network, &data, &config(2, Precision::Bf16), &dir, &mut NoopObserver).unwrap();
    assert_eq!(resumed.resumed_at, Some(2));
    for ((n, a), (_, b)) in weights(&network, &straight.checkpoint).iter().zip(weights(&network, &resumed.checkpoint)) {
        assert!(a.equal(&b), "{n} differs after resuming");
    }
    // The weights stay f32.
    assert!(weights(&network, &resumed.checkpoint).iter().all(|(_, t)| t.kind() == tch::Kind::Float));

    // Resuming at another precision is refused, naming the field.
    let e = pretrain(&network, &data, &config(3, Precision::Fp32), &dir, &mut NoopObserver).unwrap_err().to_string();
    assert!(e.contains("train.precision") && e.contains("bf16"), "{e}");
}

#[test]
fn fp16_is_refused_on_the_cpu_before_training() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (data, network) = setup();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("fp16");
    let e = pretrain(&network, &data, &config(1, Precision::Fp16), &dir, &mut NoopObserver).unwrap_err().to_string();
    assert!(e.contains("fp16") && e.contains("Cpu"), "{e}");
    assert!(!dir.join("checkpoint/state.json").exists());
}

/// The quality gate of `precision = "auto"` (docs/precision.md §1): a pretrained tiny CMX
/// evaluated under every scenario in bf16 stays within 0.3 mIoU points of its fp32 evaluation.
#[test]
fn bf16_evaluation_stays_within_a_third_of_a_miou_point_of_fp32() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (data, network) = setup();
    let work = tempfile::tempdir().unwrap();
    let trained =
        pretrain(&network, &data, &config(2, Precision::Fp32), &work.path().join("p"), &mut NoopObserver).unwrap();
    let model = network.load(&network.model, Weights::Checkpoint(&trained.checkpoint)).unwrap();
    let scenarios = data.test.modalities().parse_scenario_list("all").unwrap();
    let eval = |precision: Precision, inference: Inference| {
        precision
            .autocast(Device::Cpu, || {
                inference.region(Device::Cpu, || {
                    lssg_trainer::evaluate(
                        model.net.as_ref(),
                        data.test.clone(),
                        &scenarios,
                        8,
                        Device::Cpu,
                        &mut NoopObserver,
                    )
                })
            })
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let fp32 = eval(Precision::Fp32, Inference::Eager);
    assert_eq!(fp32.scenarios.len(), scenarios.len());
    // bf16 eager, and packed weights (docs/speed.md §10) in both precisions.
    for (precision, inference) in [
        (Precision::Bf16, Inference::Eager),
        (Precision::Fp32, Inference::Packed),
        (Precision::Bf16, Inference::Packed),
    ] {
        let other = eval(precision, inference);
        for (a, b) in fp32.scenarios.iter().zip(&other.scenarios) {
            let (x, y) = (a.metrics.miou.unwrap(), b.metrics.miou.unwrap());
            assert!((x - y).abs() * 100.0 <= 0.3, "{}: mIoU {x} (fp32) vs {y} ({precision} {inference})", a.scenario);
        }
    }
}

/// The scores' half of the quality gate (docs/precision.md §1): the scenario probabilities of
/// both scores, smoothed from a pretrained tiny CMX's scores measured with bf16 forwards, stay
/// within 1e-3 of those measured in fp32.
#[test]
fn bf16_scores_give_scenario_probabilities_within_1e_3_of_fp32() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (data, network) = setup();
    let work = tempfile::tempdir().unwrap();
    let trained =
        pretrain(&network, &data, &config(SCORED_EPOCHS, Precision::Fp32), &work.path().join("p"), &mut NoopObserver)
            .unwrap();
    let model = network.load(&network.model, Weights::Checkpoint(&trained.checkpoint)).unwrap();
    let set = data.train.modalities().clone();
    let scoring = ScoringConfig { batch_size: 8, bootstrap_resamples: 0, ..Default::default() };
    let probabilities = |precision: Precision, inference: Inference| {
        let (report, _) = precision
            .autocast(Device::Cpu, || {
                inference.region(Device::Cpu, || {
                    lssg_scoring::measure_scores(
                        model.net.as_ref(),
                        data.train.clone(),
                        &scoring,
                        Device::Cpu,
                        &mut |_, _| {},
                    )
                })
            })
            .unwrap()
            .unwrap()
            .unwrap();
        [ScoreKind::Latent, ScoreKind::Task].map(|kind| {
            lssg_scoring::probabilities(kind, &report, &set, &SmoothingConfig::default(), "cmx", "p")
                .unwrap()
                .final_probs
        })
    };
    let fp32 = probabilities(Precision::Fp32, Inference::Eager);
    for (precision, inference) in [
        (Precision::Bf16, Inference::Eager),
        (Precision::Fp32, Inference::Packed),
        (Precision::Bf16, Inference::Packed),
    ] {
        let other = probabilities(precision, inference);
        for (kind, (a, b)) in ["latent", "task"].iter().zip(fp32.iter().zip(&other)) {
            assert_eq!(a.len(), set.scenarios().len());
            assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{kind}: {a:?}");
            for (s, (x, y)) in set.scenarios().iter().zip(a.iter().zip(b)) {
                let name = set.scenario_name(*s);
                assert!(
                    (x - y).abs() <= 1e-3,
                    "{kind} {name}: probability {x} (fp32) vs {y} ({precision} {inference})"
                );
            }
        }
    }
}
