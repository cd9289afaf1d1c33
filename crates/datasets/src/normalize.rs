//! Per-channel normalisation (docs/method.md §2, §8): statistics of the **training split only**,
//! computed in one streaming, parallel pass (rayon over tiles; per-tile f64 mean and sum of
//! squared deviations merged with Chan et al.'s pairwise formula, so large offsets such as a
//! DSM at 30 m lose no precision), cached as JSON and applied by the [`Normalized`] adapter.
//!
//! Reference behaviour: mean subtraction only (`NormalizeConfig { mean: true, std: false }`),
//! so a missing modality's zeros equal the training mean. Non-finite values (no-data) are
//! skipped by the statistics and passed through unchanged.
//!
//! The cache (`<root>/lssg-stats.json` by default for file-backed data sets) holds one entry
//! per key; the key identifies the data set, its configuration and the exact training
//! tiles ([`stats_key`]), so changing the split or the data recomputes.

use std::path::Path;
use std::sync::Arc;

use lssg_scenario::ModalitySet;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::{TileDataset, TileView};
use crate::error::{Error, Result};
use crate::sample::Sample;
use crate::split::SplitIndices;

/// The default cache file name, next to the data.
pub const STATS_FILE: &str = "lssg-stats.json";

/// Which statistics are applied to samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NormalizeConfig {
    /// Subtract the per-channel training mean (the reference does).
    pub mean: bool,
    /// Divide by the per-channel training standard deviation (the reference does not).
    pub std: bool,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        Self { mean: true, std: false }
    }
}

/// Statistics of one modality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModalityStats {
    /// Modality name.
    pub name: String,
    /// Per-channel mean.
    pub mean: Vec<f64>,
    /// Per-channel population standard deviation.
    pub std: Vec<f64>,
    /// Per-channel number of finite values counted.
    pub count: Vec<u64>,
}

/// Per-channel statistics of a set of tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelStats {
    /// What they were computed on (see [`stats_key`]).
    pub key: String,
    /// Number of tiles.
    pub tiles: usize,
    /// One entry per modality, in the data set's order.
    pub modalities: Vec<ModalityStats>,
}

/// The cache file: entries for several keys (e.g. folds) side by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsFile {
    /// Format version (1).
    pub version: u32,
    /// Cached statistics.
    pub entries: Vec<ChannelStats>,
}

/// The cache key of statistics of `split.train` of the data set described by `identity`
/// (e.g. its configuration as JSON): the identity, the training tile count and a
/// fingerprint of the training indices.
pub fn stats_key(identity: &str, split: &SplitIndices) -> String {
    let only_train = SplitIndices { train: split.train.clone(), ..Default::default() };
    format!("{identity} | train {} tiles #{:016x}", split.train.len(), only_train.fingerprint())
}

/// Running (count, mean, M2) of one channel.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn of(values: &[f32]) -> Self {
        let (mut n, mut sum) = (0u64, 0f64);
        for &v in values {
            if v.is_finite() {
                n += 1;
                sum += v as f64;
            }
        }
        if n == 0 {
            return Self::default();
        }
        let mean = sum / n as f64;
        let m2 = values.iter().filter(|v| v.is_finite()).map(|&v| (v as f64 - mean).powi(2)).sum();
        Self { n, mean, m2 }
    }

    /// Chan, Golub & LeVeque's pairwise combination.
    fn merge(self, o: Self) -> Self {
        if self.n == 0 {
            return o;
        }
        if o.n == 0 {
            return self;
        }
        let n = self.n + o.n;
        let delta = o.mean - self.mean;
        let mean = self.mean + delta * o.n as f64 / n as f64;
        let m2 = self.m2 + o.m2 + delta * delta * (self.n as f64 * o.n as f64) / n as f64;
        Self { n, mean, m2 }
    }
}

