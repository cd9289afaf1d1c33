//! Segmentation losses on logits (docs/method.md §5.3).
//!
//! * Binary tasks (one logit channel, labels 0/1): binary cross-entropy **on logits**, the mean
//!   over valid pixels. The reference network ends in a sigmoid and then applies
//!   BCE-with-logits (a double sigmoid, docs/reference.md §2.1); we keep logits and do not repeat that.
//! * Multi-class tasks (`C ≥ 2` logit channels): cross-entropy over the classes, the mean over
//!   valid pixels.
//! * Optional soft Dice, added with `dice_weight`: `1 − (2Σpy + s)/(Σp + Σy + s)` over the
//!   whole batch (per class and averaged over classes for multi-class; sigmoid probabilities for
//!   binary, softmax for multi-class).
//!
//! Pixels labelled [`IGNORE_INDEX`] (255) count nowhere. A batch without a valid pixel gives a
//! loss of 0 that still carries a (zero) gradient.
//!
//! [`output_loss`] is what the training loop calls on a forward pass: the loss of the logits,
//! or for a multi-copy head (CBC `output_head = "reference-3"`, `docs/reference.md §3`) the mean
//! of every copy's loss against the same labels, which is the reference's loss over its
//! 3-channel output against the mask repeated 3 times.
//!
//! # Shapes
//! `logits`: f32 `[B, K, H, W]` (K = 1 binary, K = C multi-class); `labels`: i64 `[B, H, W]`;
//! head copies: `[B, R, K, H, W]`.

use lssg_backbones::ModelOutput;
use lssg_datasets::IGNORE_INDEX;
use serde::{Deserialize, Serialize};
use tch::{Reduction, Tensor};

use crate::error::{Error, Result};

/// Which losses are combined and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Weight of the soft Dice term added to BCE / cross-entropy; 0 (the reference) disables it.
    pub dice_weight: f64,
    /// Additive smoothing `s` of the Dice ratio (keeps it defined on empty masks).
    pub dice_smooth: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self { dice_weight: 0.0, dice_smooth: 1.0 }
    }
}

impl LossConfig {
    /// Checks that the weights are finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        if !(self.dice_weight.is_finite() && self.dice_weight >= 0.0) {
            return Err(Error::InvalidConfig {
                field: "loss.dice_weight",
                value: self.dice_weight.to_string(),
                expected: "a finite number >= 0",
            });
        }
        if !(self.dice_smooth.is_finite() && self.dice_smooth >= 0.0) {
            return Err(Error::InvalidConfig {
                field: "loss.dice_smooth",
                value: self.dice_smooth.to_string(),
                expected: "a finite number >= 0",
            });
        }
        Ok(())
    }
}

/// Checks that `logits` is `[B, K, H, W]` and `labels` is `[B, H, W]` of the same B, H, W.
pub(crate) fn check_shapes(logits: &Tensor, labels: &Tensor) -> Result<()> {
    let (ls, ys) = (logits.size(), labels.size());
    if ls.len() != 4 || ys.len() != 3 || ls[0] != ys[0] || ls[2] != ys[1] || ls[3] != ys[2] || ls[1] < 1 {
        return Err(Error::shape("logits [B, K, H, W] vs labels [B, H, W]", ys, ls));
    }
    Ok(())
}

/// The training loss for `logits` against `labels` under `config`: BCE (K = 1) or
/// cross-entropy (K ≥ 2), plus `dice_weight` × soft Dice. A scalar f32 tensor.
pub fn segmentation_loss(logits: &Tensor, labels: &Tensor, config: &LossConfig) -> Result<Tensor> {
    check_shapes(logits, labels)?;
    let binary = logits.size()[1] == 1;
    let base = if binary { bce_with_logits(logits, labels) } else { cross_entropy(logits, labels) };
    if config.dice_weight > 0.0 {
        Ok(base + soft_dice_loss(logits, labels, config.dice_smooth) * config.dice_weight)
    } else {
        Ok(base)
    }
}

