//! The random-missing and noisy forwards, and the predicted maps, run on each batch of an
//! evaluation ([`BatchHook`]): one forward per (perturbation, modality), every modality marked
//! available, the perturbed modality's host buffer perturbed tile by tile.

use lssg_backbones::input::uniform_availability;
use lssg_backbones::{ModelOutput, SegmentationModel};
use lssg_core::MetricId;
use lssg_datasets::{Batch, TileDataset};
use lssg_scenario::ModalitySet;
use lssg_scenario::robustness::{MissingRecord, NoisyRecord, PredictedMap, ProtocolKind, TileMap};
use lssg_torch::transfer::host_to_device;
use tch::{Device, Kind, Tensor};

use crate::error::Result;
use crate::evaluate::BatchHook;
use crate::metrics::{Metrics, MetricsAccumulator};
use crate::protocols::config::ProtocolConfig;
use crate::protocols::perturb::Perturbation;

/// The protocols' work during one evaluation.
pub(crate) struct ProtocolPass<'a> {
    model: &'a dyn SegmentationModel,
    set: ModalitySet,
    device: Device,
    seed: u64,
    /// Each perturbed setting: (perturbation, modality index).
    settings: Vec<(Perturbation, usize)>,
    /// The metrics of each setting.
    accs: Vec<MetricsAccumulator>,
    maps: MapCapture,
}

/// The predicted maps of the first `tiles` test tiles under every scenario.
struct MapCapture {
    tiles: usize,
    scenarios: Vec<String>,
    captured: Vec<TileMap>,
}

/// What the pass measured: the records of both perturbation protocols and the captured maps.
pub(crate) struct PassResults {
    /// `random-missing`, rate by rate, modalities in set order.
    pub random_missing: Vec<MissingRecord>,
    /// `noisy`, SNR by SNR, modalities in set order.
    pub noisy: Vec<NoisyRecord>,
    /// The captured tiles, test split order.
    pub maps: Vec<TileMap>,
}

impl<'a> ProtocolPass<'a> {
    /// The pass of `config` for `model` on `dataset`, whose evaluation runs `scenarios`
    /// (their names, canonical order).
    pub fn new(
        model: &'a dyn SegmentationModel,
        dataset: &dyn TileDataset,
        config: &ProtocolConfig,
        scenarios: Vec<String>,
        device: Device,
    ) -> Result<Self> {
        let set = dataset.modalities().clone();
        let mut perturbations = Vec::new();
        if config.runs(ProtocolKind::RandomMissing) {
            let patch = config.random_missing.patch_size;
            perturbations.extend(config.random_missing.rates.iter().map(|&rate| Perturbation::Missing { rate, patch }));
        }
        if config.runs(ProtocolKind::Noisy) {
            perturbations.extend(config.noisy.snr_db.iter().map(|&snr_db| Perturbation::Noise { snr_db }));
        }
        let class_names = dataset.class_names();
        let settings: Vec<(Perturbation, usize)> =
            perturbations.into_iter().flat_map(|p| (0..set.len()).map(move |m| (p, m))).collect();
        let accs = settings
            .iter()
            .map(|_| MetricsAccumulator::new(dataset.num_classes() as i64, device)?.with_class_names(&class_names))
            .collect::<Result<Vec<_>>>()?;
        let maps = MapCapture { tiles: config.map_tiles, scenarios, captured: Vec::new() };
        Ok(Self { model, set, device, seed: config.seed, settings, accs, maps })
    }

    /// The records, in the order the settings were made.
    pub fn finish(self) -> PassResults {
        let names = self.set.names();
        let (mut random_missing, mut noisy) = (Vec::new(), Vec::new());
        for ((p, m), acc) in self.settings.iter().zip(&self.accs) {
            let metrics = summary(&acc.finish());
            let modality = names[*m].to_string();
            match *p {
                Perturbation::Missing { rate, .. } => random_missing.push(MissingRecord { modality, rate, metrics }),
                Perturbation::Noise { snr_db } => noisy.push(NoisyRecord { modality, snr_db, metrics }),
            }
        }
        PassResults { random_missing, noisy, maps: self.maps.captured }
    }

