//! Model checkpoints: a [`nn::VarStore`] as a safetensors file, written atomically (temp file in
//! the same directory + rename) and loaded strictly, with a [`Error::CheckpointMismatch`] listing
//! every missing, unexpected and misshaped tensor rather than the first one, and a file whose
//! tensors hold NaN or infinite values refused ([`Error::NonFiniteCheckpoint`], naming them).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use tch::{Tensor, nn};

use crate::error::{Error, Result};

/// Saves every variable of `vs` (parameters and buffers such as batch-norm statistics) to
/// `path` in safetensors format. The file appears atomically: a reader sees the old file or the
/// complete new one, never a partial write.
pub fn save(vs: &nn::VarStore, path: &Path) -> Result<()> {
    // Save on CPU copies in plain order, so that a CUDA store and a CPU store, channels-last
    // or not (docs/speed.md §8), write identical files.
    let vars = vs.variables();
    let mut named: Vec<(String, Tensor)> =
        vars.into_iter().map(|(n, t)| (n, t.detach().to_device(tch::Device::Cpu).contiguous())).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    // The temporary name keeps `.safetensors`: VarStore::save picks the format by extension.
    lssg_scenario::io::write_atomic_with(
        path,
        |tmp| Tensor::write_safetensors(&refs, tmp).map_err(|source| Error::Torch { path: tmp.to_path_buf(), source }),
        |path, source| Error::Io { path, source },
    )
}

/// Reads the tensors of a safetensors file, by name.
pub fn read(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(Error::Io { path: path.to_path_buf(), source: std::io::Error::from(std::io::ErrorKind::NotFound) });
    }
    let named = Tensor::read_safetensors(path).map_err(|source| Error::Torch { path: path.to_path_buf(), source })?;
    Ok(named.into_iter().collect())
}

/// Loads `path` into `vs`: every variable must be present with its shape, and the file may hold
/// nothing else. On mismatch nothing is modified and the error lists every difference.
pub fn load(vs: &nn::VarStore, path: &Path) -> Result<()> {
    load_allowing_missing(vs, path, |_| false).map(|_| ())
}

/// Loads a plain network's checkpoint into a store that may also hold LoRA adapters (docs/method.md §5.5:
/// the LoRA baseline starts from the pretrained weights). Adapter variables absent from the file
/// keep their initial values; any other difference is an error. Returns the adapters not loaded.
pub fn load_base(vs: &nn::VarStore, path: &Path) -> Result<Vec<String>> {
    load_allowing_missing(vs, path, crate::lora::is_lora_name)
}

/// Loads `path` into `vs`, tolerating missing variables for which `may_be_missing(name)` holds
/// (returned, sorted). Unexpected and misshaped tensors are always errors.
pub fn load_allowing_missing(
    vs: &nn::VarStore,
    path: &Path,
    may_be_missing: impl Fn(&str) -> bool,
) -> Result<Vec<String>> {
    let file = read(path)?;
    let vars = vs.variables();
    let mut missing = BTreeSet::new();
    let mut tolerated = BTreeSet::new();
    let mut misshaped = Vec::new();
    for (name, var) in &vars {
        match file.get(name) {
            None if may_be_missing(name) => {
                tolerated.insert(name.clone());
            }
            None => {
                missing.insert(name.clone());
            }
            Some(t) if t.size() != var.size() => misshaped.push((name.clone(), var.size(), t.size())),
            Some(_) => {}
        }
    }
    let unexpected: BTreeSet<String> = file.keys().filter(|k| !vars.contains_key(*k)).cloned().collect();
    let mut non_finite: Vec<String> =
        file.iter().filter(|(_, t)| !all_finite(t)).map(|(name, _)| name.clone()).collect();
    if !non_finite.is_empty() {
        non_finite.sort();
        return Err(Error::NonFiniteCheckpoint { file: path.to_path_buf(), tensors: non_finite });
    }
    if !missing.is_empty() || !unexpected.is_empty() || !misshaped.is_empty() {
        misshaped.sort();
        return Err(Error::CheckpointMismatch {
            file: path.to_path_buf(),
            missing: missing.into_iter().collect(),
            unexpected: unexpected.into_iter().collect(),
            misshaped,
        });
    }
    tch::no_grad(|| {
        for (name, var) in &vars {
            if let Some(src) = file.get(name) {
                let mut dst = var.shallow_clone();
                dst.copy_(src);
            }
        }
    });
    Ok(tolerated.into_iter().collect())
}

