//! The ISPRS Potsdam reader (docs/method.md §8.2).
//!
//! ```text
//! ROOT/4_Ortho_RGBIR/top_potsdam_{a}_{b}_RGBIR.tif                     4 × u8 R,G,B,IR (chunky)
//! ROOT/1_DSM/dsm_potsdam_{0a}_{bb}.tif                                 1 × f32 (ids zero-padded)
//! ROOT/1_DSM_normalisation/dsm_potsdam_{0a}_{bb}_normalized_lastools.jpg  nDSM, 1 × u8 (JPEG)
//! ROOT/5_Labels_all/top_potsdam_{a}_{b}_label.tif                      RGB colours
//! ROOT/5_Labels_all_noBoundary/top_potsdam_{a}_{b}_label_noBoundary.tif  RGB, black = ignore
//! ```
//!
//! Scenes are the RGBIR tiles found, sorted by `(a, b)`; the official split puts the 24 tiles of
//! [`OFFICIAL_TRAIN`] in train and the others in test. Classes, in this order: clutter (red),
//! impervious surfaces (white), building (blue), low vegetation (cyan), tree (green), car
//! (yellow). Label colours outside that palette (and black in the full labels) are counted:
//! an [`crate::Error::OffPalette`] by default, or ignored with `off_palette = "ignore"`.
//! Files are read through GDAL ([`crate::raster`]), so any of them may be stored in another
//! format GDAL reads under the same name (a COG, a JPEG 2000 file); the nDSM is the JPEG of the
//! official release.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::DataSplits;
use crate::error::{Error, Result};
use crate::grid_reader::{GridParts, GridReader, GridScene, check_palette};
use crate::raster::{RasterData, SampleType, check_same_ground, read_stack};
use crate::sample::IGNORE_INDEX;
use crate::scene_reader::{
    ModalitySlot, OffPalette, OfficialSplit, SceneAssignment, SceneInfo, SceneSource, StackPlan, modality_set,
};

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
    /// `1_DSM_normalisation`: height above ground (8-bit JPEG in the official release).
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
                root.join("1_DSM_normalisation").join(format!("dsm_potsdam_{a:02}_{b:02}_normalized_lastools.jpg"))
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

/// Labels, off-palette count and the first off-palette pixel `(index, rgb)`.
pub type DecodedColours = (Vec<u8>, u64, Option<(usize, [u8; 3])>);

/// Decodes band-major RGB label planes (`3 × n` u8, rows of `width`) into class indices.
/// Black is ignore when `black_is_ignore` (noBoundary labels); other colours off the palette
/// are ignored and counted. Returns the labels, the off-palette count and the first
/// off-palette pixel `(index, rgb)`.
pub fn decode_colours(rgb: &[u8], width: usize, black_is_ignore: bool) -> DecodedColours {
    let n = rgb.len() / 3;
    let (r, g, b) = (&rgb[..n], &rgb[n..2 * n], &rgb[2 * n..3 * n]);
    let mut labels = vec![IGNORE_INDEX; n];
    let chunk = width.max(1) * 64;
    let found: Vec<(u64, Option<usize>)> = labels
        .par_chunks_mut(chunk)
        .enumerate()
        .map(|(ci, out)| {
            let (mut count, mut first) = (0u64, None);
            for (j, o) in out.iter_mut().enumerate() {
                let i = ci * chunk + j;
                let c = [r[i], g[i], b[i]];
                *o = match c {
                    [255, 0, 0] => 0,
                    [255, 255, 255] => 1,
                    [0, 0, 255] => 2,
                    [0, 255, 255] => 3,
                    [0, 255, 0] => 4,
                    [255, 255, 0] => 5,
                    [0, 0, 0] if black_is_ignore => IGNORE_INDEX,
                    _ => {
                        count += 1;
                        first.get_or_insert(i);
                        IGNORE_INDEX
                    }
                };
            }
            (count, first)
        })
        .collect();
    let count = found.iter().map(|f| f.0).sum();
    let first = found.iter().find_map(|f| f.1).map(|i| (i, [r[i], g[i], b[i]]));
    (labels, count, first)
}

