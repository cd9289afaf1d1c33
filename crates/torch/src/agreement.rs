//! CPU-vs-device agreement (docs/gpu.md §3): the same network, built once on the CPU and copied
//! variable by variable to the device, run on the same random batch on both; the eval outputs,
//! the loss, the gradients of one training step and the eval outputs after that step (plain
//! SGD) are compared. What the network is, how it reads the batch and what its loss is belong
//! to a [`Subject`]; this module knows only variable stores and tensors.
//!
//! Each comparison is `max |cpu − device| / max |cpu|` over all elements, a difference relative
//! to the scale of the CPU values (an element-wise ratio is meaningless where logits cross 0).
//! The step's forward runs in eval mode: dropout would draw different masks on the two devices
//! (their generators differ), and batch-norm batch statistics would differ with them. SGD, not
//! Adam: Adam's first step is `lr · sign(grad)`, which turns rounding noise in gradients near
//! zero into whole-`lr` differences.

use serde::{Deserialize, Serialize};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

use crate::error::{Error, Result};

/// A network built in one variable store, run in eval mode.
pub trait Network<E> {
    /// The output to compare (logits) of `inputs`, which are on the network's device.
    fn forward(&self, inputs: &[Tensor]) -> Result<Tensor, E>;
}

/// What the check compares: a network built once per side, one batch, one loss.
pub trait Subject {
    /// The error of building or running the network; the check's own errors convert into it.
    type Error: From<Error>;

    /// Builds the network's variables in `vs`. Both calls must create the same variables, so
    /// that the CPU weights copy over by name.
    fn build<'a>(&'a self, vs: &nn::VarStore) -> Result<Box<dyn Network<Self::Error> + 'a>, Self::Error>;

    /// The batch, on the CPU: the network's inputs and the loss target. Drawn after both
    /// networks are built, from the seeded generator.
    fn batch(&self) -> (Vec<Tensor>, Tensor);

    /// The training loss of `output` against `target` (a scalar).
    fn loss(&self, output: &Tensor, target: &Tensor) -> Tensor;
}

/// The settings of one check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Check {
    /// Seed for the weights and the batch.
    pub seed: i64,
    /// SGD learning rate of the training step.
    pub lr: f64,
    /// Largest relative difference that counts as agreement.
    pub tolerance: f64,
}

/// One comparison of CPU values against device values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// `max |cpu − device|`.
    pub max_abs: f64,
    /// `max |cpu|`, the scale.
    pub scale: f64,
    /// `max_abs / scale` (`max_abs` when the scale is 0).
    pub relative: f64,
}

impl Difference {
    /// The difference of `device` from `cpu`; fails with [`Error::Shape`] when their shapes differ.
    pub fn between(cpu: &Tensor, device: &Tensor) -> Result<Self> {
        if cpu.size() != device.size() {
            return Err(Error::Shape {
                what: "device result".into(),
                expected: format!("{:?}", cpu.size()),
                got: format!("{:?}", device.size()),
            });
        }
        let cpu = cpu.to_kind(Kind::Double);
        let device = device.to(Device::Cpu).to_kind(Kind::Double);
        let max_abs = (&cpu - &device).abs().max().double_value(&[]);
        let scale = cpu.abs().max().double_value(&[]);
        let relative = if scale > 0.0 { max_abs / scale } else { max_abs };
        Ok(Difference { max_abs, scale, relative })
    }
}

/// What [`compare`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The device compared with the CPU, printed (`Cuda(0)`).
    pub device: String,
    /// Eval-mode outputs before the step.
    pub forward: Difference,
    /// The loss of the training step.
    pub loss: Difference,
    /// Every trainable variable's gradient, concatenated in name order.
    pub gradients: Difference,
    /// Eval-mode outputs after the SGD step.
    pub after_step: Difference,
    /// Every relative difference is at most the check's tolerance.
    pub agrees: bool,
}

/// What one side computed, before comparison.
struct Side {
    output: Tensor,
    loss: Tensor,
    gradients: Tensor,
    after_step: Tensor,
}

/// Runs the forward, the training step and the forward after it on the store's device.
fn run_side<S: Subject>(
    subject: &S,
    (vs, network): (&nn::VarStore, &dyn Network<S::Error>),
    (inputs, target): (&[Tensor], &Tensor),
    lr: f64,
) -> Result<Side, S::Error> {
    let device = vs.device();
    let inputs: Vec<Tensor> = inputs.iter().map(|x| x.to(device)).collect();
    let target = target.to(device);
    let eval = || tch::no_grad(|| network.forward(&inputs));
    let output = eval()?;
    let mut opt = nn::Sgd::default()
        .build(vs, lr)
        .map_err(|e| Error::Unsupported { what: "SGD optimiser".into(), reason: e.to_string() })?;
    let loss = subject.loss(&network.forward(&inputs)?, &target);
    opt.zero_grad();
    loss.backward();
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, v)| v.requires_grad()).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let grads: Vec<Tensor> =
        named.iter().filter(|(_, v)| v.grad().defined()).map(|(_, v)| v.grad().flatten(0, -1)).collect();
    let gradients = if grads.is_empty() { Tensor::zeros([0], (Kind::Float, device)) } else { Tensor::cat(&grads, 0) };
    opt.step();
    let after_step = eval()?;
    let cpu = |t: &Tensor| t.detach().to(Device::Cpu);
    Ok(Side { output: cpu(&output), loss: cpu(&loss), gradients: cpu(&gradients), after_step: cpu(&after_step) })
}

