//! Mixed precision (docs/precision.md): [`Precision`] (`fp32 | fp16 | bf16 | auto`, as written
//! in configs and on the command line) and libtorch autocast regions entered through it.
//! `auto` is bf16 where the device has fast bf16 arithmetic ([`fast_bf16`]) and fp32 elsewhere.
//!
//! libtorch's autocast is a per-thread switch per device type (CPU, CUDA) plus a dtype: while
//! it is on, ops on its "lower precision" list (matmul, linear, convolutions, …) cast their f32
//! inputs to the dtype and ops on its "f32" list run in f32. Models stay f32 (weights,
//! optimiser state, checkpoints); only the arithmetic inside a region changes. tch 0.26 binds
//! only the CUDA switch, so the per-device API comes from a small C++ shim
//! (`autocast_shim.cpp`, docs/precision.md §2).
//!
//! CPU: bf16 only. libtorch can autocast the CPU to f16 too, but lssg rejects it (docs/precision.md
//! §4): f16 on the CPU is emulated on most hardware and would need the gradient scaler as well.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::error::{Error, Result};
use crate::named::named_enum;

/// The arithmetic of forwards (docs/precision.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Precision {
    /// Plain f32 everywhere (no autocast).
    #[default]
    Fp32,
    /// Autocast to float16 (CUDA only) with a gradient scaler when training.
    Fp16,
    /// Autocast to bfloat16 (CUDA or CPU), no scaler.
    Bf16,
    /// bf16 where the device computes it fast ([`fast_bf16`]), fp32 elsewhere; resolved per
    /// device by [`Precision::resolve`] (docs/precision.md §1).
    Auto,
}

impl Precision {
    /// Every value, in the order of the docs.
    pub const ALL: [Precision; 4] = [Precision::Fp32, Precision::Fp16, Precision::Bf16, Precision::Auto];

    /// The precision `device` runs for this one: [`Precision::Auto`] becomes bf16 where
    /// [`fast_bf16`] holds and fp32 elsewhere; the other values stay as they are.
    pub fn resolve(self, device: Device) -> Precision {
        match self {
            Precision::Auto if fast_bf16(device) => Precision::Bf16,
            Precision::Auto => Precision::Fp32,
            p => p,
        }
    }

    /// The autocast dtype, `None` for fp32 (and for `auto`, which [`Precision::resolve`] turns
    /// into a precision with a dtype or none).
    pub fn autocast_kind(self) -> Option<Kind> {
        match self {
            Precision::Fp32 | Precision::Auto => None,
            Precision::Fp16 => Some(Kind::Half),
            Precision::Bf16 => Some(Kind::BFloat16),
        }
    }

    /// Whether this is plain f32 (serde's `skip_serializing_if`: fp32 configs keep their old bytes).
    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }

    /// Whether training at this precision needs a gradient scaler (fp16's narrow exponent range
    /// underflows small gradients; bf16 has f32's range).
    pub fn needs_grad_scaler(self) -> bool {
        self == Precision::Fp16
    }

    /// Checks that `device` can run this precision: fp32 anywhere, fp16 on CUDA, bf16 on CUDA
    /// or the CPU. The error names the precision and the device.
    pub fn check_device(self, device: Device) -> Result<()> {
        let ok = matches!(
            (self, device),
            (Precision::Fp32 | Precision::Auto, _)
                | (Precision::Fp16, Device::Cuda(_))
                | (Precision::Bf16, Device::Cuda(_) | Device::Cpu)
        );
        if ok {
            return Ok(());
        }
        let reason = match (self, device) {
            (Precision::Fp16, Device::Cpu) => "fp16 needs a CUDA device; on the CPU use bf16 or fp32",
            _ => "mixed precision is implemented for the CPU (bf16) and CUDA (fp16, bf16) only",
        };
        Err(Error::Unsupported { what: format!("precision {self} on device {device:?}"), reason: reason.into() })
    }

    /// Runs `f` with libtorch autocast on for `device`'s type at this precision's dtype, and
    /// restores the previous autocast state afterwards (also when `f` panics). fp32 runs `f`
    /// as it is, leaving any enclosing autocast state alone. Fails before running `f` when the
    /// device cannot run this precision ([`Precision::check_device`]).
    pub fn autocast<T>(self, device: Device, f: impl FnOnce() -> T) -> Result<T> {
        let _guard = self.enter(device)?;
        Ok(f())
    }

    /// Enters an autocast region for `device` (see [`Precision::autocast`]); the region lasts
    /// as long as the returned guard. `None` for fp32.
    /// `auto` enters the region of its [`Precision::resolve`]d value.
    pub fn enter(self, device: Device) -> Result<Option<AutocastGuard>> {
        self.check_device(device)?;
        match self.resolve(device).autocast_kind() {
            None => Ok(None),
            Some(kind) => AutocastGuard::new(device, kind).map(Some),
        }
    }
}

