//! Atomic file writing, the one helper every crate of the workspace uses: a result, checkpoint
//! or state file is either complete or absent, never truncated (a crash, `kill -9` or a full
//! disk mid-write leaves the previous file in place).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary sibling of `path`: hidden, tagged with the process id, and ending in the
/// target's extension, since some writers (libtorch's safetensors) choose a format by it.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}{ext}", std::process::id()))
}

/// Whether this process writes files: every rank of a data-parallel run computes what rank 0
/// computes, but only rank 0 writes (docs/distributed.md §2).
static WRITES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Makes every later [`write_atomic_with`] of this process write (`true`, the default) or do
/// nothing and succeed (`false`: a data-parallel rank other than 0, which reads rank 0's files).
pub fn set_writes(enabled: bool) {
    WRITES.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// Whether this process writes files ([`set_writes`]).
pub fn writes() -> bool {
    WRITES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs `write` on a temporary sibling of `path`, fsyncs it and renames it over `path`; creates
/// the parent directories first. Does nothing in a process whose writes are off ([`set_writes`]). On failure the temporary file is removed and the error is
/// returned; `io_error` turns an I/O failure of this helper (directory, fsync, rename) into the
/// caller's error type, with the path concerned.
pub fn write_atomic_with<E>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
    io_error: impl Fn(PathBuf, std::io::Error) -> E,
) -> std::result::Result<(), E> {
    if !writes() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir.to_path_buf(), e))?;
    }
    let tmp = temp_path(path);
    let result = write(&tmp)
        .and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| io_error(tmp.clone(), e)))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| io_error(path.to_path_buf(), e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(
        path,
        |tmp| std::fs::write(tmp, bytes).map_err(|source| Error::Io { path: tmp.to_path_buf(), source }),
        |path, source| Error::Io { path, source },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1, "temp file left behind");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(
            &p,
            |tmp| {
                std::fs::write(tmp, b"partial").unwrap();
                Err("disk full")
            },
            |_, _| "io",
        );
        assert_eq!(err, Err("disk full"));
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temp file left behind");
    }

    #[test]
    fn temp_path_keeps_the_extension() {
        let t = temp_path(Path::new("/x/epoch-0001.safetensors"));
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".epoch-0001.safetensors.tmp-") && name.ends_with(".safetensors"), "{name}");
        assert_eq!(t.parent(), Some(Path::new("/x")));
    }
}
