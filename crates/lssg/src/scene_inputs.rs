//! Which rasters `lssg predict` reads (docs/predict.md §8): a scene id of the configured data
//! set's layout (a DSTL image id, a Potsdam tile id, a Hunan patch id), one multi-band raster
//! holding every modality's bands in model order (`--scene PATH`), and `--modality name=path`
//! overrides, resolved to one [`ModalityInput`] per modality and the grid they are read on.

use std::path::{Path, PathBuf};

use lssg_datasets::DataConfig;
use lssg_datasets::dstl::DstlStack;
use lssg_datasets::hunan::HunanStack;
use lssg_datasets::scene_reader::ModalitySlot;
use lssg_predict::{Footprint, ModalityInput, SceneGrid};
use lssg_scenario::ModalitySet;

use crate::error::{Error, Result};

fn invalid(message: impl Into<String>) -> Error {
    Error::Predict(lssg_predict::Error::Modality(message.into()))
}

/// The inputs of a scene: one per modality (`None`: no file) and how to grid them.
#[derive(Debug, Clone, Default)]
pub struct SceneInputs {
    /// A raster per modality, in model order.
    pub inputs: Vec<Option<ModalityInput>>,
    /// The grid reference and footprint rule.
    pub grid: SceneGrid,
}

/// Resolves `--scene` (an id of `data`'s layout, or a path to a stacked raster) and then
/// `--modality name=path` (which gives or replaces a modality's raster).
pub fn resolve(
    data: &DataConfig,
    set: &ModalitySet,
    scene: Option<&str>,
    scene_root: Option<&Path>,
    modalities: &[(String, PathBuf)],
) -> Result<SceneInputs> {
    let mut scene_inputs = match scene {
        Some(s) if looks_like_path(s) => stacked(set, Path::new(s))?,
        Some(id) => by_id(data, scene_root, id)?,
        None => SceneInputs { inputs: vec![None; set.len()], grid: SceneGrid::default() },
    };
    if scene_inputs.inputs.len() != set.len() {
        let (got, want) = (scene_inputs.inputs.len(), set.len());
        return Err(invalid(format!("--scene: {got} modality slots for {want} modalities")));
    }
    for (name, spec) in modalities {
        let (path, bands) = split_bands(spec);
        let m = set.index_of(name).ok_or_else(|| {
            let known = set.names().join(", ");
            invalid(format!("--modality {name}={}: unknown modality `{name}` (known: {known})", spec.display()))
        })?;
        scene_inputs.inputs[m] = Some(ModalityInput { path, bands, then: Vec::new() });
    }
    Ok(scene_inputs)
}

/// A `--scene` value is a path when it names an existing file or looks like one (a separator
/// or a raster extension), so that a missing file is reported as such, not as a bad id.
fn looks_like_path(s: &str) -> bool {
    let p = Path::new(s);
    p.is_file()
        || s.contains(std::path::MAIN_SEPARATOR)
        || p.extension().is_some_and(|e| {
            ["tif", "tiff", "vrt", "jp2", "img", "png"].contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
        })
}

/// `--scene PATH`: one raster holding every modality's bands, in model order (modality `m`
/// takes the `channels[m]` bands after those of the modalities before it).
fn stacked(set: &ModalitySet, path: &Path) -> Result<SceneInputs> {
    let channels = set.channels();
    let total: usize = channels.iter().sum();
    let bands = lssg_datasets::raster::grid::band_count(path).map_err(lssg_predict::Error::from)?;
    if bands != total {
        let parts: Vec<String> = set.names().iter().zip(&channels).map(|(n, c)| format!("{n} ({c})")).collect();
        return Err(invalid(format!(
            "--scene {}: the raster has {bands} band(s); a stacked scene holds the model's modalities' \
             bands in order, {} = {total}",
            path.display(),
            parts.join(" + ")
        )));
    }
    let mut first = 1;
    let inputs = channels
        .iter()
        .map(|&c| {
            let input = ModalityInput::bands(path, (first..first + c).collect());
            first += c;
            Some(input)
        })
        .collect();
    Ok(SceneInputs { inputs, grid: SceneGrid::default() })
}

/// `path.tif:1,2,3` → the path and 1-based bands; a suffix that is not a band list is part of
/// the path.
pub fn split_bands(spec: &Path) -> (PathBuf, Option<Vec<usize>>) {
    let text = spec.to_string_lossy();
    if let Some((path, list)) = text.rsplit_once(':') {
        let bands: Option<Vec<usize>> = list.split(',').map(|b| b.trim().parse::<usize>().ok()).collect();
        if let Some(bands) = bands.filter(|b| !b.is_empty()) {
            return (PathBuf::from(path), Some(bands));
        }
    }
    (spec.to_path_buf(), None)
}

