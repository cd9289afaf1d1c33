//! The ISPRS Potsdam reader (SPEC §8).
//!
//! ```text
//! ROOT/4_Ortho_RGBIR/top_potsdam_{a}_{b}_RGBIR.tif                     4 × u8 R,G,B,IR (chunky)
//! ROOT/1_DSM/dsm_potsdam_{0a}_{bb}.tif                                 1 × f32 (ids zero-padded)
//! ROOT/1_DSM_normalisation/dsm_potsdam_{0a}_{bb}_normalized_lastools.tif  nDSM, if given as TIFF
//! ROOT/5_Labels_all/top_potsdam_{a}_{b}_label.tif                      RGB colours
//! ROOT/5_Labels_all_noBoundary/top_potsdam_{a}_{b}_label_noBoundary.tif  RGB, black = ignore
//! ```
//!
//! Scenes are the RGBIR tiles found, sorted by `(a, b)`; the official split puts the 24 tiles of
//! [`OFFICIAL_TRAIN`] in train and the others in test. Classes, in this order: clutter (red),
//! impervious surfaces (white), building (blue), low vegetation (cyan), tree (green), car
//! (yellow). Label colours outside that palette (and black in the full labels) are counted:
//! an [`crate::Error::OffPalette`] by default, or ignored with `off_palette = "ignore"`.
//! The real nDSM ships as JPEG, which this reader does not decode: a `nDSM` slot needs the
//! `.tif` file and fails naming it otherwise.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::scene_reader::{ModalitySlot, OffPalette};

/// The official training tiles (`a_b`); the other 14 tiles are the test set.
pub const OFFICIAL_TRAIN: [&str; 24] = [
    "2_10", "2_11", "2_12", "3_10", "3_11", "3_12", "4_10", "4_11", "4_12", "5_10", "5_11", "5_12", "6_10", "6_11",
    "6_12", "6_7", "6_8", "6_9", "7_10", "7_11", "7_12", "7_7", "7_8", "7_9",
];

/// Class names in index order.
pub const CLASS_NAMES: [&str; 6] = ["clutter", "impervious_surfaces", "building", "low_vegetation", "tree", "car"];

/// Label colours, class `k` at index `k`.
pub const PALETTE: [[u8; 3]; 6] =
    [[255, 0, 0], [255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0]];

/// The source stacks of one Potsdam tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PotsdamStack {
    /// `4_Ortho_RGBIR`: R, G, B, IR (u8).
    Rgbir,
    /// `1_DSM`: the digital surface model (f32).
    Dsm,
    /// `1_DSM_normalisation`: height above ground, when present as TIFF.
    Ndsm,
}

impl PotsdamStack {
    /// The config name: `rgbir`, `dsm`, `ndsm`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rgbir => "rgbir",
            Self::Dsm => "dsm",
            Self::Ndsm => "ndsm",
        }
    }

    /// Bands in the real data.
    pub fn bands(self) -> usize {
        match self {
            Self::Rgbir => 4,
            Self::Dsm | Self::Ndsm => 1,
        }
    }

    /// The file of tile `(a, b)` under `root`.
    pub fn path(self, root: &Path, a: u32, b: u32) -> PathBuf {
        match self {
            Self::Rgbir => root.join("4_Ortho_RGBIR").join(format!("top_potsdam_{a}_{b}_RGBIR.tif")),
            Self::Dsm => root.join("1_DSM").join(format!("dsm_potsdam_{a:02}_{b:02}.tif")),
            Self::Ndsm => {
                root.join("1_DSM_normalisation").join(format!("dsm_potsdam_{a:02}_{b:02}_normalized_lastools.tif"))
            }
        }
    }
}

impl std::fmt::Display for PotsdamStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for PotsdamStack {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rgbir" => Ok(Self::Rgbir),
            "dsm" => Ok(Self::Dsm),
            "ndsm" => Ok(Self::Ndsm),
            _ => Err(format!("unknown Potsdam stack `{s}`: expected rgbir, dsm or ndsm")),
        }
    }
}

/// Which label files to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PotsdamLabels {
    /// `5_Labels_all`: every pixel labelled.
    #[default]
    Full,
    /// `5_Labels_all_noBoundary`: object boundaries eroded, black = ignore (for evaluation).
    NoBoundary,
}

/// Configuration of the Potsdam reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PotsdamConfig {
    /// The folder holding `4_Ortho_RGBIR/`, `1_DSM/`, `5_Labels_all/`, ….
    pub root: PathBuf,
    /// Modality slots, in model order. Default: `rgb = rgbir:0,1,2`, `ir = rgbir:3`, `dsm = dsm:0`.
    pub modalities: Vec<ModalitySlot<PotsdamStack>>,
    /// Which label files.
    pub labels: PotsdamLabels,
    /// Off-palette label colours: error (default) or ignore.
    pub off_palette: OffPalette,
    /// Tile side in pixels.
    pub tile_size: usize,
    /// Distance between tile origins.
    pub stride: usize,
    /// Decoded scenes kept in memory per split (about 330 MB each for a real 6000² tile).
    pub cache_scenes: usize,
}

impl Default for PotsdamConfig {
    fn default() -> Self {
        use PotsdamStack::{Dsm, Rgbir};
        Self {
            root: PathBuf::from("data/potsdam"),
            modalities: vec![
                ModalitySlot::new("rgb", [(Rgbir, 0), (Rgbir, 1), (Rgbir, 2)]),
                ModalitySlot::new("ir", [(Rgbir, 3)]),
                ModalitySlot::new("dsm", [(Dsm, 0)]),
            ],
            labels: PotsdamLabels::Full,
            off_palette: OffPalette::Error,
            tile_size: 224,
            stride: 224,
            cache_scenes: 2,
        }
    }
}
