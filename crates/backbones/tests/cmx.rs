//! CMX integration tests (docs/method.md §2, §5, §7) on the tiny preset and small tiles, CPU only except
//! the CUDA test, which runs only where `tch::Cuda::is_available()`.

use lssg_backbones::checkpoint;
use lssg_backbones::cmx::Cmx;
use lssg_backbones::lora::{self, is_lora_name};
use lssg_backbones::{BackboneKind, Error, LoraConfig, ModelConfig, Preset, SegmentationModel};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

fn tiny(lora: Option<LoraConfig>) -> ModelConfig {
    ModelConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, classes: 1, lora, ..Default::default() }
}

fn inputs(channels: &[i64], b: i64, h: i64, w: i64) -> Vec<Tensor> {
    channels.iter().map(|&c| Tensor::randn([b, c, h, w], CPU)).collect()
}

/// Availability rows of every non-empty scenario over `m` modalities (mask bit i = modality i).
fn all_scenarios(m: usize) -> Vec<Vec<f32>> {
    (1u32..(1 << m)).map(|mask| (0..m).map(|i| ((mask >> i) & 1) as f32).collect()).collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn shapes_for_several_modality_layouts() {
    for (channels, h, w, classes) in [(vec![3, 3, 3], 64, 64, 1), (vec![4, 2, 1], 48, 40, 3), (vec![3, 1], 33, 70, 2)] {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = ModelConfig { classes, ..tiny(None) };
        let model = cfg.build(&vs, &channels).unwrap();
        let xs = inputs(&channels, 2, h, w);
        let out = model.forward_t(&xs, &Tensor::ones([2, channels.len() as i64], CPU), true).unwrap();
        assert_eq!(out.logits.size(), [2, classes, h, w], "{channels:?}");
        // Five stride-2 blocks: ⌈·/32⌉.
        assert_eq!(out.latent.size(), [2, 64, (h + 31) / 32, (w + 31) / 32], "{channels:?}");
        assert_eq!(model.num_classes(), classes);
        assert_eq!(model.hook_point(), "backbone.ffm[3]");
    }
}

#[test]
fn masked_modalities_do_not_matter_in_eval_mode() {
    tch::manual_seed(2);
    let channels = [3, 2, 1];
    let vs = nn::VarStore::new(Device::Cpu);
    let model = tiny(None).build(&vs, &channels).unwrap();
    let scenarios = all_scenarios(channels.len());
    let b = scenarios.len() as i64;
    // One batch, a different scenario per sample (docs/method.md §2: per-sample masking).
    let availability = Tensor::from_slice(&scenarios.concat()).view([b, channels.len() as i64]);
    let xs = inputs(&channels, b, 32, 32);
    let base = tch::no_grad(|| model.forward_t(&xs, &availability, false)).unwrap();
    // Replace the content of every masked modality (only where masked) with fresh noise.
    let altered: Vec<Tensor> = xs
        .iter()
        .enumerate()
        .map(|(m, x)| {
            let keep = availability.select(1, m as i64).view([b, 1, 1, 1]);
            x * &keep + Tensor::randn(x.size(), CPU) * (1.0 - &keep) * 10.0
        })
        .collect();
    let changed = tch::no_grad(|| model.forward_t(&altered, &availability, false)).unwrap();
    assert_eq!(max_abs_diff(&base.logits, &changed.logits), 0.0);
    assert_eq!(max_abs_diff(&base.latent, &changed.latent), 0.0);
    // And every sample's result is that of the sample alone: nothing leaks across the batch.
    for (i, row) in scenarios.iter().enumerate() {
        let one: Vec<Tensor> = xs.iter().map(|x| x.narrow(0, i as i64, 1)).collect();
        let alone = tch::no_grad(|| model.forward_t(&one, &Tensor::from_slice(row).view([1, -1]), false)).unwrap();
        assert!(max_abs_diff(&alone.latent, &base.latent.narrow(0, i as i64, 1)) < 1e-5, "scenario {row:?}");
    }
    // Sanity: an available modality does matter.
    let mut bumped = xs.iter().map(|x| x.shallow_clone()).collect::<Vec<_>>();
    bumped[0] = &xs[0] + 1.0;
    let moved = tch::no_grad(|| model.forward_t(&bumped, &Tensor::ones([b, 3], CPU), false)).unwrap();
    let full = tch::no_grad(|| model.forward_t(&xs, &Tensor::ones([b, 3], CPU), false)).unwrap();
    assert!(max_abs_diff(&moved.latent, &full.latent) > 1e-4);
}

#[test]
fn gradients_reach_every_parameter() {
    tch::manual_seed(3);
    let channels = [3, 3, 3];
    let vs = nn::VarStore::new(Device::Cpu);
    let model = tiny(None).build(&vs, &channels).unwrap();
    let out = model.forward_t(&inputs(&channels, 2, 32, 32), &Tensor::ones([2, 3], CPU), true).unwrap();
    let target = Tensor::rand([2, 1, 32, 32], CPU).round();
    out.logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, tch::Reduction::Mean).backward();
    let trainable = vs.trainable_variables();
    assert!(!trainable.is_empty());
    let mut without = Vec::new();
    for (name, t) in vs.variables() {
        if !t.requires_grad() {
            continue; // batch-norm statistics
        }
        let g = t.grad();
        assert!(g.defined(), "{name} received no gradient");
        // A bias feeding a training-mode batch norm has an identically zero gradient (the norm
        // removes any per-channel constant); every other tensor must get a non-zero one.
        if name.ends_with("weight") && g.abs().sum(Kind::Float).double_value(&[]) == 0.0 {
            without.push(name);
        }
    }
    assert!(without.is_empty(), "zero gradients: {without:?}");
}