/// Whether every value of `t` is finite (integer and boolean tensors always are).
fn all_finite(t: &Tensor) -> bool {
    !t.is_floating_point() || t.numel() == 0 || t.isfinite().all().int64_value(&[]) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn round_trip_and_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/m.safetensors");
        let a = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(a.root() / "fc", 3, 2, Default::default());
        let _ = a.root().zeros_no_train("running", &[4]);
        save(&a, &path).unwrap();
        assert!(path.exists());
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temp file left");

        let b = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(b.root() / "fc", 3, 2, Default::default());
        let _ = b.root().ones_no_train("running", &[4]);
        load(&b, &path).unwrap();
        for (n, t) in a.variables() {
            assert!(t.equal(&b.variables()[&n]), "{n}");
        }

        let c = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(c.root() / "fc", 4, 2, Default::default());
        let _ = c.root().zeros("extra", &[1]);
        let _ = c.root().zeros("other", &[1]);
        let before = c.variables()["fc.weight"].copy();
        match load(&c, &path).unwrap_err() {
            Error::CheckpointMismatch { missing, unexpected, misshaped, .. } => {
                assert_eq!(missing, ["extra", "other"]);
                assert_eq!(unexpected, ["running"]);
                assert_eq!(misshaped, [("fc.weight".to_string(), vec![2, 4], vec![2, 3])]);
            }
            e => panic!("unexpected {e}"),
        }
        assert!(c.variables()["fc.weight"].equal(&before), "a failed load modifies nothing");
        assert!(matches!(load(&c, &dir.path().join("nope.safetensors")), Err(Error::Io { .. })));
        let _ = Kind::Float;
    }

    #[test]
    fn non_finite_weights_are_refused_naming_the_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let a = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(a.root() / "fc", 3, 2, Default::default());
        let _ = a.root().zeros_no_train("running", &[4]);
        for (i, value) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY].into_iter().enumerate() {
            let path = dir.path().join(format!("m{i}.safetensors"));
            tch::no_grad(|| {
                let _ = a.variables()["fc.bias"].shallow_clone().fill_(value);
            });
            save(&a, &path).unwrap();
            let b = nn::VarStore::new(Device::Cpu);
            let _ = nn::linear(b.root() / "fc", 3, 2, Default::default());
            let _ = b.root().zeros_no_train("running", &[4]);
            let before = b.variables()["fc.weight"].copy();
            match load(&b, &path).unwrap_err() {
                Error::NonFiniteCheckpoint { file, tensors } => {
                    assert_eq!((file, tensors), (path.clone(), vec!["fc.bias".to_string()]));
                }
                e => panic!("unexpected {e}"),
            }
            assert!(b.variables()["fc.weight"].equal(&before), "a refused load modifies nothing");
            assert!(load_base(&b, &path).is_err());
        }
    }

    #[test]
    fn load_base_tolerates_only_adapters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base.safetensors");
        let a = nn::VarStore::new(Device::Cpu);
        let _ = crate::lora::linear(a.root() / "fc", 3, 2, true, None);
        save(&a, &path).unwrap();
        let b = nn::VarStore::new(Device::Cpu);
        let _ = crate::lora::linear(b.root() / "fc", 3, 2, true, Some(&Default::default()));
        assert_eq!(load_base(&b, &path).unwrap(), ["fc.lora_a", "fc.lora_b"]);
        assert!(load(&b, &path).is_err());
        assert!(a.variables()["fc.weight"].equal(&b.variables()["fc.weight"]));
    }
}
