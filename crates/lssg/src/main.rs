//! The `lssg` command: parses arguments, resolves configs, calls one library function per
//! subcommand and formats the result. No method logic lives here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

/// Latent Space Guided Scenario Sampling for multimodal segmentation under missing modalities.
#[derive(Debug, Parser)]
#[command(name = "lssg", version, about, propagate_version = true)]
struct Cli {
    /// Print no progress bars or log lines, only results and errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Turn per-scenario distortion scores into a sampling distribution (docs/method.md §4).
    Smooth(commands::smooth::SmoothArgs),
    /// Inspect a backbone: parameters, hook and output shapes, throughput (docs/method.md §7).
    Model(commands::model::ModelArgs),
    /// Synthetic data in the real layouts, and per-scene statistics of a data set (docs/method.md §8).
    Data(commands::data::DataArgs),
    /// Pretrain, score, fine-tune every method and evaluate every scenario (resumable).
    Run(commands::run::RunArgs),
    /// A grid of runs: data sets × models × methods × seeds × override axes (resumable).
    Bench(commands::bench::BenchArgs),
    /// Aggregate finished bench cells: statistics over seeds and tiles, plots, report.html.
    Report(commands::report::ReportArgs),
    /// Score a pretrained checkpoint: latent distortion per scenario → probabilities file.
    Score(commands::score::ScoreArgs),
    /// Evaluate a checkpoint under every scenario (or a list) in one command.
    Eval(commands::eval::EvalArgs),
    /// Segment one whole scene with whatever sensors are available (docs/predict.md).
    #[cfg(feature = "predict")]
    Predict(commands::predict::PredictArgs),
    /// Write a trained model as TorchScript or ONNX for use without lssg (docs/export.md).
    Export(commands::export::ExportArgs),
    /// Run configurations.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Smooth(args) => commands::smooth::run(args, cli.quiet),
        Command::Model(args) => commands::model::run(args),
        Command::Data(args) => commands::data::run(args, cli.quiet),
        Command::Run(args) => commands::run::run(args, cli.quiet),
        Command::Bench(args) => commands::bench::run(args, cli.quiet),
        Command::Report(args) => commands::report::run(args, cli.quiet),
        Command::Score(args) => commands::score::run(args, cli.quiet),
        Command::Eval(args) => commands::eval::run(args, cli.quiet),
        #[cfg(feature = "predict")]
        Command::Predict(args) => commands::predict::run(args, cli.quiet),
        Command::Export(args) => commands::export::run(args, cli.quiet),
        Command::Config(command) => commands::config::run(command),
    }
}

fn main() -> ExitCode {
    // Before any libtorch call: the GPU flavour is not linked with libtorch_cuda.so (docs/gpu.md §2).
    lssg_torch::device::load_libtorch_cuda();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (`lssg … | head`) is not a failure.
            let broken_pipe = err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("lssg: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
