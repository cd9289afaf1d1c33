//! The gradient scaler of fp16 training (docs/precision.md §3), PyTorch's `GradScaler` on
//! libtorch's own kernels: the loss is multiplied by a scale S before `backward` so that small
//! gradients do not underflow f16; the gradients are then divided by S and checked for inf/NaN
//! (`_amp_foreach_non_finite_check_and_unscale_`); a step whose gradients are not finite is
//! skipped and S halves; after `growth_interval` finite steps in a row S doubles
//! (`_amp_update_scale_`). Both kernels exist for CPU and CUDA tensors in libtorch 2.13.
//!
//! The scale and the growth counter are the scaler's whole state ([`GradScalerState`]); the
//! trainer stores it in `state.json` so a resumed fp16 run continues bit-identically.
//! A disabled scaler (fp32, bf16) is the identity and steps every time.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::precision::Precision;

/// What a scaler carries from one step to the next.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GradScalerState {
    /// The current scale S (an f32 value, stored exactly).
    pub scale: f64,
    /// Finite steps in a row since the scale last changed.
    pub growth_tracker: i64,
}

/// A dynamic loss scaler with PyTorch's defaults (initial scale 2¹⁶, growth ×2 after 2000
/// finite steps, backoff ×0.5 on a non-finite one).
#[derive(Debug)]
pub struct GradScaler {
    enabled: bool,
    growth_factor: f64,
    backoff_factor: f64,
    growth_interval: i64,
    /// `[1]` f32 on the device.
    scale: Tensor,
    /// `[1]` i32 on the device.
    growth_tracker: Tensor,
}

impl GradScaler {
    /// PyTorch's initial scale.
    pub const INIT_SCALE: f64 = 65536.0;
    /// PyTorch's growth factor.
    pub const GROWTH_FACTOR: f64 = 2.0;
    /// PyTorch's backoff factor.
    pub const BACKOFF_FACTOR: f64 = 0.5;
    /// PyTorch's growth interval.
    pub const GROWTH_INTERVAL: i64 = 2000;

    /// A scaler on `device`, active only when `enabled`.
    pub fn new(device: Device, enabled: bool) -> Self {
        Self {
            enabled,
            growth_factor: Self::GROWTH_FACTOR,
            backoff_factor: Self::BACKOFF_FACTOR,
            growth_interval: Self::GROWTH_INTERVAL,
            scale: Tensor::full([1], Self::INIT_SCALE, (Kind::Float, device)),
            growth_tracker: Tensor::zeros([1], (Kind::Int, device)),
        }
    }

    /// The scaler training at `precision` needs: active for fp16, the identity otherwise.
    pub fn for_precision(precision: Precision, device: Device) -> Self {
        Self::new(device, precision.needs_grad_scaler())
    }

    /// This scaler with another growth interval (≥ 1).
    pub fn with_growth_interval(mut self, steps: i64) -> Result<Self> {
        if steps < 1 {
            return Err(Error::invalid("grad_scaler.growth_interval", steps, "≥ 1"));
        }
        self.growth_interval = steps;
        Ok(self)
    }

    /// Whether the scaler scales (fp16).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The current scale (1 when disabled).
    pub fn scale_value(&self) -> f64 {
        if self.enabled { self.scale.double_value(&[0]) } else { 1.0 }
    }

    /// `loss · S` to call `backward` on (the loss itself when disabled).
    pub fn scale(&self, loss: &Tensor) -> Tensor {
        if self.enabled { loss * self.scale.to_kind(loss.kind()).squeeze() } else { loss.shallow_clone() }
    }

    /// Divides every defined gradient in `grads` by S in place and returns `found_inf`, a `[1]`
    /// f32 tensor that is 1 when any of them held an inf or NaN (0 otherwise, and when disabled).
    pub fn unscale(&self, grads: &[Tensor]) -> Result<Tensor> {
        let device = self.scale.device();
        let found_inf = Tensor::zeros([1], (Kind::Float, device));
        if !self.enabled {
            return Ok(found_inf);
        }
        // PyTorch computes 1/S in double and rounds it to f32.
        let inv_scale = self.scale.to_kind(Kind::Double).reciprocal().to_kind(Kind::Float);
        tch::no_grad(|| {
            let mut found = found_inf.shallow_clone();
            for g in grads.iter().filter(|g| g.defined()) {
                let mut g = g.shallow_clone();
                g.f_internal_amp_non_finite_check_and_unscale(&mut found, &inv_scale).map_err(|e| {
                    Error::Unsupported {
                        what: "_amp_foreach_non_finite_check_and_unscale_".into(),
                        reason: e.to_string(),
                    }
                })?;
            }
            Ok(found_inf)
        })
    }

    /// Updates S after a step: ×backoff when `found_inf` is set (and the counter restarts),
    /// else the counter advances and S grows ×growth when it reaches the interval.
    pub fn update(&mut self, found_inf: &Tensor) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let (growth, backoff, interval) = (self.growth_factor, self.backoff_factor, self.growth_interval);
        let updated = tch::no_grad(|| {
            self.scale.f_internal_amp_update_scale_(&self.growth_tracker, found_inf, growth, backoff, interval)
        });
        updated.map(drop).map_err(|e| Error::Unsupported { what: "_amp_update_scale_".into(), reason: e.to_string() })
    }

    /// The step after `backward` on [`GradScaler::scale`]d loss: unscales `grads`, runs
    /// `before_step` (gradient clipping sees true gradients), calls `step` only when every
    /// gradient is finite, and updates S. Returns whether `step` ran. Disabled: runs both.
    pub fn step(&mut self, grads: &[Tensor], before_step: impl FnOnce(), step: impl FnOnce()) -> Result<bool> {
        if !self.enabled {
            before_step();
            step();
            return Ok(true);
        }
        let found_inf = self.unscale(grads)?;
        before_step();
        // One host synchronisation per step, as PyTorch's `scaler.step` (`found_inf.item()`).
        let finite = found_inf.double_value(&[0]) == 0.0;
        if finite {
            step();
        }
        self.update(&found_inf)?;
        Ok(finite)
    }

    /// The state to save (`None` when disabled: nothing to carry).
    pub fn state(&self) -> Option<GradScalerState> {
        self.enabled.then(|| GradScalerState {
            scale: self.scale.double_value(&[0]),
            growth_tracker: self.growth_tracker.int64_value(&[0]),
        })
    }

    /// Restores a saved state; fails when the scale is not a positive finite number or the
    /// counter is negative.
    pub fn load_state(&mut self, state: &GradScalerState) -> Result<()> {
        if !(state.scale.is_finite() && state.scale > 0.0) {
            return Err(Error::invalid("grad_scaler.scale", state.scale, "a finite number > 0"));
        }
        if !(0..=i64::from(i32::MAX)).contains(&state.growth_tracker) {
            return Err(Error::invalid("grad_scaler.growth_tracker", state.growth_tracker, "in [0, 2³¹)"));
        }
        tch::no_grad(|| {
            let _ = self.scale.fill_(state.scale);
            let _ = self.growth_tracker.fill_(state.growth_tracker);
        });
        Ok(())
    }
}
