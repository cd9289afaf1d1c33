//! `lssg data inspect`: per-scene statistics of a data set on disk (docs/method.md §8).
//!
//! For each scene: its split, size, per modality the band count and the per-band mean over the
//! scene's pixels at the modality's native resolution (DSTL's M and A bands at their own grid),
//! the label's pixel count per class index and the ignore count, plus totals. DSTL counts the
//! ten (overlapping) classes separately, with index 0 for pixels in none of them. Label values
//! off the palette are counted (`off_palette_pixels`) rather than failing, and Hunan's class 7
//! pixels (raw code 11) are counted before they are merged (`class7_pixels`).
//!
//! The synthetic data set is inspected scene by scene as the layout writers see it: scene `i`
//! of `lssg data synth` is `generate_scene(config, i, size, size)`.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use lssg_scenario::ModalitySet;

use crate::config::DataConfig;
use crate::error::{Error, Result};
use crate::scene_reader::{OffPalette, SceneInfo, SceneSource};

/// One modality's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModalityStats {
    /// Modality name.
    #[serde(skip)]
    pub name: String,
    /// Band count.
    pub bands: usize,
    /// Per-band mean at native resolution.
    pub mean: Vec<f64>,
}

fn modalities_as_map<S: Serializer>(mods: &[ModalityStats], s: S) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(mods.len()))?;
    for m in mods {
        map.serialize_entry(&m.name, m)?;
    }
    map.end()
}

/// Statistics of one scene.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SceneStats {
    /// Scene id.
    pub id: String,
    /// Official split (`train`, `val`, `test`, `-`).
    pub split: String,
    /// Label-grid width.
    pub width: usize,
    /// Label-grid height.
    pub height: usize,
    /// Per modality, in configured order (a JSON object keyed by name).
    #[serde(serialize_with = "modalities_as_map")]
    pub modalities: Vec<ModalityStats>,
    /// Pixels per class index.
    pub class_pixels: BTreeMap<u8, u64>,
    /// Pixels labelled with the ignore index.
    pub ignore_pixels: u64,
    /// Pixels whose label value is off the palette / lookup (they are in `ignore_pixels`).
    pub off_palette_pixels: u64,
    /// Hunan: pixels of lookup class 7 (merged into 6 or ignored, as configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class7_pixels: Option<u64>,
}

/// What a reader measures of one decoded scene ([`SceneSource::census`]); the provided
/// [`SceneSource::scene_stats`] adds what every reader knows alike (id, split, size, names).
#[derive(Debug, Clone, PartialEq)]
pub struct SceneCensus {
    /// Per configured modality, per channel: the band mean at native resolution.
    pub channel_means: Vec<Vec<f64>>,
    /// Pixels per class index.
    pub class_pixels: BTreeMap<u8, u64>,
    /// Pixels labelled with the ignore index.
    pub ignore_pixels: u64,
    /// Pixels whose label value is off the palette / lookup.
    pub off_palette_pixels: u64,
    /// Hunan: pixels of lookup class 7.
    pub class7_pixels: Option<u64>,
}

impl SceneStats {
    /// The statistics of scene `info` from its census, the modalities named as in `set`.
    pub fn from_census(info: &SceneInfo, set: &ModalitySet, census: SceneCensus) -> Self {
        let modalities = set
            .modalities()
            .iter()
            .zip(census.channel_means)
            .map(|(m, mean)| ModalityStats { name: m.name.clone(), bands: mean.len(), mean })
            .collect();
        Self {
            id: info.id.clone(),
            split: info.split.as_str().into(),
            width: info.width,
            height: info.height,
            modalities,
            class_pixels: census.class_pixels,
            ignore_pixels: census.ignore_pixels,
            off_palette_pixels: census.off_palette_pixels,
            class7_pixels: census.class7_pixels,
        }
    }
}

/// Totals over all scenes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Number of scenes.
    pub scenes: usize,
    /// Sum of width × height.
    pub pixels: u64,
    /// Pixels per class index.
    pub class_pixels: BTreeMap<u8, u64>,
    /// Ignored pixels.
    pub ignore_pixels: u64,
    /// Off-palette pixels.
    pub off_palette_pixels: u64,
}

/// The report of `lssg data inspect`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectReport {
    /// The data set kind.
    pub dataset: String,
    /// Class names by index (DSTL: index 0 = none, 1..=10 the classes).
    pub class_names: BTreeMap<u8, String>,
    /// Per-scene statistics.
    pub scenes: Vec<SceneStats>,
    /// Totals.
    pub totals: Totals,
}

impl InspectReport {
    pub(crate) fn from_scenes(dataset: &str, class_names: BTreeMap<u8, String>, scenes: Vec<SceneStats>) -> Self {
        let mut totals = Totals { scenes: scenes.len(), ..Default::default() };
        for s in &scenes {
            totals.pixels += (s.width * s.height) as u64;
            for (&k, &v) in &s.class_pixels {
                *totals.class_pixels.entry(k).or_default() += v;
            }
            totals.ignore_pixels += s.ignore_pixels;
            totals.off_palette_pixels += s.off_palette_pixels;
        }
        Self { dataset: dataset.to_string(), class_names, scenes, totals }
    }
}

/// Which data set to inspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectDataset {
    /// DSTL, raw Kaggle layout.
    Dstl,
    /// ISPRS Potsdam.
    Potsdam,
    /// Hunan.
    Hunan,
    /// The synthetic generator.
    Synthetic,
}

