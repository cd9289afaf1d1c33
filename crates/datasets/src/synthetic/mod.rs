//! The synthetic multimodal data set (docs/method.md §8.4): a seeded procedural world of
//! label maps rendered by three simulated sensors whose information is complementary and
//! partly redundant, so every single-modality scenario loses *different* classes.
//!
//! # Classes
//!
//! | index | name             | where it comes from                                   |
//! |-------|------------------|-------------------------------------------------------|
//! | 0     | `water`          | terrain below a fixed level (lakes in low ground)     |
//! | 1     | `bare_soil`      | fallow parcels                                        |
//! | 2     | `crops`          | cultivated parcels (vigour varies per parcel)         |
//! | 3     | `low_vegetation` | meadow parcels, town gardens                          |
//! | 4     | `trees`          | forest patches, town parks                            |
//! | 5     | `road`           | major grid everywhere, dense minor grid in towns      |
//! | 6     | `building`       | lots between town roads, 5–17 m tall                  |
//!
//! # Modalities (default order) and what each separates
//!
//! * `optical`, 4 bands R, G, B, NIR (reflectance, [0, 1]): separates water from everything,
//!   and the vegetation types and bare soil from each other; **confuses road ↔ building**
//!   (grey surfaces). Optionally covered by clouds (`clouds`).
//! * `sar`, 2 bands VV, VH (backscatter in dB, multiplicative gamma speckle of `sar_speckle`
//!   looks): buildings very bright (double bounce), roads and water dark, trees and crops
//!   bright in VH; **confuses bare soil ↔ low vegetation** (and partly water ↔ road).
//! * `height`, 1 band (a DSM in metres: terrain + objects): separates tall from flat
//!   (buildings and trees from roads and fields; water is the flat lowest surface) but
//!   **confuses building ↔ trees** and the flat ground classes among themselves.
//!
//! Pairs recover what a single sensor loses (SAR or height split road from building; optical
//! splits building from trees and bare soil from low vegetation), so the single-modality
//! costs are clearly unequal: optical ≫ SAR > height (checked by `tests/synthetic_design.rs`
//! with a per-pixel naive Bayes classifier).
//!
//! # Determinism
//!
//! Tile `i` is the window of the world at an origin hashed from (`seed`, `i`); every value is
//! a pure function of (`seed`, world coordinates, config), so tiles are generated on demand,
//! in parallel and in any order with identical results.
//!
//! ```
//! use lssg_datasets::TileDataset;
//! use lssg_datasets::synthetic::{SyntheticConfig, SyntheticDataset};
//! let ds = SyntheticDataset::new(SyntheticConfig { tiles: 4, tile_size: 32, ..Default::default() }).unwrap();
//! let s = ds.sample(3).unwrap();
//! assert_eq!(s.modalities[0].channels, 4); // optical: R, G, B, NIR
//! assert_eq!(s.labels.len(), 32 * 32);
//! assert_eq!(s, ds.sample(3).unwrap());
//! ```

mod dataset;
mod noise;
mod render;
mod world;

use lssg_scenario::ModalitySet;
use serde::{Deserialize, Serialize};

pub use dataset::SyntheticDataset;
pub use render::SceneArrays;

use crate::error::{Error, Result};
use noise::{hash2, stream};
use render::{RenderScratch, Renderer};

/// Class names, indexed by label value.
pub const CLASS_NAMES: [&str; 7] = ["water", "bare_soil", "crops", "low_vegetation", "trees", "road", "building"];

/// The simulated sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModalityKind {
    /// R, G, B, NIR reflectance.
    Optical,
    /// VV, VH backscatter in dB.
    Sar,
    /// A digital surface model in metres.
    Height,
}

impl ModalityKind {
    /// All sensors in the default order.
    pub const ALL: [ModalityKind; 3] = [ModalityKind::Optical, ModalityKind::Sar, ModalityKind::Height];

