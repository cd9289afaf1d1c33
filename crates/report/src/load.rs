//! Finding and checking the cells of a report (docs/report.md §1): every `cell.json` under a
//! directory, in any layout. A file that cannot be trusted is listed as a [`Problem`] with its
//! path and left out; it never stops the report and is never silently counted.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use lssg_core::MetricId;
use lssg_scenario::robustness::{Protocols, TileMaps};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::record::{CELL_FILE, CellKey, CellRecord, Curve, CurvePoint, Distribution, FORMAT};

/// Why no cells could be looked for at all.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The directory does not exist or is not a directory.
    #[error("cells directory {dir} does not exist or is not a directory")]
    Missing {
        /// The directory asked for.
        dir: PathBuf,
    },
    /// The directory holds no `cell.json` at any depth.
    #[error("no {CELL_FILE} under {dir}")]
    Empty {
        /// The directory asked for.
        dir: PathBuf,
    },
    /// The directory itself could not be read.
    #[error("reading {dir}: {source}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Why one cell file was left out.
#[derive(Debug, Error, PartialEq)]
pub enum CellError {
    /// The file could not be read.
    #[error("unreadable: {0}")]
    Read(String),
    /// The file is not a valid cell record.
    #[error("not a cell record: {0}")]
    Parse(String),
    /// The record's format version is not [`FORMAT`].
    #[error("format {found}, this report reads format {FORMAT}")]
    Format {
        /// The file's version.
        found: u32,
    },
    /// A field holds a value the report cannot use.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as a path into the record (`scenarios[2].tiles.confusion[5]`).
        field: String,
        /// What is wrong with its value.
        message: String,
    },
    /// Another file has the same key, so neither can be trusted to be the cell.
    #[error("cell {key} also in {other}")]
    Duplicate {
        /// The key, printed.
        key: String,
        /// The other file.
        other: PathBuf,
    },
    /// The cell's scenarios, classes or tile count differ from the other cells of its data set.
    #[error("{what} differ from the {count} other cells of data set `{dataset}`")]
    Inconsistent {
        /// The data set.
        dataset: String,
        /// What differs.
        what: String,
        /// How many cells agree with each other.
        count: usize,
    },
}

/// A cell file left out of the report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Why it was left out.
    pub message: String,
}

/// The cells found under a directory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Loaded {
    /// The usable cells, sorted by key.
    pub cells: Vec<CellRecord>,
    /// Where each cell was read from, parallel to `cells`.
    pub paths: Vec<PathBuf>,
    /// The files left out, sorted by path.
    pub problems: Vec<Problem>,
}

/// Reads every `cell.json` under `dir` (recursively, symbolic links to directories not
/// followed), checks each (docs/report.md §1) and returns the usable ones sorted by key.
pub fn load_cells(dir: &Path) -> Result<Loaded, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::Missing { dir: dir.to_path_buf() });
    }
    let mut files = Vec::new();
    let mut problems = Vec::new();
    std::fs::read_dir(dir).map_err(|source| LoadError::Io { dir: dir.to_path_buf(), source })?;
    walk(dir, &mut files, &mut problems);
    if files.is_empty() {
        return Err(LoadError::Empty { dir: dir.to_path_buf() });
    }
    files.sort();
    let mut parsed: Vec<(PathBuf, CellRecord)> = Vec::new();
    for path in files {
        match read_cell(&path) {
            Ok(cell) => parsed.push((path, cell)),
            Err(e) => problems.push(Problem { path, message: e.to_string() }),
        }
    }
    let parsed = drop_duplicates(parsed, &mut problems);
    let mut parsed = drop_inconsistent(parsed, &mut problems);
    parsed.sort_by(|x, y| x.1.key.cmp(&y.1.key));
    problems.sort();
    let (paths, cells) = parsed.into_iter().unzip();
    Ok(Loaded { cells, paths, problems })
}

