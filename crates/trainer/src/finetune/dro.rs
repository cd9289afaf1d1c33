//! `dro`: group distributionally robust optimisation over scenarios (docs/method.md §5.10), the
//! online algorithm of Sagawa et al., "Distributionally Robust Neural Networks for Group Shifts"
//! (ICLR 2020; `compute_robust_loss` in kohpangwei/group_DRO's `loss.py`), with the availability
//! scenarios as the groups.
//!
//! Per step, with the scenarios S in canonical order and weights q (a distribution over S,
//! uniform at the start of a run):
//!
//! 1. `L_s` = the configured segmentation loss ([`output_loss`]) over the samples of the batch
//!    that drew scenario s, for every s present in the batch; `L_s = 0` for an absent s;
//! 2. `q_s ← q_s · exp(η · L_s)` (an absent scenario keeps its weight: its factor is 1), then
//!    `q ← q / Σ q` (exponentiated gradient ascent on the worst-case mixture);
//! 3. the step's loss is `Σ_s q_s · L_s` with the updated q (the losses are constants in the
//!    update, as `.data` in `loss.py`, so gradients flow only through `L_s`).
//!
//! q is the loss's state: saved in `state.json` after every epoch, restored and checked on
//! resume, and recorded per epoch in `metrics.jsonl` (`weights`).

use lssg_backbones::ModelOutput;
use lssg_scenario::ModalitySet;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::loss::{LossConfig, output_loss};
use crate::state_check::{StateFile, ValidateState};
use crate::train::{LossState, LossStrategy, StepBatch, StepIndex};

/// How far a restored q may be from summing to one.
const SUM_TOLERANCE: f64 = 1e-6;

/// `[finetune.dro]`: the settings of group DRO.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DroConfig {
    /// The step size η of the exponentiated-gradient update of q (`loss.py`'s
    /// `robust_step_size`, default 0.01 as there).
    pub step: f64,
}

impl Default for DroConfig {
    fn default() -> Self {
        Self { step: 0.01 }
    }
}

impl DroConfig {
    /// η must be a finite number ≥ 0 (0 keeps q uniform: the loss is the scenario-balanced mean).
    pub fn validate(&self) -> Result<()> {
        if self.step.is_finite() && self.step >= 0.0 {
            return Ok(());
        }
        Err(Error::InvalidConfig {
            field: "finetune.dro.step",
            value: self.step.to_string(),
            expected: "a finite number >= 0",
        })
    }
}

/// One update of q (steps 2 of the module docs): `losses` holds `(scenario index, L_s)` of the
/// scenarios present in the batch.
pub fn update_weights(q: &mut [f64], losses: &[(usize, f64)], step: f64) {
    for &(s, loss) in losses {
        q[s] *= (step * loss).exp();
    }
    let total: f64 = q.iter().sum();
    for w in q.iter_mut() {
        *w /= total;
    }
}

/// The loss of `dro`: per-scenario segmentation losses weighted by the adversarial q.
#[derive(Debug, Clone)]
pub struct GroupDro {
    loss: LossConfig,
    step: f64,
    set: ModalitySet,
    q: Vec<f64>,
}

impl GroupDro {
    /// Group DRO over `set`'s scenarios with per-scenario loss `loss` and step `config.step`,
    /// starting from uniform weights.
    pub fn new(loss: LossConfig, config: DroConfig, set: &ModalitySet) -> Self {
        let s = set.scenarios().len();
        Self { loss, step: config.step, set: set.clone(), q: vec![1.0 / s as f64; s] }
    }

    /// The current weights, canonical order.
    pub fn q(&self) -> &[f64] {
        &self.q
    }
}