fn tile_moments(s: &Sample, set: &ModalitySet, index: usize) -> Result<Vec<Moments>> {
    let channels = set.channels();
    if s.modalities.len() != channels.len() {
        return Err(Error::Mismatch {
            what: format!("tile {index} modality count"),
            expected: channels.len().to_string(),
            got: s.modalities.len().to_string(),
        });
    }
    let mut out = Vec::with_capacity(channels.iter().sum());
    for (m, (a, &c)) in s.modalities.iter().zip(&channels).enumerate() {
        if a.channels != c || a.data.len() != c * a.height * a.width {
            return Err(Error::Mismatch {
                what: format!("tile {index} modality {m} channels (values)"),
                expected: format!("{c} ({})", c * a.height * a.width),
                got: format!("{} ({})", a.channels, a.data.len()),
            });
        }
        out.extend((0..c).map(|k| Moments::of(a.channel(k))));
    }
    Ok(out)
}

/// Computes per-channel statistics over every tile of `dataset` (pass the raw training
/// subset), in parallel.
pub fn compute_stats(dataset: &dyn TileDataset, key: &str) -> Result<ChannelStats> {
    let set = dataset.modalities();
    let total: usize = set.channels().iter().sum();
    let merged = (0..dataset.len())
        .into_par_iter()
        .map(|i| dataset.sample(i).and_then(|s| tile_moments(&s, set, i)))
        .try_reduce(
        || vec![Moments::default(); total],
        |a, b| Ok(a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect()),
    )?;
    let mut it = merged.into_iter();
    let modalities = set
        .modalities()
        .iter()
        .map(|m| {
            let ch: Vec<Moments> = it.by_ref().take(m.channels).collect();
            ModalityStats {
                name: m.name.clone(),
                mean: ch.iter().map(|c| c.mean).collect(),
                std: ch.iter().map(|c| if c.n > 0 { (c.m2 / c.n as f64).sqrt() } else { 0.0 }).collect(),
                count: ch.iter().map(|c| c.n).collect(),
            }
        })
        .collect();
    Ok(ChannelStats { key: key.to_string(), tiles: dataset.len(), modalities })
}

fn matches_set(stats: &ChannelStats, set: &ModalitySet) -> bool {
    stats.modalities.len() == set.len()
        && stats.modalities.iter().zip(set.modalities()).all(|(s, m)| {
            s.name == m.name && s.mean.len() == m.channels && s.std.len() == m.channels && s.count.len() == m.channels
        })
}

/// Reads the statistics for `key` from the cache `path`, or computes them on `dataset`
/// and adds them to the cache (written atomically; other keys are kept). An unreadable
/// cache, or an entry with a non-finite mean or standard deviation, is an error (never
/// silently overwritten or used); an entry whose modalities do not match the data set is
/// recomputed.
pub fn load_or_compute(dataset: &dyn TileDataset, key: &str, path: &Path) -> Result<ChannelStats> {
    let mut file = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<StatsFile>(&bytes)
            .map_err(|source| Error::Json { path: path.to_path_buf(), source })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StatsFile { version: 1, entries: Vec::new() },
        Err(source) => return Err(Error::Io { path: path.to_path_buf(), source }),
    };
    if let Some(hit) = file.entries.iter().find(|e| e.key == key && matches_set(e, dataset.modalities())) {
        // Used as they are, damaged statistics would make every input NaN or infinite.
        for m in &hit.modalities {
            let bad = m.mean.iter().any(|v| !v.is_finite()) || m.std.iter().any(|v| !(v.is_finite() && *v >= 0.0));
            if bad {
                return Err(Error::Mismatch {
                    what: format!("{}: the cached statistics of modality {}", path.display(), m.name),
                    expected:
                        "finite means and finite, non-negative standard deviations (delete the file to recompute them)"
                            .into(),
                    got: format!("mean {:?}, std {:?}", m.mean, m.std),
                });
            }
        }
        return Ok(hit.clone());
    }
    let stats = compute_stats(dataset, key)?;
    file.version = 1;
    file.entries.retain(|e| e.key != key);
    file.entries.push(stats.clone());
    let json = serde_json::to_vec_pretty(&file).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
    lssg_scenario::io::write_atomic(path, &json).map_err(|e| match e {
        lssg_scenario::Error::Io { path, source } => Error::Io { path, source },
        other => Error::Scenario(other),
    })?;
    Ok(stats)
}

