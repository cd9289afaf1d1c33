//! One optimisation step (docs/method.md §5): [`StepContext`] holds what a step needs, the
//! model, the optimiser, the gradient scaler, the precision, the device, the loss strategy,
//! clipping and an optional gradient hook; [`StepContext::step`] takes a [`StepBatch`].
//!
//! The sequence, the same for the training loop and for `lssg model bench`:
//!
//! 1. forward in train mode and the loss, under the precision's autocast (a no-op region for
//!    fp32), the output cast to f32 before the loss;
//! 2. a NaN or infinite loss is refused ([`Error::NonFiniteLoss`]) before anything changes;
//! 3. `zero_grad`, backward on the loss (times the scale S for fp16, docs/precision.md §3);
//! 4. the [`GradientHook`], if any, sees the gradients as backward left them (still scaled);
//! 5. fp16: the gradients are unscaled and checked; clipping by global norm when configured;
//! 6. the optimiser step (fp16: only when the gradients are finite), then the scale update.
//!
//! The loss of step 1 is a [`LossStrategy`]; a [`LossConfig`] is one (the segmentation loss of
//! [`output_loss`]). Strategies that weight the loss per group of samples or add a teacher's
//! term implement the trait; a data-parallel run all-reduces the gradients in a hook.

use lssg_backbones::{ModelOutput, SegmentationModel};
use lssg_scenario::Scenario;
use lssg_torch::{GradScaler, Precision};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::error::{Error, Result};
use crate::loss::{LossConfig, output_loss};
use crate::optim::Optimizer;
use crate::state_check::StateFile;
use crate::train::config::TrainConfig;

/// Where a step is in its run, 1-based (errors and hooks name it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepIndex {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Step within the epoch, 1-based.
    pub step: usize,
}

/// One training batch on the step's device.
#[derive(Debug, Clone, Copy)]
pub struct StepBatch<'a> {
    /// One `[B, C_m, H, W]` tensor per modality.
    pub inputs: &'a [Tensor],
    /// `[B, H, W]` class indices (255 = ignore).
    pub labels: &'a Tensor,
    /// `[B, M]` availability, one row per sample (built from `scenarios`).
    pub availability: &'a Tensor,
    /// The scenario drawn for each sample.
    pub scenarios: &'a [Scenario],
}

/// The loss a step minimises, computed from the model's train-mode output (cast to f32).
///
/// A loss that carries state from step to step (group DRO's scenario weights) hands it to the
/// checkpointer through [`LossStrategy::state`] after every epoch and takes it back through
/// [`LossStrategy::restore`] when a run resumes, so a resumed run continues bit for bit.
pub trait LossStrategy {
    /// The 0-d loss of `batch` given the model's output `out` at step `at`.
    fn loss(&mut self, out: &ModelOutput, batch: &StepBatch<'_>, at: StepIndex) -> Result<Tensor>;

    /// The state to save with the epoch's checkpoint (`None` for a stateless loss).
    fn state(&self) -> Option<LossState> {
        None
    }

    /// Restores the state read back from `file` (`None` when the file holds none), checking it
    /// first. A stateless loss accepts only `None`.
    fn restore(&mut self, state: Option<&LossState>, file: &StateFile<'_>) -> Result<()> {
        match state {
            None => Ok(()),
            Some(_) => Err(file.invalid("loss_state", "present, but this run's loss carries no state")),
        }
    }

    /// Per-scenario weights to record with the epoch (canonical order; group DRO's q), if any.
    fn weights(&self) -> Option<Vec<f64>> {
        None
    }
}

/// The state a loss carries between steps, as `state.json` stores it (`loss_state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LossState {
    /// Group DRO's scenario weights q, canonical order (docs/method.md §5.10).
    GroupDro {
        /// One weight per scenario; a distribution.
        q: Vec<f64>,
    },
}

/// The configured segmentation loss ([`output_loss`]), the same for every sample.
impl LossStrategy for LossConfig {
    fn loss(&mut self, out: &ModelOutput, batch: &StepBatch<'_>, _at: StepIndex) -> Result<Tensor> {
        output_loss(out, batch.labels, self)
    }
}

