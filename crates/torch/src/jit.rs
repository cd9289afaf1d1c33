//! TorchScript archives with extra files: tch's `CModule::save` writes none, so
//! [`save_with_extra_file`] re-saves an archive through `torch::jit::Module::save` with an
//! extra-files map (`crates/torch/src/jit_shim.cpp`). `lssg export` stores its metadata this way.

use std::ffi::{CStr, CString, c_char};
use std::path::Path;

use crate::error::{Error, Result};

mod ffi {
    use std::ffi::c_char;

    unsafe extern "C" {
        pub fn lssg_jit_save_with_extra_file(
            src: *const c_char,
            dst: *const c_char,
            name: *const c_char,
            data: *const c_char,
            len: usize,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
    }
}

fn c_string(what: &str, text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::Jit { what: what.into(), reason: format!("{text:?} contains a NUL byte") })
}

fn c_path(path: &Path) -> Result<CString> {
    let text = path
        .to_str()
        .ok_or_else(|| Error::Jit { what: path.display().to_string(), reason: "the path is not valid UTF-8".into() })?;
    c_string(text, text)
}

/// Reads the TorchScript archive `src` and writes it to `dst` (a different path) with the extra
/// file `name` holding `contents`, which `torch.jit.load(dst, _extra_files={name: ""})` returns.
pub fn save_with_extra_file(src: &Path, dst: &Path, name: &str, contents: &[u8]) -> Result<()> {
    let (csrc, cdst, cname) = (c_path(src)?, c_path(dst)?, c_string(name, name)?);
    let mut err = [0 as c_char; 1024];
    // SAFETY: every pointer is valid for the call; `contents` is read for `len` bytes; the shim
    // writes at most `err.len()` bytes, NUL-terminated, into `err` and catches every exception.
    let rc = unsafe {
        ffi::lssg_jit_save_with_extra_file(
            csrc.as_ptr(),
            cdst.as_ptr(),
            cname.as_ptr(),
            contents.as_ptr().cast(),
            contents.len(),
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: the shim wrote a NUL-terminated string into `err` (and the buffer starts zeroed).
    let reason = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
    Err(Error::Jit { what: format!("{} → {}", src.display(), dst.display()), reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{CModule, Kind, Tensor};

    #[test]
    fn extra_file_round_trips_and_the_module_still_runs() {
        let dir = std::env::temp_dir().join(format!("lssg-jit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (plain, extra) = (dir.join("plain.pt"), dir.join("extra.pt"));
        let x = Tensor::from_slice(&[1.0f32, -2.0, 3.0]);
        let module =
            CModule::create_by_tracing("m", "forward", &[x.shallow_clone()], &mut |xs| vec![&xs[0] * 2.0]).unwrap();
        module.save(&plain).unwrap();
        save_with_extra_file(&plain, &extra, "meta.json", br#"{"a": 1}"#).unwrap();
        let bytes = std::fs::read(&extra).unwrap();
        let needle = br#"{"a": 1}"#;
        assert!(bytes.windows(needle.len()).any(|w| w == needle), "the extra file is in the archive");
        let loaded = CModule::load(&extra).unwrap();
        let y = loaded.forward_ts(&[x]).unwrap();
        assert_eq!(Vec::<f32>::try_from(y.to_kind(Kind::Float)).unwrap(), [2.0, -4.0, 6.0]);
        let err = save_with_extra_file(&dir.join("absent.pt"), &extra, "m", b"").unwrap_err();
        assert!(err.to_string().contains("absent.pt"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