/// Collects the `cell.json` files under `dir`; unreadable subdirectories become problems.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Problem { path: dir.to_path_buf(), message: format!("unreadable directory: {e}") });
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                problems.push(Problem { path: dir.to_path_buf(), message: format!("unreadable directory: {e}") });
                continue;
            }
        };
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            walk(&path, files, problems);
        } else if entry.file_name() == CELL_FILE {
            files.push(path);
        }
    }
}

/// Parses and checks one file on its own.
fn read_cell(path: &Path) -> Result<CellRecord, CellError> {
    let bytes = std::fs::read(path).map_err(|e| CellError::Read(e.to_string()))?;
    // Check the version before the full parse so a newer format is named as such, not as a
    // field mismatch.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(found) = v.get("format").and_then(|f| f.as_u64())
        && found != u64::from(FORMAT)
    {
        return Err(CellError::Format { found: u32::try_from(found).unwrap_or(u32::MAX) });
    }
    let cell: CellRecord = serde_json::from_slice(&bytes).map_err(|e| CellError::Parse(e.to_string()))?;
    if cell.format != FORMAT {
        return Err(CellError::Format { found: cell.format });
    }
    check_cell(&cell)?;
    Ok(cell)
}

/// The invariants one record must satisfy by itself.
fn check_cell(cell: &CellRecord) -> Result<(), CellError> {
    let invalid = |field: String, message: String| CellError::Invalid { field, message };
    let k = cell.class_names.len();
    let mut seen = HashSet::new();
    for (i, s) in cell.scenarios.iter().enumerate() {
        let at = |f: &str| format!("scenarios[{i}]{f}");
        if !seen.insert(s.scenario.as_str()) {
            return Err(invalid(at(".scenario"), format!("`{}` appears twice", s.scenario)));
        }
        if let Some((name, v)) = s.metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Err(invalid(at(&format!(".metrics.{name}")), format!("{v} is not finite")));
        }
        let (soft, conf) = (s.tiles.soft_jaccard.len(), s.tiles.confusion.len());
        let first = cell.scenarios[0].tiles.confusion.len();
        if conf != first {
            return Err(invalid(at(".tiles"), format!("{conf} tiles, scenarios[0] has {first}")));
        }
        if soft != conf {
            return Err(invalid(at(".tiles"), format!("{soft} soft_jaccard values, {conf} confusion matrices")));
        }
        if let Some((t, m)) = s.tiles.confusion.iter().enumerate().find(|(_, m)| m.len() != k * k) {
            return Err(invalid(at(&format!(".tiles.confusion[{t}]")), format!("{} entries, K² = {}", m.len(), k * k)));
        }
        if let Some((t, v)) = s.tiles.soft_jaccard.iter().enumerate().find(|(_, v)| v.is_some_and(|v| !v.is_finite())) {
            return Err(invalid(at(&format!(".tiles.soft_jaccard[{t}]")), format!("{v:?} is not finite")));
        }
    }
    for (i, c) in cell.curves.iter().enumerate() {
        if let Some((p, _)) = c.points.iter().enumerate().find(|(_, p)| !p.train_loss.is_finite()) {
            return Err(invalid(format!("curves[{i}].points[{p}].train_loss"), "not finite".into()));
        }
    }
    for (i, c) in cell.curves.iter().enumerate() {
        check_per_epoch(i, c, "sampling", |p| p.sampling.as_ref())?;
        check_per_epoch(i, c, "weights", |p| p.weights.as_ref())?;
    }
    if let Some(p) = &cell.protocols {
        check_protocols(p)?;
    }
    if let Some(m) = &cell.maps {
        check_maps(m)?;
    }
    match &cell.distribution {
        Some(d) => check_distribution(d),
        None => Ok(()),
    }
}