/// Weights q read back from `state.json`, with the number of scenarios they must cover.
impl GroupDro {
    /// The loss of a data-parallel rank (docs/distributed.md §2): each group's loss over the
    /// whole global batch, `L_s = Σ_r m_sr·v_sr / V_s` from every rank's loss `m_sr` over its
    /// `v_sr` valid pixels of group s (exact for the losses that average over valid pixels, Dice
    /// approximately), so q moves identically on every rank; this rank's loss
    /// `(W / w_r)·Σ_s q_s·m_sr·v_sr / V_s` makes the averaged gradient that of `Σ_s q_s L_s`.
    fn loss_across_ranks(&mut self, out: &ModelOutput, batch: &StepBatch<'_>) -> Result<Tensor> {
        let (groups, weight) = (self.q.len(), crate::dist::step_weight());
        let world = crate::dist::Shard::current().world_size as f64;
        let mut members: Vec<Vec<i64>> = vec![Vec::new(); groups];
        for (i, &scenario) in batch.scenarios.iter().enumerate() {
            members[self.set.canonical_index(scenario)?].push(i as i64);
        }
        let device: Device = out.logits.device();
        // [m_s·v_s for every s, then v_s]; a stand-in sample (weight 0) counts nothing.
        let mut sums = vec![0.0; 2 * groups];
        let mut terms = Vec::new();
        for (s, samples) in members.iter().enumerate().filter(|(_, m)| !m.is_empty()) {
            let index = Tensor::from_slice(samples).to_device(device);
            let labels = batch.labels.index_select(0, &index);
            let m = output_loss(&select(out, &index), &labels, &self.loss)?;
            let valid = labels.ne(i64::from(lssg_datasets::IGNORE_INDEX)).sum(Kind::Int64).int64_value(&[]);
            let v = if weight == 0.0 { 0.0 } else { valid as f64 };
            (sums[s], sums[groups + s]) = (m.double_value(&[]) * v, v);
            terms.push((s, m, v));
        }
        crate::dist::all_reduce_f64(&mut sums)?;
        let pairs: Vec<(usize, f64)> =
            (0..groups).filter(|&s| sums[groups + s] > 0.0).map(|s| (s, sums[s] / sums[groups + s])).collect();
        if pairs.iter().all(|(_, l)| l.is_finite()) {
            update_weights(&mut self.q, &pairs, self.step);
        }
        let scale = if weight == 0.0 { 0.0 } else { world / weight };
        let mut total = out.logits.sum(Kind::Float) * 0.0;
        for (s, m, v) in terms {
            let total_v = sums[groups + s];
            if total_v > 0.0 {
                total += m * (self.q[s] * v / total_v * scale);
            }
        }
        Ok(total)
    }
}

struct SavedWeights<'a> {
    q: &'a [f64],
    scenarios: usize,
}

impl ValidateState for SavedWeights<'_> {
    /// One weight per scenario, finite, ≥ 0, summing to 1.
    fn validate_state(&self, file: &StateFile<'_>) -> Result<()> {
        file.weights("loss_state.q", self.q, self.scenarios)?;
        let sum: f64 = self.q.iter().sum();
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(file.invalid("loss_state.q", format!("the weights sum to {sum}, not 1")));
        }
        Ok(())
    }
}

/// `out` restricted to the samples `index` (a 1-D i64 tensor).
fn select(out: &ModelOutput, index: &Tensor) -> ModelOutput {
    ModelOutput {
        logits: out.logits.index_select(0, index),
        latent: out.latent.shallow_clone(),
        head_copies: out.head_copies.as_ref().map(|c| c.index_select(0, index)),
    }
}

impl LossStrategy for GroupDro {
    fn loss(&mut self, out: &ModelOutput, batch: &StepBatch<'_>, _at: StepIndex) -> Result<Tensor> {
        if crate::dist::Shard::current().world_size > 1 {
            return self.loss_across_ranks(out, batch);
        }
        let mut members: Vec<Vec<i64>> = vec![Vec::new(); self.q.len()];
        for (i, &scenario) in batch.scenarios.iter().enumerate() {
            members[self.set.canonical_index(scenario)?].push(i as i64);
        }
        let device: Device = out.logits.device();
        let mut present = Vec::new();
        let mut losses = Vec::new();
        for (s, samples) in members.iter().enumerate().filter(|(_, m)| !m.is_empty()) {
            let index = Tensor::from_slice(samples).to_device(device);
            losses.push(output_loss(&select(out, &index), &batch.labels.index_select(0, &index), &self.loss)?);
            present.push(s);
        }
        if losses.is_empty() {
            return Err(Error::shape("group DRO batch", "at least one sample", 0));
        }
        let stacked = Tensor::stack(&losses, 0);
        let values = Vec::<f64>::try_from(stacked.detach().to_kind(Kind::Double).to_device(Device::Cpu))
            .map_err(|e| Error::shape("group DRO losses", "host values", e.to_string()))?;
        // A non-finite loss stops the step; q must not take it in.
        if values.iter().all(|v| v.is_finite()) {
            let pairs: Vec<(usize, f64)> = present.iter().copied().zip(values).collect();
            update_weights(&mut self.q, &pairs, self.step);
        }
        let weights: Vec<f32> = present.iter().map(|&s| self.q[s] as f32).collect();
        let weights = Tensor::from_slice(&weights).to_device(device);
        Ok((stacked * weights).sum(Kind::Float))
    }

    fn state(&self) -> Option<LossState> {
        Some(LossState::GroupDro { q: self.q.clone() })
    }

