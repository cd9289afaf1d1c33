//! Model configuration (docs/method.md §5, §7): which backbone, which size preset, how many classes, and
//! whether LoRA adapters are attached. [`ModelConfig::init`] validates and builds the network.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::nn;

use crate::error::{Error, Result};
use crate::model::SegmentationModel;

/// The backbone families of docs/method.md §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackboneKind {
    /// Two-stream CMX with feature rectification and fusion modules.
    #[default]
    Cmx,
    /// CBC: one inflated 3-D ResNet encoder per modality with transformer fusion.
    Cbc,
    /// CBC with a structured (shared + private) latent.
    CbcSlp,
}

impl BackboneKind {
    /// Every kind, in display order.
    pub const ALL: [BackboneKind; 3] = [BackboneKind::Cmx, BackboneKind::Cbc, BackboneKind::CbcSlp];

    /// The spelling used in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            BackboneKind::Cmx => "cmx",
            BackboneKind::Cbc => "cbc",
            BackboneKind::CbcSlp => "cbc-slp",
        }
    }
}

impl BackboneKind {
    /// The encoder's total downsampling factor, the same at every preset: CMX's stem and four
    /// stages each halve the resolution (levels at 1/4 … 1/32); CBC's stem convolution, its
    /// max-pool and stages e3–e5 likewise (e2 keeps the resolution). Each halving rounds up,
    /// so the deepest level of a `t × t` tile is `⌈t/32⌉²`.
    pub fn output_stride(self) -> usize {
        match self {
            BackboneKind::Cmx | BackboneKind::Cbc | BackboneKind::CbcSlp => 32,
        }
    }
}

impl fmt::Display for BackboneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackboneKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        BackboneKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::unknown("backbone", s.to_string(), "cmx, cbc, cbc-slp"))
    }
}

/// Size presets: `paper` reproduces the reference's parameter counts (within 1 %); `small` and
/// `tiny` keep the topology with narrower layers for CPU training, tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The reference sizes.
    Paper,
    /// Narrow, for CPU runs.
    #[default]
    Small,
    /// Narrowest, for tests.
    Tiny,
}

impl Preset {
    /// Every preset, largest first.
    pub const ALL: [Preset; 3] = [Preset::Paper, Preset::Small, Preset::Tiny];

    /// The spelling used in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Small => "small",
            Preset::Tiny => "tiny",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::unknown("preset", s.to_string(), "paper, small, tiny"))
    }
}

/// LoRA adapter settings (docs/method.md §5.5). The reference: rank 4, no α/r scaling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraConfig {
    /// Rank r of every adapter.
    pub rank: i64,
    /// Scaling numerator: the update is `α/r · B·A`. `None` (the reference) means no scaling.
    pub alpha: Option<f64>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig { rank: 4, alpha: None }
    }
}

impl LoraConfig {
    /// The factor applied to `B·A`: `α / r`, or 1 without α.
    pub fn scale(&self) -> f64 {
        self.alpha.map_or(1.0, |a| a / self.rank as f64)
    }

    /// Checks `rank ≥ 1` and a finite α.
    pub fn validate(&self) -> Result<()> {
        if self.rank < 1 {
            return Err(Error::invalid("lora.rank", self.rank, "an integer ≥ 1"));
        }
        if let Some(a) = self.alpha
            && !a.is_finite()
        {
            return Err(Error::invalid("lora.alpha", a, "a finite number"));
        }
        Ok(())
    }
}

/// The output head of the CBC family (`docs/reference.md §3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum OutputHead {
    /// `classes` logit channels, trained and evaluated as they are.
    #[default]
    #[serde(rename = "single")]
    Single,
    /// The reference's head: the last 1×1×1 convolution emits 3 copies of the class logits,
    /// each trained against the same target (the reference repeats the mask 3 times), and
    /// copy 0 is what is evaluated, as the reference reads channel 0.
    #[serde(rename = "reference-3")]
    Reference3,
}

impl OutputHead {
    /// How many copies of the class logits the head emits.
    pub fn copies(self) -> i64 {
        match self {
            OutputHead::Single => 1,
            OutputHead::Reference3 => 3,
        }
    }
}