/// A data set whose samples are normalised: `(x − mean) / std` per channel, with either
/// part switched off by the [`NormalizeConfig`].
#[derive(Clone)]
pub struct Normalized {
    inner: Arc<dyn TileDataset>,
    /// Per modality, per channel: subtracted offset and multiplied scale.
    offset: Vec<Vec<f32>>,
    scale: Vec<Vec<f32>>,
}

/// Per modality and channel, what normalisation subtracts (the mean, or 0 without `mean`) and
/// then multiplies by (1 / std with `std` and a std above 1e-12, else 1): shared by
/// [`Normalized`] and whole-scene prediction, so both normalise alike.
pub fn offsets_and_scales(stats: &ChannelStats, config: &NormalizeConfig) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let offset = stats
        .modalities
        .iter()
        .map(|m| m.mean.iter().map(|&v| if config.mean { v as f32 } else { 0.0 }).collect())
        .collect();
    let scale = stats
        .modalities
        .iter()
        .map(|m| m.std.iter().map(|&s| if config.std && s > 1e-12 { (1.0 / s) as f32 } else { 1.0 }).collect())
        .collect();
    (offset, scale)
}

impl std::fmt::Debug for Normalized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Normalized").field("offset", &self.offset).field("scale", &self.scale).finish()
    }
}

impl Normalized {
    /// Wraps `inner`; `stats` must describe its modalities (names and channel counts).
    pub fn new(inner: Arc<dyn TileDataset>, stats: &ChannelStats, config: &NormalizeConfig) -> Result<Self> {
        if !matches_set(stats, inner.modalities()) {
            let describe = |v: Vec<String>| v.join(", ");
            return Err(Error::Mismatch {
                what: format!("normalisation statistics {:?} vs the data set's modalities", stats.key),
                expected: describe(
                    inner.modalities().modalities().iter().map(|m| format!("{}:{}", m.name, m.channels)).collect(),
                ),
                got: describe(stats.modalities.iter().map(|m| format!("{}:{}", m.name, m.mean.len())).collect()),
            });
        }
        let (offset, scale) = offsets_and_scales(stats, config);
        Ok(Self { inner, offset, scale })
    }

    /// The per-modality, per-channel offsets subtracted.
    pub fn offsets(&self) -> &[Vec<f32>] {
        &self.offset
    }
}