/// Called between backward and the optimiser step of every step.
pub trait GradientHook {
    /// `gradients` are the optimised variables' gradients, in the optimiser's order (undefined
    /// for a variable that received none), as backward left them: for fp16 still multiplied
    /// by the scaler's S, which unscaling divides out afterwards. Changes made in place are what
    /// clipping and the update see.
    fn after_backward(&mut self, gradients: &[Tensor], at: StepIndex) -> Result<()>;
}

/// Everything a training step needs besides the batch.
pub struct StepContext<'a> {
    /// The network being trained.
    pub net: &'a dyn SegmentationModel,
    /// The optimiser over the network's trainable variables.
    pub optimizer: Optimizer,
    /// fp16's loss scaler; the identity for fp32 and bf16.
    pub scaler: GradScaler,
    /// Arithmetic of the forward and the loss.
    pub precision: Precision,
    /// Where the variables and the batches live.
    pub device: Device,
    /// How a batch's loss is computed from the output.
    pub loss: Box<dyn LossStrategy + 'a>,
    /// Clip the gradients' global L2 norm to this value.
    pub grad_clip: Option<f64>,
    /// Sees the gradients after backward (none by default).
    pub gradient_hook: Option<Box<dyn GradientHook + 'a>>,
}

impl<'a> StepContext<'a> {
    /// The context `config` describes for `net`, whose variables live in `vs`: a fresh optimiser
    /// over the trainable ones, the scaler `config.precision` needs, the configured loss, no hook.
    pub fn new(net: &'a dyn SegmentationModel, vs: &VarStore, config: &TrainConfig) -> Result<Self> {
        let optimizer = Optimizer::new(vs, &config.optimizer)?;
        let device = vs.device();
        Ok(Self {
            net,
            optimizer,
            scaler: GradScaler::for_precision(config.precision, device),
            precision: config.precision,
            device,
            loss: Box::new(config.loss.clone()),
            grad_clip: config.grad_clip,
            gradient_hook: None,
        })
    }

