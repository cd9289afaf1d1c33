//! The data configuration and [`open`]: from a [`DataConfig`] (the `[data]` table of a run
//! configuration, tagged by `kind`) to normalised train / validation / test data sets.
//!
//! ```toml
//! [data]
//! kind = "synthetic"
//! [data.generator]      # SyntheticConfig
//! tiles = 256
//! [data.split]          # SplitConfig: fold 0 of 5, 10 % of the rest validates
//! folds = 5
//! [data.normalize]      # NormalizeConfig: the reference subtracts the training mean
//! mean = true
//! ```
//!
//! The file-backed kinds (`dstl`, `potsdam`, `hunan`) put the reader's configuration under
//! `reader` (e.g. `[data.reader] root = "data/potsdam"`) beside the same `split`,
//! `normalize` and `stats` keys. `split.method = "auto"` uses the official scene lists where
//! the data set has them (Potsdam, Hunan) and k-fold otherwise (synthetic, DSTL; over tiles
//! as the reference, or over whole scenes with `split.unit = "scenes"`). `split.method =
//! "reference"` is the authors' cross-validation exactly (folds counted from 1, see
//! [`crate::split::reference_cv`] and `docs/reference.md §3`), over tiles or scenes likewise.
//!
//! Normalisation statistics always come from the raw training split only; they are cached
//! in `stats` when given (for file-backed kinds, `<root>/lssg-stats.json` by default).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lssg_scenario::ModalitySet;
use serde::{Deserialize, Serialize};

use crate::dataset::TileDataset;
use crate::dstl::{self, DstlConfig};
use crate::error::{Error, Result};
use crate::hunan::{self, HunanConfig};
use crate::normalize::{
    ChannelStats, NormalizeConfig, Normalized, STATS_FILE, compute_stats, load_or_compute, stats_key,
};
use crate::potsdam::{self, PotsdamConfig};
use crate::scene_reader::{OfficialSplit, SceneAssignment, SceneSource, SceneTiles, modality_set};
use crate::split::{SplitConfig, SplitIndices, SplitMethod, SplitUnit, Subset, split, take_validation};
use crate::synthetic::{SyntheticConfig, SyntheticDataset};

/// Which data set to use and how to split and normalise it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataConfig {
    /// The embedded synthetic generator.
    Synthetic(SyntheticDataConfig),
    /// Kaggle DSTL (three_band / sixteen_band images, WKT polygons).
    Dstl(RealDataConfig<DstlConfig>),
    /// ISPRS Potsdam (RGBIR, DSM, colour labels).
    Potsdam(RealDataConfig<PotsdamConfig>),
    /// Hunan (Sentinel-2, Sentinel-1, SRTM, land cover).
    Hunan(RealDataConfig<HunanConfig>),
}

impl Default for DataConfig {
    fn default() -> Self {
        Self::Synthetic(SyntheticDataConfig::default())
    }
}

/// `kind = "synthetic"`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticDataConfig {
    /// The generator.
    pub generator: SyntheticConfig,
    /// K-fold split over the tiles.
    pub split: SplitConfig,
    /// Normalisation.
    pub normalize: NormalizeConfig,
    /// Where to cache the statistics (none: recomputed on every open, which is fast).
    pub stats: Option<PathBuf>,
}

/// `kind = "dstl" | "potsdam" | "hunan"`: a reader configuration plus splitting and
/// normalisation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealDataConfig<R> {
    /// The reader (root folder, modality slots, tile size, …).
    pub reader: R,
    /// How scenes or tiles are split.
    pub split: SplitConfig,
    /// Normalisation.
    pub normalize: NormalizeConfig,
    /// Where to cache the statistics (default `<root>/lssg-stats.json`).
    pub stats: Option<PathBuf>,
}

/// One tile data set per split: what [`open`] returns (normalised, as the trainer and scorer
/// use them), and what [`DataSplits::from_scenes`] and each reader's `open_splits` return
/// (raw tiles, before [`normalize_splits`]).
#[derive(Clone)]
pub struct DataSplits {
    /// Training tiles.
    pub train: Arc<dyn TileDataset>,
    /// Validation tiles.
    pub val: Arc<dyn TileDataset>,
    /// Test tiles.
    pub test: Arc<dyn TileDataset>,
}

impl std::fmt::Debug for DataSplits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSplits")
            .field("train", &self.train.len())
            .field("val", &self.val.len())
            .field("test", &self.test.len())
            .finish()
    }
}

