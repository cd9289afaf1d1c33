//! `lssg report DIR [--out DIR/report] [--config FILE]`: aggregates every finished cell under
//! DIR (`cell.json`, wherever it ran) into tables with intervals and tests, plots and one
//! self-contained HTML page (docs/bench.md §4, docs/report.md).

use std::path::{Path, PathBuf};

use anyhow::Context;

use lssg::bench::REPORT_CONFIG;
use lssg_report::ReportConfig;

/// Arguments of `lssg report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The bench output directory (any directory holding `cell.json` files).
    pub dir: PathBuf,
    /// Where the report goes (default: DIR/report).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report settings: a TOML file with `ReportConfig` keys, or a bench file's `[report]`
    /// (default: DIR/report.toml, written by `lssg bench`, else the defaults).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs `lssg report`.
pub fn run(args: ReportArgs, quiet: bool) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => read_config(path)?,
        None => {
            let path = args.dir.join(REPORT_CONFIG);
            if path.exists() { read_config(&path)? } else { ReportConfig::default() }
        }
    };
    let out = args.out.clone().unwrap_or_else(|| args.dir.join("report"));
    let summary = lssg_report::report(&args.dir, &out, &config)
        .with_context(|| format!("report of {} into {}", args.dir.display(), out.display()))?;
    for problem in &summary.problems {
        eprintln!("lssg: left out {}: {}", problem.path.display(), problem.message);
    }
    if !quiet {
        eprintln!("lssg: {} cells, {} files written", summary.cells, summary.written.len());
    }
    let md = out.join("report.md");
    let text = std::fs::read_to_string(&md).with_context(|| format!("reading {}", md.display()))?;
    // On stdout: the opening summary, when there is one, and the first group's main table (up
    // to the next table caption).
    let tables = if text.contains("\n## Summary\n") { 2 } else { 1 };
    let mut captions = 0;
    let head: Vec<&str> = text
        .lines()
        .take_while(|l| {
            captions += usize::from(l.starts_with('*'));
            captions <= tables
        })
        .collect();
    println!("{}", head.join("\n").trim_end());
    println!("\nFull report: {} (also report.html, report.csv, report.json, plots/)", md.display());
    Ok(())
}

/// A report config file: either `ReportConfig` keys at the top level or under `[report]`.
fn read_config(path: &Path) -> anyhow::Result<ReportConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut table: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let section = match table.remove("report") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => anyhow::bail!("{}: [report] must be a table", path.display()),
        None => table,
    };
    let config: ReportConfig =
        toml::Value::Table(section).try_into().with_context(|| format!("{}: report settings", path.display()))?;
    config.validate().with_context(|| path.display().to_string())?;
    Ok(config)
}
