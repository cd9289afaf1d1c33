//! `distill` and `guided-distill`: fine-tuning with knowledge distillation from the frozen
//! pretrained network seeing every modality (docs/method.md §5.11), after Hinton et al.,
//! "Distilling the Knowledge in a Neural Network" (2015), used for missing modalities as in
//! MMANet (Wei et al., CVPR 2023: a full-modality teacher guiding the incomplete-modality
//! student).
//!
//! The student sees each sample under its drawn scenario; the teacher (the pretrained weights,
//! in eval mode, without gradients) sees the same sample with every modality. The loss is
//!
//! ```text
//! L = L_seg(student, labels) + weight · T² · KD(student / T, teacher / T) + latent_weight · MSE(z_student, z_teacher)
//! ```
//!
//! * multi-class heads: KD is `KL(softmax(t/T) ‖ softmax(s/T))` summed over the classes and
//!   averaged over every pixel of the batch;
//! * a binary head (one logit): KD is the binary cross-entropy between the softened sigmoids,
//!   `BCE(σ(s/T); target σ(t/T))`, averaged over every pixel (its gradient is the KL's);
//! * `T²` keeps the soft term's gradient on the scale of the hard term's (Hinton et al. §2);
//! * the latent term is the mean squared difference of the shared latents at the backbone's
//!   hook point (the latent the scoring measures, docs/method.md §3.2); off by default.
//!
//! Every pixel counts in the soft terms, labelled or not: the teacher's output needs no label.
//! A multi-copy head (CBC `reference-3`) distils copy 0, the logits every metric reads.

use lssg_backbones::{LoadedModel, ModelOutput};
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

use crate::error::{Error, Result};
use crate::loss::{LossConfig, output_loss};
use crate::train::{LossStrategy, StepBatch, StepIndex};

/// `[finetune.distill]`: the weights and temperature of distillation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistillConfig {
    /// Weight of the soft-target term (before the T² factor).
    pub weight: f64,
    /// Temperature T > 0 of the softened outputs.
    pub temperature: f64,
    /// Weight of the latent MSE term (0 = off).
    pub latent_weight: f64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self { weight: 1.0, temperature: 2.0, latent_weight: 0.0 }
    }
}

impl DistillConfig {
    /// Weights finite and ≥ 0, temperature finite and > 0.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, value: f64, expected| Err(Error::InvalidConfig { field, value: value.to_string(), expected });
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return bad("finetune.distill.weight", self.weight, "a finite number >= 0");
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad("finetune.distill.temperature", self.temperature, "a finite number > 0");
        }
        if !(self.latent_weight.is_finite() && self.latent_weight >= 0.0) {
            return bad("finetune.distill.latent_weight", self.latent_weight, "a finite number >= 0");
        }
        Ok(())
    }
}

/// The soft-target term `T² · KD(student / T, teacher / T)` of two `[B, K, H, W]` logits
/// (module docs: KL for K ≥ 2, BCE of softened sigmoids for K = 1), a 0-d tensor.
pub fn soft_target_loss(student: &Tensor, teacher: &Tensor, temperature: f64) -> Result<Tensor> {
    if student.size() != teacher.size() || student.dim() != 4 {
        return Err(Error::shape("teacher logits [B, K, H, W]", student.size(), teacher.size()));
    }
    let (s, t) = (student / temperature, teacher / temperature);
    let per_pixel_mean = if student.size()[1] == 1 {
        s.binary_cross_entropy_with_logits::<Tensor>(&t.sigmoid(), None, None, Reduction::Mean)
    } else {
        let log_t = t.log_softmax(1, Kind::Float);
        let kl = log_t.exp() * (&log_t - s.log_softmax(1, Kind::Float));
        kl.sum_dim_intlist(1, false, Kind::Float).mean(Kind::Float)
    };
    Ok(per_pixel_mean * (temperature * temperature))
}

/// The loss of `distill`: the segmentation loss plus the teacher's terms.
pub struct Distill {
    loss: LossConfig,
    config: DistillConfig,
    teacher: LoadedModel,
}

impl Distill {
    /// Distillation from `teacher` (loaded with the pretrained weights) under `config`, on top
    /// of the segmentation loss `loss`.
    pub fn new(loss: LossConfig, config: DistillConfig, teacher: LoadedModel) -> Self {
        Self { loss, config, teacher }
    }
}

