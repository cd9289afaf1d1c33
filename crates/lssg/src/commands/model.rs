//! `lssg model summary | bench | check-device`: parameter counts, hook and output shapes of a
//! backbone, its training/inference throughput (docs/method.md §7), and whether a device computes
//! what the CPU computes (docs/gpu.md §3). The work is done by `lssg_backbones::summary`,
//! `lssg::model_bench` and `lssg_backbones::agreement` (on `lssg_torch::agreement`); this file
//! resolves arguments, sets libtorch's process-wide thread count for `bench`, and formats.

use anyhow::Context;
use lssg::model_bench::{self, BenchConfig, BenchLoop, BenchReport};
use lssg_backbones::agreement::{self, Agreement, AgreementConfig};
use lssg_backbones::summary::{self, Summary};
use lssg_backbones::{BackboneKind, LoraConfig, ModelConfig, Preset};
use lssg_torch::{DeviceSpec, Inference, Layout, Precision};

/// Arguments of `lssg model`.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ModelCommand {
    /// Parameter counts per module, the latent hook point and the output shape.
    Summary(SummaryArgs),
    /// Samples/s of lssg's loops: training step (forward + backward + the trainer's Adam),
    /// inference, scoring, evaluation, the full training loop (docs/speed.md §2).
    Bench(BenchArgs),
    /// Compares one forward and one training step on a device with the CPU (max relative
    /// difference of logits, loss, gradients); reports CUDA absent instead of failing.
    CheckDevice(CheckDeviceArgs),
}