named_enum!(Precision, "precision", {
    Fp32 => "fp32",
    Fp16 => "fp16",
    Bf16 => "bf16",
    Auto => "auto",
});

mod ffi {
    unsafe extern "C" {
        pub fn lssg_autocast_is_enabled(device_type: i32) -> i32;
        pub fn lssg_autocast_set_enabled(device_type: i32, enabled: i32) -> i32;
        pub fn lssg_autocast_get_dtype(device_type: i32) -> i32;
        pub fn lssg_autocast_set_dtype(device_type: i32, scalar_type: i32) -> i32;
        pub fn lssg_autocast_increment_nesting() -> i32;
        pub fn lssg_autocast_decrement_nesting() -> i32;
        pub fn lssg_autocast_clear_cache() -> i32;
        pub fn lssg_cuda_bf16_fast() -> i32;
    }
}

/// Whether `device` computes bf16 fast: a CPU whose flags in `/proc/cpuinfo` include
/// `amx_bf16` or `avx512_bf16` (bf16 dot products in hardware), or a CUDA device of compute
/// capability 8.0 or higher (bf16 tensor cores; what PyTorch's `torch.cuda.is_bf16_supported`
/// checks), as libtorch reports for the current CUDA device. Other devices, and a CPU whose
/// flags cannot be read, are `false`.
pub fn fast_bf16(device: Device) -> bool {
    static CPU: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    match device {
        Device::Cpu => {
            *CPU.get_or_init(|| std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|text| cpu_has_fast_bf16(&text)))
        }
        // SAFETY: a plain C function over libtorch's CUDA hooks; no pointers.
        Device::Cuda(_) => unsafe { ffi::lssg_cuda_bf16_fast() == 1 },
        _ => false,
    }
}

/// Whether the `flags` lines of a `/proc/cpuinfo` text name `amx_bf16` or `avx512_bf16`.
fn cpu_has_fast_bf16(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .flat_map(|line| line.split_whitespace())
        .any(|flag| flag == "amx_bf16" || flag == "avx512_bf16")
}

/// libtorch's `c10::DeviceType` numbers (checked by static_asserts in the shim).
const DEVICE_CPU: i32 = 0;
const DEVICE_CUDA: i32 = 1;

/// libtorch's `c10::ScalarType` numbers of the kinds autocast uses (checked in the shim).
fn scalar_type(kind: Kind) -> Option<i32> {
    match kind {
        Kind::Half => Some(5),
        Kind::Float => Some(6),
        Kind::BFloat16 => Some(15),
        _ => None,
    }
}

fn kind_of(scalar_type: i32) -> Option<Kind> {
    [Kind::Half, Kind::Float, Kind::BFloat16].into_iter().find(|&k| self::scalar_type(k) == Some(scalar_type))
}

fn device_type(device: Device) -> Result<i32> {
    match device {
        Device::Cpu => Ok(DEVICE_CPU),
        Device::Cuda(_) => Ok(DEVICE_CUDA),
        other => Err(Error::Unsupported {
            what: format!("autocast on {other:?}"),
            reason: "lssg binds autocast for the CPU and CUDA only".into(),
        }),
    }
}

fn shim_error(call: &str) -> Error {
    Error::Unsupported { what: format!("libtorch autocast ({call})"), reason: "libtorch raised an exception".into() }
}

/// The autocast state of one device type on this thread: whether it is on, and its dtype
/// (`None` when libtorch reports a dtype this crate does not name).
pub fn autocast_state(device: Device) -> Result<(bool, Option<Kind>)> {
    let d = device_type(device)?;
    // SAFETY: plain C functions over libtorch's thread-local autocast state; no pointers.
    let (enabled, dtype) = unsafe { (ffi::lssg_autocast_is_enabled(d), ffi::lssg_autocast_get_dtype(d)) };
    if enabled < 0 || dtype < 0 {
        return Err(shim_error("is_autocast_enabled / get_autocast_dtype"));
    }
    Ok((enabled == 1, kind_of(dtype)))
}

