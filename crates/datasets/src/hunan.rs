//! The Hunan multimodal land-cover reader (Sentinel-2 / Sentinel-1 / SRTM, SPEC §8).
//!
//! ```text
//! ROOT/{train,val,test}/s2/s2_{id}.tif      13 bands (Sentinel-2)
//! ROOT/{train,val,test}/s1/s1_{id}.tif      2 bands (VV, VH)
//! ROOT/{train,val,test}/topo/topo_{id}.tif  2 bands (elevation, slope)
//! ROOT/{train,val,test}/lc/lc_{id}.tif      1 × u8 raw codes 1..11, 255
//! ```
//!
//! Scenes are the `lc_{id}.tif` files of each split directory (the official split), sorted by
//! split then id; each is 256 × 256 at 10 m. Labels: raw 255 → 12, then
//! [`LOOKUP`]`[code]` gives 0 cropland, 1 forest, 2 grassland, 3 wetland, 4 water,
//! 5 unused land, 6 built-up, 255 ignore, and 7 (raw code 11), which is merged into 6 by
//! default or ignored ([`Class7`]); its pixels are counted (`inspect`). Raw codes outside
//! the table (12..=254) are off-palette: an error by default, or ignored.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::scene_reader::{ModalitySlot, OffPalette};

/// Raw code (255 first mapped to 12) → class index.
pub const LOOKUP: [u8; 13] = [255, 0, 1, 2, 1, 3, 4, 6, 6, 5, 6, 7, 255];

/// Class names in index order.
pub const CLASS_NAMES: [&str; 7] = ["cropland", "forest", "grassland", "wetland", "water", "unused_land", "built_up"];

/// The split directories, in scene order.
pub const SPLIT_DIRS: [&str; 3] = ["train", "val", "test"];

/// The source stacks of one Hunan patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HunanStack {
    /// Sentinel-2, 13 bands.
    S2,
    /// Sentinel-1, VV and VH.
    S1,
    /// SRTM topography, 2 bands.
    Topo,
}

impl HunanStack {
    /// All stacks.
    pub const ALL: [HunanStack; 3] = [Self::S2, Self::S1, Self::Topo];

    /// The config and folder name: `s2`, `s1`, `topo`.
    pub fn name(self) -> &'static str {
        match self {
            Self::S2 => "s2",
            Self::S1 => "s1",
            Self::Topo => "topo",
        }
    }

    /// Bands in the real data.
    pub fn bands(self) -> usize {
        match self {
            Self::S2 => 13,
            Self::S1 | Self::Topo => 2,
        }
    }

    /// The file of patch `id` of split directory `split` under `root`.
    pub fn path(self, root: &Path, split: &str, id: &str) -> PathBuf {
        root.join(split).join(self.name()).join(format!("{}_{id}.tif", self.name()))
    }
}

/// The label file of patch `id` of split directory `split` under `root`.
pub fn label_path(root: &Path, split: &str, id: &str) -> PathBuf {
    root.join(split).join("lc").join(format!("lc_{id}.tif"))
}

impl std::fmt::Display for HunanStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for HunanStack {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "s2" => Ok(Self::S2),
            "s1" => Ok(Self::S1),
            "topo" => Ok(Self::Topo),
            _ => Err(format!("unknown Hunan stack `{s}`: expected s2, s1 or topo")),
        }
    }
}

/// What to do with class 7 of the lookup (raw code 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class7 {
    /// Map to 6 (built-up).
    #[default]
    Merge,
    /// Map to the ignore index.
    Ignore,
}

/// Configuration of the Hunan reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HunanConfig {
    /// The folder holding `train/`, `val/`, `test/`.
    pub root: PathBuf,
    /// Modality slots. Default: `s2` = all 13 bands, `s1` = VV, VH, `topo` = both bands.
    pub modalities: Vec<ModalitySlot<HunanStack>>,
    /// Class 7 handling.
    pub class7: Class7,
    /// Raw codes outside the lookup: error (default) or ignore.
    pub off_palette: OffPalette,
    /// Tile side (the patches are 256²: one tile each by default).
    pub tile_size: usize,
    /// Distance between tile origins.
    pub stride: usize,
    /// Decoded patches kept in memory per split (a few MB each).
    pub cache_scenes: usize,
}

impl Default for HunanConfig {
    fn default() -> Self {
        use HunanStack::{S1, S2, Topo};
        Self {
            root: PathBuf::from("data/hunan"),
            modalities: vec![
                ModalitySlot::new("s2", (0..13).map(|b| (S2, b))),
                ModalitySlot::new("s1", [(S1, 0), (S1, 1)]),
                ModalitySlot::new("topo", [(Topo, 0), (Topo, 1)]),
            ],
            class7: Class7::Merge,
            off_palette: OffPalette::Error,
            tile_size: 256,
            stride: 256,
            cache_scenes: 64,
        }
    }
}