    /// The modality name (`optical`, `sar`, `height`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Optical => "optical",
            Self::Sar => "sar",
            Self::Height => "height",
        }
    }

    /// The band names.
    pub fn bands(self) -> &'static [&'static str] {
        match self {
            Self::Optical => &["red", "green", "blue", "nir"],
            Self::Sar => &["vv", "vh"],
            Self::Height => &["dsm"],
        }
    }

    /// The number of channels.
    pub fn channels(self) -> usize {
        self.bands().len()
    }

    /// The sensor called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Generator settings. The defaults are the embedded default data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    /// Tile height and width in pixels.
    pub tile_size: usize,
    /// Number of tiles of the data set (before splitting).
    pub tiles: usize,
    /// World seed: the same seed gives the same tiles.
    pub seed: u64,
    /// Modalities to render, in order (a non-empty subset of `optical`, `sar`, `height`).
    pub modalities: Vec<String>,
    /// A class name to make the task binary (labels 1 = that class, 0 = the rest); `None`
    /// keeps all seven classes.
    pub positive_class: Option<String>,
    /// Scale of the additive sensor noise of `optical` and `height` (0 = noise-free).
    pub noise: f32,
    /// Equivalent number of looks of the SAR speckle (gamma, mean 1, variance 1/looks);
    /// 0 disables speckle. Fewer looks = stronger speckle.
    pub sar_speckle: u32,
    /// Downsampling factor of `coarse_modality`: each `resolution²` block is replaced by its
    /// mean (1 = native resolution).
    pub resolution: usize,
    /// The modality that `resolution` coarsens.
    pub coarse_modality: String,
    /// Shift of `sar` against the other modalities and the labels, in pixels (along both axes).
    pub misregistration: usize,
    /// Fraction of the optical image covered by clouds, in [0, 1].
    pub clouds: f32,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            tile_size: 64,
            tiles: 256,
            seed: 0,
            modalities: ModalityKind::ALL.iter().map(|k| k.name().to_string()).collect(),
            positive_class: None,
            noise: 1.0,
            sar_speckle: 4,
            resolution: 1,
            coarse_modality: "height".into(),
            misregistration: 0,
            clouds: 0.0,
        }
    }
}

fn invalid(field: &str, value: impl std::fmt::Debug, expected: &str) -> Error {
    Error::Config { field: format!("synthetic.{field}"), value: format!("{value:?}"), expected: expected.into() }
}

impl SyntheticConfig {
    /// Checks every field; the error names the field, its value and what is expected.
    pub fn validate(&self) -> Result<()> {
        if self.tile_size == 0 || self.tile_size > 4096 {
            return Err(invalid("tile_size", self.tile_size, "1 to 4096 pixels"));
        }
        if self.tiles == 0 {
            return Err(invalid("tiles", self.tiles, "at least 1"));
        }
        self.kinds()?;
        if let Some(p) = &self.positive_class
            && !CLASS_NAMES.contains(&p.as_str())
        {
            return Err(invalid("positive_class", p, &format!("one of {}", CLASS_NAMES.join(", "))));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(invalid("noise", self.noise, "a finite value ≥ 0"));
        }
        if self.sar_speckle > 64 {
            return Err(invalid("sar_speckle", self.sar_speckle, "0 (off) to 64 looks"));
        }
        if self.resolution == 0 || self.resolution > self.tile_size {
            return Err(invalid("resolution", self.resolution, "a factor from 1 to tile_size"));
        }
        if ModalityKind::from_name(&self.coarse_modality).is_none() {
            return Err(invalid("coarse_modality", &self.coarse_modality, "optical, sar or height"));
        }
        if self.misregistration > self.tile_size {
            return Err(invalid("misregistration", self.misregistration, "at most tile_size pixels"));
        }
        if !(0.0..=1.0).contains(&self.clouds) {
            return Err(invalid("clouds", self.clouds, "a fraction in [0, 1]"));
        }
        Ok(())
    }

    /// The requested sensors, in order.
    pub fn kinds(&self) -> Result<Vec<ModalityKind>> {
        if self.modalities.is_empty() {
            return Err(invalid("modalities", &self.modalities, "a non-empty list of optical, sar, height"));
        }
        let mut kinds = Vec::with_capacity(self.modalities.len());
        for name in &self.modalities {
            let k =
                ModalityKind::from_name(name).ok_or_else(|| invalid("modalities", name, "optical, sar or height"))?;
            if kinds.contains(&k) {
                return Err(invalid("modalities", name, "each modality at most once"));
            }
            kinds.push(k);
        }
        Ok(kinds)
    }

    /// The modality set (names and channel counts) of the rendered samples.
    pub fn modality_set(&self) -> Result<ModalitySet> {
        Ok(ModalitySet::from_pairs(self.kinds()?.into_iter().map(|k| (k.name(), k.channels())))?)
    }
}

/// Stream tags of the window origins of tiles and of scenes.
const TILE_ORIGINS: u64 = 10;
const SCENE_ORIGINS: u64 = 11;
/// Origins lie in a 2^22 × 2^22 pixel world, so distinct windows practically never overlap.
const WORLD_SPAN: u64 = 1 << 22;

fn origin(seed: u64, tag: u64, index: u64) -> (i64, i64) {
    let h = hash2(stream(seed, tag), index as i64, 0);
    let half = (WORLD_SPAN / 2) as i64;
    ((h % WORLD_SPAN) as i64 - half, ((h >> 32) % WORLD_SPAN) as i64 - half)
}