/// The training loss of one forward pass under `config`: [`segmentation_loss`] of
/// `out.logits`, or, when the model returns head copies `[B, R, K, H, W]`, the mean over the R
/// copies of each copy's [`segmentation_loss`] against the same `labels`.
///
/// Why the mean of per-copy losses: every copy sees the same valid pixels, so for BCE and
/// cross-entropy it equals the reference's single mean over `[B, 3, 1, H, W]` against the
/// repeated target (`docs/reference.md §3`); a Dice term, if enabled, is likewise per copy.
pub fn output_loss(out: &ModelOutput, labels: &Tensor, config: &LossConfig) -> Result<Tensor> {
    let Some(copies) = &out.head_copies else {
        return segmentation_loss(&out.logits, labels, config);
    };
    let size = copies.size();
    if size.len() != 5 || size[1] < 1 {
        return Err(Error::shape("head copies [B, R, K, H, W]", "5 dimensions, R ≥ 1", size));
    }
    let losses =
        (0..size[1]).map(|r| segmentation_loss(&copies.select(1, r), labels, config)).collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&losses, 0).mean(copies.kind()))
}

/// Binary cross-entropy on logits `[B, 1, H, W]` against 0/1 labels `[B, H, W]`, averaged over
/// the pixels whose label is not 255.
pub fn bce_with_logits(logits: &Tensor, labels: &Tensor) -> Tensor {
    let x = logits.squeeze_dim(1);
    let valid = labels.ne(i64::from(IGNORE_INDEX)).to_kind(x.kind());
    // 255 → 1 here, but those pixels are multiplied by 0 below.
    let target = labels.clamp(0, 1).to_kind(x.kind());
    let per_pixel = x.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, Reduction::None);
    (per_pixel * &valid).sum(x.kind()) / valid.sum(x.kind()).clamp_min(1.0)
}

/// Cross-entropy of logits `[B, C, H, W]` against class indices `[B, H, W]`, averaged over the
/// pixels whose label is not 255 (0 when there are none, where libtorch's mean would be NaN).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    let valid = labels.ne(i64::from(IGNORE_INDEX)).sum(logits.kind());
    logits.cross_entropy_loss::<Tensor>(labels, None, Reduction::Sum, i64::from(IGNORE_INDEX), 0.0)
        / valid.clamp_min(1.0)
}

