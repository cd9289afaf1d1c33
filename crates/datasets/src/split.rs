//! Train / validation / test splits (docs/method.md §5, §8): k-fold over a seeded permutation or a
//! permutation file (fold f of k is the test set, the rest trains, a validation fraction is
//! taken from the end of the training part), the reference's own cross-validation
//! ([`reference_cv`], `docs/reference.md §3`), and official id lists. [`Subset`] views a data
//! set through a list of indices.
//!
//! Every split is deterministic: the same configuration and tile count give the same lists,
//! in permutation order (which is the order the reference iterates them in).

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::{TileDataset, TileView};
use crate::error::{Error, Result};
use crate::sample::Sample;

/// How the splits are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    /// The data set's official split when it has one (Potsdam, Hunan), k-fold otherwise
    /// (synthetic, DSTL).
    #[default]
    Auto,
    /// The official scene lists; a missing validation list is taken from the training
    /// scenes (`val_fraction` of them, seeded).
    Official,
    /// K-fold (`folds`, `fold`) over a seeded permutation or the `permutation` file.
    Kfold,
    /// The reference's cross-validation, exactly ([`reference_cv`]): `fold` counted from 1,
    /// over the `permutation` file (the authors' `randInd{N}.txt`) or a seeded permutation.
    Reference,
}

/// What a k-fold split permutes (file-backed data sets; the synthetic set has only tiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitUnit {
    /// Tiles (the reference's DSTL protocol: tiles of one image may land in different splits).
    #[default]
    Tiles,
    /// Whole scenes (no spatial leakage between splits).
    Scenes,
}

/// Splitting: k-fold over a seeded permutation or a permutation file, or official lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Official lists or k-fold.
    pub method: SplitMethod,
    /// What k-fold permutes.
    pub unit: SplitUnit,
    /// Number of folds k (≥ 2).
    pub folds: usize,
    /// The test fold f: in 0..k for `kfold`, in 1..=k for `reference` (which counts from 1).
    pub fold: usize,
    /// Fraction of the training part held out for validation, in [0, 1) (`reference` rounds
    /// down, as the reference does; the other methods round to nearest, at least one).
    pub val_fraction: f64,
    /// Seed of the permutation (ignored when `permutation` is given) and of the validation
    /// hold-out of official splits.
    pub seed: u64,
    /// A file with a fixed permutation of 0..n (JSON array or whitespace/comma-separated
    /// integers), as the reference's DSTL runs use.
    pub permutation: Option<PathBuf>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            method: SplitMethod::Auto,
            unit: SplitUnit::Tiles,
            folds: 5,
            fold: 0,
            val_fraction: 0.1,
            seed: 0,
            permutation: None,
        }
    }
}

impl SplitConfig {
    /// The checks [`split`] makes of these values, made before any data is read (what `lssg
    /// config check` runs): `val_fraction` in [0, 1), and for k-fold splits (`kfold`,
    /// `reference`, and `auto` on a data set without official lists, `official_lists =
    /// false`) at least 2 folds and a test fold among them. The number of tiles is checked
    /// when the data is split.
    pub fn validate(&self, official_lists: bool) -> Result<()> {
        if !(0.0..1.0).contains(&self.val_fraction) {
            return Err(config_error("val_fraction", self.val_fraction, "a fraction in [0, 1)"));
        }
        let kfold = match self.method {
            SplitMethod::Official if !official_lists => {
                let expected = "kfold, reference or auto: this data set has no official split";
                return Err(config_error("method", "official", expected));
            }
            SplitMethod::Official => return Ok(()),
            SplitMethod::Auto if official_lists => return Ok(()),
            SplitMethod::Auto | SplitMethod::Kfold => true,
            SplitMethod::Reference => false,
        };
        if self.folds < 2 {
            return Err(config_error("folds", self.folds, "at least 2"));
        }
        if kfold && self.fold >= self.folds {
            return Err(config_error("fold", self.fold, format!("a fold index below folds = {}", self.folds)));
        }
        if !kfold && !(1..=self.folds).contains(&self.fold) {
            let expected = format!("a fold number in 1..={} (method = reference counts folds from 1)", self.folds);
            return Err(config_error("fold", self.fold, expected));
        }
        Ok(())
    }
}

