//! `lssg score CONFIG --checkpoint CKPT [--out FILE] [--diagnose]`: latent distortion and task
//! scores of every scenario on the training split with their intervals, smoothed into the
//! probabilities file (docs/method.md §3, §4); `--diagnose` also evaluates the checkpoint under
//! every scenario and prints how the scores rank against its metric drop (docs/report.md §8).

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
    /// Also evaluate the checkpoint on the test split under every scenario and print the
    /// Spearman correlations of latent distortion, task-loss increase and metric drop.
    #[arg(long)]
    pub diagnose: bool,
    /// Override a config value (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs `lssg score`.
pub fn run(args: ScoreArgs, quiet: bool) -> anyhow::Result<()> {
    let config = RunConfig::load(&args.config, &args.overrides)?;
    let mut reporter = ConsoleReporter::new(quiet);
    let scored = lssg::pipeline::score_checkpoint(&config, &args.checkpoint, &mut reporter)
        .with_context(|| format!("score {}", args.checkpoint.display()))?;
    let diagnosis = if args.diagnose {
        let eval = lssg::pipeline::evaluate_checkpoint(&config, &args.checkpoint, false, Some("all"), &mut reporter)
            .with_context(|| format!("evaluate {}", args.checkpoint.display()))?;
        Some(lssg::bench::record::diagnose(&eval.report, &scored)?)
    } else {
        None
    };
    drop(reporter);
    let (report, file) = (&scored.report, &scored.probabilities);
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
        None if diagnosis.is_none() => println!("{}", serde_json::to_string_pretty(file)?),
        None => {}
    }
    if let Some(table) = diagnosis {
        println!("{table}");
    }
    Ok(())
}