    /// One optimisation step on `batch` (module docs); `at` names it in errors. Returns the loss.
    pub fn step(&mut self, batch: &StepBatch<'_>, at: StepIndex) -> Result<f64> {
        let (net, loss_strategy) = (self.net, &mut self.loss);
        let loss = self.precision.autocast(self.device, || -> Result<Tensor> {
            let out = net.forward_t(batch.inputs, batch.availability, true)?.into_f32();
            if out.logits.size().get(1) != Some(&net.num_classes()) {
                let size = batch.labels.size();
                let expected = [size[0], net.num_classes(), size[1], size[2]];
                return Err(Error::shape("logits [B, K, H, W]", expected, out.logits.size()));
            }
            loss_strategy.loss(&out, batch, at)
        })??;
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return Err(Error::NonFiniteLoss { epoch: at.epoch, step: at.step, value });
        }
        self.backward_and_update(&loss, at)?;
        Ok(value)
    }

    /// Steps 3–6 of the module docs. Returns whether the optimiser stepped (fp16 skips steps
    /// whose gradients overflowed).
    fn backward_and_update(&mut self, loss: &Tensor, at: StepIndex) -> Result<bool> {
        self.optimizer.zero_grad()?;
        // The identity when the scaler is disabled.
        self.scaler.scale(loss).backward();
        if let Some(hook) = self.gradient_hook.as_mut() {
            hook.after_backward(&self.optimizer.gradients(), at)?;
        }
        if !self.scaler.is_enabled() {
            self.clip();
            self.optimizer.step()?;
            return Ok(true);
        }
        let found_inf = self.scaler.unscale(&self.optimizer.gradients())?;
        self.clip();
        // One host synchronisation per step, as PyTorch's `scaler.step`.
        let finite = found_inf.double_value(&[0]) == 0.0;
        if finite {
            self.optimizer.step()?;
        }
        self.scaler.update(&found_inf)?;
        Ok(finite)
    }

    fn clip(&mut self) {
        if let Some(max) = self.grad_clip {
            let _ = self.optimizer.clip_grad_norm(max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lssg_backbones::model::check_inputs;
    use tch::Kind;
    use tch::nn::{self, Module};

    /// logits = conv1x1(x₀)·a₀ + conv1x1(x₁)·a₁ over two one-channel modalities, one class.
    #[derive(Debug)]
    struct Linear2 {
        convs: Vec<nn::Conv2D>,
    }

    impl SegmentationModel for Linear2 {
        fn forward_t(&self, xs: &[Tensor], avail: &Tensor, _train: bool) -> lssg_backbones::Result<ModelOutput> {
            check_inputs(&[1, 1], xs, avail)?;
            let maps: Vec<Tensor> = xs
                .iter()
                .zip(&self.convs)
                .enumerate()
                .map(|(m, (x, c))| lssg_backbones::layers::gate(&c.forward(x), avail, m as i64))
                .collect();
            let latent = Tensor::stack(&maps, 1);
            Ok(ModelOutput::new(latent.sum_dim_intlist(1, false, Kind::Float), latent))
        }
        fn hook_point(&self) -> &str {
            "stack"
        }
        fn num_classes(&self) -> i64 {
            1
        }
    }

    fn setup(vs: &VarStore) -> Linear2 {
        let convs = (0..2)
            .map(|m| {
                let conv = nn::conv2d(vs.root() / format!("c{m}"), 1, 1, 1, Default::default());
                tch::no_grad(|| {
                    let _ = conv.ws.shallow_clone().fill_(0.5 * (m + 1) as f64);
                    let _ = conv.bs.as_ref().unwrap().shallow_clone().fill_(0.0);
                });
                conv
            })
            .collect();
        Linear2 { convs }
    }

    /// Twice the mean squared logit: gradients that are easy to check by hand.
    struct SquaredLogits;

    impl LossStrategy for SquaredLogits {
        fn loss(&mut self, out: &ModelOutput, _: &StepBatch<'_>, _: StepIndex) -> Result<Tensor> {
            Ok(out.logits.square().mean(Kind::Float) * 2.0)
        }
    }

    /// Records each call and zeroes the gradient of `c0.weight` (as a stand-in for an all-reduce).
    struct ZeroFirst {
        calls: std::rc::Rc<std::cell::RefCell<Vec<(StepIndex, usize)>>>,
    }

    impl GradientHook for ZeroFirst {
        fn after_backward(&mut self, gradients: &[Tensor], at: StepIndex) -> Result<()> {
            self.calls.borrow_mut().push((at, gradients.iter().filter(|g| g.defined()).count()));
            let _ = gradients[1].shallow_clone().zero_();
            Ok(())
        }
    }

    fn batch_tensors() -> (Vec<Tensor>, Tensor, Tensor) {
        let x = Tensor::ones([1, 1, 2, 2], (Kind::Float, Device::Cpu));
        let labels = Tensor::zeros([1, 2, 2], (Kind::Int64, Device::Cpu));
        let avail = Tensor::from_slice(&[1.0f32, 1.0]).view([1, 2]);
        (vec![x.shallow_clone(), x], labels, avail)
    }

    #[test]
    fn a_step_with_a_custom_loss_and_hook_updates_as_the_hook_leaves_the_gradients() {
        let vs = VarStore::new(Device::Cpu);
        let net = setup(&vs);
        let config = TrainConfig {
            optimizer: crate::optim::OptimizerConfig {
                kind: crate::optim::OptimizerKind::Sgd,
                lr: 0.1,
                momentum: 0.0,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut ctx = StepContext::new(&net, &vs, &config).unwrap();
        let calls = std::rc::Rc::default();
        ctx.loss = Box::new(SquaredLogits);
        ctx.gradient_hook = Some(Box::new(ZeroFirst { calls: std::rc::Rc::clone(&calls) }));
        let (inputs, labels, avail) = batch_tensors();
        let batch = StepBatch { inputs: &inputs, labels: &labels, availability: &avail, scenarios: &[] };
        let at = StepIndex { epoch: 2, step: 5 };
        // logit = 0.5 + 1.0 = 1.5 everywhere: loss = 2·1.5² = 4.5, ∂loss/∂w_m = 4·1.5 = 6.
        assert_eq!(ctx.step(&batch, at).unwrap(), 4.5);
        assert_eq!(*calls.borrow(), [(at, 4)]);
        // Sorted names: c0.bias, c0.weight, c1.bias, c1.weight. c0.weight's gradient was zeroed.
        let w = |name: &str| vs.variables()[name].double_value(&[0, 0, 0, 0]);
        assert_eq!(w("c0.weight"), 0.5);
        assert!((w("c1.weight") - (1.0 - 0.1 * 6.0)).abs() < 1e-6, "{}", w("c1.weight"));
    }

    #[test]
    fn the_configured_loss_and_a_non_finite_loss() {
        let vs = VarStore::new(Device::Cpu);
        let net = setup(&vs);
        let mut ctx = StepContext::new(&net, &vs, &TrainConfig::default()).unwrap();
        let (inputs, labels, avail) = batch_tensors();
        let batch = StepBatch { inputs: &inputs, labels: &labels, availability: &avail, scenarios: &[] };
        let at = StepIndex { epoch: 1, step: 1 };
        // BCE of logit 1.5 against label 0 at every pixel: ln(1 + e^1.5).
        let expected = (1.0 + 1.5f64.exp()).ln();
        assert!((ctx.step(&batch, at).unwrap() - expected).abs() < 1e-6);
        tch::no_grad(|| {
            let _ = vs.variables()["c0.bias"].shallow_clone().fill_(f64::NAN);
        });
        let before = vs.variables()["c1.weight"].copy();
        let err = ctx.step(&batch, StepIndex { epoch: 3, step: 4 }).unwrap_err();
        assert!(matches!(err, Error::NonFiniteLoss { epoch: 3, step: 4, .. }), "{err}");
        assert!(vs.variables()["c1.weight"].equal(&before), "a refused step changes nothing");
    }

    /// A loss of 10³⁴ × the mean logit: finite, but times the scaler's 2¹⁶ its gradients overflow f32.
    struct Huge;

    impl LossStrategy for Huge {
        fn loss(&mut self, out: &ModelOutput, _: &StepBatch<'_>, _: StepIndex) -> Result<Tensor> {
            Ok(out.logits.mean(Kind::Float) * 1e34)
        }
    }

    /// Records the largest gradient backward left.
    struct MaxGradient(std::rc::Rc<std::cell::Cell<f64>>);

    impl GradientHook for MaxGradient {
        fn after_backward(&mut self, gradients: &[Tensor], _: StepIndex) -> Result<()> {
            let max = gradients.iter().map(|g| g.abs().max().double_value(&[])).fold(0.0, f64::max);
            self.0.set(max);
            Ok(())
        }
    }

    #[test]
    fn an_enabled_scaler_steps_as_without_it_and_skips_an_overflowing_step() {
        let config = TrainConfig::default();
        let (plain_vs, scaled_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        let (plain_net, scaled_net) = (setup(&plain_vs), setup(&scaled_vs));
        let mut plain = StepContext::new(&plain_net, &plain_vs, &config).unwrap();
        let mut scaled = StepContext::new(&scaled_net, &scaled_vs, &config).unwrap();
        scaled.scaler = GradScaler::new(Device::Cpu, true);
        let seen = std::rc::Rc::default();
        scaled.gradient_hook = Some(Box::new(MaxGradient(std::rc::Rc::clone(&seen))));
        let (inputs, labels, avail) = batch_tensors();
        let batch = StepBatch { inputs: &inputs, labels: &labels, availability: &avail, scenarios: &[] };
        let at = StepIndex { epoch: 1, step: 1 };
        assert_eq!(plain.step(&batch, at).unwrap(), scaled.step(&batch, at).unwrap());
        // The hook saw the gradients times S = 2¹⁶; unscaled, the update is the same to the bit.
        let max_plain = plain.optimizer.gradients().iter().map(|g| g.abs().max().double_value(&[])).fold(0.0, f64::max);
        assert_eq!(seen.get(), max_plain * 65536.0);
        for (name, w) in plain_vs.variables() {
            assert!(w.equal(&scaled_vs.variables()[&name]), "{name}");
        }
        let before = scaled_vs.variables()["c1.weight"].copy();
        scaled.loss = Box::new(Huge);
        assert!(scaled.step(&batch, StepIndex { epoch: 1, step: 2 }).unwrap().is_finite());
        assert!(scaled_vs.variables()["c1.weight"].equal(&before), "an overflowing step is skipped");
        assert_eq!(scaled.scaler.scale_value(), 32768.0, "and the scale halves");
    }
}
