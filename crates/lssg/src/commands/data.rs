//! `lssg data synth`, `lssg data inspect` and `lssg data prepare` (docs/method.md §8,
//! docs/data.md).
//!
//! `synth` writes synthetic scenes in a real data set's on-disk layout
//! ([`lssg_datasets::layouts::synth`]); `inspect` prints per-scene statistics of a data set on
//! disk ([`lssg_datasets::inspect::inspect`], or with `--config` the run configuration's reader
//! settings and modalities, [`lssg_datasets::inspect::inspect_config`]) as an aligned table or,
//! with `--json`, as
//! `{"scenes": [{"id", "split", "width", "height", "modalities": {name: {"bands", "mean"}},
//! "class_pixels": {index: count}, "ignore_pixels", …}], "totals": {…}}`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use lssg_datasets::inspect::{InspectDataset, InspectReport, inspect, inspect_config};
use lssg_datasets::layouts::{Layout, SynthOptions, synth};
use lssg_datasets::prepare::{PrepareDataset, prepare};

/// Arguments of `lssg data`.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// `lssg data` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Write synthetic scenes in a real data set's on-disk layout.
    Synth(SynthArgs),
    /// Per-scene statistics of a data set on disk: sizes, band means, class pixel counts.
    Inspect(InspectArgs),
    /// Unpack a data set's official downloads (zip archives) into the layout its reader expects.
    Prepare(PrepareArgs),
}

/// Arguments of `lssg data prepare`.
#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    /// Data set: potsdam, dstl or hunan.
    #[arg(long)]
    pub dataset: PrepareDataset,
    /// The folder holding the downloaded archives (`*.zip`).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The data set's root to write (e.g. data/potsdam).
    #[arg(long, value_name = "ROOT")]
    pub out: PathBuf,
}

/// Arguments of `lssg data synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output directory (the data set's root).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Layout: potsdam, hunan or dstl.
    #[arg(long)]
    pub layout: Layout,
    /// Number of scenes.
    #[arg(long, default_value_t = 4)]
    pub tiles: usize,
    /// Scene side in pixels.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Arguments of `lssg data inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Data set: dstl, potsdam, hunan or synthetic (with --root; the reader's default modalities).
    #[arg(long, required_unless_present = "config", requires = "root", conflicts_with = "config")]
    pub dataset: Option<InspectDataset>,
    /// The data set's root directory.
    #[arg(long, value_name = "DIR", requires = "dataset")]
    pub root: Option<PathBuf>,
    /// A run configuration: its `[data]` reader (root, modalities, labels) is inspected.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Overrides of the configuration (`key=value`), as `lssg run --set`.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "config")]
    pub set: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `lssg data …`.
pub fn run(args: DataArgs, quiet: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.command {
        DataCommand::Synth(a) => {
            let options = SynthOptions { layout: a.layout, tiles: a.tiles, size: a.size, seed: a.seed };
            let report = synth(&a.out, &options)
                .with_context(|| format!("writing synthetic {:?} data to {}", a.layout, a.out.display()))?;
            if !quiet {
                writeln!(
                    out,
                    "wrote {} scenes ({}) to {}: {} files, {} bytes",
                    report.scenes.len(),
                    report.scenes.join(" "),
                    report.root.display(),
                    report.files,
                    report.bytes
                )?;
            }
        }
        DataCommand::Prepare(a) => {
            let report = prepare(a.dataset, &a.from, &a.out)
                .with_context(|| format!("unpacking {} into {}", a.from.display(), a.out.display()))?;
            if !quiet {
                let written: Vec<String> = report.written.iter().map(|(d, n)| format!("{d}/ {n}")).collect();
                writeln!(
                    out,
                    "read {} archives, wrote {} bytes to {}: {} ({} entries skipped)",
                    report.archives.len(),
                    report.bytes,
                    a.out.display(),
                    written.join(", "),
                    report.skipped
                )?;
            }
            for line in &report.missing {
                eprintln!("lssg: data prepare: {line}");
            }
        }
        DataCommand::Inspect(a) => {
            let report = match (&a.config, a.dataset, &a.root) {
                (Some(path), ..) => {
                    let config = lssg::config::RunConfig::load(path, &a.set)?;
                    inspect_config(&config.data)
                        .with_context(|| format!("inspecting the data of {}", path.display()))?
                }
                (None, Some(dataset), Some(root)) => {
                    inspect(dataset, root).with_context(|| format!("inspecting {}", root.display()))?
                }
                _ => anyhow::bail!("lssg data inspect: give --dataset and --root, or --config"),
            };
            if a.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                out.write_all(table(&report).as_bytes())?;
            }
        }
    }
    Ok(())
}

/// The aligned table of a report: one row per scene and a totals row.
fn table(r: &InspectReport) -> String {
    let classes: Vec<u8> = r.class_names.keys().copied().collect();
    let mut header: Vec<String> = ["id", "split", "width", "height"].map(String::from).to_vec();
    let mods: Vec<String> =
        r.scenes.first().map(|s| s.modalities.iter().map(|m| m.name.clone()).collect()).unwrap_or_default();
    header.extend(mods.iter().map(|m| format!("{m} mean")));
    header.extend(classes.iter().map(|c| format!("{c}:{}", r.class_names[c])));
    header.extend(["ignore", "off_palette"].map(String::from));
    let mut rows = vec![header];
    for s in &r.scenes {
        let mut row = vec![s.id.clone(), s.split.clone(), s.width.to_string(), s.height.to_string()];
        row.extend(s.modalities.iter().map(|m| m.mean.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join("/")));
        row.extend(classes.iter().map(|c| s.class_pixels.get(c).copied().unwrap_or(0).to_string()));
        row.extend([s.ignore_pixels.to_string(), s.off_palette_pixels.to_string()]);
        rows.push(row);
    }
    let t = &r.totals;
    let mut total = vec![format!("total ({} scenes)", t.scenes), String::new(), String::new(), String::new()];
    total.extend(mods.iter().map(|_| String::new()));
    total.extend(classes.iter().map(|c| t.class_pixels.get(c).copied().unwrap_or(0).to_string()));
    total.extend([t.ignore_pixels.to_string(), t.off_palette_pixels.to_string()]);
    rows.push(total);
    // Rows may differ in length (a scene with other modalities than the first): never index blindly.
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|k| rows.iter().filter_map(|r| r.get(k)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(k, (c, &w))| if k < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        let _ = writeln!(s, "{}", cells.join("  ").trim_end());
    }
    s
}
