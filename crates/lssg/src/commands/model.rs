//! `lssg model summary | bench`: parameter counts, hook and output shapes of a backbone, and its
//! training/inference throughput (docs/method.md §7). The work is done by `lssg_backbones::summary` and
//! `lssg_backbones::bench`; this file resolves arguments and formats.

use anyhow::Context;
use lssg_backbones::bench::{self, BenchConfig, BenchReport};
use lssg_backbones::summary::{self, Summary};
use lssg_backbones::{BackboneKind, DeviceSpec, LoraConfig, ModelConfig, Precision, Preset};

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
    /// Samples/s of training steps (forward + backward + Adam) and of inference.
    Bench(BenchArgs),
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
    /// libtorch intra-op threads (default: libtorch's choice; 1 is best on a loaded machine).
    #[arg(long)]
    threads: Option<i64>,
    /// Arithmetic: fp32, fp16 (CUDA only) or bf16 (docs/precision.md).
    #[arg(long, default_value = "fp32")]
    precision: Precision,
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
                ..Default::default()
            };
            let r = bench::run(&cfg, device)
                .with_context(|| format!("benchmarking {} {}", a.net.backbone, a.net.preset))?;
            if a.net.json { print_bench_json(&r) } else { print_bench(&r) }
        }
    }
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
    println!(
        "{} {} on {} ({} threads, {}): batch {}, {}×{}, channels {:?}, {} timed steps",
        c.model.backbone,
        c.model.preset,
        r.device,
        r.threads,
        c.precision,
        c.batch,
        c.size,
        c.size,
        c.channels,
        c.steps
    );
    println!("parameters: {} total, {} trainable", r.params_total, r.params_trainable);
    for (what, t) in [("train (fwd+bwd+adam)", &r.train), ("forward (eval)", &r.forward)] {
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
