//! `lssg data prepare`: the official downloads of a data set (its zip archives) unpacked into
//! the layout its reader expects (docs/data.md §3), with the counts checked.
//!
//! Every `*.zip` under the download folder is read; each entry is placed by its file name (the
//! archives' inner folders differ between releases and mirrors), so `5_Labels_all.zip`, whose
//! labels sit at the archive's top level, lands in `5_Labels_all/` like the others. World
//! files (`.tfw`, `.jgw`) go next to their image. Entries the layout does not use are skipped
//! and counted. Files are written through a temporary sibling and renamed, so an interrupted
//! run leaves no partial file under its final name; the zip reader checks each entry's CRC.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// The data sets `prepare` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrepareDataset {
    /// ISPRS Potsdam: `1_DSM.zip`, `1_DSM_normalisation.zip`, `4_Ortho_RGBIR.zip`, `5_Labels_all.zip`
    /// (and `5_Labels_all_noBoundary.zip`).
    Potsdam,
    /// DSTL (Kaggle): `three_band.zip`, `sixteen_band.zip`, `train_wkt_v4.csv.zip`, `grid_sizes.csv.zip`.
    Dstl,
    /// Hunan: archives holding `{train,val,test}/{s2,s1,topo,lc}/…tif`.
    Hunan,
}

impl std::str::FromStr for PrepareDataset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "potsdam" => Ok(Self::Potsdam),
            "dstl" => Ok(Self::Dstl),
            "hunan" => Ok(Self::Hunan),
            _ => Err(format!("unknown data set `{s}`: expected potsdam, dstl or hunan")),
        }
    }
}

/// What `prepare` did and found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PrepareReport {
    /// Archives read.
    pub archives: Vec<PathBuf>,
    /// Files written per layout folder (`.` for the root).
    pub written: BTreeMap<String, usize>,
    /// Bytes written.
    pub bytes: u64,
    /// Archive entries the layout does not use.
    pub skipped: usize,
    /// What is missing or inconsistent, one line each; empty when the layout is complete.
    pub missing: Vec<String>,
}

/// The layout folder (relative to the root) of an entry named `name` (its path in the
/// archive is `path`), or `None` when the layout does not use it.
fn place(dataset: PrepareDataset, path: &str, name: &str) -> Option<PathBuf> {
    let image = match name.rsplit_once('.') {
        Some((stem, "tfw")) => format!("{stem}.tif"),
        Some((stem, "jgw")) => format!("{stem}.jpg"),
        _ => name.to_string(),
    };
    match dataset {
        PrepareDataset::Potsdam => {
            let dir = if image.starts_with("top_potsdam_") && image.ends_with("_RGBIR.tif") {
                "4_Ortho_RGBIR"
            } else if image.starts_with("top_potsdam_") && image.ends_with("_label_noBoundary.tif") {
                "5_Labels_all_noBoundary"
            } else if image.starts_with("top_potsdam_") && image.ends_with("_label.tif") {
                "5_Labels_all"
            } else if image.starts_with("dsm_potsdam_") && image.ends_with("_normalized_lastools.jpg") {
                "1_DSM_normalisation"
            } else if image.starts_with("dsm_potsdam_") && image.ends_with(".tif") {
                "1_DSM"
            } else {
                return None;
            };
            Some(PathBuf::from(dir))
        }
        PrepareDataset::Dstl => {
            if name == "train_wkt_v4.csv" || name == "grid_sizes.csv" {
                return Some(PathBuf::new());
            }
            let stem = image.strip_suffix(".tif")?;
            let is_id = |s: &str| s.split('_').count() == 3 && s.split('_').all(|p| p.parse::<u32>().is_ok());
            match stem.rsplit_once('_') {
                Some((id, "M" | "A" | "P")) if is_id(id) => Some(PathBuf::from("sixteen_band")),
                _ if is_id(stem) => Some(PathBuf::from("three_band")),
                _ => None,
            }
        }
        PrepareDataset::Hunan => {
            // …/{split}/{kind}/{kind}_{id}.tif: keep split/kind.
            let parts: Vec<&str> = path.split('/').collect();
            let n = parts.len();
            if n < 3 || !image.ends_with(".tif") {
                return None;
            }
            let (split, kind) = (parts[n - 3], parts[n - 2]);
            let ok = ["train", "val", "test"].contains(&split)
                && ["s2", "s1", "topo", "lc"].contains(&kind)
                && image.starts_with(&format!("{kind}_"));
            ok.then(|| PathBuf::from(split).join(kind))
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn zip_err(path: &Path, e: zip::result::ZipError) -> Error {
    Error::Raster { path: path.to_path_buf(), reason: format!("not a readable zip archive: {e}") }
}

/// Unpacks the archives of `dataset` under `from` into `out` and checks the result.
pub fn prepare(dataset: PrepareDataset, from: &Path, out: &Path) -> Result<PrepareReport> {
    let mut archives: Vec<PathBuf> = std::fs::read_dir(from)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => {
                Error::Missing { path: from.to_path_buf(), hint: "the folder of the downloaded archives".into() }
            }
            _ => Error::Io { path: from.to_path_buf(), source },
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    archives.sort();
    if archives.is_empty() {
        let hint = match dataset {
            PrepareDataset::Potsdam => "the ISPRS Potsdam archives (4_Ortho_RGBIR.zip, 1_DSM.zip, …)",
            PrepareDataset::Dstl => "the DSTL Kaggle archives (three_band.zip, sixteen_band.zip, …)",
            PrepareDataset::Hunan => "the Hunan release's zip archives",
        };
        return Err(Error::Missing { path: from.join("*.zip"), hint: hint.into() });
    }
    let mut report = PrepareReport { archives: archives.clone(), ..Default::default() };
    for archive in &archives {
        let file = std::fs::File::open(archive).map_err(io(archive))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| zip_err(archive, e))?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| zip_err(archive, e))?;
            let path = entry.name().replace('\\', "/");
            let name = path.rsplit('/').next().unwrap_or_default().to_string();
            let Some(dir) = entry.is_file().then(|| place(dataset, &path, &name)).flatten() else {
                report.skipped += usize::from(entry.is_file());
                continue;
            };
            let target_dir = out.join(&dir);
            std::fs::create_dir_all(&target_dir).map_err(io(&target_dir))?;
            let target = target_dir.join(&name);
            let tmp = target_dir.join(format!(".{name}.part"));
            let mut w = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            let bytes =
                std::io::copy(&mut entry, &mut w).map_err(|source| Error::Io { path: archive.join(&path), source })?;
            std::fs::rename(&tmp, &target).map_err(io(&target))?;
            report.bytes += bytes;
            let key = if dir.as_os_str().is_empty() { ".".to_string() } else { dir.display().to_string() };
            *report.written.entry(key).or_default() += 1;
        }
    }
    report.missing = check(dataset, out);
    Ok(report)
}