/// The rasters of scene `id` in the configured data set's layout; a modality whose file is
/// missing gets none (an error later only if it is available). `root` replaces the configured
/// data root.
fn by_id(data: &DataConfig, root: Option<&Path>, id: &str) -> Result<SceneInputs> {
    let checked = |inputs| SceneInputs { inputs, grid: SceneGrid::default() };
    match data {
        DataConfig::Dstl(c) => {
            let root = root.unwrap_or(&c.reader.root);
            let reference = DstlStack::ThreeBand.path(root, id);
            if !reference.exists() {
                return Err(invalid(format!(
                    "--scene {id:?}: no DSTL image with this id under {} (expected {})",
                    root.display(),
                    reference.display()
                )));
            }
            // The 16-band stacks are coarser and carry no georeferencing; training resamples
            // them onto the 3-band grid, and so does prediction (docs/predict.md §5).
            let inputs = slot_inputs(&c.reader.modalities, |stack| stack.path(root, id))?;
            Ok(SceneInputs { inputs, grid: SceneGrid { footprint: Footprint::Assumed, reference: Some(reference) } })
        }
        DataConfig::Potsdam(c) => {
            let (a, b) = id
                .split_once('_')
                .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
                .ok_or_else(|| invalid(format!("--scene {id:?}: a Potsdam tile id is `a_b`, e.g. 2_10")))?;
            let root = root.unwrap_or(&c.reader.root);
            Ok(checked(slot_inputs(&c.reader.modalities, |stack| stack.path(root, a, b))?))
        }
        DataConfig::Hunan(c) => {
            let root = root.unwrap_or(&c.reader.root);
            // The patch lives in one of the split directories.
            let split = ["train", "val", "test"]
                .into_iter()
                .find(|split| HunanStack::ALL.iter().any(|s| s.path(root, split, id).exists()))
                .ok_or_else(|| {
                    invalid(format!("--scene {id:?}: no Hunan patch with this id under {}", root.display()))
                })?;
            Ok(checked(slot_inputs(&c.reader.modalities, |stack| stack.path(root, split, id))?))
        }
        DataConfig::Synthetic(_) => Err(invalid(format!(
            "--scene {id}: the synthetic data set has no scene ids; give a raster (--scene PATH or \
             --modality name=path)"
        ))),
    }
}

/// One input per slot: the slot's bands (1-based), one file per run of bands from the same
/// stack (`path_of(stack)`); `None` when a file is missing.
fn slot_inputs<K: Copy + PartialEq>(
    slots: &[ModalitySlot<K>],
    path_of: impl Fn(K) -> PathBuf,
) -> Result<Vec<Option<ModalityInput>>> {
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        if slot.bands.is_empty() {
            return Err(invalid(format!("modality `{}` has no bands", slot.name)));
        }
        let mut parts: Vec<ModalityInput> = Vec::new();
        let mut last: Option<K> = None;
        for sb in &slot.bands {
            match parts.last_mut() {
                Some(part) if last == Some(sb.stack) => part.bands.get_or_insert_with(Vec::new).push(sb.band + 1),
                _ => parts.push(ModalityInput::bands(path_of(sb.stack), vec![sb.band + 1])),
            }
            last = Some(sb.stack);
        }
        if parts.iter().any(|p| !p.path.exists()) {
            out.push(None);
            continue;
        }
        let mut first = parts.remove(0);
        first.then = parts;
        out.push(Some(first));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_suffixes_and_paths() {
        assert_eq!(split_bands(Path::new("a.tif:1,2,3")), (PathBuf::from("a.tif"), Some(vec![1, 2, 3])));
        assert_eq!(split_bands(Path::new("/vsizip/x.zip/a.tif")), (PathBuf::from("/vsizip/x.zip/a.tif"), None));
        assert!(looks_like_path("scene.tif") && looks_like_path("dir/x") && looks_like_path("S2.JP2"));
        assert!(!looks_like_path("6120_2_2") && !looks_like_path("2_10"));
    }

    #[test]
    fn mixed_stacks_become_one_input_with_parts() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["m", "a"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let slots = vec![ModalitySlot::new("nir", [("m", 6), ("m", 7), ("a", 0)])];
        let inputs = slot_inputs(&slots, |s| dir.path().join(s)).unwrap();
        let nir = inputs[0].clone().unwrap();
        assert_eq!((nir.path.clone(), nir.bands.clone()), (dir.path().join("m"), Some(vec![7, 8])));
        assert_eq!(nir.then, vec![ModalityInput::bands(dir.path().join("a"), vec![1])]);
        let missing = slot_inputs(&slots, |s| dir.path().join(format!("{s}-gone"))).unwrap();
        assert_eq!(missing, vec![None]);
    }
}