#[test]
fn lora_starts_at_the_base_keeps_it_frozen_and_merges_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let base_file = dir.path().join("base.safetensors");
    let channels = [3, 3, 3];
    let xs = inputs(&channels, 2, 32, 32);
    let avail = Tensor::ones([2, 3], CPU);

    tch::manual_seed(4);
    let mut base_vs = nn::VarStore::new(Device::Cpu);
    let base = tiny(None).build(&base_vs, &channels).unwrap();
    // The adapted network's base is frozen, and libtorch may pick another CPU kernel for a
    // weight that requires no gradient (measured on an AVX-512 Xeon: the same plain network,
    // trainable vs frozen, differs by 2.4e-7 in the logits, 0 in the latent). Compare like with
    // like: the frozen base.
    base_vs.freeze();
    let base_out = tch::no_grad(|| base.forward_t(&xs, &avail, false)).unwrap();
    checkpoint::save(&base_vs, &base_file).unwrap();

    let cfg = LoraConfig::default();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = tiny(Some(cfg)).build(&vs, &channels).unwrap();
    let skipped = checkpoint::load_base(&vs, &base_file).unwrap();
    assert!(!skipped.is_empty() && skipped.iter().all(|n| is_lora_name(n)));
    assert!(skipped.iter().all(|n| n.starts_with("backbone.")), "adapters only in the backbone");

    // At initialisation the adapted network is the base network, bit for bit.
    let out = tch::no_grad(|| model.forward_t(&xs, &avail, false)).unwrap();
    assert!(out.logits.equal(&base_out.logits) && out.latent.equal(&base_out.latent));

    // Only adapters train.
    let trainable = lora::trainable_parameter_count(&vs);
    let adapters: i64 = vs.variables().iter().filter(|(n, _)| is_lora_name(n)).map(|(_, t)| t.numel() as i64).sum();
    assert_eq!(trainable, adapters);
    assert!(trainable > 0 && trainable < lora::parameter_count(&vs) / 2);

    // One optimiser step: the frozen base is bit-identical, the adapters moved.
    let frozen: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| !is_lora_name(n) && !n.contains("running_"))
        .map(|(n, t)| (n, t.copy()))
        .collect();
    let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
    let train_out = model.forward_t(&xs, &avail, true).unwrap();
    let target = Tensor::rand([2, 1, 32, 32], CPU).round();
    opt.backward_step(&train_out.logits.binary_cross_entropy_with_logits::<Tensor>(
        &target,
        None,
        None,
        tch::Reduction::Mean,
    ));
    let now = vs.variables();
    for (name, before) in &frozen {
        assert!(now[name].equal(before), "{name} changed although frozen");
    }
    let moved =
        now.iter().filter(|(n, t)| n.ends_with("lora_b") && t.abs().sum(Kind::Float).double_value(&[]) > 0.0).count();
    assert!(moved > 0, "no adapter moved");

    // Merging folds the adapters into the base weights without changing the function.
    let adapted = tch::no_grad(|| model.forward_t(&xs, &avail, false)).unwrap();
    assert!(max_abs_diff(&adapted.logits, &base_out.logits) > 0.0);
    let merged_layers = lora::merge_lora(&vs, &cfg).unwrap();
    assert!(merged_layers > 0);
    let merged = tch::no_grad(|| model.forward_t(&xs, &avail, false)).unwrap();
    assert!(max_abs_diff(&merged.logits, &adapted.logits) < 1e-5);
    assert!(max_abs_diff(&merged.latent, &adapted.latent) < 1e-5);
}

