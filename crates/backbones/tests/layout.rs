//! Channels-last networks (docs/speed.md §8): every backbone, with and without LoRA adapters,
//! has its convolution weights (4-D, and CBC's 5-D) in channels-last order after `LoadedModel::laid_out`, computes the
//! outputs and gradients of the plain network up to f32 rounding, and saves the checkpoint the
//! plain network saves.

use lssg_backbones::{LoadedModel, Weights, checkpoint};
use lssg_torch::Layout;
use lssg_torch::layout::is_contiguous_as;
use tch::{Device, Kind, Tensor};

mod common;

use common::{CPU, configs, network, seeded};

/// `a` equals `b` up to `rtol` of `b`'s largest magnitude: the layouts run different kernels,
/// whose f32 roundings add up through the deep CBC (measured: 1.0·10⁻⁴ of the largest logit,
/// 1.2·10⁻³ of the largest gradient of a CBC-SLP batch-norm weight).
fn close(a: &Tensor, b: &Tensor, rtol: f64, what: &str) {
    assert_eq!(a.size(), b.size(), "{what}");
    let scale = b.abs().max().double_value(&[]);
    let diff = (a - b).abs().max().double_value(&[]);
    assert!(diff <= rtol * scale + 1e-6, "{what}: max |diff| {diff} (max |value| {scale})");
}

#[test]
fn channels_last_weights_and_outputs_equal_nchw_for_every_backbone() {
    let channels = [3i64, 2, 1];
    for cfg in configs() {
        let label = format!("{} lora={}", cfg.backbone, cfg.lora.is_some());
        let plain = network(&cfg, &channels, false);
        let laid = network(&cfg, &channels, false).laid_out(Layout::ChannelsLast).unwrap();
        let mut four_d = 0;
        for (name, var) in laid.vs.variables() {
            if matches!(var.dim(), 4 | 5) {
                four_d += 1;
                assert!(is_contiguous_as(&var, true).unwrap(), "{label}: {name} {:?}", var.stride());
                let (size, stride) = (var.size(), var.stride());
                // The input channels are adjacent (stride 1) whenever the kernel has more than one tap.
                if size[2..].iter().product::<i64>() > 1 && size[1] > 1 {
                    assert_eq!(stride[1], 1, "{label}: {name} {stride:?}");
                    assert_eq!(stride[0], size[1..].iter().product::<i64>(), "{label}: {name}");
                }
                assert_eq!(var.requires_grad(), plain.vs.variables()[&name].requires_grad(), "{label}: {name}");
            }
        }
        assert!(four_d > 0, "{label}");
        let xs: Vec<Tensor> = {
            let _seeded = seeded();
            tch::manual_seed(5);
            channels.iter().map(|&c| Tensor::randn([2, c, 32, 32], CPU)).collect()
        };
        let avail = Tensor::from_slice(&[1f32, 0., 1., 1., 1., 0.]).view([2, 3]);
        // Eval forward, every scenario at once, and a train-mode forward with its gradients.
        let (a, b) = tch::no_grad(|| {
            (plain.net.forward_t(&xs, &avail, false).unwrap(), laid.net.forward_t(&xs, &avail, false).unwrap())
        });
        close(&b.logits, &a.logits, 5e-4, &format!("{label}: eval logits"));
        close(&b.latent, &a.latent, 5e-4, &format!("{label}: eval latent"));
        let rows = Tensor::from_slice(&[1f32, 1., 1., 0., 1., 0., 1., 0., 1.]).view([3, 3]);
        let (a, b) = tch::no_grad(|| {
            (plain.net.forward_scenarios(&xs, &rows).unwrap(), laid.net.forward_scenarios(&xs, &rows).unwrap())
        });
        close(&b.logits, &a.logits, 5e-4, &format!("{label}: scenarios logits"));
        // Gradients through the eval-mode forward (train mode draws dropout masks in memory
        // order, so its masks differ between layouts; docs/speed.md §8).
        let (a, b) =
            (plain.net.forward_t(&xs, &avail, false).unwrap(), laid.net.forward_t(&xs, &avail, false).unwrap());
        a.logits.square().mean(Kind::Float).backward();
        b.logits.square().mean(Kind::Float).backward();
        let theirs = plain.vs.variables();
        for (name, var) in laid.vs.variables() {
            let (mine, plain_grad) = (var.grad(), theirs[&name].grad());
            assert_eq!(mine.defined(), plain_grad.defined(), "{label}: {name}");
            if mine.defined() {
                // Gradients sum over every pixel, in an order that depends on the layout.
                close(&mine, &plain_grad, 5e-3, &format!("{label}: gradient of {name}"));
            }
        }
    }
}

#[test]
fn a_channels_last_network_saves_the_plain_checkpoint_and_loads_it_back() {
    let channels = [3i64, 1];
    let dir = std::env::temp_dir().join(format!("lssg-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for cfg in [configs()[0].clone(), configs()[3].clone()] {
        let label = format!("{} lora={}", cfg.backbone, cfg.lora.is_some());
        let plain = network(&cfg, &channels, false);
        let laid = network(&cfg, &channels, false).laid_out(Layout::ChannelsLast).unwrap();
        let (p, l) = (dir.join("plain.safetensors"), dir.join("laid.safetensors"));
        checkpoint::save(&plain.vs, &p).unwrap();
        checkpoint::save(&laid.vs, &l).unwrap();
        let (pt, lt) = (checkpoint::read(&p).unwrap(), checkpoint::read(&l).unwrap());
        for (name, t) in &pt {
            assert!(t.equal(&lt[name]), "{label}: {name} differs in the saved files");
        }
        assert!(std::fs::read(&p).unwrap() == std::fs::read(&l).unwrap(), "{label}: the files differ");
        // Loading into a channels-last network keeps its layout and the values.
        let back = LoadedModel::new(&cfg, &channels, Device::Cpu, 99, Weights::Checkpoint(&l))
            .unwrap()
            .laid_out(Layout::ChannelsLast)
            .unwrap();
        let theirs = plain.vs.variables();
        for (name, var) in back.vs.variables() {
            assert!(var.equal(&theirs[&name]), "{label}: {name}");
            if matches!(var.dim(), 4 | 5) {
                assert!(is_contiguous_as(&var, true).unwrap(), "{label}: {name}");
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nchw_and_auto_on_the_cpu_leave_the_network_alone() {
    let cfg = configs()[0].clone();
    for layout in [Layout::Nchw, Layout::Auto] {
        let model = network(&cfg, &[3, 1], false).laid_out(layout).unwrap();
        for (name, var) in model.vs.variables() {
            assert!(is_contiguous_as(&var, false).unwrap(), "{layout}: {name}");
        }
    }
}
