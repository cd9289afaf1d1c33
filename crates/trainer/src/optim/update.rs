//! The update rules: one [`Optimizer::step`] applies Adam, AdamW or SGD to every variable that
//! has a gradient with libtorch's fused kernels ([`lssg_torch::fused`]), one kernel call per
//! group of variables, and advances their step counts.
//!
//! Adam and AdamW are one `_fused_adam_` / `_fused_adamw_` call over all stepping variables,
//! which read and advance their 0-d step tensors. SGD with momentum initialises a buffer to the
//! gradient at a variable's first step, so the variables at their first step and the others are
//! two calls of `_fused_sgd_`.

use lssg_torch::fused::{self, AdamStep, SgdStep};
use tch::Tensor;

use super::{Optimizer, OptimizerKind, Slot};
use crate::error::Result;

impl Optimizer {
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tch::nn::{self, OptimizerConfig as _, VarStore};
    use tch::{Device, Kind, Tensor};

    use super::super::testing::{loss, max_diff, problem};
    use crate::optim::{Optimizer, OptimizerConfig, OptimizerKind};

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
