//! `lssg.json`, the description an exported model carries (docs/export.md §3): what the
//! inputs are, how the model normalises them, what the output means, and the run's resolved
//! configuration. The TorchScript archive holds it as the extra file `lssg.json`, the ONNX
//! model as the metadata property `lssg`.

use serde::Serialize;

/// One input modality, in the order of the model's positional inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModalityInfo {
    /// The modality's name (the ONNX input's name).
    pub name: String,
    /// Its number of bands (channels), in the order of the training rasters.
    pub bands: usize,
}

/// The normalisation the exported model applies to each raw input:
/// `(x − offset[c]) · scale[c]` per band, non-finite values (no-data) become 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormalizationInfo {
    /// Per modality, per band: subtracted offset.
    pub offset: Vec<Vec<f32>>,
    /// Per modality, per band: multiplied scale.
    pub scale: Vec<Vec<f32>>,
    /// What non-finite input values become after normalisation.
    pub non_finite: f32,
}

/// The traced shapes: the exported model accepts exactly these.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapeInfo {
    /// Tiles per call.
    pub batch: usize,
    /// Tile side in pixels (height = width).
    pub tile: usize,
    /// Per modality input `[batch, bands, tile, tile]`, float32.
    pub inputs: Vec<[usize; 4]>,
    /// `availability`: `[batch, modalities]`, float32 0/1.
    pub availability: [usize; 2],
    /// `logits`: `[batch, K, tile, tile]`, float32 (K = 1 for a binary task).
    pub logits: [usize; 4],
}

/// One scenario (a set of available modalities) and its availability row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioInfo {
    /// `optical+sar`, … (the names of the available modalities).
    pub name: String,
    /// The availability row: 1 for an available modality, 0 for a missing one.
    pub availability: Vec<u8>,
}

/// Everything `lssg.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportMetadata {
    /// Always `lssg-export`.
    pub format: &'static str,
    /// The layout version of this file.
    pub version: u32,
    /// `cmx`, `cbc` or `cbc-slp`.
    pub backbone: String,
    /// `tiny`, `small` or `base`.
    pub preset: String,
    /// The run's method the weights come from (`None` for a checkpoint given directly).
    pub method: Option<String>,
    /// The weights had LoRA adapters, now merged into the base weights.
    pub lora_merged: bool,
    /// The positional inputs before `availability`.
    pub modalities: Vec<ModalityInfo>,
    /// Label names in label order (a binary model's labels are `background` and the class).
    pub classes: Vec<String>,
    /// Colour per label, `[r, g, b]`.
    pub palette: Vec<[u8; 3]>,
    /// `binary` (one logit: the class where `logit > 0`) or `multiclass` (argmax over K).
    pub task: &'static str,
    /// The input normalisation the model applies itself.
    pub normalization: NormalizationInfo,
    /// The traced (fixed) shapes.
    pub shapes: ShapeInfo,
    /// Every scenario, in lssg's canonical order.
    pub scenarios: Vec<ScenarioInfo>,
    /// The run's resolved configuration.
    pub config: serde_json::Value,
}