/// Compares `subject` on the CPU with the same network on `device`. With `device = Device::Cpu`
/// it compares the CPU with itself (a check of the check).
pub fn compare<S: Subject>(subject: &S, check: Check, device: Device) -> Result<Comparison, S::Error> {
    if check.tolerance.is_nan() || check.tolerance <= 0.0 {
        return Err(Error::invalid("tolerance", check.tolerance, "> 0").into());
    }
    tch::manual_seed(check.seed);
    let cpu_vs = nn::VarStore::new(Device::Cpu);
    let cpu_network = subject.build(&cpu_vs)?;
    let mut dev_vs = nn::VarStore::new(device);
    let dev_network = subject.build(&dev_vs)?;
    dev_vs
        .copy(&cpu_vs)
        .map_err(|e| Error::Unsupported { what: "copying the weights".into(), reason: e.to_string() })?;
    let (inputs, target) = subject.batch();
    let batch = (inputs.as_slice(), &target);

    let cpu = run_side(subject, (&cpu_vs, cpu_network.as_ref()), batch, check.lr)?;
    let dev = run_side(subject, (&dev_vs, dev_network.as_ref()), batch, check.lr)?;
    let forward = Difference::between(&cpu.output, &dev.output)?;
    let loss = Difference::between(&cpu.loss, &dev.loss)?;
    let gradients = Difference::between(&cpu.gradients, &dev.gradients)?;
    let after_step = Difference::between(&cpu.after_step, &dev.after_step)?;
    let agrees = [forward, loss, gradients, after_step].iter().all(|d| d.relative <= check.tolerance);
    Ok(Comparison { device: format!("{device:?}"), forward, loss, gradients, after_step, agrees })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A linear layer and a mean-squared loss: the smallest subject with weights and gradients.
    struct Linear;

    impl Network<Error> for nn::Linear {
        fn forward(&self, inputs: &[Tensor]) -> Result<Tensor> {
            Ok(inputs[0].apply(self))
        }
    }

    impl Subject for Linear {
        type Error = Error;
        fn build<'a>(&'a self, vs: &nn::VarStore) -> Result<Box<dyn Network<Error> + 'a>> {
            Ok(Box::new(nn::linear(vs.root() / "fc", 4, 2, Default::default())))
        }
        fn batch(&self) -> (Vec<Tensor>, Tensor) {
            let opts = (Kind::Float, Device::Cpu);
            (vec![Tensor::randn([3, 4], opts)], Tensor::randn([3, 2], opts))
        }
        fn loss(&self, output: &Tensor, target: &Tensor) -> Tensor {
            output.mse_loss(target, tch::Reduction::Mean)
        }
    }

    const CHECK: Check = Check { seed: 0, lr: 1e-2, tolerance: 1e-3 };

    #[test]
    fn the_cpu_agrees_with_itself() {
        let c = compare(&Linear, CHECK, Device::Cpu).unwrap();
        assert!(c.agrees, "{c:?}");
        assert!(c.forward.scale > 0.0 && c.gradients.scale > 0.0 && c.loss.scale > 0.0, "{c:?}");
        assert_eq!((c.forward.max_abs, c.after_step.max_abs), (0.0, 0.0), "{c:?}");
        assert_eq!(c.device, "Cpu");
    }

    #[test]
    fn differences_are_relative_to_the_cpu_scale() {
        let cpu = Tensor::from_slice(&[2.0f32, -4.0]);
        let dev = Tensor::from_slice(&[2.0f32, -3.996]);
        let d = Difference::between(&cpu, &dev).unwrap();
        assert!((d.scale - 4.0).abs() < 1e-9 && (d.relative - 1e-3).abs() < 1e-6, "{d:?}");
        assert!(Difference::between(&cpu, &Tensor::from_slice(&[1.0f32])).is_err());
        let zero = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        // A zero scale: the difference is absolute.
        let d = Difference::between(&zero, &dev).unwrap();
        assert!(d.scale == 0.0 && (d.relative - 3.996).abs() < 1e-6, "{d:?}");
    }

    #[test]
    fn a_non_positive_tolerance_is_refused() {
        for tolerance in [0.0, -1.0, f64::NAN] {
            let e = compare(&Linear, Check { tolerance, ..CHECK }, Device::Cpu).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { field: "tolerance", .. }), "{e}");
        }
    }
}