impl TileView for Normalized {
    fn base(&self) -> &dyn TileDataset {
        self.inner.as_ref()
    }
    fn view_len(&self) -> usize {
        self.inner.len()
    }
    fn view_sample(&self, index: usize) -> Result<Sample> {
        let mut s = self.inner.sample(index)?;
        for (m, a) in s.modalities.iter_mut().enumerate() {
            let plane = a.height * a.width;
            if a.channels != self.offset[m].len() || a.data.len() != a.channels * plane {
                return Err(Error::Mismatch {
                    what: format!("tile {index} modality {m} channels"),
                    expected: self.offset[m].len().to_string(),
                    got: a.channels.to_string(),
                });
            }
            for (c, chunk) in a.data.chunks_exact_mut(plane).enumerate() {
                let (o, k) = (self.offset[m][c], self.scale[m][c]);
                chunk.iter_mut().for_each(|v| *v = (*v - o) * k);
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{SyntheticConfig, SyntheticDataset};

    fn dataset(tiles: usize) -> Arc<dyn TileDataset> {
        Arc::new(SyntheticDataset::new(SyntheticConfig { tiles, tile_size: 16, ..Default::default() }).unwrap())
    }

    /// Plain two-pass f64 statistics as the reference.
    fn naive(ds: &dyn TileDataset) -> Vec<(f64, f64)> {
        let samples: Vec<Sample> = (0..ds.len()).map(|i| ds.sample(i).unwrap()).collect();
        let mut out = Vec::new();
        for (m, &c) in ds.modalities().channels().iter().enumerate() {
            for k in 0..c {
                let vals: Vec<f64> =
                    samples.iter().flat_map(|s| s.modalities[m].channel(k).iter().map(|&v| v as f64)).collect();
                let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
                out.push((mean, var.sqrt()));
            }
        }
        out
    }

    #[test]
    fn parallel_stats_equal_a_two_pass_reference() {
        let ds = dataset(12);
        let stats = compute_stats(ds.as_ref(), "k").unwrap();
        let flat: Vec<(f64, f64)> =
            stats.modalities.iter().flat_map(|m| m.mean.iter().copied().zip(m.std.iter().copied())).collect();
        for (i, ((m, s), (rm, rs))) in flat.iter().zip(naive(ds.as_ref())).enumerate() {
            assert!((m - rm).abs() < 1e-9 * rm.abs().max(1.0), "channel {i}: mean {m} vs {rm}");
            assert!((s - rs).abs() < 1e-9 * rs.max(1.0), "channel {i}: std {s} vs {rs}");
        }
        assert_eq!(stats.modalities[2].count, [12 * 256]);
    }

    #[test]
    fn normalized_training_mean_is_zero() {
        let ds = dataset(8);
        let stats = compute_stats(ds.as_ref(), "k").unwrap();
        let both = Normalized::new(ds.clone(), &stats, &NormalizeConfig { mean: true, std: true }).unwrap();
        let st = compute_stats(&both, "n").unwrap();
        for m in &st.modalities {
            for (&mu, &sd) in m.mean.iter().zip(&m.std) {
                assert!(mu.abs() < 1e-4, "{}: mean {mu}", m.name);
                assert!((sd - 1.0).abs() < 1e-4, "{}: std {sd}", m.name);
            }
        }
        let mean_only = Normalized::new(ds.clone(), &stats, &NormalizeConfig::default()).unwrap();
        let (raw, norm) = (ds.sample(3).unwrap(), mean_only.sample(3).unwrap());
        let mean_dsm = stats.modalities[2].mean[0] as f32;
        assert_eq!(norm.modalities[2].data[5], raw.modalities[2].data[5] - mean_dsm);
        assert_eq!(norm.labels, raw.labels);
        let off = Normalized::new(ds.clone(), &stats, &NormalizeConfig { mean: false, std: false }).unwrap();
        assert_eq!(off.sample(3).unwrap(), raw);
    }

    #[test]
    fn cache_is_reused_keyed_and_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATS_FILE);
        let ds = dataset(4);
        let a = load_or_compute(ds.as_ref(), "fold0", &path).unwrap();
        // Tamper with the cached value: a hit returns the cached entry, proving no recompute.
        let mut file: StatsFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        file.entries[0].modalities[0].mean[0] = 42.0;
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert_eq!(load_or_compute(ds.as_ref(), "fold0", &path).unwrap().modalities[0].mean[0], 42.0);
        // Another key computes and is stored beside the first.
        let b = load_or_compute(ds.as_ref(), "fold1", &path).unwrap();
        assert_eq!(b.modalities, a.modalities);
        let file: StatsFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(file.entries.len(), 2);
        // A damaged value is refused, not used.
        let mut file: StatsFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        file.entries[0].modalities[0].std[0] = -1.0;
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(matches!(load_or_compute(ds.as_ref(), "fold0", &path), Err(Error::Mismatch { .. })));
        std::fs::write(&path, "{ not json").unwrap();
        assert!(matches!(load_or_compute(ds.as_ref(), "fold0", &path), Err(Error::Json { .. })));
    }

    #[test]
    fn keys_change_with_the_training_tiles() {
        let a = SplitIndices { train: vec![0, 1, 2], val: vec![3], test: vec![4] };
        let b = SplitIndices { train: vec![0, 1, 3], val: vec![2], test: vec![4] };
        let c = SplitIndices { train: vec![0, 1, 2], val: vec![], test: vec![3, 4] };
        assert_ne!(stats_key("x", &a), stats_key("x", &b));
        assert_eq!(stats_key("x", &a), stats_key("x", &c));
        assert_ne!(stats_key("x", &a), stats_key("y", &a));
    }

    #[test]
    fn mismatched_stats_are_rejected() {
        let ds = dataset(2);
        let mut stats = compute_stats(ds.as_ref(), "k").unwrap();
        stats.modalities[1].mean.pop();
        assert!(matches!(Normalized::new(ds, &stats, &NormalizeConfig::default()), Err(Error::Mismatch { .. })));
    }
}