impl DataSplits {
    /// The raw tile views of the scenes `assignment` puts in each split: `tile_size²` tiles
    /// every `stride` pixels, at most `cache_scenes` decoded scenes per split. The splits share
    /// nothing but the reader.
    pub fn from_scenes<S: SceneSource>(
        source: Arc<S>,
        assignment: &SceneAssignment,
        tile_size: usize,
        stride: usize,
        cache_scenes: usize,
    ) -> Result<Self> {
        let make = |scenes: &[usize]| -> Result<Arc<dyn TileDataset>> {
            Ok(Arc::new(SceneTiles::new(source.clone(), scenes.to_vec(), tile_size, stride, cache_scenes)?))
        };
        Ok(Self { train: make(&assignment.train)?, val: make(&assignment.val)?, test: make(&assignment.test)? })
    }
}

impl DataConfig {
    /// The modalities the data set will have (names and channel counts), from the
    /// configuration alone.
    pub fn modality_set(&self) -> Result<ModalitySet> {
        match self {
            DataConfig::Synthetic(c) => c.generator.modality_set(),
            DataConfig::Dstl(c) => modality_set(&c.reader.modalities),
            DataConfig::Potsdam(c) => modality_set(&c.reader.modalities),
            DataConfig::Hunan(c) => modality_set(&c.reader.modalities),
        }
    }

    /// The tile side and the key that sets it (`data.generator.tile_size` for the synthetic
    /// set, `data.reader.tile_size` for the others).
    pub fn tile_size(&self) -> (&'static str, usize) {
        match self {
            DataConfig::Synthetic(c) => ("data.generator.tile_size", c.generator.tile_size),
            DataConfig::Dstl(c) => ("data.reader.tile_size", c.reader.tile_size),
            DataConfig::Potsdam(c) => ("data.reader.tile_size", c.reader.tile_size),
            DataConfig::Hunan(c) => ("data.reader.tile_size", c.reader.tile_size),
        }
    }

    /// The checks [`open`] makes of the configuration's values before it reads data: the
    /// generator's settings, the modality slots and the split (Potsdam and Hunan have
    /// official lists, the synthetic set and DSTL do not).
    pub fn validate(&self) -> Result<()> {
        self.modality_set()?;
        match self {
            DataConfig::Synthetic(c) => {
                c.generator.validate()?;
                c.split.validate(false)
            }
            DataConfig::Dstl(c) => c.split.validate(false),
            DataConfig::Potsdam(c) => c.split.validate(true),
            DataConfig::Hunan(c) => c.split.validate(true),
        }
    }
}

/// Opens the data set `config` describes: splits it, computes (or loads) the training
/// statistics and wraps every split in the normalisation.
pub fn open(config: &DataConfig) -> Result<DataSplits> {
    Ok(open_with_stats(config)?.0)
}

/// [`open`], also returning the training statistics the splits are normalised with (`None`
/// when normalisation is off): what `lssg predict` applies to whole scenes.
pub fn open_with_stats(config: &DataConfig) -> Result<(DataSplits, Option<ChannelStats>)> {
    match config {
        DataConfig::Synthetic(c) => open_synthetic(c),
        DataConfig::Dstl(c) => {
            let r = &c.reader;
            let tiling = (r.tile_size, r.stride, r.cache_scenes);
            open_real(dstl::open(r)?, "dstl", identity(r), &r.root, tiling, c)
        }
        DataConfig::Potsdam(c) => {
            let r = &c.reader;
            let tiling = (r.tile_size, r.stride, r.cache_scenes);
            open_real(potsdam::open(r)?, "potsdam", identity(r), &r.root, tiling, c)
        }
        DataConfig::Hunan(c) => {
            let r = &c.reader;
            let tiling = (r.tile_size, r.stride, r.cache_scenes);
            open_real(hunan::open(r)?, "hunan", identity(r), &r.root, tiling, c)
        }
    }
}

/// The normalisation settings of `config` (any kind).
pub fn normalize_config(config: &DataConfig) -> NormalizeConfig {
    match config {
        DataConfig::Synthetic(c) => c.normalize,
        DataConfig::Dstl(c) => c.normalize,
        DataConfig::Potsdam(c) => c.normalize,
        DataConfig::Hunan(c) => c.normalize,
    }
}

fn identity<T: Serialize>(reader: &T) -> String {
    serde_json::to_string(reader).unwrap_or_default()
}

fn split_error(kind: &str, value: impl ToString, expected: impl ToString) -> Error {
    Error::Config { field: format!("{kind}.split"), value: value.to_string(), expected: expected.to_string() }
}

