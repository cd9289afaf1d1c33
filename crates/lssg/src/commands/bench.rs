//! `lssg bench BENCH.toml [--out DIR] [--set KEY=VALUE]… [--cells 0,3-5] [--list] [--jobs N]
//! [--emit-slurm FILE] [--restart-stage STAGE]`: a grid of runs (docs/bench.md). Resolves the
//! bench file, then lists, runs (here or in N processes) or writes the Slurm script; `lssg
//! report DIR` aggregates what finished.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use lssg::bench::jobs::{run_parallel, threads_per_job};
use lssg::bench::{Bench, CellKind, CellOutcome, CellStatus, Override, describe, slurm};
use lssg::progress::ConsoleReporter;
use lssg::restart;

/// Arguments of `lssg bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The bench file (TOML).
    pub bench: PathBuf,
    /// The output directory (default: `runs/<bench file stem>`); every cell has its run
    /// directory under it. Running again skips finished cells and resumes interrupted ones.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a value of every cell's config after the bench file's own overrides, e.g.
    /// `--set pretrain.epochs=1` (repeatable). Part of each cell's identity: cells finished
    /// with other overrides are not reused.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<String>,
    /// Only these cells, e.g. `0,3-5` (see --list).
    #[arg(long)]
    pub cells: Option<String>,
    /// Print the cells with their index and status, and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run cells in N processes on this machine, the libtorch threads divided between them.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// libtorch threads per cell (overrides `[run] threads`; with --jobs, default cores / N).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Discard this stage in the selected cells that run it (`pretrain`, `scoring`,
    /// `finetune/<method>`, `eval/<name>`) before running, so it starts afresh; a pretraining
    /// cell's `pretrain` or `scoring` also discards the fine-tuning cells computed from it.
    #[arg(long, value_name = "STAGE")]
    pub restart_stage: Option<String>,
    /// Write a Slurm array script for the grid to FILE, and run nothing.
    #[arg(long, value_name = "FILE")]
    pub emit_slurm: Option<PathBuf>,
}

/// Runs `lssg bench`.
pub fn run(args: BenchArgs, quiet: bool) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(args.bench.file_stem().map_or("bench".into(), |s| s.to_string_lossy().into_owned()))
    });
    let set = args.set.iter().map(|s| Override::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let mut bench = Bench::open(&args.bench, &out, set)?;
    if args.threads == Some(0) || args.jobs == 0 {
        bail!("--threads and --jobs must be at least 1");
    }
    bench.threads = args.threads;
    let cells = match &args.cells {
        Some(list) => bench.grid.select(list)?,
        None => (0..bench.grid.cells.len()).collect(),
    };
    if args.list {
        // Written through `writeln!` so that `--list | head` ends quietly (main treats a closed
        // pipe as success).
        return Ok(print_list(&bench, &cells, &mut std::io::stdout().lock())?);
    }
    bench.check_identity(&cells)?;
    if let Some(stage) = &args.restart_stage {
        let stage = restart::parse_stage(stage)?;
        for path in restart::restart_cells(&bench, &cells, &stage)? {
            eprintln!("restart {stage}: removed {}", path.display());
        }
    }
    let exe = std::env::current_exe().context("locating the lssg binary")?;
    bench.write_report_config()?;
    if let Some(path) = &args.emit_slurm {
        let script = slurm::emit(&bench, path, &exe)?;
        println!(
            "wrote {}: pretraining cells {}, fine-tuning cells {}\nsubmit: bash {0} [--wait]   (or: sbatch {0})",
            script.path.display(),
            script.pretrain,
            script.methods
        );
        return Ok(());
    }
    if args.jobs > 1 {
        let threads = args.threads.unwrap_or_else(|| threads_per_job(args.jobs));
        let mut progress = |done: usize, total: usize, line: &str| {
            if !quiet {
                eprintln!("[{done}/{total}] {line}");
            }
        };
        let summary = run_parallel(&bench, &cells, args.jobs, threads, &exe, &mut progress)?;
        if !summary.failed.is_empty() || !summary.blocked.is_empty() {
            let failed: Vec<String> =
                summary.failed.iter().map(|(i, log)| format!("cell {i} (log {})", log.display())).collect();
            bail!(
                "{} cells failed: {}; {} not started because their pretraining failed",
                failed.len(),
                failed.join(", "),
                summary.blocked.len()
            );
        }
        println!("{} cells ran, {} done earlier", summary.ran.len(), summary.done_earlier.len());
        return finish(&args, &out, quiet);
    }
    // A rank of a data-parallel cell (`[slurm] tasks`, torchrun): join the others first.
    if let Some(rank) = lssg::launch::RankEnv::from_env()? {
        rank.join()?;
    }
    let mut failures = Vec::new();
    let (mut ran, mut earlier) = (0, 0);
    for (n, &i) in cells.iter().enumerate() {
        let cell = &bench.grid.cells[i];
        if !quiet {
            eprintln!("[{}/{}] cell {i}: {}", n + 1, cells.len(), describe(cell));
        }
        let mut reporter = ConsoleReporter::new(quiet);
        match bench.run_cell(i, &mut reporter) {
            Ok(CellOutcome::Ran) => ran += 1,
            Ok(CellOutcome::DoneEarlier) => earlier += 1,
            Err(e) => {
                eprintln!("lssg: cell {i} ({}) failed: {e}", describe(cell));
                failures.push(i);
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} cells failed: {:?} (finished cells are kept; run again to retry)",
            failures.len(),
            cells.len(),
            failures
        );
    }
    println!("{ran} cells ran, {earlier} done earlier");
    finish(&args, &out, quiet)
}

/// After the whole grid ran, its report (`lssg report DIR`); after some cells, the hint.
fn finish(args: &BenchArgs, out: &std::path::Path, quiet: bool) -> anyhow::Result<()> {
    if args.cells.is_some() {
        println!("report of the finished cells: lssg report {}", out.display());
        return Ok(());
    }
    super::report::run(super::report::ReportArgs { dir: out.to_path_buf(), out: None, config: None }, quiet)
}

fn print_list(bench: &Bench, cells: &[usize], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>5}  {:<9}  {:<8}  {:<14}  {:<16}  {:>5}  {:<16}  {:<8}  dir",
        "cell", "kind", "status", "dataset", "model", "seed", "method", "after"
    )?;
    for &i in cells {
        let c = &bench.grid.cells[i];
        let (kind, after) = match c.kind {
            CellKind::Pretrain => ("pretrain", "-".to_string()),
            CellKind::Method(_) => ("finetune", c.pretrain.to_string()),
        };
        let status = match bench.status(c) {
            CellStatus::Done => "done",
            CellStatus::Started => "started",
            CellStatus::Pending => "pending",
            CellStatus::Conflict => "conflict",
        };
        let variant = if c.key.variant.is_empty() { String::new() } else { format!(" [{}]", c.key.variant) };
        writeln!(
            out,
            "{i:>5}  {kind:<9}  {status:<8}  {:<14}  {:<16}  {:>5}  {:<16}  {:<8}  {}{variant}",
            c.key.dataset,
            c.key.model,
            c.key.seed,
            c.key.method,
            after,
            c.dir.display()
        )?;
    }
    Ok(())
}
