//! `lssg export (--run RUN_DIR [--method guided] | --config CONFIG --checkpoint CKPT [--lora])
//! --format torchscript|onnx --out FILE [--batch 1] [--tile T]`: a trained model as a file
//! that runs without lssg (docs/export.md).

use std::path::PathBuf;

use anyhow::{Context, bail};

use lssg::export::{ExportRequest, Format};
use lssg::model_source::ModelSource;

/// Arguments of `lssg export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A finished `lssg run` directory (its config.toml and weights are used).
    #[arg(long, conflicts_with_all = ["config", "checkpoint"])]
    pub run: Option<PathBuf>,
    /// The run's method whose weights are exported (`pretrained` or a fine-tuning method).
    #[arg(long, default_value = "guided", requires = "run")]
    pub method: String,
    /// A run configuration (with --checkpoint instead of --run).
    #[arg(long, requires = "checkpoint")]
    pub config: Option<PathBuf>,
    /// The weights (safetensors), with --config.
    #[arg(long, requires = "config")]
    pub checkpoint: Option<PathBuf>,
    /// The checkpoint holds LoRA adapters (with --config); they are merged into the weights.
    #[arg(long)]
    pub lora: bool,
    /// `torchscript` or `onnx`.
    #[arg(long)]
    pub format: String,
    /// The file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Tiles per call, fixed in the exported model.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Tile side in pixels, fixed in the exported model (default: the data set's tile size).
    #[arg(long)]
    pub tile: Option<usize>,
    /// Override a config value (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs `lssg export`.
pub fn run(args: ExportArgs, quiet: bool) -> anyhow::Result<()> {
    let model = match (args.run, args.config, args.checkpoint) {
        (Some(dir), None, None) => ModelSource::Run { dir, method: args.method },
        (None, Some(config), Some(checkpoint)) => ModelSource::Checkpoint { config, checkpoint, lora: args.lora },
        _ => bail!("give either --run RUN_DIR [--method M] or --config CONFIG --checkpoint CKPT"),
    };
    let request = ExportRequest {
        model,
        overrides: args.overrides,
        format: args.format.parse::<Format>()?,
        out: args.out,
        batch: args.batch,
        tile: args.tile,
    };
    let meta = lssg::export::export(&request).with_context(|| format!("export {}", request.out.display()))?;
    if !quiet {
        let s = &meta.shapes;
        eprintln!(
            "lssg: {} {} ({} modalities, {} classes), batch {}, tile {}",
            meta.backbone,
            meta.preset,
            meta.modalities.len(),
            meta.classes.len(),
            s.batch,
            s.tile
        );
    }
    println!("{}", request.out.display());
    Ok(())
}