#[test]
fn checkpoint_round_trip_gives_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cmx.safetensors");
    let channels = [4, 2, 1];
    let xs = inputs(&channels, 2, 32, 32);
    let avail = Tensor::from_slice(&[1f32, 0., 1., 0., 1., 1.]).view([2, 3]);

    tch::manual_seed(5);
    let a = nn::VarStore::new(Device::Cpu);
    let ma = tiny(None).build(&a, &channels).unwrap();
    // A few training forwards so the batch-norm statistics are not at their defaults.
    for _ in 0..2 {
        let _ = tch::no_grad(|| ma.forward_t(&xs, &avail, true)).unwrap();
    }
    checkpoint::save(&a, &file).unwrap();

    tch::manual_seed(6);
    let b = nn::VarStore::new(Device::Cpu);
    let mb = tiny(None).build(&b, &channels).unwrap();
    let before = tch::no_grad(|| mb.forward_t(&xs, &avail, false)).unwrap();
    let want = tch::no_grad(|| ma.forward_t(&xs, &avail, false)).unwrap();
    assert!(max_abs_diff(&before.logits, &want.logits) > 0.0);
    checkpoint::load(&b, &file).unwrap();
    let got = tch::no_grad(|| mb.forward_t(&xs, &avail, false)).unwrap();
    assert!(got.logits.equal(&want.logits) && got.latent.equal(&want.latent));
}

#[test]
fn mismatched_checkpoint_lists_every_difference() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cmx.safetensors");
    let a = nn::VarStore::new(Device::Cpu);
    let _ = tiny(None).build(&a, &[3, 3, 3]).unwrap();
    checkpoint::save(&a, &file).unwrap();

    // Other channels (modal_proj and both stems misshaped), adapters (missing), more classes.
    let b = nn::VarStore::new(Device::Cpu);
    let _ = ModelConfig { classes: 2, ..tiny(Some(LoraConfig::default())) }.build(&b, &[4, 3, 3]).unwrap();
    match checkpoint::load(&b, &file).unwrap_err() {
        Error::CheckpointMismatch { file: f, missing, unexpected, misshaped } => {
            assert_eq!(f, file);
            assert!(missing.len() > 10 && missing.iter().all(|n| is_lora_name(n)), "{missing:?}");
            assert!(unexpected.is_empty(), "{unexpected:?}");
            let names: Vec<&str> = misshaped.iter().map(|m| m.0.as_str()).collect();
            for n in [
                "modal_proj.weight",
                "backbone.rgb_stem.block.0.weight",
                "backbone.mod_stem.block.0.weight",
                "decode_head.linear_pred.weight",
                "decode_head.linear_pred.bias",
            ] {
                assert!(names.contains(&n), "{n} not in {names:?}");
            }
            let (_, model_shape, file_shape) = misshaped.iter().find(|m| m.0 == "modal_proj.weight").unwrap();
            assert_eq!(
                (model_shape.as_slice(), file_shape.as_slice()),
                ([4, 6, 1, 1].as_slice(), [3, 6, 1, 1].as_slice())
            );
        }
        e => panic!("expected a mismatch, got {e}"),
    }
    // Tolerating adapters still reports the misshaped tensors.
    assert!(matches!(checkpoint::load_base(&b, &file), Err(Error::CheckpointMismatch { .. })));
}

