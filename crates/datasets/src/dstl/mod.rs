//! The DSTL Satellite Imagery Feature Detection reader, raw Kaggle layout (docs/method.md §8.1).
//!
//! ```text
//! ROOT/three_band/{id}.tif          3 × u16 (11-bit), planar — the label grid W × H
//! ROOT/sixteen_band/{id}_M.tif      8 × u16, about W/4 × H/4
//! ROOT/sixteen_band/{id}_A.tif      8 × u16 SWIR, about W/25 × H/25
//! ROOT/sixteen_band/{id}_P.tif      1 × u16 panchromatic, about W × H
//! ROOT/train_wkt_v4.csv             ImageId,ClassType,MultipolygonWKT (one row per image and class 1..10)
//! ROOT/grid_sizes.csv               ,Xmax,Ymin (Ymin < 0)
//! ```
//!
//! Scenes are the images that have polygons in `train_wkt_v4.csv` (the 25 labelled ones), sorted
//! by id; DSTL has no official split (5 folds over a permutation, split.rs). Polygons are mapped
//! to pixels with W′ = W·W/(W+1), H′ = H·H/(H+1), x_px = x·W′/Xmax, y_px = y·H′/Ymin and filled
//! even-odd at pixel centres (exteriors 1, holes 0), see [`rasterize`].
//!
//! Modalities are configured slots of `stack:band` references; bands of M, A and P are resampled
//! bilinearly to the three_band grid per tile (the cache keeps the native stacks, so a scene is
//! held once at native resolution). The paper's slots are the default:
//! `rgb = three_band:0,1,2`, `nir = m:6, m:7, a:0` (NIR1, NIR2, SWIR1),
//! `swir = a:1, a:2, a:3`.
//!
//! Targets: [`DstlTarget::Binary`] (default, the paper: class 6 Crops; labels 0/1,
//! `num_classes() == 1`) or [`DstlTarget::MultiClass`]: 11 classes, 0 = none of the ten and
//! `c` = DSTL class `c`; DSTL classes overlap, so a pixel in several classes takes the first
//! in [`MULTICLASS_PRIORITY`] (small objects over the areas they sit on).

pub mod rasterize;
mod reader;
pub mod wkt;

pub use reader::{DstlReader, DstlScene, open, open_splits, read_grid_sizes, read_wkt};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::scene_reader::ModalitySlot;

/// The ten DSTL class names, class type `c` at index `c - 1`.
pub const CLASS_NAMES: [&str; 10] = [
    "buildings",
    "misc_manmade",
    "road",
    "track",
    "trees",
    "crops",
    "waterway",
    "standing_water",
    "vehicle_large",
    "vehicle_small",
];

/// Multi-class priority, highest first: where DSTL classes overlap, the pixel gets the first
/// listed class it belongs to (vehicles over roads, buildings over crops, …).
pub const MULTICLASS_PRIORITY: [u8; 10] = [10, 9, 1, 2, 3, 4, 8, 7, 5, 6];

/// The image stacks of one DSTL image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DstlStack {
    /// `three_band/{id}.tif`: R, G, B (the label grid).
    ThreeBand,
    /// `sixteen_band/{id}_M.tif`: 8 multispectral bands.
    M,
    /// `sixteen_band/{id}_A.tif`: 8 SWIR bands.
    A,
    /// `sixteen_band/{id}_P.tif`: panchromatic.
    P,
}

impl DstlStack {
    /// All stacks, in file order.
    pub const ALL: [DstlStack; 4] = [Self::ThreeBand, Self::M, Self::A, Self::P];

    /// The config name: `three_band`, `m`, `a`, `p`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ThreeBand => "three_band",
            Self::M => "m",
            Self::A => "a",
            Self::P => "p",
        }
    }

    /// Number of bands of the stack in the real data.
    pub fn bands(self) -> usize {
        match self {
            Self::ThreeBand => 3,
            Self::M | Self::A => 8,
            Self::P => 1,
        }
    }

    /// The file of image `id` under `root`.
    pub fn path(self, root: &std::path::Path, id: &str) -> PathBuf {
        match self {
            Self::ThreeBand => root.join("three_band").join(format!("{id}.tif")),
            Self::M => root.join("sixteen_band").join(format!("{id}_M.tif")),
            Self::A => root.join("sixteen_band").join(format!("{id}_A.tif")),
            Self::P => root.join("sixteen_band").join(format!("{id}_P.tif")),
        }
    }
}

impl std::fmt::Display for DstlStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DstlStack {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "three_band" | "rgb" => Ok(Self::ThreeBand),
            "m" => Ok(Self::M),
            "a" => Ok(Self::A),
            "p" => Ok(Self::P),
            _ => Err(format!("unknown DSTL stack `{s}`: expected three_band, m, a or p")),
        }
    }
}

/// What the label map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DstlTarget {
    /// One class as a binary mask: 1 inside its polygons, 0 elsewhere; `num_classes() == 1`.
    Binary {
        /// DSTL class type 1..=10 (6 = crops, the paper's choice).
        class: u8,
    },
    /// All ten classes plus 0 = none, overlaps resolved by [`MULTICLASS_PRIORITY`]; 11 classes.
    MultiClass,
}

impl Default for DstlTarget {
    fn default() -> Self {
        Self::Binary { class: 6 }
    }
}

/// Configuration of the DSTL reader. Defaults: the paper's slots and target, 224² tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DstlConfig {
    /// The Kaggle folder (holding `three_band/`, `sixteen_band/` and the two CSV files).
    pub root: PathBuf,
    /// Modality slots, in model order.
    pub modalities: Vec<ModalitySlot<DstlStack>>,
    /// The label target.
    pub target: DstlTarget,
    /// Tile side in pixels.
    pub tile_size: usize,
    /// Distance between tile origins (= `tile_size`: no overlap).
    pub stride: usize,
    /// Decoded scenes kept in memory per split (each about 100 MB for a real image).
    pub cache_scenes: usize,
}

impl Default for DstlConfig {
    fn default() -> Self {
        use DstlStack::{A, M, ThreeBand};
        Self {
            root: PathBuf::from("data/dstl"),
            modalities: vec![
                ModalitySlot::new("rgb", [(ThreeBand, 0), (ThreeBand, 1), (ThreeBand, 2)]),
                ModalitySlot::new("nir", [(M, 6), (M, 7), (A, 0)]),
                ModalitySlot::new("swir", [(A, 1), (A, 2), (A, 3)]),
            ],
            target: DstlTarget::default(),
            tile_size: 224,
            stride: 224,
            cache_scenes: 2,
        }
    }
}