    /// `batch` with modality `m` perturbed by `p`, tile by tile, on the device.
    fn perturbed(&self, batch: &Batch, m: usize, p: Perturbation) -> Result<Tensor> {
        let (c, h, w) = (batch.channels[m], batch.height, batch.width);
        let mut data = batch.modalities[m].clone();
        let name = &self.set.modalities()[m].name;
        for (tile, &index) in data.chunks_exact_mut(c * h * w).zip(&batch.indices) {
            p.apply(tile, (c, h, w), &mut p.tile_stream(self.seed, name, index));
        }
        Ok(host_to_device(&data, &[batch.size as i64, c as i64, h as i64, w as i64], self.device)?)
    }
}

impl BatchHook for ProtocolPass<'_> {
    fn batch(&mut self, batch: &Batch, inputs: &[Tensor], labels: &Tensor, outputs: &[ModelOutput]) -> Result<()> {
        let full = uniform_availability(self.set.full_scenario(), batch.size, self.set.len(), self.device);
        for (i, &(p, m)) in self.settings.iter().enumerate() {
            let mut perturbed: Vec<Tensor> = inputs.iter().map(Tensor::shallow_clone).collect();
            perturbed[m] = self.perturbed(batch, m, p)?;
            let out = tch::no_grad(|| self.model.forward_t(&perturbed, &full, false))?.into_f32();
            self.accs[i].update(&out.logits, labels)?;
        }
        self.maps.capture(batch, outputs)
    }

    /// The settings' metrics summed over the ranks; the maps stay with the rank that saw the
    /// first tiles (rank 0, which runs the first block of batches and alone writes files).
    fn combine(&mut self) -> Result<()> {
        crate::dist::combine_pass(&mut self.accs, &mut [], &mut 0)
    }
}

impl MapCapture {
    /// Keeps the labels and predicted classes of the batch's tiles among the first `tiles`.
    fn capture(&mut self, batch: &Batch, outputs: &[ModelOutput]) -> Result<()> {
        let plane = batch.height * batch.width;
        for (row, &index) in batch.indices.iter().enumerate() {
            if index >= self.tiles {
                continue;
            }
            let predictions = self
                .scenarios
                .iter()
                .zip(outputs)
                .map(|(scenario, out)| {
                    Ok(PredictedMap { scenario: scenario.clone(), classes: classes(&out.logits, row)? })
                })
                .collect::<Result<Vec<_>>>()?;
            self.captured.push(TileMap {
                tile: index,
                height: batch.height,
                width: batch.width,
                labels: batch.labels[row * plane..(row + 1) * plane].to_vec(),
                predictions,
            });
        }
        Ok(())
    }
}

/// The predicted class of each pixel of sample `row` of `[B, K, H, W]` logits, row-major: the
/// arg max, or for one binary channel 1 where the logit is positive (as the metrics count).
fn classes(logits: &Tensor, row: usize) -> Result<Vec<u8>> {
    let x = logits.get(row as i64);
    let predicted = if x.size()[0] == 1 { x.select(0, 0).gt(0.0) } else { x.argmax(0, false) };
    let flat = predicted.to_kind(Kind::Uint8).flatten(0, -1).to_device(Device::Cpu);
    Vec::<u8>::try_from(flat).map_err(|source| crate::Error::Torch { context: "reading a predicted map", source })
}

/// The summary metrics of a record; an undefined one is left out.
pub(crate) fn summary(metrics: &Metrics) -> std::collections::BTreeMap<MetricId, f64> {
    MetricId::ALL.into_iter().filter_map(|id| metrics.metric(id).map(|v| (id, v))).collect()
}