/// Soft Dice loss over the whole batch, valid pixels only: sigmoid probabilities for one
/// channel, softmax probabilities and one-hot labels averaged over classes otherwise.
pub fn soft_dice_loss(logits: &Tensor, labels: &Tensor, smooth: f64) -> Tensor {
    let kind = logits.kind();
    let ignore = labels.eq(i64::from(IGNORE_INDEX));
    let valid = ignore.logical_not().to_kind(kind).unsqueeze(1); // [B, 1, H, W]
    let classes = logits.size()[1];
    let (p, y) = if classes == 1 {
        (logits.sigmoid(), labels.clamp(0, 1).to_kind(kind).unsqueeze(1))
    } else {
        let safe = labels.masked_fill(&ignore, 0);
        (logits.softmax(1, kind), safe.one_hot(classes).permute([0, 3, 1, 2]).to_kind(kind))
    };
    let (p, y) = (p * &valid, y * &valid);
    let dims: &[i64] = &[0, 2, 3];
    let inter = (&p * &y).sum_dim_intlist(dims, false, kind);
    let total = p.sum_dim_intlist(dims, false, kind) + y.sum_dim_intlist(dims, false, kind);
    let dice = (inter * 2.0 + smooth) / (total + smooth);
    1.0 - dice.mean(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn close(label: &str, got: f64, expected: f64) {
        assert!((got - expected).abs() < 1e-5, "{label}: got {got}, expected {expected}");
    }

    fn t(values: &[f32], shape: &[i64]) -> Tensor {
        Tensor::from_slice(values).view(shape)
    }

    fn y(values: &[i64], shape: &[i64]) -> Tensor {
        Tensor::from_slice(values).view(shape)
    }

    #[test]
    fn bce_golden_ignores_255() {
        // Pixels (logit, label): (0, 1) → ln 2 = 0.693147; (2, 0) → ln(1 + e²) = 2.126928;
        // (−1, 255) ignored. Mean over 2 valid pixels = 1.410038.
        let logits = t(&[0.0, 2.0, -1.0], &[1, 1, 1, 3]);
        let labels = y(&[1, 0, 255], &[1, 1, 3]);
        close("bce", bce_with_logits(&logits, &labels).double_value(&[]), 1.410038);
        let loss = segmentation_loss(&logits, &labels, &LossConfig::default()).unwrap();
        close("segmentation_loss(binary)", loss.double_value(&[]), 1.410038);
    }

    #[test]
    fn cross_entropy_golden_ignores_255() {
        // Three pixels, three classes. Pixel 0: logits (1, 2, 3), label 2 →
        // ln(e¹ + e² + e³) − 3 = ln 30.192880 − 3 = 0.407606. Pixel 1: label 255, ignored.
        // Pixel 2: logits (0, 0, 0), label 0 → ln 3 = 1.098612. Mean = 0.753109.
        let logits = t(&[1.0, 5.0, 0.0, 2.0, -4.0, 0.0, 3.0, 9.0, 0.0], &[1, 3, 1, 3]);
        let labels = y(&[2, 255, 0], &[1, 1, 3]);
        close("ce", cross_entropy(&logits, &labels).double_value(&[]), 0.753109);
    }

    #[test]
    fn all_ignored_gives_zero_not_nan() {
        let logits = t(&[0.3, -0.2], &[1, 1, 1, 2]).set_requires_grad(true);
        let labels = y(&[255, 255], &[1, 1, 2]);
        let loss = segmentation_loss(&logits, &labels, &LossConfig { dice_weight: 1.0, dice_smooth: 1.0 }).unwrap();
        assert_eq!(loss.double_value(&[]), 0.0);
        let ce = cross_entropy(&t(&[0.3, -0.2, 1.0, 0.0], &[1, 2, 1, 2]), &labels);
        assert_eq!(ce.double_value(&[]), 0.0);
        loss.backward();
        assert_eq!(logits.grad().abs().sum(Kind::Float).double_value(&[]), 0.0);
    }

    #[test]
    fn dice_golden() {
        // Binary: logits (0, 0) → p = (0.5, 0.5), labels (1, 0), s = 1:
        // Σpy = 0.5, Σp + Σy = 2 → 1 − (2·0.5 + 1)/(2 + 1) = 1/3.
        let logits = t(&[0.0, 0.0], &[1, 1, 1, 2]);
        close("binary dice", soft_dice_loss(&logits, &y(&[1, 0], &[1, 1, 2]), 1.0).double_value(&[]), 1.0 / 3.0);
        // Two classes, logits (0, 0) everywhere → p = 0.5 per class; labels (0, 1, 255), s = 0:
        // class c: Σpy = 0.5, Σp = 1 (two valid pixels), Σy = 1 → dice 0.5; loss = 0.5.
        let logits = t(&[0.0; 6], &[1, 2, 1, 3]);
        close("2-class dice", soft_dice_loss(&logits, &y(&[0, 1, 255], &[1, 1, 3]), 0.0).double_value(&[]), 0.5);
        // Added with its weight: BCE(0 | 1) = BCE(0 | 0) = ln 2, plus 0.5 × 1/3.
        let logits = t(&[0.0, 0.0], &[1, 1, 1, 2]);
        let cfg = LossConfig { dice_weight: 0.5, dice_smooth: 1.0 };
        let loss = segmentation_loss(&logits, &y(&[1, 0], &[1, 1, 2]), &cfg).unwrap();
        close("bce + dice", loss.double_value(&[]), std::f64::consts::LN_2 + 0.5 / 3.0);
    }

    #[test]
    fn gradient_flows_only_through_valid_pixels() {
        let logits = t(&[0.5, -0.5, 1.5], &[1, 1, 1, 3]).set_requires_grad(true);
        let labels = y(&[1, 255, 0], &[1, 1, 3]);
        segmentation_loss(&logits, &labels, &LossConfig::default()).unwrap().backward();
        let g = logits.grad();
        // d/dx mean BCE = (σ(x) − y)/2 over the 2 valid pixels.
        close("grad 0", g.double_value(&[0, 0, 0, 0]), (1.0 / (1.0 + (-0.5f64).exp()) - 1.0) / 2.0);
        assert_eq!(g.double_value(&[0, 0, 0, 1]), 0.0);
        close("grad 2", g.double_value(&[0, 0, 0, 2]), 1.0 / (1.0 + (-1.5f64).exp()) / 2.0);
    }

    #[test]
    fn output_loss_averages_head_copies_as_the_reference() {
        // B = 1, R = 3 copies, K = 1, 1×2 pixels, labels (1, 0). BCE(x, y) = ln(1 + eˣ) − x·y:
        //   copy 0, logits (0, 0):   (ln 2 + ln 2)/2                         = 0.693147
        //   copy 1, logits (2, 2):   (ln(1 + e²) − 2 + ln(1 + e²))/2         = 1.126928
        //   copy 2, logits (−1, −1): (ln(1 + e⁻¹) + 1 + ln(1 + e⁻¹))/2       = 0.813262
        // mean over copies = 2.633337/3 = 0.877779, which is also the mean BCE over all 6
        // values against the target repeated 3 times (the reference's loss).
        let copies = t(&[0.0, 0.0, 2.0, 2.0, -1.0, -1.0], &[1, 3, 1, 1, 2]);
        let labels = y(&[1, 0], &[1, 1, 2]);
        let out = ModelOutput {
            logits: copies.select(1, 0),
            latent: Tensor::zeros([1], (Kind::Float, tch::Device::Cpu)),
            head_copies: Some(copies.shallow_clone()),
        };
        let loss = output_loss(&out, &labels, &LossConfig::default()).unwrap().double_value(&[]);
        close("reference-3 loss", loss, 0.877779);
        let repeated = labels.unsqueeze(1).unsqueeze(2).expand([1, 3, 1, 1, 2], false).to_kind(Kind::Float);
        let flat = copies.binary_cross_entropy_with_logits::<Tensor>(&repeated, None, None, Reduction::Mean);
        close("BCE against the repeated target", flat.double_value(&[]), loss);
        // A single head is the plain loss of its logits.
        let single = ModelOutput::new(copies.select(1, 0), Tensor::zeros([1], (Kind::Float, tch::Device::Cpu)));
        close(
            "single",
            output_loss(&single, &labels, &LossConfig::default()).unwrap().double_value(&[]),
            std::f64::consts::LN_2,
        );
        let bad = ModelOutput { head_copies: Some(copies.select(1, 0)), ..single };
        assert!(matches!(output_loss(&bad, &labels, &LossConfig::default()), Err(Error::Shape { .. })));
    }

    #[test]
    fn rejects_mismatched_shapes_and_bad_config() {
        let logits = t(&[0.0; 4], &[1, 1, 2, 2]);
        assert!(matches!(
            segmentation_loss(&logits, &y(&[0; 3], &[1, 1, 3]), &LossConfig::default()),
            Err(Error::Shape { .. })
        ));
        assert!(LossConfig { dice_weight: -1.0, ..Default::default() }.validate().is_err());
        assert!(LossConfig { dice_weight: f64::NAN, ..Default::default() }.validate().is_err());
        let parsed: LossConfig = serde_json::from_str(r#"{"dice_weight": 0.5}"#).unwrap();
        assert_eq!(parsed.dice_smooth, 1.0);
        assert!(serde_json::from_str::<LossConfig>(r#"{"dice": 0.5}"#).is_err());
    }
}
