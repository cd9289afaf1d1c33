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
    /// Turn per-scenario distortion scores into a sampling distribution (SPEC §4).
    Smooth(commands::smooth::SmoothArgs),
    /// Synthetic data in the real layouts, and per-scene statistics of a data set (SPEC §8).
    Data(commands::data::DataArgs),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let _quiet = cli.quiet;
    match cli.command {
        Command::Smooth(args) => commands::smooth::run(args, cli.quiet),
        Command::Data(args) => commands::data::run(args, cli.quiet),
    }
}

fn main() -> ExitCode {
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