/// The protocol results: finite metrics, rates in (0, 1], finite SNRs, an all-missing
/// probability in [0, 1] (docs/report.md §1, §10).
fn check_protocols(p: &Protocols) -> Result<(), CellError> {
    let invalid = |field: String, message: String| Err(CellError::Invalid { field, message });
    let metrics = |at: String, m: &BTreeMap<MetricId, f64>| match m.iter().find(|(_, v)| !v.is_finite()) {
        Some((id, v)) => invalid(format!("{at}.metrics.{id}"), format!("{v} is not finite")),
        None => Ok(()),
    };
    for (i, e) in p.expected.iter().enumerate() {
        let at = format!("protocols.expected[{i}]");
        if !(0.0..=1.0).contains(&e.all_missing) {
            return invalid(format!("{at}.all_missing"), format!("{} is not a probability", e.all_missing));
        }
        metrics(at, &e.metrics)?;
    }
    for (i, r) in p.random_missing.iter().enumerate() {
        let at = format!("protocols.random_missing[{i}]");
        if !(r.rate > 0.0 && r.rate <= 1.0) {
            return invalid(format!("{at}.rate"), format!("{} is not in (0, 1]", r.rate));
        }
        metrics(at, &r.metrics)?;
    }
    for (i, n) in p.noisy.iter().enumerate() {
        let at = format!("protocols.noisy[{i}]");
        if !n.snr_db.is_finite() {
            return invalid(format!("{at}.snr_db"), format!("{} is not finite", n.snr_db));
        }
        metrics(at, &n.metrics)?;
    }
    Ok(())
}

/// The predicted maps: every map has height × width pixels.
fn check_maps(m: &TileMaps) -> Result<(), CellError> {
    for (t, tile) in m.tiles.iter().enumerate() {
        let n = tile.height * tile.width;
        let lists = std::iter::once(("labels".to_string(), tile.labels.len())).chain(
            tile.predictions.iter().enumerate().map(|(i, p)| (format!("predictions[{i}].classes"), p.classes.len())),
        );
        for (name, len) in lists {
            if len != n {
                return Err(CellError::Invalid {
                    field: format!("maps.tiles[{t}].{name}"),
                    message: format!("{len} pixels, height × width = {n}"),
                });
            }
        }
    }
    Ok(())
}

/// A per-epoch list of curve `i` (`sampling`, `weights`): one length within the curve, every
/// value finite.
fn check_per_epoch(
    i: usize,
    c: &Curve,
    name: &str,
    list: impl Fn(&CurvePoint) -> Option<&Vec<f64>>,
) -> Result<(), CellError> {
    let invalid = |field: String, message: String| CellError::Invalid { field, message };
    let first = c.points.iter().find_map(|p| list(p).map(Vec::len));
    for (p, s) in c.points.iter().enumerate().filter_map(|(p, pt)| list(pt).map(|s| (p, s))) {
        let field = format!("curves[{i}].points[{p}].{name}");
        if Some(s.len()) != first {
            return Err(invalid(field, format!("{} values, the curve's first distribution has {first:?}", s.len())));
        }
        if let Some(v) = s.iter().find(|v| !v.is_finite()) {
            return Err(invalid(field, format!("{v} is not finite")));
        }
    }
    Ok(())
}

/// The scores of a distribution: every per-scenario list as long as `scenarios`, every value
/// finite (docs/report.md §1, §7).
fn check_distribution(d: &Distribution) -> Result<(), CellError> {
    let n = d.scenarios.len();
    let field = |name: &str| format!("distribution.{name}");
    let mut lists: Vec<(String, &[f64])> =
        vec![(field("distortion"), &d.distortion), (field("probabilities"), &d.probabilities)];
    for (name, band) in [("distortion_ci", &d.distortion_ci), ("probabilities_ci", &d.probabilities_ci)] {
        if let Some(b) = band {
            lists.push((field(&format!("{name}.lo")), &b.lo));
            lists.push((field(&format!("{name}.hi")), &b.hi));
        }
    }
    for (name, list) in [("task_increase", &d.task_increase), ("task_probabilities", &d.task_probabilities)] {
        if let Some(l) = list {
            lists.push((field(name), l));
        }
    }
    for (name, list) in lists {
        if list.len() != n {
            return Err(CellError::Invalid { field: name, message: format!("{} values, {n} scenarios", list.len()) });
        }
        if let Some(v) = list.iter().find(|v| !v.is_finite()) {
            return Err(CellError::Invalid { field: name, message: format!("{v} is not finite") });
        }
    }
    Ok(())
}