/// Tile indices of the three splits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SplitIndices {
    /// Training tiles.
    pub train: Vec<usize>,
    /// Validation tiles.
    pub val: Vec<usize>,
    /// Test tiles.
    pub test: Vec<usize>,
}

impl SplitIndices {
    /// A 64-bit FNV-1a fingerprint of the three lists (used to key cached statistics).
    pub fn fingerprint(&self) -> u64 {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for (tag, list) in [(1u64, &self.train), (2, &self.val), (3, &self.test)] {
            for v in std::iter::once(tag << 56).chain(list.iter().map(|&i| i as u64)) {
                for b in v.to_le_bytes() {
                    h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
        h
    }
}

fn config_error(field: &str, value: impl ToString, expected: impl ToString) -> Error {
    Error::Config { field: format!("split.{field}"), value: value.to_string(), expected: expected.to_string() }
}

/// A permutation of 0..n seeded by `seed` (ChaCha8, Fisher–Yates).
pub fn seeded_permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    p
}

/// Checks that `values` is a permutation of 0..n; the error names `path` and the first
/// problem (length, an out-of-range value, a repeated value).
pub fn check_permutation(values: &[usize], n: usize, path: &Path) -> Result<()> {
    let bad = |problem: String| Error::NotAPermutation { path: path.to_path_buf(), n, problem };
    if values.len() != n {
        return Err(bad(format!("it has {} entries", values.len())));
    }
    let mut seen = vec![usize::MAX; n];
    for (pos, &v) in values.iter().enumerate() {
        if v >= n {
            return Err(bad(format!("value {v} at position {pos} is out of range")));
        }
        if seen[v] != usize::MAX {
            return Err(bad(format!("value {v} occurs at positions {} and {pos}", seen[v])));
        }
        seen[v] = pos;
    }
    Ok(())
}

/// Reads a permutation of 0..n from a JSON array (`[3, 0, 2, 1]`) or a text file of
/// integers separated by whitespace or commas, and validates it.
pub fn read_permutation(path: &Path, n: usize) -> Result<Vec<usize>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let values: Vec<usize> = if text.trim_start().starts_with('[') {
        serde_json::from_str(&text).map_err(|source| Error::Json { path: path.to_path_buf(), source })?
    } else {
        let mut values = Vec::new();
        for (line_no, line) in text.lines().enumerate() {
            for token in line.split(|c: char| c.is_whitespace() || c == ',').filter(|t| !t.is_empty()) {
                let v = token.parse().map_err(|_| Error::Parse {
                    path: path.to_path_buf(),
                    line: line_no + 1,
                    reason: format!("expected a non-negative integer tile index, found {token:?}"),
                })?;
                values.push(v);
            }
        }
        values
    };
    check_permutation(&values, n, path)?;
    Ok(values)
}

/// Takes `val_fraction` of `train` (from its end) as validation; at least one tile when
/// the fraction is positive, and never all of them.
fn hold_out(mut train: Vec<usize>, val_fraction: f64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..1.0).contains(&val_fraction) {
        return Err(config_error("val_fraction", val_fraction, "a fraction in [0, 1)"));
    }
    let mut n_val = (val_fraction * train.len() as f64).round() as usize;
    if val_fraction > 0.0 {
        n_val = n_val.max(1);
    }
    if n_val >= train.len() {
        return Err(config_error(
            "val_fraction",
            val_fraction,
            format!("a fraction leaving training tiles (the training part has only {} tiles)", train.len()),
        ));
    }
    let val = train.split_off(train.len() - n_val);
    Ok((train, val))
}

/// Fold `fold` of `folds` over `permutation`: positions `[f·n/k, (f+1)·n/k)` are the test set,
/// the others (in permutation order) train, of which the last `val_fraction` validate.
pub fn kfold(permutation: &[usize], folds: usize, fold: usize, val_fraction: f64) -> Result<SplitIndices> {
    let n = permutation.len();
    if folds < 2 {
        return Err(config_error("folds", folds, "at least 2"));
    }
    if fold >= folds {
        return Err(config_error("fold", fold, format!("a fold index below folds = {folds}")));
    }
    if n < folds {
        return Err(config_error("folds", folds, format!("at most the number of tiles ({n})")));
    }
    let (lo, hi) = (fold * n / folds, (fold + 1) * n / folds);
    let test = permutation[lo..hi].to_vec();
    let train: Vec<usize> = permutation[..lo].iter().chain(&permutation[hi..]).copied().collect();
    let (train, val) = hold_out(train, val_fraction)?;
    Ok(SplitIndices { train, val, test })
}

