//! `lssg eval CONFIG --checkpoint CKPT [--scenarios all|rgb,nir+swir]`: every listed scenario in
//! one command, as a scenario × metric table (and scenario × class IoU), plus JSON and CSV; with
//! `[eval.protocols]`, the robustness protocols' table and the predicted maps of the first tiles.

use std::path::PathBuf;

use anyhow::Context;

use lssg::config::RunConfig;
use lssg::progress::ConsoleReporter;

/// Arguments of `lssg eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The run configuration (TOML): data, model and eval sections are used.
    pub config: PathBuf,
    /// The weights to evaluate (safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// `all` or a comma-separated list such as `rgb,nir+swir` (default: the config's eval.scenarios).
    #[arg(long)]
    pub scenarios: Option<String>,
    /// The checkpoint holds LoRA adapters (of the config's finetune.lora rank).
    #[arg(long)]
    pub lora: bool,
    /// Write `<out>.json` and `<out>.csv` (default: next to the checkpoint, `eval-<name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a config value (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs `lssg eval`.
pub fn run(args: EvalArgs, quiet: bool) -> anyhow::Result<()> {
    let config = RunConfig::load(&args.config, &args.overrides)?;
    let mut reporter = ConsoleReporter::new(quiet);
    let evaluated = lssg::pipeline::evaluate_checkpoint(
        &config,
        &args.checkpoint,
        args.lora,
        args.scenarios.as_deref(),
        &mut reporter,
    )
    .with_context(|| format!("evaluate {}", args.checkpoint.display()))?;
    drop(reporter);
    let report = &evaluated.report;
    println!("{}", report.to_markdown());
    if let Some(table) = report.protocol_table() {
        println!("\n{}", table.markdown());
    }
    let out = args.out.unwrap_or_else(|| {
        let stem = args.checkpoint.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        args.checkpoint.with_file_name(format!("eval-{stem}"))
    });
    let json = out.with_extension("json");
    let csv = out.with_extension("csv");
    lssg_scenario::io::write_atomic(&json, serde_json::to_string_pretty(&report)?.as_bytes())?;
    lssg_scenario::io::write_atomic(&csv, report.to_csv().as_bytes())?;
    eprintln!("wrote {} and {}", json.display(), csv.display());
    if let Some(maps) = &evaluated.maps {
        let path = out.with_extension("maps.json");
        lssg_scenario::io::write_atomic(&path, serde_json::to_string(maps)?.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
