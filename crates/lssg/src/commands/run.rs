//! `lssg run CONFIG [--out DIR] [--set section.key=value]…`: the whole pipeline, resumable.

use std::path::PathBuf;

use anyhow::Context;

use lssg::config::RunConfig;
use lssg::pipeline;
use lssg::progress::ConsoleReporter;
use lssg::run_dir::RunDir;

/// Arguments of `lssg run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The run configuration (TOML).
    pub config: PathBuf,
    /// The run directory (default: the config's `run.output_dir`). Running again with the same
    /// directory resumes from the last finished stage and epoch.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a config value, e.g. `--set pretrain.epochs=3` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs `lssg run`.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    let mut config = RunConfig::load(&args.config, &args.overrides)?;
    if let Some(out) = &args.out {
        config.run.output_dir = out.clone();
    }
    let dir = RunDir::new(config.run.output_dir.clone());
    let mut reporter = ConsoleReporter::new(quiet);
    let results = pipeline::run(&config, &dir, &mut reporter)
        .with_context(|| format!("run {} in {}", args.config.display(), dir.root().display()))?;
    drop(reporter);
    println!("{}", results.main_table());
    println!("All tables: {}", dir.root().join("results.md").display());
    Ok(())
}
