//! Device selection: `auto | cpu | cuda | cuda:N` → [`tch::Device`], with an error naming what
//! libtorch reports when CUDA is requested but unusable, and optional mixed precision on CUDA.

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

/// Runs `f` under libtorch's CUDA autocast when `enabled` and `device` is CUDA; otherwise runs it
/// plainly. tch 0.26 exposes no autocast dtype setter, so this is libtorch's default CUDA autocast
/// type (float16); models are built and stored in f32 either way.
pub fn autocast<T>(device: Device, enabled: bool, f: impl FnOnce() -> T) -> T {
    if enabled && device.is_cuda() { tch::autocast(true, f) } else { f() }
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
    fn resolve_reports_cuda_state() {
        assert_eq!(DeviceSpec::Cpu.resolve().unwrap(), Device::Cpu);
        let far = DeviceSpec::Cuda(1000).resolve().unwrap_err().to_string();
        assert!(far.contains("cuda:1000") && far.contains("device count"), "{far}");
        let auto = DeviceSpec::Auto.resolve().unwrap();
        assert_eq!(auto.is_cuda(), Cuda::is_available());
    }
}