/// A decoded Potsdam tile: the used stacks at native resolution and the labels.
pub type PotsdamScene = GridScene;

/// The Potsdam reader.
#[derive(Debug)]
pub struct PotsdamReader {
    config: PotsdamConfig,
    /// `(a, b)` of each scene.
    ids: Vec<(u32, u32)>,
    grid: GridParts<PotsdamStack>,
}

/// Parses `top_potsdam_{a}_{b}_RGBIR.tif`.
fn parse_tile_name(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("top_potsdam_")?.strip_suffix("_RGBIR.tif")?;
    let (a, b) = rest.split_once('_')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Opens the Potsdam tiles under `config.root`: lists the RGBIR tiles, checks that every file
/// the configuration needs exists, and reads the tile sizes.
pub fn open(config: &PotsdamConfig) -> Result<Arc<PotsdamReader>> {
    let set = modality_set(&config.modalities)?;
    let plan = StackPlan::new(&config.modalities, PotsdamStack::bands)?;
    let dir = config.root.join("4_Ortho_RGBIR");
    let entries = std::fs::read_dir(&dir).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::Missing { path: dir.clone(), hint: "the Potsdam RGBIR tiles (4_Ortho_RGBIR/)".into() }
        } else {
            Error::Io { path: dir.clone(), source }
        }
    })?;
    let mut ids: Vec<(u32, u32)> =
        entries.filter_map(|e| e.ok()).filter_map(|e| parse_tile_name(&e.file_name().to_string_lossy())).collect();
    ids.sort_unstable();
    if ids.is_empty() {
        return Err(Error::Missing {
            path: dir.join("top_potsdam_{a}_{b}_RGBIR.tif"),
            hint: "no Potsdam RGBIR tiles found".into(),
        });
    }
    let grid = GridParts { scenes: Vec::new(), plan, set, class_names: &CLASS_NAMES, off_palette: config.off_palette };
    let mut reader = PotsdamReader { config: config.clone(), ids, grid };
    let scenes = reader
        .ids
        .par_iter()
        .map(|&(a, b)| {
            for (stack, _) in &reader.grid.plan.stacks {
                let p = stack.path(&config.root, a, b);
                if !p.is_file() {
                    let hint = match stack {
                        PotsdamStack::Ndsm => format!(
                            "the nDSM JPEG of tile {a}_{b} (1_DSM_normalisation.zip of the release; \
                             `lssg data prepare` unpacks it)"
                        ),
                        s => format!("the {s} file of tile {a}_{b}"),
                    };
                    return Err(Error::Missing { path: p, hint });
                }
            }
            let label = reader.label_path(a, b);
            if !label.is_file() {
                return Err(Error::Missing { path: label, hint: format!("the label file of tile {a}_{b}") });
            }
            let l = crate::raster::read_info(&PotsdamStack::Rgbir.path(&config.root, a, b))?;
            let id = format!("{a}_{b}");
            let split = if OFFICIAL_TRAIN.contains(&id.as_str()) { OfficialSplit::Train } else { OfficialSplit::Test };
            Ok(SceneInfo { id, split, width: l.width, height: l.height })
        })
        .collect::<Result<Vec<_>>>()?;
    reader.grid.scenes = scenes;
    Ok(Arc::new(reader))
}

/// [`open`], then one tile view per split of `assignment`.
pub fn open_splits(config: &PotsdamConfig, assignment: &SceneAssignment) -> Result<DataSplits> {
    DataSplits::from_scenes(open(config)?, assignment, config.tile_size, config.stride, config.cache_scenes)
}

impl PotsdamReader {
    /// The configuration.
    pub fn config(&self) -> &PotsdamConfig {
        &self.config
    }

