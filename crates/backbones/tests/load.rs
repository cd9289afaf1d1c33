//! `LoadedModel::new`: the same seed gives the same network, checkpoints round-trip, a base
//! loads into a LoRA config with only the adapters trainable. Its own test binary with a
//! single test: libtorch's RNG is process-global, and the library's unit tests run on
//! parallel threads (a draw between `manual_seed` and the initialisation would change it).

use lssg_backbones::{BackboneKind, LoadedModel, LoraConfig, ModelConfig, Preset, Weights};
use tch::{Device, nn};

fn tiny(lora: Option<LoraConfig>) -> ModelConfig {
    ModelConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, classes: 2, lora, ..Default::default() }
}

fn same_variables(a: &nn::VarStore, b: &nn::VarStore) -> bool {
    let (va, vb) = (a.variables(), b.variables());
    va.len() == vb.len() && va.iter().all(|(n, t)| vb.get(n).is_some_and(|u| t.equal(u)))
}

#[test]
fn same_seed_same_network_and_checkpoints_round_trip() {
    let channels = [3, 2];
    let a = LoadedModel::new(&tiny(None), &channels, Device::Cpu, 7, Weights::Random).unwrap();
    let b = LoadedModel::new(&tiny(None), &channels, Device::Cpu, 7, Weights::Random).unwrap();
    assert!(same_variables(&a.vs, &b.vs));
    let c = LoadedModel::new(&tiny(None), &channels, Device::Cpu, 8, Weights::Random).unwrap();
    assert!(!same_variables(&a.vs, &c.vs));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base.safetensors");
    lssg_backbones::checkpoint::save(&a.vs, &path).unwrap();
    let loaded = LoadedModel::new(&tiny(None), &channels, Device::Cpu, 9, Weights::Checkpoint(&path)).unwrap();
    assert!(same_variables(&a.vs, &loaded.vs));

    // A base into a LoRA config: base loaded and frozen, only adapters train.
    let lora = tiny(Some(LoraConfig::default()));
    let adapted = LoadedModel::new(&lora, &channels, Device::Cpu, 9, Weights::Base(&path)).unwrap();
    let trainable = adapted.vs.trainable_variables().len();
    assert!(trainable > 0 && trainable < adapted.vs.variables().len());
    // A base is not an adapted checkpoint: a strict load names the missing adapters.
    let err = LoadedModel::new(&lora, &channels, Device::Cpu, 9, Weights::Checkpoint(&path)).unwrap_err();
    assert!(err.to_string().contains("lora"), "{err}");
}
