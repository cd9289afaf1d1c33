//! `lssg predict (--run RUN_DIR [--method guided] | --config CONFIG --checkpoint CKPT)
//! (--scene ID_OR_PATH | --modality name=path …) --available rgb,dsm --out labels.tif [--probs P]
//! [--preview P] [--cog] [--tile 224 --overlap 32 --batch 16 --blend hann --device D]`:
//! segments one whole scene with whatever sensors are available (docs/predict.md §8).

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::model_args::ModelArgs;
use lssg::predict::PredictRequest;
use lssg::progress::ConsoleReporter;
use lssg::reporter::Reporter;
use lssg_predict::BlendWindow;
use lssg_torch::DeviceSpec;

/// Arguments of `lssg predict`.
#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    /// The trained model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// A scene id of the configured data set (a DSTL image id such as `6120_2_2`, a Potsdam tile
    /// id such as `2_10`, a Hunan patch id), or a path to one raster holding every modality's
    /// bands in model order.
    #[arg(long, value_name = "ID_OR_PATH")]
    pub scene: Option<String>,
    /// Look the scene id up under this data root instead of the configured one (the
    /// normalisation still comes from the training data).
    #[arg(long, requires = "scene")]
    pub scene_root: Option<PathBuf>,
    /// One raster per modality, `name=path` or `name=path:1,2,3` for a band subset (1-based;
    /// repeatable; overrides the scene's file).
    #[arg(long = "modality", value_name = "NAME=PATH")]
    pub modalities: Vec<String>,
    /// The available modalities: `rgb,dsm`, a scenario such as `rgb+dsm`, `all`, or an index.
    #[arg(long, default_value = "all")]
    pub available: String,
    /// The label GeoTIFF to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write float32 class probabilities here.
    #[arg(long)]
    pub probs: Option<PathBuf>,
    /// Also write a colour PNG with a legend here.
    #[arg(long)]
    pub preview: Option<PathBuf>,
    /// Write the labels as a cloud-optimised GeoTIFF.
    #[arg(long)]
    pub cog: bool,
    /// Tile side in pixels (default: the data set's tile size).
    #[arg(long)]
    pub tile: Option<usize>,
    /// Overlap between neighbouring tiles in pixels.
    #[arg(long, default_value_t = 32)]
    pub overlap: usize,
    /// Tiles per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Blending window: hann, gaussian or flat.
    #[arg(long, default_value = "hann")]
    pub blend: String,
    /// `cpu`, `cuda`, `cuda:N` or `auto` (default: the config's run.device).
    #[arg(long)]
    pub device: Option<String>,
    /// Override a config value (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

fn request(args: PredictArgs) -> anyhow::Result<PredictRequest> {
    let model = args.model.source()?;
    if args.scene.is_none() && args.modalities.is_empty() {
        bail!("give the scene: --scene ID_OR_PATH or --modality name=path (repeatable)");
    }
    let mut modalities = Vec::new();
    for m in &args.modalities {
        let (name, path) = m.split_once('=').with_context(|| format!("--modality {m:?}: expected name=path"))?;
        modalities.push((name.trim().to_string(), PathBuf::from(path)));
    }
    let device = args.device.map(|d| d.parse::<DeviceSpec>()).transpose()?;
    Ok(PredictRequest {
        model,
        overrides: args.overrides,
        scene: args.scene,
        scene_root: args.scene_root,
        modalities,
        available: args.available,
        labels: args.out,
        probs: args.probs,
        preview: args.preview,
        cog: args.cog,
        tile: args.tile,
        overlap: args.overlap,
        batch: args.batch,
        blend: BlendWindow::parse(&args.blend)?,
        device,
    })
}

/// Runs `lssg predict`.
pub fn run(args: PredictArgs, quiet: bool) -> anyhow::Result<()> {
    let request = request(args)?;
    let mut reporter = ConsoleReporter::new(quiet);
    let predicted = lssg::predict::predict(&request, &mut |done, total| reporter.progress("predict", done, total))
        .with_context(|| format!("predict {}", request.labels.display()))?;
    drop(reporter);
    let s = &predicted.summary;
    if !quiet {
        eprintln!(
            "lssg: {} × {} pixels, {} tiles, scenario {}, weights {}",
            s.width,
            s.height,
            s.tiles,
            predicted.scenario,
            predicted.checkpoint.display()
        );
    }
    println!("{}", request.labels.display());
    Ok(())
}
