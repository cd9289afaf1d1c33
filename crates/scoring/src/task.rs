//! The task-aware score (docs/method.md §3.4): how much the task loss of the pretrained network
//! grows when a scenario's modalities are missing,
//!
//! ```text
//! t_k(x) = ℓ(f(x; k), y) − ℓ(f(x; full), y)       T_k = mean over samples of t_k(x)
//! ```
//!
//! with ℓ the training loss without its optional Dice term: the mean over the sample's valid
//! pixels (label ≠ 255) of the cross-entropy (C ≥ 2 classes) or of the binary cross-entropy
//! with logits (one logit). It is computed from the same forwards as the latent distortion.

use tch::{Kind, Reduction, Tensor};

/// The label of pixels that count in no loss.
const IGNORE: i64 = 255;

/// Per-sample mean loss of `logits` `[N, K, H, W]` against `labels` `[N, H, W]` (i64), `[N]`
/// f64; a sample without a valid pixel gets 0.
pub fn per_sample_loss(logits: &Tensor, labels: &Tensor) -> Tensor {
    let classes = logits.size()[1];
    let valid = labels.ne(IGNORE);
    let safe = labels.masked_fill(&valid.logical_not(), 0);
    let pixel = if classes == 1 {
        let target = safe.to_kind(Kind::Float);
        logits.select(1, 0).to_kind(Kind::Float).binary_cross_entropy_with_logits::<Tensor>(
            &target,
            None,
            None,
            Reduction::None,
        )
    } else {
        let log_p = logits.to_kind(Kind::Float).log_softmax(1, Kind::Float);
        -log_p.gather(1, &safe.unsqueeze(1), false).squeeze_dim(1)
    };
    let valid = valid.to_kind(Kind::Double);
    let dims: &[i64] = &[1, 2];
    let sum = (pixel.to_kind(Kind::Double) * &valid).sum_dim_intlist(dims, false, Kind::Double);
    sum / valid.sum_dim_intlist(dims, false, Kind::Double).clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_per_sample_ignores_255() {
        // Sample 0: two pixels, logits (0, ln 3) → p(class 1) = 3/4. Labels (1, 255): only the
        // first counts, loss −ln(3/4) = 0.287682. Sample 1: labels (0, 0): −ln(1/4) = 1.386294.
        let l3 = 3f32.ln();
        let logits = Tensor::from_slice(&[0f32, 0.0, l3, l3, 0.0, 0.0, l3, l3]).view([2, 2, 1, 2]);
        let labels = Tensor::from_slice(&[1i64, 255, 0, 0]).view([2, 1, 2]);
        let loss = Vec::<f64>::try_from(per_sample_loss(&logits, &labels)).unwrap();
        assert!((loss[0] - 0.287682).abs() < 1e-5, "{loss:?}");
        assert!((loss[1] - 1.386294).abs() < 1e-5, "{loss:?}");
    }

    #[test]
    fn binary_and_empty_samples() {
        // One logit 0 → p = 1/2 → BCE ln 2 per pixel; an all-ignored sample gives 0.
        let logits = Tensor::zeros([2, 1, 1, 2], (Kind::Float, tch::Device::Cpu));
        let labels = Tensor::from_slice(&[1i64, 0, 255, 255]).view([2, 1, 2]);
        let loss = Vec::<f64>::try_from(per_sample_loss(&logits, &labels)).unwrap();
        assert!((loss[0] - std::f64::consts::LN_2).abs() < 1e-6 && loss[1] == 0.0, "{loss:?}");
    }
}