/// Splits a scene source as `c.split` says, tiles it and normalises with the training
/// statistics (cached under `c.stats` or `<root>/lssg-stats.json`).
fn open_real<S: SceneSource, R>(
    source: Arc<S>,
    kind: &str,
    identity: String,
    root: &Path,
    (tile_size, stride, cache): (usize, usize, usize),
    c: &RealDataConfig<R>,
) -> Result<(DataSplits, Option<ChannelStats>)> {
    let scenes = source.scenes().to_vec();
    let scenes = scenes.as_slice();
    let has_official = scenes.iter().any(|s| s.split != OfficialSplit::Unassigned);
    let official = match c.split.method {
        SplitMethod::Auto => has_official,
        SplitMethod::Official if !has_official => {
            return Err(split_error(
                kind,
                "method = official",
                "kfold or reference: this data set has no official split",
            ));
        }
        SplitMethod::Official => true,
        SplitMethod::Kfold | SplitMethod::Reference => false,
    };
    let stats_path = c.stats.clone().unwrap_or_else(|| root.join(STATS_FILE));
    let all_scenes = || SceneAssignment { train: (0..scenes.len()).collect(), ..Default::default() };
    let (splits, key) = if official {
        let mut a = SceneAssignment::official(scenes);
        if a.val.is_empty() && c.split.val_fraction > 0.0 {
            (a.train, a.val) = take_validation(&a.train, c.split.val_fraction, c.split.seed)?;
        }
        if a.train.is_empty() {
            return Err(split_error(kind, "official", "at least one training scene"));
        }
        let key = stats_key(
            &format!("{kind} {identity} official"),
            &SplitIndices { train: a.train.clone(), ..Default::default() },
        );
        (DataSplits::from_scenes(source, &a, tile_size, stride, cache)?, key)
    } else if c.split.unit == SplitUnit::Scenes {
        let idx = split(&c.split, scenes.len())?;
        let key = stats_key(&format!("{kind} {identity} scene-kfold"), &idx);
        let a = SceneAssignment { train: idx.train, val: idx.val, test: idx.test };
        (DataSplits::from_scenes(source, &a, tile_size, stride, cache)?, key)
    } else {
        // Tile-level k-fold: one tile view over every scene (one shared scene cache), cut
        // into subsets.
        let all = DataSplits::from_scenes(source, &all_scenes(), tile_size, stride, cache)?.train;
        let idx = split(&c.split, all.len())?;
        let key = stats_key(&format!("{kind} {identity} tile-kfold"), &idx);
        let sub = |l: &[usize]| -> Result<Arc<dyn TileDataset>> { Ok(Arc::new(Subset::new(all.clone(), l.to_vec())?)) };
        (DataSplits { train: sub(&idx.train)?, val: sub(&idx.val)?, test: sub(&idx.test)? }, key)
    };
    normalize_splits_with_stats(splits, &c.normalize, Some(&stats_path), &key)
}

fn open_synthetic(c: &SyntheticDataConfig) -> Result<(DataSplits, Option<ChannelStats>)> {
    let raw: Arc<dyn TileDataset> = Arc::new(SyntheticDataset::new(c.generator.clone())?);
    if c.split.method == SplitMethod::Official {
        return Err(split_error(
            "synthetic",
            "method = official",
            "kfold, reference or auto: the synthetic set has no official split",
        ));
    }
    let indices = split(&c.split, raw.len())?;
    let sub =
        |list: &[usize]| -> Result<Arc<dyn TileDataset>> { Ok(Arc::new(Subset::new(raw.clone(), list.to_vec())?)) };
    let splits = DataSplits { train: sub(&indices.train)?, val: sub(&indices.val)?, test: sub(&indices.test)? };
    let identity = serde_json::to_string(&c.generator).unwrap_or_default();
    let key = stats_key(&format!("synthetic {identity}"), &indices);
    normalize_splits_with_stats(splits, &c.normalize, c.stats.as_deref(), &key)
}

/// Normalises three raw splits with the statistics of `raw.train`: loaded from (or added to)
/// the cache `stats_path` under `key` when given, computed otherwise; nothing is computed
/// when normalisation is off. Shared by every kind.
pub fn normalize_splits(
    raw: DataSplits,
    normalize: &NormalizeConfig,
    stats_path: Option<&Path>,
    key: &str,
) -> Result<DataSplits> {
    Ok(normalize_splits_with_stats(raw, normalize, stats_path, key)?.0)
}