/// The reference's cross-validation over `permutation` (`docs/reference.md §3`), fold `fold`
/// of `folds` counted from 1. With t = ⌊n/k⌋: the test set is positions `[(f−1)·t, f·t)` of the
/// permutation; the other positions, in ascending order, are split into validation (the first
/// ⌊`val_fraction`·(n − t)⌋) and training (the rest). Every list holds permutation values in
/// position order.
///
/// Why each detail: the reference sizes every test fold ⌊n/k⌋ (so the last n mod k positions
/// are never tested), takes the validation tiles from the *start* of the non-test positions,
/// and rounds the validation count down with no minimum; any other rounding would move tiles
/// between splits and stop the folds matching the authors' runs.
pub fn reference_cv(permutation: &[usize], folds: usize, fold: usize, val_fraction: f64) -> Result<SplitIndices> {
    let n = permutation.len();
    if folds < 2 {
        return Err(config_error("folds", folds, "at least 2"));
    }
    if !(1..=folds).contains(&fold) {
        return Err(config_error(
            "fold",
            fold,
            format!("a fold number in 1..={folds} (method = reference counts folds from 1)"),
        ));
    }
    if n < folds {
        return Err(config_error("folds", folds, format!("at most the number of tiles ({n})")));
    }
    if !(0.0..1.0).contains(&val_fraction) {
        return Err(config_error("val_fraction", val_fraction, "a fraction in [0, 1)"));
    }
    let size = n / folds;
    let (lo, hi) = ((fold - 1) * size, fold * size);
    let rest: Vec<usize> = permutation[..lo].iter().chain(&permutation[hi..]).copied().collect();
    // Python's `int((N - tstsize) * valRatio)`: the same f64 product, truncated.
    let n_val = ((n - size) as f64 * val_fraction).floor() as usize;
    if n_val >= rest.len() {
        return Err(config_error(
            "val_fraction",
            val_fraction,
            format!("a fraction leaving training tiles (the non-test part has only {} tiles)", rest.len()),
        ));
    }
    Ok(SplitIndices { val: rest[..n_val].to_vec(), train: rest[n_val..].to_vec(), test: permutation[lo..hi].to_vec() })
}

/// The split of `n` tiles that `config` describes: [`reference_cv`] for `method = reference`,
/// [`kfold`] otherwise.
pub fn split(config: &SplitConfig, n: usize) -> Result<SplitIndices> {
    let permutation = match &config.permutation {
        Some(path) => read_permutation(path, n)?,
        None => seeded_permutation(n, config.seed),
    };
    if config.method == SplitMethod::Reference {
        return reference_cv(&permutation, config.folds, config.fold, config.val_fraction);
    }
    kfold(&permutation, config.folds, config.fold, config.val_fraction)
}