impl LossStrategy for Distill {
    fn loss(&mut self, out: &ModelOutput, batch: &StepBatch<'_>, _at: StepIndex) -> Result<Tensor> {
        let hard = output_loss(out, batch.labels, &self.loss)?;
        let every = batch.availability.ones_like();
        let teacher = tch::no_grad(|| self.teacher.net.forward_t(batch.inputs, &every, false))?.into_f32();
        let mut terms = vec![hard];
        if self.config.weight > 0.0 {
            let soft = soft_target_loss(&out.logits, &teacher.logits, self.config.temperature)?;
            terms.push(soft * self.config.weight);
        }
        if self.config.latent_weight > 0.0 {
            if out.latent.size() != teacher.latent.size() {
                return Err(Error::shape("teacher latent", out.latent.size(), teacher.latent.size()));
            }
            terms.push(out.latent.mse_loss(&teacher.latent, Reduction::Mean) * self.config.latent_weight);
        }
        Ok(Tensor::stack(&terms, 0).sum(Kind::Float))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(label: &str, got: f64, expected: f64) {
        assert!((got - expected).abs() < 1e-5, "{label}: got {got}, expected {expected}");
    }

    #[test]
    fn soft_targets_by_hand() {
        // Binary, one pixel, s = t = 0, T = 2: BCE(σ(0); 0.5) = ln 2, times T² = 4 → 2.772589.
        let zero = Tensor::zeros([1, 1, 1, 1], (Kind::Float, tch::Device::Cpu));
        close("binary", soft_target_loss(&zero, &zero, 2.0).unwrap().double_value(&[]), 4.0 * std::f64::consts::LN_2);
        // Two classes, one pixel, s = (0, 0), t = (2, 0), T = 2: softmax(t/T) = softmax(1, 0) =
        // (0.731059, 0.268941); KL to (0.5, 0.5) = 0.731059·ln 1.462117 + 0.268941·ln 0.537883
        // = 0.110944; times 4 → 0.443776.
        let s = Tensor::zeros([1, 2, 1, 1], (Kind::Float, tch::Device::Cpu));
        let t = Tensor::from_slice(&[2.0f32, 0.0]).view([1, 2, 1, 1]);
        close("two classes", soft_target_loss(&s, &t, 2.0).unwrap().double_value(&[]), 0.443776);
        close("no divergence", soft_target_loss(&t, &t, 3.0).unwrap().double_value(&[]), 0.0);
        assert!(matches!(soft_target_loss(&s, &zero, 1.0), Err(Error::Shape { .. })));
    }

    /// logits = latent = Σ_m a_m·x_m over one-channel modalities: a teacher without weights.
    #[derive(Debug)]
    struct Sum;

    impl lssg_backbones::SegmentationModel for Sum {
        fn forward_t(&self, xs: &[Tensor], avail: &Tensor, _: bool) -> lssg_backbones::Result<ModelOutput> {
            let maps: Vec<Tensor> =
                xs.iter().enumerate().map(|(m, x)| lssg_backbones::layers::gate(x, avail, m as i64)).collect();
            let logits = Tensor::stack(&maps, 0).sum_dim_intlist(0, false, Kind::Float);
            Ok(ModelOutput::new(logits.shallow_clone(), logits))
        }
        fn hook_point(&self) -> &str {
            "sum"
        }
        fn num_classes(&self) -> i64 {
            1
        }
    }

    #[test]
    fn the_teacher_sees_every_modality_and_the_terms_add_by_hand() {
        // Inputs x = (1, 1), the student saw only modality 0. The teacher sees both: logit and
        // latent 2. Student logit and latent 0, label 1, T = 1, w = 0.5, w_z = 0.25:
        //   hard = BCE(0 | 1) = ln 2;  KD = BCE(σ(0); target σ(2)) = ln 2 − 0·σ(2) = ln 2;
        //   MSE = (0 − 2)² = 4;  L = ln 2 + 0.5·ln 2 + 0.25·4 = 2.039721.
        let cpu = (Kind::Float, tch::Device::Cpu);
        let x = Tensor::ones([1, 1, 1, 1], cpu);
        let inputs = [x.shallow_clone(), x];
        let labels = Tensor::ones([1, 1, 1], (Kind::Int64, tch::Device::Cpu));
        let avail = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
        let batch = StepBatch { inputs: &inputs, labels: &labels, availability: &avail, scenarios: &[] };
        let teacher = LoadedModel { vs: tch::nn::VarStore::new(tch::Device::Cpu), net: Box::new(Sum) };
        let config = DistillConfig { weight: 0.5, temperature: 1.0, latent_weight: 0.25 };
        let mut distill = Distill::new(LossConfig::default(), config, teacher);
        let out = ModelOutput::new(Tensor::zeros([1, 1, 1, 1], cpu), Tensor::zeros([1, 1, 1, 1], cpu));
        let loss = distill.loss(&out, &batch, StepIndex { epoch: 1, step: 1 }).unwrap().double_value(&[]);
        close("distill", loss, 1.5 * std::f64::consts::LN_2 + 1.0);
    }

    #[test]
    fn bad_settings_name_their_key() {
        DistillConfig::default().validate().unwrap();
        for (config, key) in [
            (DistillConfig { temperature: -1.0, ..Default::default() }, "finetune.distill.temperature"),
            (DistillConfig { temperature: 0.0, ..Default::default() }, "finetune.distill.temperature"),
            (DistillConfig { weight: -0.5, ..Default::default() }, "finetune.distill.weight"),
            (DistillConfig { latent_weight: f64::NAN, ..Default::default() }, "finetune.distill.latent_weight"),
        ] {
            assert!(config.validate().unwrap_err().to_string().contains(key), "{config:?}");
        }
    }
}
