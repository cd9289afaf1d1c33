//! Channels-last training on the CPU (docs/speed.md §8): a tiny CMX pretrained with its weights
//! in channels-last order takes finite steps through the fused optimiser, writes checkpoints a
//! plain (NCHW) network loads, and an interrupted run resumes to the same weights bit for bit.
//! Its own test binary: libtorch's RNG is process-global.

use lssg_backbones::{ArchitectureConfig, BackboneKind, Preset, Weights};
use lssg_datasets::{DataConfig, SyntheticConfig, SyntheticDataConfig};
use lssg_torch::Layout;
use lssg_torch::layout::is_contiguous_as;
use lssg_trainer::{Network, NoopObserver, OptimizerConfig, TrainConfig, pretrain};
use tch::{Device, Tensor};

fn weights(network: &Network, checkpoint: &std::path::Path) -> Vec<(String, Tensor)> {
    let model = network.load(&network.model, Weights::Checkpoint(checkpoint)).unwrap();
    let mut v: Vec<(String, Tensor)> = model.vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn channels_last_pretraining_steps_saves_plain_checkpoints_and_resumes_bit_exactly() {
    tch::set_num_threads(1);
    let generator = SyntheticConfig { tile_size: 32, tiles: 24, ..Default::default() };
    let data =
        lssg_datasets::open(&DataConfig::Synthetic(SyntheticDataConfig { generator, ..Default::default() })).unwrap();
    let architecture = ArchitectureConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, ..Default::default() };
    let plain = Network::for_data(&architecture, &data, 5, Device::Cpu);
    let laid = Network { layout: Layout::ChannelsLast, ..plain.clone() };
    let config = |epochs| TrainConfig {
        epochs,
        batch_size: 8,
        optimizer: OptimizerConfig { lr: 1e-3, ..Default::default() },
        seed: 9,
        ..Default::default()
    };
    let work = tempfile::tempdir().unwrap();
    let straight = pretrain(&laid, &data, &config(2), &work.path().join("a"), &mut NoopObserver).unwrap();
    for r in &straight.history {
        assert!(r.train_loss.is_finite() && r.val_loss.is_some_and(f64::is_finite), "{r:?}");
    }
    // The checkpoint is in plain order: a plain network loads it; a channels-last one keeps its order.
    let initial = plain.load(&plain.model, Weights::Random).unwrap();
    let trained = weights(&plain, &straight.checkpoint);
    let moved = trained.iter().filter(|(n, t)| !t.equal(&initial.vs.variables()[n])).count();
    assert!(moved > trained.len() / 2, "only {moved} of {} variables changed", trained.len());
    for (name, t) in weights(&laid, &straight.checkpoint) {
        if t.dim() == 4 {
            assert!(is_contiguous_as(&t, true).unwrap(), "{name}");
        }
    }

    // One epoch, then resume to two: the same weights bit for bit (optimiser state included).
    let dir = work.path().join("b");
    pretrain(&laid, &data, &config(1), &dir, &mut NoopObserver).unwrap();
    let resumed = pretrain(&laid, &data, &config(2), &dir, &mut NoopObserver).unwrap();
    assert_eq!(resumed.resumed_at, Some(2));
    for ((n, a), (_, b)) in trained.iter().zip(weights(&plain, &resumed.checkpoint)) {
        assert!(a.equal(&b), "{n} differs after resuming");
    }
}
