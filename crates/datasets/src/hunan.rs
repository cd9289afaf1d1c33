//! The Hunan multimodal land-cover reader (Sentinel-2 / Sentinel-1 / SRTM, docs/method.md §8.3).
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
//! 1..=11 and 255 (0, 12..=254) are off-palette: an error by default, or ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::DataSplits;
use crate::error::{Error, Result};
use crate::grid_reader::{GridParts, GridReader, GridScene, check_palette};
use crate::raster::{RasterData, check_same_ground, read_stack};
use crate::sample::IGNORE_INDEX;
use crate::scene_reader::{
    ModalitySlot, OffPalette, OfficialSplit, SceneAssignment, SceneInfo, SceneSource, StackPlan, modality_set,
};

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

/// Maps raw land-cover codes to class indices: 255 → 12, then [`LOOKUP`]; class 7 is merged
/// into 6 or ignored per `class7`. Codes other than 1..=11 and 255 are not land-cover codes:
/// ignored and counted. Returns the labels, the class-7 count, the off-table count and the
/// first off-table pixel `(index, code)`.
pub fn map_codes(codes: &[u8], class7: Class7) -> (Vec<u8>, u64, u64, Option<(usize, u8)>) {
    let (mut n7, mut off, mut first) = (0u64, 0u64, None);
    let labels = codes
        .iter()
        .enumerate()
        .map(|(i, &raw)| match raw {
            1..=11 | 255 => {
                let k = LOOKUP[usize::from(if raw == 255 { 12 } else { raw })];
                if k == 7 {
                    n7 += 1;
                    match class7 {
                        Class7::Merge => 6,
                        Class7::Ignore => IGNORE_INDEX,
                    }
                } else {
                    k
                }
            }
            _ => {
                off += 1;
                first.get_or_insert((i, raw));
                IGNORE_INDEX
            }
        })
        .collect();
    (labels, n7, off, first)
}

/// A decoded Hunan patch: the used stacks, the labels and the class-7 count.
pub type HunanScene = GridScene;

/// The Hunan reader.
#[derive(Debug)]
pub struct HunanReader {
    config: HunanConfig,
    grid: GridParts<HunanStack>,
}

/// Opens the Hunan patches under `config.root`: lists `lc_{id}.tif` of each split directory
/// present (at least one), checks the configured stacks' files exist and reads the sizes.
pub fn open(config: &HunanConfig) -> Result<Arc<HunanReader>> {
    let set = modality_set(&config.modalities)?;
    let plan = StackPlan::new(&config.modalities, HunanStack::bands)?;
    let mut listed: Vec<(OfficialSplit, String)> = Vec::new();
    for (dir, split) in SPLIT_DIRS.iter().zip([OfficialSplit::Train, OfficialSplit::Val, OfficialSplit::Test]) {
        let lc = config.root.join(dir).join("lc");
        let Ok(entries) = std::fs::read_dir(&lc) else { continue };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("lc_").and_then(|r| r.strip_suffix(".tif")).map(str::to_string)
            })
            .collect();
        ids.sort_unstable();
        listed.extend(ids.into_iter().map(|id| (split, id)));
    }
    if listed.is_empty() {
        return Err(Error::Missing {
            path: config.root.join("{train,val,test}/lc/lc_{id}.tif"),
            hint: "no Hunan label patches found".into(),
        });
    }
    let scenes = listed
        .par_iter()
        .map(|(split, id)| {
            for (stack, _) in &plan.stacks {
                let p = stack.path(&config.root, split.as_str(), id);
                if !p.is_file() {
                    return Err(Error::Missing { path: p, hint: format!("the {stack} stack of patch {id}") });
                }
            }
            let l = crate::raster::read_info(&label_path(&config.root, split.as_str(), id))?;
            Ok(SceneInfo { id: id.clone(), split: *split, width: l.width, height: l.height })
        })
        .collect::<Result<Vec<_>>>()?;
    let grid = GridParts { scenes, plan, set, class_names: &CLASS_NAMES, off_palette: config.off_palette };
    Ok(Arc::new(HunanReader { config: config.clone(), grid }))
}

/// [`open`], then one tile view per split of `assignment`.
pub fn open_splits(config: &HunanConfig, assignment: &SceneAssignment) -> Result<DataSplits> {
    DataSplits::from_scenes(open(config)?, assignment, config.tile_size, config.stride, config.cache_scenes)
}

impl HunanReader {
    /// The configuration.
    pub fn config(&self) -> &HunanConfig {
        &self.config
    }
}

impl GridReader for HunanReader {
    type Stack = HunanStack;

    fn parts(&self) -> &GridParts<HunanStack> {
        &self.grid
    }

    fn decode(&self, index: usize, policy: OffPalette) -> Result<HunanScene> {
        let info = self.grid.info(index)?;
        let (root, split) = (&self.config.root, info.split.as_str());
        let lp = label_path(root, split, &info.id);
        let raster = read_stack(&lp, 1, &[0])?;
        self.check_size(&lp, &raster, info)?;
        let mut stacks = Vec::with_capacity(self.grid.plan.stacks.len());
        for (stack, bands) in &self.grid.plan.stacks {
            let p = stack.path(root, split, &info.id);
            let r = read_stack(&p, stack.bands(), bands)?;
            self.check_size(&p, &r, info)?;
            // Every stack covers the label patch's ground (when georeferenced).
            check_same_ground((&lp, &raster), (&p, &r))?;
            stacks.push(r);
        }
        let RasterData::U8(codes) = raster.data else {
            return Err(Error::Raster {
                path: lp,
                reason: format!("expected u8 codes, found {}", raster.data.sample_type()),
            });
        };
        let (labels, class7, off_palette, first) = map_codes(&codes, self.config.class7);
        check_palette(policy, lp, off_palette, first.map(|(i, c)| (i, format!("code {c}"))), info.width)?;
        Ok(GridScene { stacks, labels, off_palette, class7: Some(class7), width: info.width })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_raw_code_maps_as_the_table_says() {
        let codes: Vec<u8> = (0..=11).chain([255, 12, 200]).collect();
        let (l, n7, off, first) = map_codes(&codes, Class7::Merge);
        assert_eq!(l, vec![255, 0, 1, 2, 1, 3, 4, 6, 6, 5, 6, 6, 255, 255, 255]);
        assert_eq!((n7, off, first), (1, 3, Some((0, 0))));
        let (l, ..) = map_codes(&codes, Class7::Ignore);
        assert_eq!(l[11], 255);
    }
}