impl std::str::FromStr for InspectDataset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "dstl" => Ok(Self::Dstl),
            "potsdam" => Ok(Self::Potsdam),
            "hunan" => Ok(Self::Hunan),
            "synthetic" => Ok(Self::Synthetic),
            _ => Err(format!("unknown data set `{s}`: expected dstl, potsdam, hunan or synthetic")),
        }
    }
}

/// Counts class indices and the ignore index of a label map.
pub fn count_labels(labels: &[u8]) -> (BTreeMap<u8, u64>, u64) {
    let hist = labels
        .par_chunks(1 << 16)
        .fold(
            || [0u64; 256],
            |mut h, c| {
                for &v in c {
                    h[v as usize] += 1;
                }
                h
            },
        )
        .reduce(
            || [0u64; 256],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let ignore = hist[crate::IGNORE_INDEX as usize];
    let classes = hist.iter().enumerate().filter(|&(k, &n)| n > 0 && k != 255).map(|(k, &n)| (k as u8, n)).collect();
    (classes, ignore)
}

/// Inspects the data set of kind `dataset` under `root` with the reader's default
/// configuration (its modality slots), counting rather than rejecting off-palette labels.
/// For `synthetic`, `root` must hold the `synthetic.json` that `lssg data synth` writes
/// with the layouts, or be a directory without it (then the default generator with
/// `synthetic_scenes` scenes of `synthetic_size`² is inspected).
pub fn inspect(dataset: InspectDataset, root: &Path) -> Result<InspectReport> {
    let root = root.to_path_buf();
    let config = match dataset {
        InspectDataset::Potsdam => Reader::Potsdam(crate::potsdam::PotsdamConfig { root, ..Default::default() }),
        InspectDataset::Hunan => Reader::Hunan(crate::hunan::HunanConfig { root, ..Default::default() }),
        InspectDataset::Dstl => Reader::Dstl(crate::dstl::DstlConfig { root, ..Default::default() }),
        InspectDataset::Synthetic => return crate::layouts::inspect_synthetic(&root),
    };
    inspect_reader(config)
}

/// Inspects the real data set of a run configuration's `[data]` with its reader settings (root,
/// modality slots, labels), counting rather than rejecting off-palette labels. The synthetic
/// generator is inspected with [`inspect`] instead.
pub fn inspect_config(config: &DataConfig) -> Result<InspectReport> {
    let reader = match config {
        DataConfig::Potsdam(c) => Reader::Potsdam(c.reader.clone()),
        DataConfig::Hunan(c) => Reader::Hunan(c.reader.clone()),
        DataConfig::Dstl(c) => Reader::Dstl(c.reader.clone()),
        DataConfig::Synthetic(_) => {
            return Err(Error::Config {
                field: "data.kind".into(),
                value: "synthetic".into(),
                expected: "a real data set (potsdam, hunan, dstl); `lssg data inspect --dataset synthetic` \
                           inspects the generator"
                    .into(),
            });
        }
    };
    inspect_reader(reader)
}

/// A real reader's configuration.
enum Reader {
    Potsdam(crate::potsdam::PotsdamConfig),
    Hunan(crate::hunan::HunanConfig),
    Dstl(crate::dstl::DstlConfig),
}

fn inspect_reader(config: Reader) -> Result<InspectReport> {
    let root = match &config {
        Reader::Potsdam(c) => &c.root,
        Reader::Hunan(c) => &c.root,
        Reader::Dstl(c) => &c.root,
    };
    if !root.is_dir() {
        return Err(Error::Missing { path: root.clone(), hint: "the data set's root directory".into() });
    }
    match config {
        Reader::Potsdam(cfg) => {
            let reader =
                crate::potsdam::open(&crate::potsdam::PotsdamConfig { off_palette: OffPalette::Ignore, ..cfg })?;
            let scenes = every_scene(reader.as_ref(), true)?;
            Ok(InspectReport::from_scenes("potsdam", names(reader.class_names()), scenes))
        }
        Reader::Hunan(cfg) => {
            let reader = crate::hunan::open(&crate::hunan::HunanConfig { off_palette: OffPalette::Ignore, ..cfg })?;
            let scenes = every_scene(reader.as_ref(), true)?;
            Ok(InspectReport::from_scenes("hunan", names(reader.class_names()), scenes))
        }
        Reader::Dstl(cfg) => {
            let reader = crate::dstl::open(&cfg)?;
            // DSTL scenes are large: one at a time (each decodes its stacks in parallel).
            let scenes = every_scene(reader.as_ref(), false)?;
            let mut class_names = BTreeMap::from([(0u8, "none".to_string())]);
            for (k, n) in crate::dstl::CLASS_NAMES.iter().enumerate() {
                class_names.insert(k as u8 + 1, n.to_string());
            }
            Ok(InspectReport::from_scenes("dstl", class_names, scenes))
        }
    }
}

/// [`SceneSource::scene_stats`] of every scene of `reader`, in scene order; scenes in
/// parallel when `parallel`.
fn every_scene<S: SceneSource>(reader: &S, parallel: bool) -> Result<Vec<SceneStats>> {
    let n = reader.scenes().len();
    if parallel {
        (0..n).into_par_iter().map(|i| reader.scene_stats(i)).collect()
    } else {
        (0..n).map(|i| reader.scene_stats(i)).collect()
    }
}

fn names(v: Vec<String>) -> BTreeMap<u8, String> {
    v.into_iter().enumerate().map(|(k, n)| (k as u8, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_classes_and_ignore() {
        let (c, i) = count_labels(&[0, 1, 1, 255, 6, 6, 6]);
        assert_eq!(c, BTreeMap::from([(0, 1), (1, 2), (6, 3)]));
        assert_eq!(i, 1);
    }
}
