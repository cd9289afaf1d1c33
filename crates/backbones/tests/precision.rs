//! A tiny CMX forward under bf16 autocast (docs/precision.md §5) stays close to its f32
//! forward, returns f32 outputs through `ModelOutput::into_f32` and leaves the weights in f32.

use lssg_backbones::{BackboneKind, ModelConfig, Preset};
use lssg_torch::Precision;
use tch::{Device, Kind, Tensor, nn};

const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

/// bf16 keeps 8 significant bits (relative rounding 2⁻⁹ ≈ 0.2 % per cast); through the tiny
/// CMX's layers the errors add up (measured: 1.5 % of the largest logit), so the test allows 5 %
/// of the f32 logits' largest magnitude (plus 0.02 absolute for near-zero logits) and checks
/// that the two agree on the sign of almost every pixel (docs/precision.md §5).
#[test]
fn cmx_tiny_forward_in_bf16_is_close_to_f32() {
    tch::manual_seed(7);
    let channels = [3, 2, 1];
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = ModelConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, classes: 1, ..Default::default() };
    let model = cfg.build(&vs, &channels).unwrap();
    let xs: Vec<Tensor> = channels.iter().map(|&c| Tensor::randn([2, c, 32, 32], CPU)).collect();
    let avail = Tensor::ones([2, 3], CPU);
    let f32_out = tch::no_grad(|| model.forward_t(&xs, &avail, false)).unwrap();
    let bf16_out = Precision::Bf16
        .autocast(Device::Cpu, || tch::no_grad(|| model.forward_t(&xs, &avail, false)))
        .unwrap()
        .unwrap();
    let bf16_out = bf16_out.into_f32();
    assert_eq!(bf16_out.logits.kind(), Kind::Float);
    assert_eq!(bf16_out.logits.size(), f32_out.logits.size());
    let scale = f32_out.logits.abs().max().double_value(&[]);
    let diff = (&bf16_out.logits - &f32_out.logits).abs().max().double_value(&[]);
    eprintln!("bf16 vs f32 logits: max |diff| {diff:.4e}, max |logit| {scale:.4e}");
    assert!(diff.is_finite() && diff <= 0.05 * scale + 0.02, "max |diff| {diff} vs max |logit| {scale}");
    let agree = f32_out.logits.ge(0.0).eq_tensor(&bf16_out.logits.ge(0.0)).to_kind(Kind::Float).mean(Kind::Float);
    assert!(agree.double_value(&[]) > 0.95);
    // The weights stay f32.
    assert!(vs.variables().values().all(|t| t.kind() == Kind::Float));
}
