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
    /// Train data-parallel in N local processes (ranks on Gloo, docs/distributed.md), the
    /// cores divided between them unless `--set run.threads=T`. torchrun's and Slurm's
    /// variables start ranks without it.
    #[arg(long, value_name = "N")]
    pub nproc: Option<usize>,
}

/// Starts `nproc` local ranks of this very command (without `--nproc`) and waits for them.
fn launch_local(nproc: usize, overrides: &[String]) -> anyhow::Result<()> {
    let mut args: Vec<String> = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        match arg.as_str() {
            "--nproc" => {
                given.next();
            }
            a if a.starts_with("--nproc=") => {}
            _ => args.push(arg),
        }
    }
    if !overrides.iter().any(|o| o.trim_start().starts_with("run.threads")) {
        args.push("--set".into());
        args.push(format!("run.threads={}", lssg::launch::threads_per_rank(nproc)));
    }
    // The other ranks print nothing but their errors.
    let already = args.iter().any(|a| a == "--quiet" || a == "-q");
    let quiet: Vec<String> =
        (!already).then(|| "--quiet".to_string()).into_iter().chain(args.iter().cloned()).collect();
    let exe = std::env::current_exe().context("the path of the lssg binary")?;
    Ok(lssg::launch::spawn_local(&exe, &args, &quiet, nproc)?)
}

/// Runs `lssg run`.
pub fn run(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    let rank = lssg::launch::RankEnv::from_env()?;
    if let (None, Some(n @ 2..)) = (&rank, args.nproc) {
        return launch_local(n, &args.overrides);
    }
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
    if let Some(rank) = &rank {
        rank.join()?;
        // The run log's first line names the world, the rank and the backend.
        std::fs::create_dir_all(dir.root()).with_context(|| format!("creating {}", dir.root().display()))?;
        dir.log(&mut reporter, &rank.log_line())?;
    }
    let results = pipeline::run(&config, &dir, &mut reporter)
        .with_context(|| format!("run {} in {}", args.config.display(), dir.root().display()))?;
    if let Some(group) = lssg_torch::distributed::current() {
        let busy = group.busy_seconds();
        let line = format!("data-parallel: {busy:.2} s of this rank's run inside collectives");
        dir.log(&mut reporter, &line)?;
    }
    drop(reporter);
    if rank.as_ref().is_some_and(|r| r.rank > 0) {
        return Ok(());
    }
    println!("{}", results.main_table());
    println!("All tables: {}", dir.root().join("results.md").display());
    Ok(())
}