/// Renders scene `scene_index` of the world of `config.seed`: a `height × width` window
/// with all three modalities (whatever `config.modalities` says) in physical-ish units and
/// the class-index labels (seven classes, whatever `config.positive_class` says). The
/// sensor knobs (`noise`, `sar_speckle`, `resolution`, `misregistration`, `clouds`) apply.
/// Out-of-range knobs are clamped rather than rejected; call [`SyntheticConfig::validate`]
/// first for a typed error. Used by the readers' layout writers (`lssg data synth --layout`).
pub fn generate_scene(config: &SyntheticConfig, scene_index: u64, height: usize, width: usize) -> SceneArrays {
    let renderer = Renderer::new(config);
    let (x0, y0) = origin(config.seed, SCENE_ORIGINS, scene_index);
    let mut scratch = RenderScratch::default();
    let (mut arrays, labels) = renderer.render(x0, y0, height, width, &ModalityKind::ALL, &mut scratch);
    let dsm = arrays.pop().expect("three arrays");
    let sar = arrays.pop().expect("three arrays");
    let optical = arrays.pop().expect("three arrays");
    SceneArrays { height, width, optical, sar, dsm, labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_rejects_unknown_fields() {
        let c = SyntheticConfig { clouds: 0.25, modalities: vec!["sar".into()], ..Default::default() };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<SyntheticConfig>(&s).unwrap(), c);
        assert!(serde_json::from_str::<SyntheticConfig>(r#"{"tile":3}"#).is_err());
        let partial: SyntheticConfig = serde_json::from_str(r#"{"seed":9}"#).unwrap();
        assert_eq!(partial, SyntheticConfig { seed: 9, ..Default::default() });
    }

    #[test]
    fn validation_names_the_field() {
        let bad = [
            SyntheticConfig { tile_size: 0, ..Default::default() },
            SyntheticConfig { modalities: vec!["lidar".into()], ..Default::default() },
            SyntheticConfig { modalities: vec!["sar".into(), "sar".into()], ..Default::default() },
            SyntheticConfig { positive_class: Some("cars".into()), ..Default::default() },
            SyntheticConfig { clouds: 1.5, ..Default::default() },
            SyntheticConfig { resolution: 0, ..Default::default() },
            SyntheticConfig { noise: f32::NAN, ..Default::default() },
        ];
        let fields = ["tile_size", "modalities", "modalities", "positive_class", "clouds", "resolution", "noise"];
        for (c, field) in bad.iter().zip(fields) {
            match c.validate() {
                Err(Error::Config { field: f, .. }) => assert_eq!(f, format!("synthetic.{field}")),
                other => panic!("{field}: expected a config error, got {other:?}"),
            }
        }
        SyntheticConfig::default().validate().unwrap();
    }

    #[test]
    fn scenes_are_deterministic_and_shaped() {
        let c = SyntheticConfig::default();
        let a = generate_scene(&c, 2, 48, 80);
        assert_eq!(a, generate_scene(&c, 2, 48, 80));
        assert_ne!(a.labels, generate_scene(&c, 3, 48, 80).labels);
        assert_eq!((a.optical.channels, a.sar.channels, a.dsm.channels), (4, 2, 1));
        assert_eq!(a.optical.data.len(), 4 * 48 * 80);
        assert_eq!(a.labels.len(), 48 * 80);
        assert!(a.labels.iter().all(|&l| (l as usize) < CLASS_NAMES.len()));
        assert!(a.optical.data.iter().all(|v| (0.0..=1.0).contains(v)));
        // A smaller scene is the top-left corner of a larger one (same origin).
        let b = generate_scene(&c, 2, 16, 16);
        for r in 0..16 {
            assert_eq!(b.labels[r * 16..r * 16 + 16], a.labels[r * 80..r * 80 + 16]);
            assert_eq!(b.dsm.data[r * 16..r * 16 + 16], a.dsm.data[r * 80..r * 80 + 16]);
        }
    }

    #[test]
    fn misregistration_shifts_only_sar() {
        let c = SyntheticConfig::default();
        let m = SyntheticConfig { misregistration: 3, ..Default::default() };
        let (a, b) = (generate_scene(&c, 0, 40, 40), generate_scene(&m, 0, 40, 40));
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.optical, b.optical);
        assert_ne!(a.sar, b.sar);
        // The shifted SAR's class means follow the labels 3 px down-right... check via buildings-free
        // noise-free comparison: with speckle off both are deterministic class means.
        let c0 = SyntheticConfig { sar_speckle: 0, ..c };
        let m0 = SyntheticConfig { sar_speckle: 0, ..m };
        let (a, b) = (generate_scene(&c0, 0, 40, 40), generate_scene(&m0, 0, 40, 40));
        for r in 0..37 {
            for col in 0..37 {
                assert_eq!(b.sar.data[r * 40 + col], a.sar.data[(r + 3) * 40 + col + 3]);
            }
        }
    }

    #[test]
    fn resolution_makes_blocks_constant() {
        let c = SyntheticConfig { resolution: 4, ..Default::default() };
        let s = generate_scene(&c, 1, 32, 32);
        for r in 0..32 {
            for col in 0..32 {
                assert_eq!(s.dsm.data[r * 32 + col], s.dsm.data[(r / 4 * 4) * 32 + col / 4 * 4]);
            }
        }
        // Other modalities stay at native resolution.
        assert_eq!(s.optical, generate_scene(&SyntheticConfig::default(), 1, 32, 32).optical);
    }
}
