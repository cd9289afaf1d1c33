//! Packed-weight inference (docs/speed.md §10): inside an inference session, with gradients off,
//! every backbone (with and without LoRA adapters, in both layouts) packs its weights and
//! computes the eval outputs of its eager forward up to rounding, in f32 and under bf16
//! autocast; a training forward is not packed; a new session sees changed weights.

use lssg_backbones::BackboneKind;
use lssg_torch::packed::{Inference, Session, packed_layers};
use lssg_torch::{Layout, Precision};
use tch::{Device, Kind, Tensor};

mod common;

use common::{CPU, configs, network, seeded};

fn inputs(channels: &[i64], size: i64) -> Vec<Tensor> {
    let _seeded = seeded();
    tch::manual_seed(5);
    channels.iter().map(|&c| Tensor::randn([2, c, size, size], CPU)).collect()
}

/// `a` equals `b` up to `rtol` of `b`'s largest magnitude.
fn close(a: &Tensor, b: &Tensor, rtol: f64, what: &str) {
    assert_eq!(a.size(), b.size(), "{what}");
    let (a, b) = (a.to_kind(Kind::Float), b.to_kind(Kind::Float));
    let scale = b.abs().max().double_value(&[]);
    let diff = (&a - &b).abs().max().double_value(&[]);
    assert!(diff <= rtol * scale + 1e-6, "{what}: max |diff| {diff} (max |value| {scale})");
}

#[test]
fn packed_eval_outputs_equal_eager_for_every_backbone_layout_and_precision() {
    let channels = [3i64, 2, 1];
    let xs = inputs(&channels, 32);
    let avail = Tensor::from_slice(&[1f32, 0., 1., 1., 1., 0.]).view([2, 3]);
    let rows = Tensor::from_slice(&[1f32, 1., 1., 0., 1., 0., 1., 0., 1.]).view([3, 3]);
    for cfg in configs() {
        for layout in [Layout::Nchw, Layout::ChannelsLast] {
            let net = network(&cfg, &channels, true).laid_out(layout).unwrap();
            // f32: oneDNN's packed kernels sum in another order than the eager ones; bf16: both
            // round every layer's output to 8 bits of mantissa, at different places.
            for (precision, rtol) in [(Precision::Fp32, 1e-4), (Precision::Bf16, 6e-2)] {
                let label = format!("{} lora={} {layout} {precision}", cfg.backbone, cfg.lora.is_some());
                let run = |packed: bool| {
                    let _session = packed.then(Session::begin);
                    let out = precision
                        .autocast(Device::Cpu, || {
                            tch::no_grad(|| {
                                let one = net.net.forward_t(&xs, &avail, false).unwrap();
                                let again = net.net.forward_t(&xs, &avail, false).unwrap();
                                let all = net.net.forward_scenarios(&xs, &rows).unwrap();
                                (one, again, all)
                            })
                        })
                        .unwrap();
                    (out, packed_layers())
                };
                let ((eager, _, eager_all), none) = run(false);
                let ((packed, again, packed_all), layers) = run(true);
                assert_eq!(none, 0, "{label}");
                assert!(layers > 0, "{label}: no layer packed its weights");
                if cfg.backbone == BackboneKind::Cmx {
                    assert!(layers >= 20, "{label}: only {layers} layers packed");
                }
                assert!(packed.logits.equal(&again.logits), "{label}: a pack reused gives the same logits");
                close(&packed.logits, &eager.logits, rtol, &format!("{label}: logits"));
                close(&packed.latent, &eager.latent, rtol, &format!("{label}: latent"));
                close(&packed_all.logits, &eager_all.logits, rtol, &format!("{label}: scenario logits"));
            }
        }
    }
    assert_eq!(packed_layers(), 0, "the packs go with the session");
}

#[test]
fn a_training_forward_is_never_packed_and_a_new_session_sees_new_weights() {
    let cfg = configs()[0].clone();
    let channels = [3i64, 1];
    let net = network(&cfg, &channels, true);
    let xs = inputs(&channels, 32);
    let avail = Tensor::ones([2, 2], CPU);
    // With gradients on (training), a session changes nothing, bit for bit.
    let plain = net.net.forward_t(&xs, &avail, false).unwrap();
    {
        let _session = Session::begin();
        let inside = net.net.forward_t(&xs, &avail, false).unwrap();
        assert!(inside.logits.equal(&plain.logits));
        assert_eq!(packed_layers(), 0);
    }
    let eval = |packed: bool| {
        let _session = packed.then(Session::begin);
        tch::no_grad(|| net.net.forward_t(&xs, &avail, false).unwrap().logits)
    };
    let before = eval(true);
    // An optimiser step between sessions: every weight moves.
    tch::no_grad(|| {
        for (name, mut var) in net.vs.variables() {
            if name.ends_with("weight") {
                let _ = var.g_mul_scalar_(1.1);
            }
        }
    });
    let (after, eager) = (eval(true), eval(false));
    close(&after, &eager, 1e-4, "a new session packs the new weights");
    assert!((&after - &before).abs().max().double_value(&[]) > 1e-3, "the weights did change the logits");
}

#[test]
fn auto_packs_cmx_and_runs_cbc_eagerly_in_both_layouts() {
    let channels = [3i64, 2, 1];
    for cfg in configs() {
        for layout in [Layout::Nchw, Layout::ChannelsLast] {
            let net = network(&cfg, &channels, false).laid_out(layout).unwrap();
            let label = format!("{} lora={} {layout}", cfg.backbone, cfg.lora.is_some());
            let auto = if cfg.backbone == BackboneKind::Cmx { Inference::Auto } else { Inference::Eager };
            assert_eq!(net.net.inference(Inference::Auto), auto, "{label}");
            for explicit in [Inference::Eager, Inference::Packed] {
                assert_eq!(net.net.inference(explicit), explicit, "{label}: {explicit} is kept");
            }
        }
    }
}
