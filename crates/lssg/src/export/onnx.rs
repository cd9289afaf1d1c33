//! ONNX output: the traced TorchScript module converted by `torch.onnx.export` in the
//! Python venv that `scripts/setup` installs (`$LSSG_HOME/venv`, with torch and onnx), since
//! libtorch has no ONNX exporter of its own (docs/export.md §4).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The conversion script, run with `python -c`.
const SCRIPT: &str = include_str!("to_onnx.py");

/// The venv's Python: `$LSSG_HOME/venv/bin/python` (default `~/.cache/lssg`), as in
/// `scripts/env.sh`.
pub fn venv_python() -> Result<PathBuf> {
    let home = match std::env::var_os("LSSG_HOME") {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/lssg"),
    };
    let python = home.join("venv/bin/python");
    if python.exists() {
        Ok(python)
    } else {
        Err(Error::Model(format!(
            "--format onnx needs the Python venv with torch and onnx: {} not found (run scripts/setup, or set LSSG_HOME)",
            python.display()
        )))
    }
}

/// Converts the TorchScript archive `module` to `out` with the metadata file `metadata`.
pub(super) fn convert(module: &Path, out: &Path, metadata: &Path) -> Result<()> {
    let python = venv_python()?;
    let output = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .args([module, out, metadata])
        .output()
        .map_err(|source| Error::Io { path: python.clone(), source })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(Error::Model(format!(
        "ONNX conversion with {} failed ({}):\n{}",
        python.display(),
        output.status,
        tail.join("\n")
    )))
}