#[test]
fn paper_preset_matches_the_reference_parameter_count() {
    // The reference CMX (CMX.py, 3 modalities × 3 channels, 1 class) has 28,042,139 parameters:
    // the shapes of its layers summed by hand (see cmx::ffm tests for the fusion module).
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = Cmx::new(&vs.root(), Preset::Paper, &[3, 3, 3], 1, None).unwrap();
    let n = lora::parameter_count(&vs);
    assert_eq!(n, 28_042_139);
    assert!((n as f64 - 28.0e6).abs() / 28.0e6 < 0.01);
    let small = nn::VarStore::new(Device::Cpu);
    let _ = Cmx::new(&small.root(), Preset::Small, &[3, 3, 3], 1, None).unwrap();
    let tiny_vs = nn::VarStore::new(Device::Cpu);
    let _ = Cmx::new(&tiny_vs.root(), Preset::Tiny, &[3, 3, 3], 1, None).unwrap();
    let (s, t) = (lora::parameter_count(&small), lora::parameter_count(&tiny_vs));
    println!("cmx parameters: paper {n}, small {s}, tiny {t}");
    assert!(s < n / 10 && t < s / 2);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let vs = nn::VarStore::new(Device::Cpu);
    let cmx = Cmx::new(&vs.root(), Preset::Tiny, &[3, 2], 1, None).unwrap();
    let xs = inputs(&[3, 3], 1, 32, 32);
    let err = cmx.forward_t(&xs, &Tensor::ones([1, 2], CPU), false).unwrap_err();
    assert!(err.to_string().contains("inputs[1]"), "{err}");
    let err = tiny(None).build(&vs, &[3]).unwrap_err();
    assert!(err.to_string().contains("channels"), "{err}");
}

#[test]
fn cuda_matches_cpu() {
    if !tch::Cuda::is_available() {
        println!("skipped: CUDA is not available");
        return;
    }
    let channels = [3, 3, 3];
    let xs = inputs(&channels, 2, 64, 64);
    let avail = Tensor::from_slice(&[1f32, 0., 1., 1., 1., 1.]).view([2, 3]);
    tch::manual_seed(7);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = tiny(None).build(&vs, &channels).unwrap();
    let cpu = tch::no_grad(|| model.forward_t(&xs, &avail, false)).unwrap();
    vs.set_device(Device::Cuda(0));
    let gpu_in: Vec<Tensor> = xs.iter().map(|x| x.to_device(Device::Cuda(0))).collect();
    let gpu = tch::no_grad(|| model.forward_t(&gpu_in, &avail.to_device(Device::Cuda(0)), false)).unwrap();
    let d = max_abs_diff(&cpu.logits, &gpu.logits.to_device(Device::Cpu));
    // TF32/cuDNN algorithms differ from the CPU's; the logits are O(1).
    assert!(d < 1e-2, "cpu vs cuda logits differ by {d}");
    // A training step runs on the GPU too.
    let mut opt = nn::Adam::default().build(&vs, 1e-3).unwrap();
    let out = model.forward_t(&gpu_in, &avail.to_device(Device::Cuda(0)), true).unwrap();
    opt.backward_step(&out.logits.mean(Kind::Float));
}

#[test]
fn paper_preset_has_the_reference_state_dict() {
    // Every tensor of the reference's state_dict (keys without `core.`), with its shape; see the
    // fixture's header for how it was made. Equal key sets mean reference weights map one to one.
    let text = include_str!("fixtures/cmx_paper_state_dict.txt");
    let mut want: Vec<(String, Vec<i64>)> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (name, shape) = l.split_once(' ').expect("name shape");
            (name.to_string(), shape.split(',').map(|s| s.parse().expect("dimension")).collect())
        })
        .collect();
    want.sort();
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = Cmx::new(&vs.root(), Preset::Paper, &[3, 3, 3], 1, None).unwrap();
    let mut got: Vec<(String, Vec<i64>)> = vs.variables().into_iter().map(|(n, t)| (n, t.size())).collect();
    got.sort();
    let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).collect();
    let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "reference only: {missing:?}\nours only: {extra:?}");
    assert_eq!(got.len(), 265);
}