/// An official split by scene (or image) ids: tile `t` belongs to the scene `groups[t]`;
/// tiles of scenes in `train_ids` train (a seeded `val_fraction` of those tiles validates)
/// and tiles of scenes in `test_ids` test. A tile whose scene is in neither list, or an id
/// in both lists, is an error naming it.
pub fn official<T: Eq + Hash + std::fmt::Debug>(
    groups: &[T],
    train_ids: &[T],
    test_ids: &[T],
    val_fraction: f64,
    seed: u64,
) -> Result<SplitIndices> {
    let mut role: HashMap<&T, bool> = HashMap::new();
    for id in train_ids {
        role.insert(id, true);
    }
    for id in test_ids {
        if role.insert(id, false) == Some(true) {
            return Err(config_error("official", format!("{id:?}"), "an id in only one of the train and test lists"));
        }
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (t, g) in groups.iter().enumerate() {
        match role.get(g) {
            Some(true) => train.push(t),
            Some(false) => test.push(t),
            None => {
                return Err(config_error("official", format!("{g:?} (tile {t})"), "a scene listed as train or test"));
            }
        }
    }
    let (train, val) = take_validation(&train, val_fraction, seed)?;
    Ok(SplitIndices { train, val, test })
}

/// Holds out a seeded random `val_fraction` of `train` (at least one item when the fraction
/// is positive, never all); both parts keep the order they had in `train`.
pub fn take_validation(train: &[usize], val_fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    let order = seeded_permutation(train.len(), seed);
    let (keep, held) = hold_out(order, val_fraction)?;
    let mut is_val = vec![false; train.len()];
    held.iter().for_each(|&i| is_val[i] = true);
    let pick = |v: bool| train.iter().zip(&is_val).filter(|(_, f)| **f == v).map(|(&t, _)| t).collect::<Vec<_>>();
    debug_assert_eq!(keep.len() + held.len(), train.len());
    Ok((pick(false), pick(true)))
}

/// A [`TileDataset`] over the tiles `indices` of another.
#[derive(Clone)]
pub struct Subset {
    inner: Arc<dyn TileDataset>,
    indices: Vec<usize>,
}

impl std::fmt::Debug for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subset").field("tiles", &self.indices.len()).field("of", &self.inner.len()).finish()
    }
}

impl Subset {
    /// A view of `indices` of `inner`; an index out of range is an error.
    pub fn new(inner: Arc<dyn TileDataset>, indices: Vec<usize>) -> Result<Self> {
        if let Some(&index) = indices.iter().find(|&&i| i >= inner.len()) {
            return Err(Error::IndexOutOfRange { index, len: inner.len() });
        }
        Ok(Self { inner, indices })
    }

    /// The underlying indices.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The underlying data set.
    pub fn inner(&self) -> &Arc<dyn TileDataset> {
        &self.inner
    }
}

impl TileView for Subset {
    fn base(&self) -> &dyn TileDataset {
        self.inner.as_ref()
    }
    fn view_len(&self) -> usize {
        self.indices.len()
    }
    fn view_sample(&self, index: usize) -> Result<Sample> {
        let &i = self.indices.get(index).ok_or(Error::IndexOutOfRange { index, len: self.indices.len() })?;
        self.inner.sample(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_values_are_checked_before_any_data_is_read() {
        let ok = SplitConfig::default();
        ok.validate(false).unwrap();
        let field = |c: SplitConfig, official: bool| match c.validate(official) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{c:?}: expected a config error, got {other:?}"),
        };
        assert_eq!(field(SplitConfig { val_fraction: f64::NAN, ..ok.clone() }, false), "split.val_fraction");
        assert_eq!(field(SplitConfig { val_fraction: 1.0, ..ok.clone() }, true), "split.val_fraction");
        assert_eq!(field(SplitConfig { fold: 5, ..ok.clone() }, false), "split.fold");
        assert_eq!(field(SplitConfig { folds: 1, ..ok.clone() }, false), "split.folds");
        let reference = SplitConfig { method: SplitMethod::Reference, ..ok.clone() };
        assert_eq!(field(reference.clone(), false), "split.fold");
        SplitConfig { fold: 5, ..reference }.validate(false).unwrap();
        // `auto` with official lists does not use the fold.
        SplitConfig { fold: 9, ..ok.clone() }.validate(true).unwrap();
        let official = SplitConfig { method: SplitMethod::Official, ..ok };
        assert_eq!(field(official.clone(), false), "split.method");
        official.validate(true).unwrap();
    }

    fn assert_partition(s: &SplitIndices, n: usize) {
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "splits must be disjoint and cover 0..{n}");
    }