/// Image files (not world files) in `dir` under `root`.
fn images(root: &Path, dir: &str) -> usize {
    std::fs::read_dir(root.join(dir)).map_or(0, |d| {
        d.filter_map(|e| e.ok())
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                !n.starts_with('.') && (n.ends_with(".tif") || n.ends_with(".jpg"))
            })
            .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
            .count()
    })
}

/// What the unpacked layout lacks: folders without files (naming the archive that fills
/// them) and counts that disagree.
fn check(dataset: PrepareDataset, out: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let mut need = |dir: &str, archive: &str, expected: Option<usize>| {
        let n = images(out, dir);
        match expected {
            _ if n == 0 => missing.push(format!("{dir}/: no files (from {archive})")),
            Some(e) if n != e => missing.push(format!("{dir}/: {n} files, the release has {e} (from {archive})")),
            _ => {}
        }
        n
    };
    match dataset {
        PrepareDataset::Potsdam => {
            need("4_Ortho_RGBIR", "4_Ortho_RGBIR.zip", Some(38));
            need("1_DSM", "1_DSM.zip", Some(38));
            need("1_DSM_normalisation", "1_DSM_normalisation.zip", Some(38));
            need("5_Labels_all", "5_Labels_all.zip", Some(38));
        }
        PrepareDataset::Dstl => {
            let three = need("three_band", "three_band.zip", None);
            need("sixteen_band", "sixteen_band.zip", Some(3 * three));
            for (f, a) in [("train_wkt_v4.csv", "train_wkt_v4.csv.zip"), ("grid_sizes.csv", "grid_sizes.csv.zip")] {
                if !out.join(f).is_file() {
                    missing.push(format!("{f}: missing (from {a})"));
                }
            }
        }
        PrepareDataset::Hunan => {
            for split in ["train", "val", "test"] {
                let lc = images(out, &format!("{split}/lc"));
                if lc == 0 && split != "val" {
                    missing.push(format!("{split}/lc/: no label patches"));
                }
                for kind in ["s2", "s1", "topo"] {
                    let n = images(out, &format!("{split}/{kind}"));
                    if n != lc {
                        missing.push(format!("{split}/{kind}/: {n} files for {lc} label patches"));
                    }
                }
            }
        }
    }
    missing
}
