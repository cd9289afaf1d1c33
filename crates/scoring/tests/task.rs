//! The task-aware score (docs/method.md §3.4) on a constructed model whose predictions depend on
//! one modality only: the scenarios without it must get the largest task-loss increase, the
//! others none, and the per-sample values must average to the report's means.

use std::sync::Arc;

use lssg_backbones::{ModelOutput, SegmentationModel};
use lssg_datasets::{Sample, SyntheticConfig, SyntheticDataset, TileDataset};
use lssg_scenario::ModalitySet;
use lssg_scoring::{ScoringConfig, measure_scores};
use tch::{Device, Kind, Tensor};

/// The synthetic tiles with the height modality (index 2, one band) replaced by the label map,
/// so a model can read the answer from it.
struct LabelsAsHeight(SyntheticDataset);

impl TileDataset for LabelsAsHeight {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn modalities(&self) -> &ModalitySet {
        self.0.modalities()
    }
    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }
    fn class_names(&self) -> Vec<String> {
        self.0.class_names()
    }
    fn tile_size(&self) -> (usize, usize) {
        self.0.tile_size()
    }
    fn sample(&self, index: usize) -> lssg_datasets::Result<Sample> {
        let mut s = self.0.sample(index)?;
        s.modalities[2].data = s.labels.iter().map(|&l| f32::from(l)).collect();
        Ok(s)
    }
}

/// Logits `−4 (h − c)²` for class c from the height input h when height is available, all 0
/// when it is not; the latent is the logits (so the latent distortion sees the same thing).
#[derive(Debug)]
struct HeightOracle {
    classes: i64,
}

impl SegmentationModel for HeightOracle {
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, _train: bool) -> lssg_backbones::Result<ModelOutput> {
        let h = &inputs[2]; // [B, 1, H, W]
        let c = Tensor::arange(self.classes, (Kind::Float, h.device())).view([1, -1, 1, 1]);
        let present = availability.select(1, 2).view([-1, 1, 1, 1]);
        let logits = (h - c).square() * -4.0 * present;
        Ok(ModelOutput::new(logits.shallow_clone(), logits))
    }
    fn hook_point(&self) -> &str {
        "logits"
    }
    fn num_classes(&self) -> i64 {
        self.classes
    }
}

#[test]
fn task_scores_rank_the_absence_of_the_informative_modality_highest() {
    let data = LabelsAsHeight(
        SyntheticDataset::new(SyntheticConfig { tiles: 5, tile_size: 16, ..Default::default() }).unwrap(),
    );
    let set = data.modalities().clone();
    let model = HeightOracle { classes: data.num_classes() as i64 };
    let config = ScoringConfig { batch_size: 2, ..Default::default() };
    let (report, per_sample) = measure_scores(&model, Arc::new(data), &config, Device::Cpu, &mut |_, _| {}).unwrap();
    let names = set.scenario_names();
    let t = &report.task_increase;
    let s = names.len();
    assert_eq!(t[s - 1], 0.0, "the full scenario is the reference");
    let with_height: Vec<usize> = (0..s).filter(|&k| names[k].contains("height")).collect();
    let without: Vec<usize> = (0..s).filter(|&k| !names[k].contains("height")).collect();
    // With height the oracle's predictions do not change: no increase (to rounding).
    for &k in &with_height {
        assert!(t[k].abs() < 1e-9, "{}: {}", names[k], t[k]);
    }
    // Without it the logits are 0: the loss is ln 7 minus the oracle's (small) loss.
    let lowest_without = without.iter().map(|&k| t[k]).fold(f64::INFINITY, f64::min);
    assert!(lowest_without > 1.0, "{t:?}");
    // Per-sample values average to the report's means.
    for k in 0..s {
        let mean = per_sample.task.iter().map(|r| r[k]).sum::<f64>() / per_sample.task.len() as f64;
        assert!((mean - t[k]).abs() < 1e-12);
    }
    assert_eq!(per_sample.latent.len(), 5);
}