    #[test]
    fn kfold_partitions_and_test_folds_cover_everything_once() {
        let n = 23;
        let perm = seeded_permutation(n, 1);
        let mut tests = Vec::new();
        for f in 0..5 {
            let s = kfold(&perm, 5, f, 0.1).unwrap();
            assert_partition(&s, n);
            assert!(s.test.len() == 4 || s.test.len() == 5);
            assert_eq!(s.val.len(), 2); // round(0.1 · 18 or 19)
            tests.extend(s.test);
        }
        tests.sort_unstable();
        assert_eq!(tests, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn kfold_golden_small_case() {
        // Identity permutation, 10 tiles, fold 1 of 5, 25 % validation of the 8 training tiles.
        let perm: Vec<usize> = (0..10).collect();
        let s = kfold(&perm, 5, 1, 0.25).unwrap();
        assert_eq!(s.test, [2, 3]);
        assert_eq!(s.train, [0, 1, 4, 5, 6, 7]);
        assert_eq!(s.val, [8, 9]);
        let none = kfold(&perm, 5, 1, 0.0).unwrap();
        assert!(none.val.is_empty());
    }

    #[test]
    fn seeded_splits_are_deterministic() {
        let c = SplitConfig::default();
        assert_eq!(split(&c, 100).unwrap(), split(&c, 100).unwrap());
        assert_ne!(split(&c, 100).unwrap(), split(&SplitConfig { seed: 1, ..c.clone() }, 100).unwrap());
        assert_ne!(
            split(&c, 100).unwrap().fingerprint(),
            split(&SplitConfig { fold: 1, ..c }, 100).unwrap().fingerprint()
        );
    }

    #[test]
    fn bad_configs_are_rejected() {
        let perm: Vec<usize> = (0..10).collect();
        assert!(matches!(kfold(&perm, 1, 0, 0.1), Err(Error::Config { field, .. }) if field == "split.folds"));
        assert!(matches!(kfold(&perm, 5, 5, 0.1), Err(Error::Config { field, .. }) if field == "split.fold"));
        assert!(matches!(kfold(&perm, 5, 0, 1.0), Err(Error::Config { field, .. }) if field == "split.val_fraction"));
        assert!(kfold(&perm[..3], 5, 0, 0.1).is_err());
    }

    #[test]
    fn reference_cv_golden_first_middle_and_last_fold() {
        // n = 12, k = 5 → every test fold has ⌊12/5⌋ = 2 tiles (positions 10 and 11 are never
        // tested); validation = the first ⌊0.1 · (12 − 2)⌋ = 1 non-test position. By hand:
        // fold 1 tests positions 0..2 → [7, 2]; the non-test positions 2..12 hold
        // [11, 0, 5, 9, 3, 10, 1, 6, 4, 8]: the first validates, the rest train. Fold 5 tests
        // positions 8..10 → [1, 6]; non-test [7, 2, 11, 0, 5, 9, 3, 10, 4, 8]. Fold 3 with
        // val_fraction 0.25 tests positions 4..6 → [5, 9] and validates ⌊2.5⌋ = 2 tiles. The same
        // lists come out of a transcription of the reference's `CrossVal` (F6_CROSSVAL.py).
        let perm = [7, 2, 11, 0, 5, 9, 3, 10, 1, 6, 4, 8];
        let s = reference_cv(&perm, 5, 1, 0.1).unwrap();
        assert_eq!(s.test, [7, 2]);
        assert_eq!(s.val, [11]);
        assert_eq!(s.train, [0, 5, 9, 3, 10, 1, 6, 4, 8]);
        let s = reference_cv(&perm, 5, 5, 0.1).unwrap();
        assert_eq!(s.test, [1, 6]);
        assert_eq!(s.val, [7]);
        assert_eq!(s.train, [2, 11, 0, 5, 9, 3, 10, 4, 8]);
        assert_partition(&s, 12);
        let s = reference_cv(&perm, 5, 3, 0.25).unwrap();
        assert_eq!((s.test, s.val, s.train), (vec![5, 9], vec![7, 2], vec![11, 0, 3, 10, 1, 6, 4, 8]));
        // Rounded down with no minimum: 0.05 · 10 = 0.5 → no validation tile.
        assert!(reference_cv(&perm, 5, 2, 0.05).unwrap().val.is_empty());
        // Through the config, over a permutation file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("randInd12.txt");
        std::fs::write(&path, perm.map(|v| v.to_string()).join("\n")).unwrap();
        let c = SplitConfig { method: SplitMethod::Reference, fold: 5, permutation: Some(path), ..Default::default() };
        assert_eq!(split(&c, 12).unwrap(), reference_cv(&perm, 5, 5, 0.1).unwrap());
    }

    #[test]
    fn reference_cv_rejects_fold_0_and_folds_past_k() {
        let perm: Vec<usize> = (0..12).collect();
        for fold in [0, 6] {
            match reference_cv(&perm, 5, fold, 0.1) {
                Err(e @ Error::Config { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains("split.fold") && text.contains("1..=5"), "{text}");
                }
                other => panic!("fold {fold}: {other:?}"),
            }
        }
        assert!(matches!(reference_cv(&perm, 1, 1, 0.1), Err(Error::Config { field, .. }) if field == "split.folds"));
        assert!(
            matches!(reference_cv(&perm[..3], 5, 1, 0.1), Err(Error::Config { field, .. }) if field == "split.folds")
        );
        assert!(
            matches!(reference_cv(&perm, 5, 1, 1.0), Err(Error::Config { field, .. }) if field == "split.val_fraction")
        );
        let c = SplitConfig { method: SplitMethod::Reference, fold: 0, ..Default::default() };
        assert!(split(&c, 12).is_err());
    }

    #[test]
    fn permutation_files_json_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("perm.json");
        std::fs::write(&json, "[4, 2, 0, 1, 3]").unwrap();
        assert_eq!(read_permutation(&json, 5).unwrap(), [4, 2, 0, 1, 3]);
        let text = dir.path().join("perm.txt");
        std::fs::write(&text, "4 2\n0,1\n3\n").unwrap();
        assert_eq!(read_permutation(&text, 5).unwrap(), [4, 2, 0, 1, 3]);
        let c = SplitConfig { permutation: Some(text.clone()), val_fraction: 0.0, seed: 9, ..Default::default() };
        assert_eq!(split(&c, 5).unwrap().test, [4]);

        let cases =
            [("[0, 1, 1]", "occurs at positions 1 and 2"), ("[0, 1, 5]", "out of range"), ("[0, 1]", "2 entries")];
        for (content, problem) in cases {
            std::fs::write(&json, content).unwrap();
            match read_permutation(&json, 3) {
                Err(e @ Error::NotAPermutation { .. }) => assert!(e.to_string().contains(problem), "{e}"),
                other => panic!("{content}: {other:?}"),
            }
        }
        std::fs::write(&text, "0 1\nx 2\n").unwrap();
        assert!(matches!(read_permutation(&text, 3), Err(Error::Parse { line: 2, .. })));
        assert!(matches!(read_permutation(&dir.path().join("none"), 3), Err(Error::Io { .. })));
    }

    #[test]
    fn official_lists() {
        let groups = ["a", "a", "b", "c", "c", "c", "b"];
        let s = official(&groups, &["a", "c"], &["b"], 0.2, 0).unwrap();
        assert_eq!(s.test, [2, 6]);
        assert_eq!(s.val.len(), 1);
        assert_eq!(s.train.len(), 4);
        assert_partition(&s, 7);
        assert_eq!(s, official(&groups, &["a", "c"], &["b"], 0.2, 0).unwrap());
        assert!(official(&groups, &["a"], &["b"], 0.0, 0).is_err()); // "c" unassigned
        let (t, v) = take_validation(&[10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 0.3, 1).unwrap();
        assert_eq!((t.len(), v.len()), (7, 3));
        assert!(t.windows(2).all(|w| w[0] < w[1]) && v.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((t.clone(), v.clone()), take_validation(&[10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 0.3, 1).unwrap());
        assert!(take_validation(&[1], 0.5, 0).is_err());
        assert!(official(&groups, &["a", "c", "b"], &["b"], 0.0, 0).is_err()); // "b" in both
    }

    #[test]
    fn subset_maps_indices() {
        use crate::synthetic::{SyntheticConfig, SyntheticDataset};
        let ds: Arc<dyn TileDataset> =
            Arc::new(SyntheticDataset::new(SyntheticConfig { tiles: 6, tile_size: 8, ..Default::default() }).unwrap());
        let sub = Subset::new(ds.clone(), vec![5, 1]).unwrap();
        assert_eq!(sub.len(), 2);
        assert_eq!(sub.sample(0).unwrap(), ds.sample(5).unwrap());
        assert!(matches!(sub.sample(2), Err(Error::IndexOutOfRange { index: 2, len: 2 })));
        assert!(Subset::new(ds, vec![6]).is_err());
    }
}