/// Checks what a network is built for: at least 2 modalities of ≥ 1 channel each (`channels`),
/// `classes ≥ 1` and, with LoRA, valid adapter settings.
pub(crate) fn check_build(channels: &[i64], classes: i64, lora: Option<&LoraConfig>) -> Result<()> {
    if channels.len() < 2 {
        return Err(Error::invalid("channels", format!("{channels:?}"), "at least 2 modalities"));
    }
    if let Some((m, c)) = channels.iter().enumerate().find(|(_, c)| **c < 1) {
        return Err(Error::invalid(
            "channels",
            format!("{channels:?}"),
            format!("≥ 1 channel per modality (modality {m} has {c})"),
        ));
    }
    if classes < 1 {
        return Err(Error::invalid("classes", classes, "an integer ≥ 1"));
    }
    if let Some(l) = lora {
        l.validate()?;
    }
    Ok(())
}

/// Which network to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Backbone family.
    pub backbone: BackboneKind,
    /// Size preset.
    pub preset: Preset,
    /// Output channels (1 for the paper's binary task).
    pub classes: i64,
    /// LoRA adapters; `None` for a plain network.
    pub lora: Option<LoraConfig>,
    /// The CBC family's output head: `single` (default) or `reference-3`. CMX accepts only
    /// `single`: the reference's CMX repeats one logit, which is the single head.
    pub output_head: OutputHead,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            backbone: BackboneKind::Cmx,
            preset: Preset::Small,
            classes: 1,
            lora: None,
            output_head: OutputHead::Single,
        }
    }
}

impl ModelConfig {
    /// The smallest tile side the network takes ([`ArchitectureConfig::min_tile_size`]).
    pub fn min_tile_size(&self) -> usize {
        self.architecture().min_tile_size()
    }

    /// The backbone, preset and head of this config.
    pub fn architecture(&self) -> ArchitectureConfig {
        ArchitectureConfig { backbone: self.backbone, preset: self.preset, output_head: self.output_head }
    }

    /// Checks the configuration against the modalities' channel counts.
    pub fn validate(&self, channels: &[i64]) -> Result<()> {
        check_build(channels, self.classes, self.lora.as_ref())?;
        if self.backbone == BackboneKind::Cmx && self.output_head != OutputHead::Single {
            return Err(Error::invalid(
                "output_head",
                "reference-3",
                "single for cmx (reference-3 is the CBC family's head; the reference's CMX repeats one logit)",
            ));
        }
        Ok(())
    }

    /// Validates and builds the network under `p` for modalities with `channels` channels each.
    /// With LoRA the adapters are created but nothing is frozen; call
    /// [`crate::lora::freeze_base`] on the store (or use [`ModelConfig::build`]).
    pub fn init(&self, p: &nn::Path, channels: &[i64]) -> Result<Box<dyn SegmentationModel>> {
        self.validate(channels)?;
        let lora = self.lora.as_ref();
        match self.backbone {
            BackboneKind::Cmx => Ok(Box::new(crate::cmx::Cmx::new(p, self.preset, channels, self.classes, lora)?)),
            BackboneKind::Cbc | BackboneKind::CbcSlp => {
                let cfg = crate::cbc::CbcConfig {
                    output_head: self.output_head,
                    ..crate::cbc::CbcConfig::preset(self.preset)
                };
                Ok(Box::new(crate::cbc::Cbc::new(
                    p,
                    &cfg,
                    channels,
                    self.classes,
                    lora,
                    self.backbone == BackboneKind::CbcSlp,
                )?))
            }
        }
    }

    /// Builds the network at the root of `vs` and, with LoRA, freezes every non-adapter variable.
    pub fn build(&self, vs: &nn::VarStore, channels: &[i64]) -> Result<Box<dyn SegmentationModel>> {
        let model = self.init(&vs.root(), channels)?;
        if self.lora.is_some() {
            crate::lora::freeze_base(vs);
        }
        Ok(model)
    }
}