/// An autocast region: created by [`Precision::enter`], left when dropped (also while
/// unwinding). Not `Send`: libtorch's autocast state is per thread, so the guard must be
/// dropped on the thread that made it.
#[derive(Debug)]
pub struct AutocastGuard {
    device_type: i32,
    previous_enabled: bool,
    previous_dtype: i32,
    _not_send: PhantomData<*const ()>,
}

impl AutocastGuard {
    /// Switches autocast on for `device`'s type with dtype `kind` (f16 or bf16), remembering
    /// the previous state, and enters one nesting level.
    pub fn new(device: Device, kind: Kind) -> Result<Self> {
        let d = device_type(device)?;
        let Some(st) = scalar_type(kind).filter(|_| kind != Kind::Float) else {
            return Err(Error::invalid("autocast dtype", format!("{kind:?}"), "Half or BFloat16"));
        };
        // SAFETY: as in `autocast_state`; the calls only read and write libtorch's TLS.
        unsafe {
            let (enabled, dtype) = (ffi::lssg_autocast_is_enabled(d), ffi::lssg_autocast_get_dtype(d));
            if enabled < 0 || dtype < 0 {
                return Err(shim_error("is_autocast_enabled / get_autocast_dtype"));
            }
            if ffi::lssg_autocast_set_dtype(d, st) < 0 || ffi::lssg_autocast_set_enabled(d, 1) < 0 {
                ffi::lssg_autocast_set_dtype(d, dtype);
                ffi::lssg_autocast_set_enabled(d, enabled);
                return Err(shim_error("set_autocast_dtype / set_autocast_enabled"));
            }
            ffi::lssg_autocast_increment_nesting();
            Ok(Self { device_type: d, previous_enabled: enabled == 1, previous_dtype: dtype, _not_send: PhantomData })
        }
    }
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        // SAFETY: as above. Leaving the outermost region drops the cached weight casts, as
        // PyTorch's `autocast.__exit__` does; then the previous state comes back.
        unsafe {
            if ffi::lssg_autocast_decrement_nesting() == 0 {
                ffi::lssg_autocast_clear_cache();
            }
            ffi::lssg_autocast_set_dtype(self.device_type, self.previous_dtype);
            ffi::lssg_autocast_set_enabled(self.device_type, i32::from(self.previous_enabled));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_serde() {
        for p in Precision::ALL {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert_eq!(Precision::default(), Precision::Fp32);
        let e = "fp8".parse::<Precision>().unwrap_err().to_string();
        assert!(e.contains("\"fp8\"") && e.contains("fp32, fp16, bf16"), "{e}");
        assert!(serde_json::from_str::<Precision>("\"BF16\"").is_err());
    }

    #[test]
    fn devices() {
        Precision::Bf16.check_device(Device::Cpu).unwrap();
        Precision::Fp32.check_device(Device::Cpu).unwrap();
        Precision::Fp16.check_device(Device::Cuda(0)).unwrap();
        let e = Precision::Fp16.check_device(Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("fp16") && e.contains("Cpu"), "{e}");
        assert!(Precision::Fp16.autocast(Device::Cpu, || ()).is_err());
        assert!(Precision::Fp16.needs_grad_scaler() && !Precision::Bf16.needs_grad_scaler());
        assert!(!Precision::Auto.needs_grad_scaler());
    }

    #[test]
    fn auto_resolves_by_the_device() {
        assert!(cpu_has_fast_bf16("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx2\n"));
        assert!(cpu_has_fast_bf16("flags\t\t: fpu amx_bf16 amx_tile\n"));
        assert!(!cpu_has_fast_bf16("flags\t\t: fpu avx512f avx512_bf16x\nmodel name\t: avx512_bf16\n"));
        let expected = if fast_bf16(Device::Cpu) { Precision::Bf16 } else { Precision::Fp32 };
        assert_eq!(Precision::Auto.resolve(Device::Cpu), expected);
        assert_eq!(Precision::Fp16.resolve(Device::Cpu), Precision::Fp16);
        Precision::Auto.check_device(Device::Cpu).unwrap();
        let a = tch::Tensor::ones([2, 2], (Kind::Float, Device::Cpu));
        let kind = Precision::Auto.autocast(Device::Cpu, || a.matmul(&a).kind()).unwrap();
        assert_eq!(kind, if expected == Precision::Bf16 { Kind::BFloat16 } else { Kind::Float });
    }
}
