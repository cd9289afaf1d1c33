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
//! State file keys: `step/<var>` (i64 `[1]`), and `exp_avg/<var>`, `exp_avg_sq/<var>` (Adam,
//! AdamW) or `momentum_buffer/<var>` (SGD with momentum), each of the variable's shape.

use std::collections::BTreeMap;
use std::path::Path;

use lssg_torch::GradScaler;
use lssg_torch::fused::{self, AdamStep, SgdStep};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn::VarStore};

use crate::error::{Error, Result};

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with L2 weight decay added to the gradient (the reference).
    #[default]
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
    /// Stochastic gradient descent with optional (Nesterov) momentum.
    Sgd,
}

/// Optimiser settings; `Default` is the reference's Adam at lr 1e-4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Base learning rate (before the schedule).
    pub lr: f64,
    /// Weight decay (L2 for Adam and SGD, decoupled for AdamW).
    pub weight_decay: f64,
    /// SGD momentum (0 disables the buffer).
    pub momentum: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Adam,
            lr: 1e-4,
            weight_decay: 0.0,
            momentum: 0.9,
            nesterov: false,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl OptimizerConfig {
    /// Checks ranges: lr > 0, weight decay ≥ 0, momentum and betas in [0, 1), eps > 0.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, field: &'static str, value: f64, expected: &'static str| {
            if ok { Ok(()) } else { Err(Error::InvalidConfig { field, value: value.to_string(), expected }) }
        };
        check(self.lr.is_finite() && self.lr > 0.0, "optimizer.lr", self.lr, "a finite number > 0")?;
        check(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "optimizer.weight_decay",
            self.weight_decay,
            ">= 0",
        )?;
        check((0.0..1.0).contains(&self.momentum), "optimizer.momentum", self.momentum, "in [0, 1)")?;
        check((0.0..1.0).contains(&self.beta1), "optimizer.beta1", self.beta1, "in [0, 1)")?;
        check((0.0..1.0).contains(&self.beta2), "optimizer.beta2", self.beta2, "in [0, 1)")?;
        check(self.eps.is_finite() && self.eps > 0.0, "optimizer.eps", self.eps, "a finite number > 0")?;
        if self.nesterov && !(self.kind == OptimizerKind::Sgd && self.momentum > 0.0) {
            return Err(Error::InvalidConfig {
                field: "optimizer.nesterov",
                value: "true".into(),
                expected: "only with kind = \"sgd\" and momentum > 0",
            });
        }
        Ok(())
    }

    /// The names of the per-variable buffers this rule keeps.
    fn buffer_names(&self) -> &'static [&'static str] {
        match self.kind {
            OptimizerKind::Adam | OptimizerKind::AdamW => &["exp_avg", "exp_avg_sq"],
            OptimizerKind::Sgd if self.momentum > 0.0 => &["momentum_buffer"],
            OptimizerKind::Sgd => &[],
        }
    }
}

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

    /// Applies one update to every variable that has a gradient, with one fused kernel call
    /// per group (SGD: variables at their first step and the others).
    pub fn step(&mut self) -> Result<()> {
        let (c, lr) = (&self.config, self.lr);
        let stepping: Vec<usize> = (0..self.slots.len()).filter(|&i| self.slots[i].var.grad().defined()).collect();
        if stepping.is_empty() {
            return Ok(());
        }
        let pick = |f: &dyn Fn(&Slot) -> Tensor, which: &[usize]| -> Vec<Tensor> {
            which.iter().map(|&i| f(&self.slots[i])).collect()
        };
        tch::no_grad(|| -> Result<()> {
            match c.kind {
                OptimizerKind::Adam | OptimizerKind::AdamW => fused::adam_(
                    &pick(&|s| s.var.shallow_clone(), &stepping),
                    &pick(&|s| s.var.grad(), &stepping),
                    &pick(&|s| s.buffers[0].shallow_clone(), &stepping),
                    &pick(&|s| s.buffers[1].shallow_clone(), &stepping),
                    &pick(&|s| s.step_tensor.shallow_clone(), &stepping),
                    AdamStep {
                        lr,
                        beta1: c.beta1,
                        beta2: c.beta2,
                        weight_decay: c.weight_decay,
                        eps: c.eps,
                        decoupled: c.kind == OptimizerKind::AdamW,
                    },
                )?,
                OptimizerKind::Sgd => {
                    let (first, later): (Vec<usize>, Vec<usize>) =
                        stepping.iter().partition(|&&i| self.slots[i].step == 0);
                    for (group, first_step) in [(first, true), (later, false)] {
                        let buffers =
                            if c.momentum > 0.0 { pick(&|s| s.buffers[0].shallow_clone(), &group) } else { vec![] };
                        fused::sgd_(
                            &pick(&|s| s.var.shallow_clone(), &group),
                            &pick(&|s| s.var.grad(), &group),
                            &buffers,
                            SgdStep {
                                lr,
                                weight_decay: c.weight_decay,
                                momentum: c.momentum,
                                nesterov: c.nesterov,
                                first_step,
                            },
                        )?;
                    }
                }
            }
            Ok(())
        })?;
        for i in stepping {
            self.slots[i].step += 1;
        }
        Ok(())
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

    /// [`Optimizer::backward_step`] through a gradient scaler (docs/precision.md §3): backward on
    /// the scaled loss, unscale and check the gradients, clip, and step only when they are
    /// finite. Returns whether the step ran. A disabled scaler is exactly `backward_step`.
    pub fn backward_step_scaled(&mut self, loss: &Tensor, clip: Option<f64>, scaler: &mut GradScaler) -> Result<bool> {
        if !scaler.is_enabled() {
            self.backward_step(loss, clip)?;
            return Ok(true);
        }
        self.zero_grad()?;
        scaler.scale(loss).backward();
        let grads: Vec<Tensor> = self.slots.iter().map(|s| s.var.grad()).collect();
        let found_inf = scaler.unscale(&grads)?;
        if let Some(max) = clip {
            let _ = self.clip_grad_norm(max);
        }
        let finite = found_inf.double_value(&[0]) == 0.0;
        if finite {
            self.step()?;
        }
        scaler.update(&found_inf)?;
        Ok(finite)
    }

    /// Saves the state (step counts and buffers) to a safetensors file, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for slot in &self.slots {
            named.push((format!("step/{}", slot.name), Tensor::from_slice(&[slot.step])));
            for (buffer, t) in self.config.buffer_names().iter().zip(&slot.buffers) {
                named.push((format!("{buffer}/{}", slot.name), t.to_device(tch::Device::Cpu).contiguous()));
            }
        }
        crate::checkpoint::write_tensors(path, &named)
    }

    /// Restores the state saved by [`Optimizer::save`]. Fails with
    /// [`Error::OptimizerStateMismatch`] (nothing changed) unless the file holds exactly this
    /// optimiser's entries with the same shapes.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let read = Tensor::read_safetensors(path)
            .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), reason: e.to_string() })?;
        let mut file: BTreeMap<String, Tensor> = read.into_iter().collect();
        let (mut missing, mut misshaped) = (Vec::new(), Vec::new());
        let mut plan: Vec<(usize, Option<usize>, Tensor)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let step_key = format!("step/{}", slot.name);
            match file.remove(&step_key) {
                Some(t) if t.size() == [1] && t.kind() == Kind::Int64 => plan.push((i, None, t)),
                Some(t) => misshaped.push(format!("{step_key}: file {:?} {:?} vs [1] Int64", t.size(), t.kind())),
                None => missing.push(step_key),
            }
            for (b, buffer) in self.config.buffer_names().iter().enumerate() {
                let key = format!("{buffer}/{}", slot.name);
                match file.remove(&key) {
                    Some(t) if t.size() == slot.var.size() => plan.push((i, Some(b), t)),
                    Some(t) => misshaped.push(format!("{key}: file {:?} vs model {:?}", t.size(), slot.var.size())),
                    None => missing.push(key),
                }
            }
        }
        let unexpected: Vec<String> = file.into_keys().collect();
        if !(missing.is_empty() && unexpected.is_empty() && misshaped.is_empty()) {
            return Err(Error::OptimizerStateMismatch { path: path.to_path_buf(), missing, unexpected, misshaped });
        }
        tch::no_grad(|| {
            for (i, buffer, t) in plan {
                let slot = &mut self.slots[i];
                match buffer {
                    None => {
                        slot.step = t.int64_value(&[0]);
                        let _ = slot.step_tensor.fill_(slot.step as f64);
                    }
                    Some(b) => {
                        let kind = slot.buffers[b].kind();
                        slot.buffers[b].copy_(&t.to_kind(kind));
                    }
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, Module, OptimizerConfig as _};
    use tch::{Device, Kind};

    /// A 3 → 2 linear model, its store seeded, and a fixed regression batch.
    /// A 3 → 2 linear layer whose weights are a function of `seed` alone. They are written
    /// here rather than drawn after `manual_seed`: libtorch's RNG is process-global and the unit
    /// tests run on parallel threads, so a draw by another test in between made two "equal"
    /// problems differ (seen in CI as a 1.9 Adam difference).
    fn problem(seed: i64) -> (VarStore, nn::Linear, Tensor, Tensor) {
        let vs = VarStore::new(Device::Cpu);
        let lin = nn::linear(vs.root() / "lin", 3, 2, Default::default());
        let value = |i: i64| ((seed * 31 + i) as f32 * 0.7).sin() * 0.5;
        tch::no_grad(|| {
            lin.ws.shallow_clone().copy_(&Tensor::from_slice(&(0..6).map(value).collect::<Vec<_>>()).view([2, 3]));
            if let Some(b) = &lin.bs {
                b.shallow_clone().copy_(&Tensor::from_slice(&[value(6), value(7)]));
            }
        });
        let x = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 1.5, 0.25, -0.75]).view([2, 3]);
        let y = Tensor::from_slice(&[1.0f32, -1.0, 0.0, 2.0]).view([2, 2]);
        (vs, lin, x, y)
    }

    fn loss(lin: &nn::Linear, x: &Tensor, y: &Tensor) -> Tensor {
        (lin.forward(x) - y).square().mean(Kind::Float)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn one_adam_step_matches_the_formula() {
        // θ = 1, g = 2 (loss 2θ... via a scalar variable and loss = 2θ), lr = 0.1:
        // m = 0.1·2 = 0.2, v = 0.001·4 = 0.004, m̂ = 0.2/0.1 = 2, v̂ = 0.004/0.001 = 4,
        // θ ← 1 − 0.1 · 2/(2 + 1e-8) = 0.9 (to 1e-9).
        let vs = VarStore::new(Device::Cpu);
        let theta = vs.root().ones("theta", &[1]);
        let mut opt = Optimizer::new(&vs, &OptimizerConfig { lr: 0.1, ..Default::default() }).unwrap();
        opt.backward_step(&(&theta * 2.0).sum(Kind::Float), None).unwrap();
        assert!((theta.double_value(&[0]) - 0.9).abs() < 1e-7, "{}", theta.double_value(&[0]));
        // Second step, same gradient: m = 0.9·0.2 + 0.2 = 0.38, v = 0.999·0.004 + 0.004 = 0.007996,
        // m̂ = 0.38/0.19 = 2, v̂ = 0.007996/0.001999 = 4 → θ = 0.8.
        opt.backward_step(&(&theta * 2.0).sum(Kind::Float), None).unwrap();
        assert!((theta.double_value(&[0]) - 0.8).abs() < 1e-6, "{}", theta.double_value(&[0]));
        assert_eq!(opt.steps(), 2);
    }

    #[test]
    fn sgd_momentum_matches_the_formula() {
        // θ = 1, g = 2, lr = 0.1, μ = 0.5, wd = 0.5: g' = 2 + 0.5 = 2.5, b = 2.5, θ = 0.75.
        // Step 2: g' = 2 + 0.375 = 2.375, b = 1.25 + 2.375 = 3.625, θ = 0.75 − 0.3625 = 0.3875.
        let vs = VarStore::new(Device::Cpu);
        let theta = vs.root().ones("theta", &[1]);
        let cfg = OptimizerConfig {
            kind: OptimizerKind::Sgd,
            lr: 0.1,
            momentum: 0.5,
            weight_decay: 0.5,
            ..Default::default()
        };
        let mut opt = Optimizer::new(&vs, &cfg).unwrap();
        opt.backward_step(&(&theta * 2.0).sum(Kind::Float), None).unwrap();
        assert!((theta.double_value(&[0]) - 0.75).abs() < 1e-7);
        opt.backward_step(&(&theta * 2.0).sum(Kind::Float), None).unwrap();
        assert!((theta.double_value(&[0]) - 0.3875).abs() < 1e-7);
    }

    #[test]
    fn agrees_with_libtorch_optimisers() {
        type Build = fn(&VarStore) -> nn::Optimizer;
        let cases: [(OptimizerConfig, Build); 4] = [
            (OptimizerConfig { lr: 0.01, ..Default::default() }, |vs| nn::Adam::default().build(vs, 0.01).unwrap()),
            (OptimizerConfig { lr: 0.01, weight_decay: 0.1, ..Default::default() }, |vs| {
                nn::Adam { wd: 0.1, ..Default::default() }.build(vs, 0.01).unwrap()
            }),
            (OptimizerConfig { kind: OptimizerKind::AdamW, lr: 0.01, weight_decay: 0.1, ..Default::default() }, |vs| {
                nn::AdamW { wd: 0.1, ..Default::default() }.build(vs, 0.01).unwrap()
            }),
            (
                OptimizerConfig {
                    kind: OptimizerKind::Sgd,
                    lr: 0.05,
                    momentum: 0.9,
                    nesterov: true,
                    weight_decay: 0.01,
                    ..Default::default()
                },
                |vs| nn::sgd(0.9, 0.0, 0.01, true).build(vs, 0.05).unwrap(),
            ),
        ];
        for (cfg, build) in cases {
            let (vs_a, lin_a, x, y) = problem(3);
            let (vs_b, lin_b, _, _) = problem(3);
            let mut ours = Optimizer::new(&vs_a, &cfg).unwrap();
            let mut theirs = build(&vs_b);
            for _ in 0..5 {
                ours.backward_step(&loss(&lin_a, &x, &y), None).unwrap();
                theirs.backward_step(&loss(&lin_b, &x, &y));
            }
            let d =
                max_diff(&lin_a.ws, &lin_b.ws).max(max_diff(lin_a.bs.as_ref().unwrap(), lin_b.bs.as_ref().unwrap()));
            // float32 with a different association of a few products: a few ulps.
            assert!(d < 1e-6, "{:?}: max |ours − libtorch| = {d}", cfg.kind);
        }
    }

    #[test]
    fn saved_state_resumes_bit_identically() {
        for kind in [OptimizerKind::Adam, OptimizerKind::AdamW, OptimizerKind::Sgd] {
            let cfg = OptimizerConfig { kind, lr: 0.01, weight_decay: 0.01, ..Default::default() };
            let dir = tempfile::tempdir().unwrap();
            let (vs_a, lin_a, x, y) = problem(5);
            let mut a = Optimizer::new(&vs_a, &cfg).unwrap();
            for _ in 0..3 {
                a.backward_step(&loss(&lin_a, &x, &y), None).unwrap();
            }
            let (wpath, opath) = (dir.path().join("w.safetensors"), dir.path().join("o.safetensors"));
            vs_a.save(&wpath).unwrap();
            a.save(&opath).unwrap();
            // A fresh model and optimiser restored from the files.
            let (mut vs_b, lin_b, _, _) = problem(99);
            vs_b.load(&wpath).unwrap();
            let mut b = Optimizer::new(&vs_b, &cfg).unwrap();
            b.load(&opath).unwrap();
            assert_eq!(b.steps(), 3);
            for _ in 0..3 {
                a.backward_step(&loss(&lin_a, &x, &y), None).unwrap();
                b.backward_step(&loss(&lin_b, &x, &y), None).unwrap();
            }
            assert_eq!(max_diff(&lin_a.ws, &lin_b.ws), 0.0, "{kind:?}");
        }
    }

    #[test]
    fn load_rejects_a_foreign_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.safetensors");
        let (vs, lin, x, y) = problem(1);
        let mut adam = Optimizer::new(&vs, &OptimizerConfig::default()).unwrap();
        adam.backward_step(&loss(&lin, &x, &y), None).unwrap();
        adam.save(&path).unwrap();
        let sgd_cfg = OptimizerConfig { kind: OptimizerKind::Sgd, ..Default::default() };
        let mut sgd = Optimizer::new(&vs, &sgd_cfg).unwrap();
        match sgd.load(&path) {
            Err(Error::OptimizerStateMismatch { missing, unexpected, .. }) => {
                assert!(missing.iter().any(|k| k.starts_with("momentum_buffer/")), "{missing:?}");
                assert!(unexpected.iter().any(|k| k.starts_with("exp_avg/")), "{unexpected:?}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        // A differently shaped model.
        let vs2 = VarStore::new(Device::Cpu);
        let _ = nn::linear(vs2.root() / "lin", 4, 2, Default::default());
        let mut other = Optimizer::new(&vs2, &OptimizerConfig::default()).unwrap();
        assert!(
            matches!(other.load(&path), Err(Error::OptimizerStateMismatch { misshaped, .. }) if !misshaped.is_empty())
        );
        assert!(matches!(other.load(&dir.path().join("absent.safetensors")), Err(Error::Checkpoint { .. })));
    }

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

    #[test]
    fn config_validation_and_serde() {
        assert!(OptimizerConfig { lr: 0.0, ..Default::default() }.validate().is_err());
        assert!(OptimizerConfig { beta2: 1.0, ..Default::default() }.validate().is_err());
        assert!(OptimizerConfig { nesterov: true, ..Default::default() }.validate().is_err());
        let c: OptimizerConfig = serde_json::from_str(r#"{"kind": "adamw", "weight_decay": 0.01}"#).unwrap();
        assert_eq!((c.kind, c.lr), (OptimizerKind::AdamW, 1e-4));
        assert!(serde_json::from_str::<OptimizerConfig>(r#"{"learning_rate": 0.1}"#).is_err());
    }

    #[test]
    fn a_variable_without_gradient_is_skipped_and_sgd_groups_first_steps() {
        // `b` is used only from step 2: without a gradient at step 1 (zero_grad sets none) it is
        // skipped; at step 2 it takes its first SGD step (buffer = gradient), `a` its second.
        for kind in [OptimizerKind::Adam, OptimizerKind::Sgd] {
            let vs = VarStore::new(Device::Cpu);
            let a = vs.root().ones("a", &[1]);
            let b = vs.root().ones("b", &[1]);
            let cfg = OptimizerConfig { kind, lr: 0.1, momentum: 0.5, ..Default::default() };
            let mut opt = Optimizer::new(&vs, &cfg).unwrap();
            opt.backward_step(&(&a * 2.0).sum(Kind::Float), None).unwrap();
            assert_eq!(b.double_value(&[0]), 1.0, "{kind:?}");
            assert!(!b.grad().defined());
            opt.backward_step(&((&a * 2.0) + (&b * 2.0)).sum(Kind::Float), None).unwrap();
            let (dir, file) = (tempfile::tempdir().unwrap(), "o.safetensors");
            opt.save(&dir.path().join(file)).unwrap();
            let read: BTreeMap<_, _> = Tensor::read_safetensors(dir.path().join(file)).unwrap().into_iter().collect();
            assert_eq!(read["step/a"].int64_value(&[0]), 2, "{kind:?}");
            assert_eq!(read["step/b"].int64_value(&[0]), 1, "{kind:?}");
            match kind {
                // b's first Adam step moves it by lr (m̂/√v̂ = 1): 0.9.
                OptimizerKind::Adam => assert!((b.double_value(&[0]) - 0.9).abs() < 1e-6),
                // SGD: a: b₁ = 2, θ = 0.8; b₂ = 0.5·2 + 2 = 3, θ = 0.5. b: first step, θ = 0.8.
                _ => {
                    assert!((a.double_value(&[0]) - 0.5).abs() < 1e-6, "{}", a.double_value(&[0]));
                    assert!((b.double_value(&[0]) - 0.8).abs() < 1e-6, "{}", b.double_value(&[0]));
                }
            }
        }
    }
}
