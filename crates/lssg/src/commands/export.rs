//! `lssg export (--run RUN_DIR [--method guided] | --config CONFIG --checkpoint CKPT [--lora])
//! --format torchscript|onnx --out FILE [--batch 1] [--tile T]`: a trained model as a file
//! that runs without lssg (docs/export.md).

use std::path::PathBuf;

use anyhow::Context;

use super::model_args::ModelArgs;
use lssg::export::{ExportRequest, Format};

/// Arguments of `lssg export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The trained model.
    #[command(flatten)]
    pub model: ModelArgs,
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
    let model = args.model.source()?;
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