/// [`normalize_splits`], also returning the statistics (`None` when normalisation is off).
pub fn normalize_splits_with_stats(
    raw: DataSplits,
    normalize: &NormalizeConfig,
    stats_path: Option<&Path>,
    key: &str,
) -> Result<(DataSplits, Option<ChannelStats>)> {
    if !normalize.mean && !normalize.std {
        return Ok((raw, None));
    }
    let DataSplits { train, val, test } = raw;
    let stats: ChannelStats = match stats_path {
        Some(path) => load_or_compute(train.as_ref(), key, path)?,
        None => compute_stats(train.as_ref(), key)?,
    };
    let wrap = |d: Arc<dyn TileDataset>| -> Result<Arc<dyn TileDataset>> {
        Ok(Arc::new(Normalized::new(d, &stats, normalize)?))
    };
    let splits = DataSplits { train: wrap(train)?, val: wrap(val)?, test: wrap(test)? };
    Ok((splits, Some(stats)))
}

/// The tile indices `open` uses for a synthetic configuration (for reports and tests).
pub fn synthetic_split(c: &SyntheticDataConfig) -> Result<SplitIndices> {
    c.generator.validate()?;
    split(&c.split, c.generator.tiles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn small() -> SyntheticDataConfig {
        SyntheticDataConfig {
            generator: SyntheticConfig { tiles: 40, tile_size: 16, ..Default::default() },
            ..Default::default()
        }
    }

    #[test]
    fn parses_the_tagged_form_and_rejects_unknown_fields() {
        let c: DataConfig =
            serde_json::from_str(r#"{"kind":"synthetic","generator":{"tiles":12},"split":{"folds":3}}"#).unwrap();
        let DataConfig::Synthetic(s) = &c else { panic!("synthetic expected") };
        assert_eq!((s.generator.tiles, s.split.folds, s.split.fold), (12, 3, 0));
        assert!(serde_json::from_str::<DataConfig>(r#"{"kind":"synthetic","tiles":12}"#).is_err());
        assert!(serde_json::from_str::<DataConfig>(r#"{"kind":"landsat"}"#).is_err());
        let round: DataConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(round, c);
        assert_eq!(serde_json::from_str::<DataConfig>(r#"{"kind":"synthetic"}"#).unwrap(), DataConfig::default());
    }

    #[test]
    fn open_synthetic_splits_and_normalises() {
        let c = small();
        let splits = open(&DataConfig::Synthetic(c.clone())).unwrap();
        assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (29, 3, 8));
        let idx = synthetic_split(&c).unwrap();
        let raw = SyntheticDataset::new(c.generator.clone()).unwrap();
        // Test tile 0 is raw tile idx.test[0] minus the training mean.
        let stats = compute_stats(&Subset::new(Arc::new(raw.clone()), idx.train.clone()).unwrap(), "k").unwrap();
        let (got, want) = (splits.test.sample(0).unwrap(), raw.sample(idx.test[0]).unwrap());
        assert_eq!(got.labels, want.labels);
        let mu = stats.modalities[0].mean[1] as f32;
        assert_eq!(got.modalities[0].channel(1)[7], want.modalities[0].channel(1)[7] - mu);
        // Training data has zero mean per channel after normalisation.
        let after = compute_stats(splits.train.as_ref(), "after").unwrap();
        assert!(after.modalities.iter().flat_map(|m| &m.mean).all(|m| m.abs() < 1e-4));
    }

    #[test]
    fn stats_cache_is_written_and_keyed_by_fold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        let mut c = small();
        c.stats = Some(path.clone());
        open(&DataConfig::Synthetic(c.clone())).unwrap();
        c.split.fold = 1;
        open(&DataConfig::Synthetic(c)).unwrap();
        let file: crate::normalize::StatsFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(file.entries.len(), 2);
    }

    #[test]
    fn reference_split_method_reaches_open() {
        let mut c = small();
        c.split.method = SplitMethod::Reference;
        c.split.fold = 5;
        let want = crate::split::reference_cv(&crate::split::seeded_permutation(40, 0), 5, 5, 0.1).unwrap();
        assert_eq!(synthetic_split(&c).unwrap(), want);
        let splits = open(&DataConfig::Synthetic(c.clone())).unwrap();
        assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (29, 3, 8));
        c.split.fold = 0;
        let err = open(&DataConfig::Synthetic(c)).unwrap_err().to_string();
        assert!(err.contains("split.fold") && err.contains("counts folds from 1"), "{err}");
    }

    #[test]
    fn invalid_generator_is_a_typed_error() {
        let mut c = small();
        c.generator.clouds = -1.0;
        assert!(matches!(open(&DataConfig::Synthetic(c)), Err(Error::Config { .. })));
    }
}