/// Which network: shared by both subcommands.
#[derive(Debug, clap::Args)]
struct NetArgs {
    /// Backbone: cmx, cbc or cbc-slp.
    #[arg(long, default_value = "cmx")]
    backbone: BackboneKind,
    /// Size preset: paper, small or tiny.
    #[arg(long, default_value = "small")]
    preset: Preset,
    /// Channels per modality, comma separated (at least two modalities).
    #[arg(long, value_delimiter = ',', default_value = "3,3,3")]
    channels: Vec<i64>,
    /// Output classes.
    #[arg(long, default_value_t = 1)]
    classes: i64,
    /// Attach LoRA adapters of this rank (base frozen, no α/r scaling).
    #[arg(long)]
    lora_rank: Option<i64>,
    /// Square input size.
    #[arg(long, default_value_t = 224)]
    size: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl NetArgs {
    fn model(&self) -> ModelConfig {
        ModelConfig {
            backbone: self.backbone,
            preset: self.preset,
            classes: self.classes,
            lora: self.lora_rank.map(|rank| LoraConfig { rank, ..Default::default() }),
            ..Default::default()
        }
    }
}

#[derive(Debug, clap::Args)]
struct SummaryArgs {
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Batch size.
    #[arg(long, default_value_t = 8)]
    batch: i64,
    /// Timed steps of each kind (after the warm-up).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Untimed warm-up steps of each kind.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// libtorch intra-op threads (default: libtorch's, one per physical core).
    #[arg(long)]
    threads: Option<i64>,
    /// Arithmetic: fp32, fp16 (CUDA only) or bf16 (docs/precision.md).
    #[arg(long, default_value = "fp32")]
    precision: Precision,
    /// Memory layout: nchw, channels-last or auto (docs/speed.md §8).
    #[arg(long, default_value = "nchw")]
    layout: Layout,
    /// Forwards of the eval loops (forward, scoring, evaluation): eager, packed (weights packed
    /// once for oneDNN, CPU only) or auto (docs/speed.md §10).
    #[arg(long, default_value = "eager")]
    inference: Inference,
    /// Loops to time, comma separated: train, forward, score_batched, score_batch1, eval,
    /// train_loop (or `all`).
    #[arg(long, value_delimiter = ',', default_value = "train,forward")]
    loops: Vec<String>,
    /// Scoring's samples × scenarios per forward (`scoring.max_forward`).
    #[arg(long, default_value_t = 64)]
    max_forward: usize,
    /// Seed of the weights and the random tiles.
    #[arg(long, default_value_t = 0)]
    seed: i64,
}

/// `--loops`: names (`score_batched`), or `all`.
fn parse_loops(names: &[String]) -> anyhow::Result<Vec<BenchLoop>> {
    if names.iter().any(|n| n == "all") {
        return Ok(BenchLoop::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            BenchLoop::ALL.into_iter().find(|l| l.name() == n).ok_or_else(|| {
                let expected = BenchLoop::ALL.map(BenchLoop::name).join(", ");
                anyhow::anyhow!("--loops: unknown loop {n:?}; expected one of {expected}")
            })
        })
        .collect()
}

/// Times `cfg`'s loops on `device` after setting libtorch's intra-op threads for the whole
/// process to `cfg.threads` (when given).
fn bench_with_threads(cfg: &BenchConfig, device: tch::Device) -> lssg::Result<BenchReport> {
    cfg.validate()?;
    if let Some(t) = cfg.threads {
        tch::set_num_threads(t as i32);
    }
    model_bench::run(cfg, device)
}

#[derive(Debug, clap::Args)]
struct CheckDeviceArgs {
    #[command(flatten)]
    net: NetArgs,
    /// Batch size.
    #[arg(long, default_value_t = 2)]
    batch: i64,
    /// The device compared with the CPU: cuda, cuda:N (or cpu, to check the check).
    #[arg(long, default_value = "cuda")]
    device: DeviceSpec,
    /// Largest relative difference that counts as agreement.
    #[arg(long, default_value_t = 1e-3)]
    tolerance: f64,
    /// Seed for the weights and the batch.
    #[arg(long, default_value_t = 0)]
    seed: i64,
    /// Fail when the device disagrees with the CPU or is not usable.
    #[arg(long)]
    strict: bool,
}

/// Runs `lssg model`.
pub fn run(args: ModelArgs) -> anyhow::Result<()> {
    match args.command {
        ModelCommand::Summary(a) => {
            let s = summary::summarize(&a.net.model(), &a.net.channels, a.net.size)
                .with_context(|| format!("summarising {} {}", a.net.backbone, a.net.preset))?;
            if a.net.json { print_summary_json(&s) } else { print_summary(&s) }
        }
        ModelCommand::Bench(a) => {
            let device = a.device.resolve()?;
            let cfg = BenchConfig {
                model: a.net.model(),
                channels: a.net.channels.clone(),
                batch: a.batch,
                size: a.net.size,
                steps: a.steps,
                warmup: a.warmup,
                threads: a.threads,
                precision: a.precision,
                layout: a.layout.resolve(device),
                inference: a.inference,
                loops: parse_loops(&a.loops)?,
                max_forward: a.max_forward,
                seed: a.seed,
                ..Default::default()
            };
            let r = bench_with_threads(&cfg, device)
                .with_context(|| format!("benchmarking {} {}", a.net.backbone, a.net.preset))?;
            if a.net.json { print_bench_json(&r) } else { print_bench(&r) }
        }
        ModelCommand::CheckDevice(a) => check_device(&a),
    }
}

/// `lssg model check-device`: with CUDA absent (or the index out of range) it prints so and
/// succeeds, so that the same command runs on CPU-only machines.
fn check_device(a: &CheckDeviceArgs) -> anyhow::Result<()> {
    let (available, count) = (tch::Cuda::is_available(), tch::Cuda::device_count());
    let cuda = serde_json::json!({
        "cuda_available": available,
        "cudnn_available": tch::Cuda::cudnn_is_available(),
        "device_count": count,
        "libtorch_cuda": lssg_torch::device::load_libtorch_cuda(),
    });
    let device = match a.device.resolve() {
        Ok(d) => d,
        Err(e @ lssg_torch::Error::CudaUnavailable { .. }) => {
            if a.net.json {
                let v = serde_json::json!({ "cuda": cuda, "requested": a.device.to_string(), "absent": e.to_string() });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("{e}: nothing to compare");
            }
            return if a.strict { Err(e.into()) } else { Ok(()) };
        }
        Err(e) => return Err(e.into()),
    };
    let cfg = AgreementConfig {
        model: a.net.model(),
        channels: a.net.channels.clone(),
        batch: a.batch,
        size: a.net.size,
        seed: a.seed,
        tolerance: a.tolerance,
        ..Default::default()
    };
    let r = agreement::compare(&cfg, device)
        .with_context(|| format!("comparing {} {} on {} with the CPU", a.net.backbone, a.net.preset, a.device))?;
    if a.net.json {
        let v = serde_json::json!({ "cuda": cuda, "requested": a.device.to_string(), "agreement": r });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_agreement(&r);
    }
    if a.strict && !r.comparison.agrees {
        anyhow::bail!("{} disagrees with the CPU beyond {}", r.comparison.device, cfg.tolerance);
    }
    Ok(())
}

fn print_agreement(r: &Agreement) {
    let (c, found) = (&r.config, &r.comparison);
    println!(
        "{} {} on {} vs Cpu: batch {}, {}×{}, channels {:?}, tolerance {:e}",
        c.model.backbone, c.model.preset, found.device, c.batch, c.size, c.size, c.channels, c.tolerance
    );
    for (what, d) in [
        ("forward logits", &found.forward),
        ("loss", &found.loss),
        ("gradients", &found.gradients),
        ("logits after step", &found.after_step),
    ] {
        println!("{what:<18} max |Δ| {:>10.3e}   scale {:>10.3e}   relative {:>10.3e}", d.max_abs, d.scale, d.relative);
    }
    println!("{}", if found.agrees { "agrees" } else { "DISAGREES" });
}

fn print_summary_json(s: &Summary) -> anyhow::Result<()> {
    let v = serde_json::json!({
        "backbone": s.backbone,
        "preset": s.preset,
        "channels": s.channels,
        "size": s.size,
        "params_total": s.params_total,
        "params_trainable": s.params_trainable,
        "hook": s.hook,
        "hook_shape": s.hook_shape,
        "output_shape": s.output_shape,
        "modules": s.modules,
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn print_summary(s: &Summary) -> anyhow::Result<()> {
    println!("{} {} (channels {:?}, {}×{})", s.backbone, s.preset, s.channels, s.size, s.size);
    println!("parameters: {} total, {} trainable", s.params_total, s.params_trainable);
    println!();
    println!("{:<40} {:>12} {:>12}", "module", "params", "trainable");
    for row in &s.modules {
        let name = format!("{}{}", "  ".repeat(row.depth - 1), row.name);
        println!("{name:<40} {:>12} {:>12}", row.params, row.trainable);
    }
    println!();
    println!("hook {}: {:?}", s.hook, s.hook_shape);
    println!("output: {:?}", s.output_shape);
    Ok(())
}

fn print_bench_json(r: &BenchReport) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(r)?);
    Ok(())
}

fn print_bench(r: &BenchReport) -> anyhow::Result<()> {
    let c = &r.config;
    // Only what differs from the defaults: precision always, layout and inference when not.
    let mut arithmetic = c.precision.to_string();
    if !c.layout.is_nchw() {
        arithmetic += &format!(", {}", c.layout);
    }
    if !c.inference.is_eager() {
        arithmetic += &format!(", {} inference", c.inference);
    }
    println!(
        "{} {} on {} ({} threads, {arithmetic}): batch {}, {}×{}, channels {:?}, {} timed steps",
        c.model.backbone, c.model.preset, r.device, r.threads, c.batch, c.size, c.size, c.channels, c.steps
    );
    println!("parameters: {} total, {} trainable", r.params_total, r.params_trainable);
    for l in &c.loops {
        let Some(t) = r.get(*l) else { continue };
        let what = match l {
            BenchLoop::Train => "train (fwd+bwd+adam)",
            BenchLoop::Forward => "forward (eval)",
            BenchLoop::ScoreBatched => "score (batched)",
            BenchLoop::ScoreBatch1 => "score (batch 1)",
            BenchLoop::Eval => "eval (all scenarios)",
            BenchLoop::TrainLoop => "train loop (+data)",
        };
        println!(
            "{what:<22} {:>10.1} samples/s   median {:>8.1} ms   min {:>8.1} ms   max {:>8.1} ms",
            t.samples_per_s,
            t.median_s * 1e3,
            t.min_s * 1e3,
            t.max_s * 1e3
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_parse_by_name_or_all_and_a_wrong_name_lists_the_others() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        for l in BenchLoop::ALL {
            assert_eq!(parse_loops(&names(&[l.name()])).unwrap(), [l]);
        }
        assert_eq!(parse_loops(&names(&["eval", "all"])).unwrap(), BenchLoop::ALL);
        let err = parse_loops(&names(&["train", "scoring"])).unwrap_err().to_string();
        assert!(err.contains("unknown loop \"scoring\"") && err.contains("score_batch1"), "{err}");
    }
}
