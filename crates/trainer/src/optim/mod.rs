//! Adam, AdamW and SGD on tch tensors with a state that can be saved and restored (docs/method.md
//! §5.3), applied with libtorch's fused kernels (docs/speed.md §3).
//!
//! tch's `nn::Optimizer` wraps libtorch's C++ optimisers, whose moment buffers Rust cannot read
//! or write. These keep their buffers as tensors saved with per-variable step counts, so a
//! resumed run continues bit-identically, and update them with libtorch's `_fused_adam_` /
//! `_fused_adamw_` / `_fused_sgd_` ([`lssg_torch::fused`]): one pass over each variable.
//!
//! Only variables with `requires_grad` are optimised (a LoRA run freezes the base), in the
//! order of their names. `zero_grad` drops the gradients as PyTorch's
//! `zero_grad(set_to_none=True)` does; a variable that then receives no gradient at a step is
//! skipped and its step count does not advance, as in PyTorch.
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | [`OptimizerKind`], [`OptimizerConfig`] and the buffers each rule keeps |
//! | `mod.rs` | [`Optimizer`]: the variables and their state, gradients, clipping |
//! | `update.rs` | [`Optimizer::step`]: the update rules on the fused kernels |
//! | `state.rs` | [`Optimizer::save`] / [`Optimizer::load`]: the state file |
//!
//! The training step ([`crate::train::StepContext`]) runs backward, the fp16 gradient scaler,
//! clipping and [`Optimizer::step`] in order; [`Optimizer::backward_step`] is the plain fp32
//! sequence for callers without one.

mod config;
mod state;
#[cfg(test)]
mod testing;
mod update;

use lssg_torch::fused;
use tch::{Kind, Tensor, nn::VarStore};

pub use config::{OptimizerConfig, OptimizerKind};

use crate::error::{Error, Result};

/// One optimised variable and its state.
#[derive(Debug)]
struct Slot {
    name: String,
    var: Tensor,
    step: i64,
    /// `step` as the 0-d f32 tensor on the variable's device that the fused Adam kernels read
    /// (and advance); kept equal to `step`.
    step_tensor: Tensor,
    buffers: Vec<Tensor>,
}

/// An optimiser over the trainable variables of a [`VarStore`].
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    lr: f64,
    slots: Vec<Slot>,
}

impl Optimizer {
    /// An optimiser over every variable of `vs` that requires a gradient, at `config.lr`.
    pub fn new(vs: &VarStore, config: &OptimizerConfig) -> Result<Self> {
        config.validate()?;
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        if vars.is_empty() {
            return Err(Error::NoTrainableVariables);
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let buffers = config.buffer_names().iter().map(|_| var.zeros_like().detach()).collect();
                let step_tensor = Tensor::zeros([], (Kind::Float, var.device()));
                Slot { name, var, step: 0, step_tensor, buffers }
            })
            .collect();
        Ok(Self { config: config.clone(), lr: config.lr, slots })
    }

    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate (the scheduler calls this once per epoch).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// The names of the optimised variables, sorted.
    pub fn variable_names(&self) -> Vec<&str> {
        self.slots.iter().map(|s| s.name.as_str()).collect()
    }

    /// The number of optimised scalars (trainable parameters).
    pub fn num_parameters(&self) -> i64 {
        self.slots.iter().map(|s| s.var.numel() as i64).sum()
    }

    /// The number of updates applied to the first variable (all advance together unless a
    /// variable receives no gradient).
    pub fn steps(&self) -> i64 {
        self.slots.iter().map(|s| s.step).max().unwrap_or(0)
    }

    /// Drops every gradient (PyTorch's `zero_grad(set_to_none=True)`): the next backward writes
    /// fresh gradients instead of adding into zeroed ones, one pass over memory fewer.
    pub fn zero_grad(&mut self) -> Result<()> {
        let vars: Vec<Tensor> = self.slots.iter().map(|s| s.var.shallow_clone()).collect();
        Ok(fused::grad_set_to_none(&vars)?)
    }

    /// Scales the gradients so their global L2 norm is at most `max_norm` (PyTorch's
    /// `clip_grad_norm_`: coefficient `min(1, max_norm/(norm + 1e-6))`, always applied, so there
    /// is no host synchronisation). Returns the norm before clipping as a 0-d tensor.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> Tensor {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.slots.iter().map(|s| s.var.grad()).filter(Tensor::defined).collect();
            let Some(first) = grads.first() else {
                return Tensor::zeros([], (Kind::Float, tch::Device::Cpu));
            };
            let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
            let total = Tensor::stack(&norms, 0).norm();
            let coef = (max_norm / (&total + 1e-6)).clamp_max(1.0).to_device(first.device());
            for mut g in grads {
                let _ = g.g_mul_(&coef);
            }
            total
        })
    }

    /// Every optimised variable's gradient, in the optimiser's order (an undefined tensor for a
    /// variable that has none). The tensors share storage with the gradients.
    pub fn gradients(&self) -> Vec<Tensor> {
        self.slots.iter().map(|s| s.var.grad()).collect()
    }

    /// `zero_grad`, `loss.backward()`, optional clipping, `step`.
    pub fn backward_step(&mut self, loss: &Tensor, clip: Option<f64>) -> Result<()> {
        self.zero_grad()?;
        loss.backward();
        if let Some(max) = clip {
            let _ = self.clip_grad_norm(max);
        }
        self.step()
    }
}

#[cfg(test)]
mod tests {
    use tch::Device;

    use super::testing::{loss, max_diff, problem};
    use super::*;

    #[test]
    fn frozen_variables_are_not_optimised() {
        let (mut vs, lin, x, y) = problem(2);
        vs.freeze();
        assert!(matches!(Optimizer::new(&vs, &OptimizerConfig::default()), Err(Error::NoTrainableVariables)));
        let extra = vs.root().zeros("extra", &[2]).set_requires_grad(true);
        let before = lin.ws.copy();
        let mut opt = Optimizer::new(&vs, &OptimizerConfig { lr: 0.1, ..Default::default() }).unwrap();
        assert_eq!(opt.variable_names(), ["extra"]);
        assert_eq!(opt.num_parameters(), 2);
        opt.backward_step(&(loss(&lin, &x, &y) + extra.sum(Kind::Float)), None).unwrap();
        assert_eq!(max_diff(&lin.ws, &before), 0.0);
        assert!(extra.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let vs = VarStore::new(Device::Cpu);
        let a = vs.root().ones("a", &[2]);
        let b = vs.root().ones("b", &[1]);
        let mut opt = Optimizer::new(&vs, &OptimizerConfig::default()).unwrap();
        opt.zero_grad().unwrap();
        // Gradients (3, 4) and (12): global norm 13.
        ((&a * Tensor::from_slice(&[3.0f32, 4.0])).sum(Kind::Float) + (&b * 12.0).sum(Kind::Float)).backward();
        let norm = opt.clip_grad_norm(1.0);
        assert!((norm.double_value(&[]) - 13.0).abs() < 1e-5);
        let clipped = (a.grad().square().sum(Kind::Float) + b.grad().square().sum(Kind::Float)).sqrt();
        assert!((clipped.double_value(&[]) - 1.0).abs() < 1e-5);
        // Below the bound nothing changes.
        let _ = opt.clip_grad_norm(10.0);
        assert!((a.grad().double_value(&[0]) - 3.0 / 13.0).abs() < 1e-6);
    }
}