/// The network a run configuration chooses: the backbone and its preset. The rest of a
/// [`ModelConfig`] is not chosen there: the class count comes from the data set and the LoRA
/// adapters from the fine-tuning method (docs/architecture.md, "The run configuration").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchitectureConfig {
    /// Backbone family.
    pub backbone: BackboneKind,
    /// Size preset.
    pub preset: Preset,
    /// The CBC family's output head (docs/reference.md §3).
    pub output_head: OutputHead,
}

impl Default for ArchitectureConfig {
    fn default() -> Self {
        let m = ModelConfig::default();
        ArchitectureConfig { backbone: m.backbone, preset: m.preset, output_head: m.output_head }
    }
}

impl ArchitectureConfig {
    /// The smallest tile side the network takes: its encoder's total downsampling factor, so
    /// that the deepest level still covers one tile's worth of pixels (docs/reliability.md §3).
    /// A smaller tile is downsampled to a 1 × 1 level long before the deepest stage and
    /// carries no spatial context there.
    pub fn min_tile_size(&self) -> usize {
        self.backbone.output_stride()
    }

    /// The smallest tile side for training batches of `batch_size` samples: besides
    /// [`ArchitectureConfig::min_tile_size`], batch norm in training needs more than one value
    /// per channel at the deepest level (`batch_size · ⌈t/32⌉² > 1`): with one value its
    /// variance is 0 and the running variance it updates is 1/0 (PyTorch refuses such a batch,
    /// libtorch returns NaN).
    pub fn min_train_tile_size(&self, batch_size: usize) -> usize {
        let stride = self.backbone.output_stride();
        if batch_size >= 2 { stride } else { stride + 1 }
    }

    /// Checks a tile side set by `key` (e.g. `data.reader.tile_size`): at least
    /// [`ArchitectureConfig::min_tile_size`], and with `train_batch = Some(b)` at least
    /// [`ArchitectureConfig::min_train_tile_size`] of `b`.
    pub fn check_tile(&self, key: &str, tile: usize, train_batch: Option<usize>) -> Result<()> {
        let stride = self.backbone.output_stride();
        let too_small = |minimum: usize, reason: String| Error::TileTooSmall {
            key: key.to_string(),
            tile,
            backbone: self.backbone,
            preset: self.preset,
            minimum,
            reason,
        };
        if tile < self.min_tile_size() {
            return Err(too_small(self.min_tile_size(), format!("its encoder downsamples {stride}×")));
        }
        if let Some(batch) = train_batch
            && tile < self.min_train_tile_size(batch)
        {
            let reason =
                format!("training batches of {batch} leave batch norm one value per channel at the 1/{stride} level");
            return Err(too_small(self.min_train_tile_size(batch), reason));
        }
        Ok(())
    }

