//! libtorch extensions for lssg, the layer between tch and the models: device selection and the
//! start-up load of `libtorch_cuda.so`, mixed precision (autocast regions, the fp16 gradient
//! scaler), memory layouts (channels-last), packed-weight inference on oneDNN, libtorch's fused optimiser kernels, pinned
//! host-to-device transfers, the CPU-vs-device agreement check, TorchScript archives with
//! extra files, and collectives between processes on c10d's Gloo (docs/distributed.md). What
//! tch does not bind comes from small C++ shims compiled by build.rs
//! (docs/precision.md §2, docs/speed.md §3).
//!
//! ```no_run
//! use lssg_torch::{DeviceSpec, Precision};
//! use tch::{Device, Kind, Tensor};
//!
//! let device = "cpu".parse::<DeviceSpec>().unwrap().resolve().unwrap();
//! let a = Tensor::ones([2, 2], (Kind::Float, Device::Cpu));
//! let kind = Precision::Bf16.autocast(device, || a.matmul(&a).kind()).unwrap();
//! assert_eq!(kind, Kind::BFloat16);
//! ```
#![deny(missing_docs)]

pub mod agreement;
pub mod device;
pub mod distributed;
pub mod error;
pub mod fused;
pub mod jit;
pub mod layout;
mod named;
pub mod packed;
pub mod precision;
pub mod scaler;
pub mod transfer;

pub use device::DeviceSpec;
pub use distributed::{GroupConfig, ProcessGroup, ReduceOp};
pub use error::{Error, Result};
pub use layout::Layout;
pub use packed::Inference;
pub use precision::Precision;
pub use scaler::{GradScaler, GradScalerState};
