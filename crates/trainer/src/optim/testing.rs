//! Test problems shared by the optimiser's unit tests: a tiny regression whose weights are a
//! function of a seed alone, its loss, and the largest difference of two tensors.

use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Tensor};

/// A 3 → 2 linear layer whose weights are a function of `seed` alone. They are written
/// here rather than drawn after `manual_seed`: libtorch's RNG is process-global and the unit
/// tests run on parallel threads, so a draw by another test in between made two "equal"
/// problems differ (seen in CI as a 1.9 Adam difference).
pub(super) fn problem(seed: i64) -> (VarStore, nn::Linear, Tensor, Tensor) {
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

pub(super) fn loss(lin: &nn::Linear, x: &Tensor, y: &Tensor) -> Tensor {
    (lin.forward(x) - y).square().mean(Kind::Float)
}

pub(super) fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}
