//! `lssg run CONFIG [--out DIR] [--set section.key=value]… [--restart-stage STAGE]`: the whole
//! pipeline, resumable.

use std::path::PathBuf;

use anyhow::Context;

use lssg::config::RunConfig;
use lssg::pipeline;
use lssg::progress::ConsoleReporter;
use lssg::restart;
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
    /// Discard this stage's files (and those of the stages computed from them) before running,
    /// so it starts afresh: `pretrain`, `scoring`, `finetune/<method>` or `eval/<name>`. The way
    /// to recover a stage whose saved state is refused on resume.
    #[arg(long, value_name = "STAGE")]
    pub restart_stage: Option<String>,
}

/// Runs `lssg run`.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    let mut config = RunConfig::load(&args.config, &args.overrides)?;
    if let Some(out) = &args.out {
        config.run.output_dir = out.clone();
    }
    let dir = RunDir::new(config.run.output_dir.clone());
    if let Some(stage) = &args.restart_stage {
        let stage = restart::parse_stage(stage)?;
        dir.check_config(&config)?;
        for path in restart::restart_stage(&dir, &stage)? {
            eprintln!("restart {stage}: removed {}", path.display());
        }
    }
    let mut reporter = ConsoleReporter::new(quiet);
    let results = pipeline::run(&config, &dir, &mut reporter)
        .with_context(|| format!("run {} in {}", args.config.display(), dir.root().display()))?;
    drop(reporter);
    println!("{}", results.main_table());
    println!("All tables: {}", dir.root().join("results.md").display());
    Ok(())
}
