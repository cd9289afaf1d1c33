//! Device selection: `auto | cpu | cuda | cuda:N` → [`tch::Device`], with an error naming what
//! libtorch reports when CUDA is requested but unusable (mixed precision: [`crate::precision`]), and
//! the start-up load of `libtorch_cuda.so` for binaries not linked with it (docs/gpu.md §2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::{Cuda, Device};

use crate::error::{Error, Result};

/// A device as written in configs and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// CUDA device 0 when available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N (`cuda` = `cuda:0`).
    Cuda(usize),
}

impl DeviceSpec {
    /// Resolves to a [`Device`], failing with [`Error::CudaUnavailable`] when CUDA is requested
    /// but libtorch has no usable CUDA device with that index.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceSpec::Auto => Ok(Device::cuda_if_available()),
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => {
                let (available, count) = (Cuda::is_available(), Cuda::device_count());
                if !available || n as i64 >= count {
                    return Err(Error::CudaUnavailable { requested: self.to_string(), available, count });
                }
                Ok(Device::Cuda(n))
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad =
            || Error::UnknownName { what: "device", value: s.to_string(), expected: "auto, cpu, cuda, cuda:N".into() };
        match s {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(DeviceSpec::Cuda).ok_or_else(bad),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

/// How `libtorch_cuda.so` came into the process: see [`load_libtorch_cuda`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "detail")]
pub enum CudaLibrary {
    /// Already loaded at start-up (linked with `--no-as-needed`, build/link_libtorch.rs).
    Linked,
    /// Loaded by [`load_libtorch_cuda`] (the GPU flavour, which links without it).
    Loaded,
    /// Not loadable: the loader's message (a CPU-only libtorch, or its CUDA libraries missing).
    Absent(String),
}

/// Loads `libtorch_cuda.so` (RTLD_GLOBAL, found through LD_LIBRARY_PATH and the rpath) unless it
/// is loaded already, so that libtorch registers its CUDA hooks. Call it first thing in `main`,
/// before any libtorch call: libtorch caches the CUDA hooks it finds on first use. Idempotent;
/// returns what happened the first time. The GPU flavour (scripts/gpu-build) relies on it: it
/// is linked without libtorch_cuda.so so that it also starts where the CUDA libraries are absent.
pub fn load_libtorch_cuda() -> &'static CudaLibrary {
    static STATE: std::sync::OnceLock<CudaLibrary> = std::sync::OnceLock::new();
    STATE.get_or_init(|| {
        let name = c"libtorch_cuda.so";
        // SAFETY: dlopen/dlerror with a NUL-terminated name; the handle is deliberately kept
        // open for the life of the process (never dlclose'd).
        unsafe {
            if !libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD).is_null() {
                return CudaLibrary::Linked;
            }
            if !libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL).is_null() {
                return CudaLibrary::Loaded;
            }
            let err = libc::dlerror();
            let msg = if err.is_null() {
                "dlopen failed".to_string()
            } else {
                std::ffi::CStr::from_ptr(err).to_string_lossy().into_owned()
            };
            CudaLibrary::Absent(msg)
        }
    })
}

/// Waits for queued CUDA work on `device` (no-op on the CPU), so that wall-clock timings are real.
pub fn synchronize(device: Device) {
    if let Device::Cuda(n) = device {
        Cuda::synchronize(n as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for (s, d) in [
            ("auto", DeviceSpec::Auto),
            ("cpu", DeviceSpec::Cpu),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
        ] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap(), d);
        }
        assert_eq!(DeviceSpec::Cuda(0).to_string(), "cuda:0");
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", ""] {
            let e = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(e.contains("cuda:N"), "{e}");
        }
        assert_eq!(serde_json::from_str::<DeviceSpec>("\"cuda:1\"").unwrap(), DeviceSpec::Cuda(1));
    }

    #[test]
    fn libtorch_cuda_is_linked_or_reported() {
        let state = load_libtorch_cuda();
        assert_eq!(load_libtorch_cuda(), state);
        // build.rs links libtorch_cuda.so (and sets this cfg) when the libtorch it builds
        // against has one; otherwise the start-up load either finds it or says why not.
        if cfg!(libtorch_cuda) {
            assert_eq!(state, &CudaLibrary::Linked);
        } else if let CudaLibrary::Absent(msg) = state {
            assert!(msg.contains("libtorch_cuda"), "{msg}");
        }
    }

    #[test]
    fn resolve_reports_cuda_state() {
        assert_eq!(DeviceSpec::Cpu.resolve().unwrap(), Device::Cpu);
        let far = DeviceSpec::Cuda(1000).resolve().unwrap_err().to_string();
        assert!(far.contains("cuda:1000") && far.contains("device count"), "{far}");
        let auto = DeviceSpec::Auto.resolve().unwrap();
        assert_eq!(auto.is_cuda(), Cuda::is_available());
    }
}
