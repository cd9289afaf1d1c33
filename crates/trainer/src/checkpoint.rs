//! Atomic writers and readers for the files of a run directory: tensor files (optimiser
//! state), JSON (`state.json`), JSON lines (`metrics.jsonl`) and file copies (`last` / `best`).
//!
//! Every writer goes through a temporary file in the target's directory followed by a rename,
//! so a reader (or a resumed run) sees the old file or the complete new one, never a partial one.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tch::Tensor;

use crate::error::{Error, Result};

/// Runs `write` on a temporary path, fsyncs and renames it over `path` (the workspace's one
/// atomic-write helper, [`lssg_scenario::io::write_atomic_with`]).
fn atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    lssg_scenario::io::write_atomic_with(path, write, |path, source| Error::Io { path, source })
}

/// Writes named tensors (moved to the CPU, made contiguous) as a safetensors file, atomically.
pub(crate) fn write_tensors(path: &Path, named: &[(String, Tensor)]) -> Result<()> {
    let cpu: Vec<(&str, Tensor)> =
        named.iter().map(|(n, t)| (n.as_str(), t.detach().to_device(tch::Device::Cpu).contiguous())).collect();
    atomically(path, |tmp| {
        Tensor::write_safetensors(&cpu, tmp)
            .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), reason: e.to_string() })
    })
}

/// Serialises `value` as pretty JSON, atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
    bytes.push(b'\n');
    write_bytes(path, &bytes)
}

/// Writes bytes, atomically.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    atomically(path, |tmp| std::fs::write(tmp, bytes).map_err(|source| Error::Io { path: tmp.to_path_buf(), source }))
}

/// Reads a JSON file.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json { path: path.to_path_buf(), source })
}

/// Writes one JSON value per line, atomically (the whole file is rewritten).
pub(crate) fn write_json_lines<T: Serialize>(path: &Path, values: &[T]) -> Result<()> {
    let mut bytes = Vec::new();
    for v in values {
        serde_json::to_writer(&mut bytes, v).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
        bytes.push(b'\n');
    }
    write_bytes(path, &bytes)
}

/// Reads a JSON-lines file (blank lines skipped); an absent file is empty.
pub(crate) fn read_json_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { path: path.to_path_buf(), source }),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|source| Error::Json { path: path.to_path_buf(), source }))
        .collect()
}

/// Copies `from` to `to`, atomically.
pub(crate) fn copy_file(from: &Path, to: &Path) -> Result<()> {
    atomically(to, |tmp| {
        std::fs::copy(from, tmp).map(|_| ()).map_err(|source| Error::Io { path: from.to_path_buf(), source })
    })
}

/// Removes a file if it exists.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { path: path.to_path_buf(), source: e }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("a/t.safetensors");
        write_tensors(&t, &[("x".into(), Tensor::from_slice(&[1.0f32, 2.0]))]).unwrap();
        let back = Tensor::read_safetensors(&t).unwrap();
        assert_eq!(back[0].0, "x");
        let j = dir.path().join("a/s.json");
        write_json(&j, &vec![1, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&j).unwrap(), [1, 2, 3]);
        let l = dir.path().join("a/m.jsonl");
        assert!(read_json_lines::<i32>(&l).unwrap().is_empty());
        write_json_lines(&l, &[4, 5]).unwrap();
        assert_eq!(read_json_lines::<i32>(&l).unwrap(), [4, 5]);
        copy_file(&j, &dir.path().join("a/copy.json")).unwrap();
        remove_if_exists(&dir.path().join("a/none")).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "temp file left: {names:?}");
        assert_eq!(names.len(), 4);
        assert!(matches!(read_json::<Vec<i32>>(&dir.path().join("a/t.safetensors")), Err(Error::Json { .. })));
    }
}