    fn restore(&mut self, state: Option<&LossState>, file: &StateFile<'_>) -> Result<()> {
        match state {
            Some(LossState::GroupDro { q }) => {
                SavedWeights { q, scenarios: self.q.len() }.validate_state(file)?;
                self.q.clone_from(q);
                Ok(())
            }
            None => Err(file.invalid("loss_state", "missing: group DRO needs its scenario weights q to resume")),
        }
    }

    fn weights(&self) -> Option<Vec<f64>> {
        Some(self.q.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn one_update_by_hand() {
        // Three scenarios, q = (0.5, 0.3, 0.2), η = 0.1; scenarios 0 and 2 present with losses
        // 2 and 1, scenario 1 absent (factor 1):
        //   0.5·e^0.2 = 0.610701379, 0.3, 0.2·e^0.1 = 0.221034184; sum = 1.131735563
        //   q = (0.539615, 0.265080, 0.195306).
        let mut q = [0.5, 0.3, 0.2];
        update_weights(&mut q, &[(0, 2.0), (2, 1.0)], 0.1);
        for (got, expected) in q.iter().zip([0.539615, 0.265080, 0.195306]) {
            assert!((got - expected).abs() < 1e-6, "{q:?}");
        }
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        let mut still = [0.25; 4];
        update_weights(&mut still, &[(1, 3.0)], 0.0);
        assert_eq!(still, [0.25; 4], "η = 0 keeps q");
    }

    fn set() -> ModalitySet {
        ModalitySet::from_names(["a", "b"], 1).unwrap()
    }

    #[test]
    fn the_loss_weights_each_present_scenario_by_its_updated_q() {
        // Two samples, scenarios "a" (index 0) and "a+b" (index 2); one pixel each.
        // BCE(0 | 1) = ln 2 for sample 0; BCE(2 | 0) = ln(1 + e²) = 2.126928 for sample 1.
        let set = set();
        let scenarios = [set.parse_scenario("a").unwrap(), set.parse_scenario("a+b").unwrap()];
        let logits = Tensor::from_slice(&[0.0f32, 2.0]).view([2, 1, 1, 1]);
        let labels = Tensor::from_slice(&[1i64, 0]).view([2, 1, 1]);
        let out = ModelOutput::new(logits, Tensor::zeros([2], (Kind::Float, Device::Cpu)));
        let avail = Tensor::ones([2, 2], (Kind::Float, Device::Cpu));
        let batch = StepBatch { inputs: &[], labels: &labels, availability: &avail, scenarios: &scenarios };
        let mut dro = GroupDro::new(LossConfig::default(), DroConfig { step: 0.5 }, &set);
        let loss = dro.loss(&out, &batch, StepIndex { epoch: 1, step: 1 }).unwrap().double_value(&[]);
        let (l0, l2) = (std::f64::consts::LN_2, (1.0 + 2f64.exp()).ln());
        let mut q = [1.0 / 3.0; 3];
        update_weights(&mut q, &[(0, l0), (2, l2)], 0.5);
        assert!((dro.q()[1] - q[1]).abs() < 1e-7 && q[1] < 1.0 / 3.0, "{:?}", dro.q());
        assert!((loss - (q[0] * l0 + q[2] * l2)).abs() < 1e-5, "{loss}");
    }

    #[test]
    fn restored_weights_are_checked() {
        let set = set();
        let file = StateFile::new(Path::new("run/checkpoint/state.json"));
        let mut dro = GroupDro::new(LossConfig::default(), DroConfig::default(), &set);
        let good = LossState::GroupDro { q: vec![0.2, 0.3, 0.5] };
        dro.restore(Some(&good), &file).unwrap();
        assert_eq!(dro.q(), [0.2, 0.3, 0.5]);
        for (q, field) in [
            (vec![0.5, 0.5], "loss_state.q"),
            (vec![0.5, -0.1, 0.6], "loss_state.q[1]"),
            (vec![f64::INFINITY, 0.0, 0.0], "loss_state.q[0]"),
            (vec![0.2, 0.2, 0.2], "sum to 0.6"),
        ] {
            let e = dro.restore(Some(&LossState::GroupDro { q }), &file).unwrap_err().to_string();
            assert!(e.contains("state.json") && e.contains(field), "{e}");
        }
        let e = dro.restore(None, &file).unwrap_err().to_string();
        assert!(e.contains("loss_state") && e.contains("missing"), "{e}");
        assert!(DroConfig { step: -0.1 }.validate().unwrap_err().to_string().contains("finetune.dro.step"));
        assert!(DroConfig { step: f64::NAN }.validate().is_err());
    }
}
