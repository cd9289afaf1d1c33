//! `lssg score CONFIG --checkpoint CKPT [--out FILE]`: latent distortion of every scenario on
//! the training split, smoothed into the probabilities file (docs/method.md §3, §4).

use std::path::PathBuf;

use anyhow::Context;

use lssg::config::RunConfig;
use lssg::progress::ConsoleReporter;

/// Arguments of `lssg score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// The run configuration (TOML): data, model, scoring and smoothing sections are used.
    pub config: PathBuf,
    /// The pretrained weights (safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Write the probabilities file here (atomically) instead of printing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a config value (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs `lssg score`.
pub fn run(args: ScoreArgs, quiet: bool) -> anyhow::Result<()> {
    let config = RunConfig::load(&args.config, &args.overrides)?;
    let mut reporter = ConsoleReporter::new(quiet);
    let (report, file) = lssg::pipeline::score_checkpoint(&config, &args.checkpoint, &mut reporter)
        .with_context(|| format!("score {}", args.checkpoint.display()))?;
    drop(reporter);
    match &args.out {
        Some(out) => {
            file.write(out)?;
            eprintln!(
                "wrote {} ({} scenarios over {} samples)",
                out.display(),
                report.distortion.len(),
                report.num_samples
            );
        }
        None => println!("{}", serde_json::to_string_pretty(&file)?),
    }
    Ok(())
}