    /// The full model config with `classes` output channels and the given adapters.
    pub fn model(&self, classes: i64, lora: Option<LoraConfig>) -> ModelConfig {
        ModelConfig { backbone: self.backbone, preset: self.preset, classes, lora, output_head: self.output_head }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in BackboneKind::ALL {
            assert_eq!(k.as_str().parse::<BackboneKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        for p in Preset::ALL {
            assert_eq!(p.as_str().parse::<Preset>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        let err = "cbc_slp".parse::<BackboneKind>().unwrap_err().to_string();
        assert!(err.contains("cbc_slp") && err.contains("cbc-slp"), "{err}");
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: ModelConfig = serde_json::from_str(r#"{"backbone":"cbc-slp","lora":{}}"#).unwrap();
        assert_eq!(c.backbone, BackboneKind::CbcSlp);
        assert_eq!(c.preset, Preset::Small);
        assert_eq!(c.classes, 1);
        assert_eq!(c.lora, Some(LoraConfig { rank: 4, alpha: None }));
        assert_eq!(c.output_head, OutputHead::Single);
        let c: ModelConfig = serde_json::from_str(r#"{"backbone":"cbc","output_head":"reference-3"}"#).unwrap();
        assert_eq!((c.output_head, c.output_head.copies()), (OutputHead::Reference3, 3));
        assert!(serde_json::from_str::<ModelConfig>(r#"{"output_head":"reference3"}"#).is_err());
        assert!(serde_json::from_str::<ModelConfig>(r#"{"backbones":"cmx"}"#).is_err());
        assert!(serde_json::from_str::<LoraConfig>(r#"{"rank":4,"scale":1}"#).is_err());
    }

    #[test]
    fn an_architecture_becomes_a_model_config() {
        let a: ArchitectureConfig = serde_json::from_str(r#"{"backbone":"cbc","output_head":"reference-3"}"#).unwrap();
        let m = a.model(7, Some(LoraConfig::default()));
        assert_eq!(
            (m.backbone, m.preset, m.classes, m.lora),
            (BackboneKind::Cbc, Preset::Small, 7, Some(LoraConfig::default()))
        );
        assert!(serde_json::from_str::<ArchitectureConfig>(r#"{"classes":1}"#).is_err());
    }

    #[test]
    fn tiles_below_the_encoder_stride_are_refused_naming_key_backbone_and_minimum() {
        for backbone in BackboneKind::ALL {
            for preset in Preset::ALL {
                let a = ArchitectureConfig { backbone, preset, ..Default::default() };
                assert_eq!((a.min_tile_size(), a.model(1, None).min_tile_size()), (32, 32));
                assert!(a.check_tile("data.generator.tile_size", 32, Some(2)).is_ok());
                assert!(a.check_tile("data.generator.tile_size", 64, Some(1)).is_ok());
                let e = a.check_tile("data.reader.tile_size", 2, None).unwrap_err();
                assert!(matches!(e, Error::TileTooSmall { tile: 2, minimum: 32, .. }), "{e:?}");
                let s = e.to_string();
                for needle in ["data.reader.tile_size = 2", backbone.as_str(), preset.as_str(), "at least 32"] {
                    assert!(s.contains(needle), "{needle} not in {s}");
                }
            }
        }
        let a = ArchitectureConfig::default();
        assert_eq!((a.min_train_tile_size(1), a.min_train_tile_size(2)), (33, 32));
        assert!(a.check_tile("--tile", 32, None).is_ok());
        let s = a.check_tile("data.generator.tile_size", 32, Some(1)).unwrap_err().to_string();
        assert!(s.contains("at least 33") && s.contains("batch norm"), "{s}");
    }

    /// The deepest level of a `32 × 32` tile is `1 × 1` for every backbone: the stride the
    /// tile check assumes.
    #[test]
    fn the_output_stride_is_the_encoders_downsampling() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let cmx = crate::cmx::CmxConfig::preset(Preset::Tiny);
        let enc = crate::cmx::backbone::DualBackbone::new(&vs.root(), &cmx, 3, None);
        let x = tch::Tensor::zeros([1, 3, 64, 96], (tch::Kind::Float, tch::Device::Cpu));
        let levels = enc.forward_t(&x, &x, false);
        let stride = BackboneKind::Cmx.output_stride() as i64;
        assert_eq!(&levels.last().unwrap().size()[2..], [64 / stride, 96 / stride]);
    }

    #[test]
    fn validation_names_the_field() {
        let c = ModelConfig::default();
        assert!(c.validate(&[3, 3]).is_ok());
        assert!(c.validate(&[3]).unwrap_err().to_string().contains("channels"));
        assert!(c.validate(&[3, 0]).unwrap_err().to_string().contains("modality 1"));
        let c = ModelConfig { classes: 0, ..Default::default() };
        assert!(c.validate(&[3, 3]).unwrap_err().to_string().contains("classes"));
        let c = ModelConfig { lora: Some(LoraConfig { rank: 0, alpha: None }), ..Default::default() };
        assert!(c.validate(&[3, 3]).unwrap_err().to_string().contains("lora.rank"));
        let c = ModelConfig { output_head: OutputHead::Reference3, ..Default::default() };
        assert!(c.validate(&[3, 3]).unwrap_err().to_string().contains("output_head"));
        assert!(ModelConfig { backbone: BackboneKind::Cbc, ..c }.validate(&[3, 3]).is_ok());
    }
}