/// Removes every cell whose key another file also has.
fn drop_duplicates(parsed: Vec<(PathBuf, CellRecord)>, problems: &mut Vec<Problem>) -> Vec<(PathBuf, CellRecord)> {
    let mut by_key: BTreeMap<CellKey, Vec<PathBuf>> = BTreeMap::new();
    for (path, cell) in &parsed {
        by_key.entry(cell.key.clone()).or_default().push(path.clone());
    }
    parsed
        .into_iter()
        .filter(|(path, cell)| {
            let paths = &by_key[&cell.key];
            if paths.len() == 1 {
                return true;
            }
            let other = paths.iter().find(|p| *p != path).cloned().unwrap_or_default();
            let message = CellError::Duplicate { key: key_label(&cell.key), other }.to_string();
            problems.push(Problem { path: path.clone(), message });
            false
        })
        .collect()
}

/// What the cells of one data set must share: scenario names, class names, tile count.
type Signature = (Vec<String>, Vec<String>, Option<usize>);

fn signature(cell: &CellRecord) -> Signature {
    let scenarios = cell.scenarios.iter().map(|s| s.scenario.clone()).collect();
    (scenarios, cell.class_names.clone(), cell.scenarios.first().map(|s| s.tiles.confusion.len()))
}

/// Keeps, per data set, the cells with the most common [`Signature`] (ties to the one the
/// first cell in key order has); cells that evaluated nothing are not compared.
fn drop_inconsistent(parsed: Vec<(PathBuf, CellRecord)>, problems: &mut Vec<Problem>) -> Vec<(PathBuf, CellRecord)> {
    let mut sorted = parsed;
    sorted.sort_by(|x, y| x.1.key.cmp(&y.1.key));
    let mut counts: BTreeMap<&str, Vec<(Signature, usize)>> = BTreeMap::new();
    for (_, cell) in sorted.iter().filter(|(_, c)| !c.scenarios.is_empty()) {
        let sig = signature(cell);
        let list = counts.entry(cell.key.dataset.as_str()).or_default();
        match list.iter_mut().find(|(s, _)| *s == sig) {
            Some((_, n)) => *n += 1,
            None => list.push((sig, 1)),
        }
    }
    let majority: BTreeMap<String, (Signature, usize)> = counts
        .into_iter()
        .filter_map(|(d, list)| {
            // max_by_key keeps the last maximum; reversing keeps the first one in key order
            list.into_iter().rev().max_by_key(|(_, n)| *n).map(|m| (d.to_string(), m))
        })
        .collect();
    sorted
        .into_iter()
        .filter(|(path, cell)| {
            let Some((sig, count)) = majority.get(&cell.key.dataset) else { return true };
            let own = signature(cell);
            if cell.scenarios.is_empty() || own == *sig {
                return true;
            }
            let what = if own.0 != sig.0 {
                "scenarios"
            } else if own.1 != sig.1 {
                "class names"
            } else {
                "tile counts"
            };
            let dataset = cell.key.dataset.clone();
            let message = CellError::Inconsistent { dataset, what: what.into(), count: *count }.to_string();
            problems.push(Problem { path: path.clone(), message });
            false
        })
        .collect()
}

/// `dataset/model/variant/method/seed`, for messages.
pub fn key_label(key: &CellKey) -> String {
    let variant = if key.variant.is_empty() { String::new() } else { format!("{}/", key.variant) };
    format!("{}/{}/{variant}{}/seed {}", key.dataset, key.model, key.method, key.seed)
}