    fn label_path(&self, a: u32, b: u32) -> PathBuf {
        let root = &self.config.root;
        match self.config.labels {
            PotsdamLabels::Full => root.join("5_Labels_all").join(format!("top_potsdam_{a}_{b}_label.tif")),
            PotsdamLabels::NoBoundary => {
                root.join("5_Labels_all_noBoundary").join(format!("top_potsdam_{a}_{b}_label_noBoundary.tif"))
            }
        }
    }
}

impl GridReader for PotsdamReader {
    type Stack = PotsdamStack;

    fn parts(&self) -> &GridParts<PotsdamStack> {
        &self.grid
    }

    fn decode(&self, index: usize, policy: OffPalette) -> Result<PotsdamScene> {
        let info = self.grid.info(index)?;
        let (a, b) = self.ids[index];
        let root = &self.config.root;
        let stacks = self
            .grid
            .plan
            .stacks
            .par_iter()
            .map(|(stack, bands)| {
                let p = stack.path(root, a, b);
                let r = read_stack(&p, stack.bands(), bands)?;
                // Heights may be stored as any sample type; the imagery is 8-bit.
                if *stack == PotsdamStack::Rgbir {
                    r.expect_type(&p, SampleType::U8)?;
                }
                self.check_size(&p, &r, info)?;
                Ok((p, r))
            })
            .collect::<Result<Vec<_>>>()?;
        let lp = self.label_path(a, b);
        let raster = read_stack(&lp, 3, &[0, 1, 2])?;
        self.check_size(&lp, &raster, info)?;
        // Every file of the tile covers the label file's ground (when georeferenced).
        for (p, r) in &stacks {
            check_same_ground((&lp, &raster), (p, r))?;
        }
        let stacks = stacks.into_iter().map(|(_, r)| r).collect();
        let RasterData::U8(rgb) = &raster.data else {
            return Err(Error::Raster {
                path: lp,
                reason: format!("expected u8 colours, found {}", raster.data.sample_type()),
            });
        };
        let black = self.config.labels == PotsdamLabels::NoBoundary;
        let (labels, off_palette, first) = decode_colours(rgb, info.width, black);
        let first = first.map(|(i, c)| (i, format!("rgb({}, {}, {})", c[0], c[1], c[2])));
        check_palette(policy, lp, off_palette, first, info.width)?;
        Ok(GridScene { stacks, labels, off_palette, class7: None, width: info.width })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_names_and_paths() {
        assert_eq!(parse_tile_name("top_potsdam_6_7_RGBIR.tif"), Some((6, 7)));
        assert_eq!(parse_tile_name("top_potsdam_2_10_RGBIR.tif"), Some((2, 10)));
        assert_eq!(parse_tile_name("top_potsdam_2_10_label.tif"), None);
        let root = Path::new("r");
        assert_eq!(PotsdamStack::Dsm.path(root, 6, 7), Path::new("r/1_DSM/dsm_potsdam_06_07.tif"));
        assert_eq!(PotsdamStack::Rgbir.path(root, 6, 7), Path::new("r/4_Ortho_RGBIR/top_potsdam_6_7_RGBIR.tif"));
    }

    #[test]
    fn colours_map_to_classes_and_off_palette_is_counted() {
        let mut v = Vec::new();
        let px: [[u8; 3]; 8] = [
            [255, 0, 0],
            [255, 255, 255],
            [0, 0, 255],
            [0, 255, 255],
            [0, 255, 0],
            [255, 255, 0],
            [0, 0, 0],
            [1, 2, 3],
        ];
        for ch in 0..3 {
            v.extend(px.iter().map(|p| p[ch]));
        }
        let (l, n, first) = decode_colours(&v, 8, true);
        assert_eq!(l, vec![0, 1, 2, 3, 4, 5, 255, 255]);
        assert_eq!((n, first), (1, Some((7, [1, 2, 3]))));
        let (_, n, first) = decode_colours(&v, 8, false);
        assert_eq!((n, first), (2, Some((6, [0, 0, 0]))));
    }
}
