//! Memory layout (docs/speed.md §8): [`Layout`] (`nchw | channels-last | auto`, as written in
//! configs and on the command line), and the conversion of tensors and of a model's convolution
//! weights to channels-last order: NHWC for 4-D tensors, NDHWC for 5-D ones (the 3-D
//! convolutions of CBC).
//!
//! A channels-last tensor keeps its `[N, C, H, W]` shape; only its strides change, so that the
//! C values of a pixel are adjacent. libtorch's convolutions pick their channels-last kernels
//! when both the input and the weight are in that order, and element-wise ops, batch norms and
//! resizes keep the order of their input, so converting the weights once and each input batch
//! is enough (as PyTorch's `model.to(memory_format=torch.channels_last)`). Shapes, values and
//! checkpoints do not change: a checkpoint is always written in plain (NCHW) order.
//!
//! tch 0.26 binds no memory-format API, so `contiguous(MemoryFormat::ChannelsLast)` and the
//! matching `is_contiguous` come from a small C++ shim (`layout_shim.cpp`).

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn};
use torch_sys::C_tensor;

use crate::error::{Error, Result};
use crate::named::named_enum;

/// The memory order of 4-D activations and convolution weights (docs/speed.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Layout {
    /// libtorch's default order, `[N, C, H, W]` contiguous.
    #[default]
    Nchw,
    /// Channels-last (NHWC strides, NCHW shape).
    ChannelsLast,
    /// Channels-last where it was measured to be faster (CUDA), NCHW elsewhere
    /// ([`Layout::resolve`]).
    Auto,
}

impl Layout {
    /// Every value, in the order of the docs.
    pub const ALL: [Layout; 3] = [Layout::Nchw, Layout::ChannelsLast, Layout::Auto];

    /// Whether this is the default order (serde's `skip_serializing_if`: NCHW configs keep
    /// their bytes).
    pub fn is_nchw(&self) -> bool {
        *self == Layout::Nchw
    }

    /// The layout to use on `device`: [`Layout::Auto`] becomes channels-last on CUDA and NCHW on
    /// the CPU, where channels-last measured slower at every CMX preset (docs/speed.md §8);
    /// the other values stay as they are.
    pub fn resolve(self, device: Device) -> Layout {
        match (self, device) {
            (Layout::Auto, Device::Cuda(_)) => Layout::ChannelsLast,
            (Layout::Auto, _) => Layout::Nchw,
            (layout, _) => layout,
        }
    }

    /// Whether this (resolved) layout is channels-last.
    pub fn is_channels_last(self) -> bool {
        self == Layout::ChannelsLast
    }

    /// `t` in this layout: a channels-last copy of a 4-D or 5-D tensor for
    /// [`Layout::ChannelsLast`] (no copy when it already is), `t` itself for NCHW and for
    /// tensors of other ranks.
    /// Call [`Layout::resolve`] first: `Auto` is an error here.
    pub fn apply(self, t: &Tensor) -> Result<Tensor> {
        match self {
            Layout::Auto => Err(Error::invalid("layout", self, "a resolved layout (nchw or channels-last)")),
            Layout::ChannelsLast if matches!(t.dim(), 4 | 5) => contiguous_as(t, true),
            _ => Ok(t.shallow_clone()),
        }
    }

    /// Puts every 4-D and 5-D variable of `vs` (the convolution weights) in this layout, in place: the
    /// model's own handles see the new strides, values are unchanged. Returns how many
    /// variables were converted; NCHW converts none.
    pub fn apply_to_vars(self, vs: &nn::VarStore) -> Result<usize> {
        match self {
            Layout::Auto => return Err(Error::invalid("layout", self, "a resolved layout (nchw or channels-last)")),
            Layout::Nchw => return Ok(0),
            Layout::ChannelsLast => {}
        }
        let mut converted = 0;
        for (_, mut var) in vs.variables() {
            if matches!(var.dim(), 4 | 5) {
                let data = tch::no_grad(|| contiguous_as(&var.detach(), true))?;
                var.set_data(&data);
                converted += 1;
            }
        }
        Ok(converted)
    }
}

named_enum!(Layout, "layout", {
    Nchw => "nchw",
    ChannelsLast => "channels-last",
    Auto => "auto",
});

mod ffi {
    use super::C_tensor;
    unsafe extern "C" {
        pub fn lssg_contiguous_as(t: *mut C_tensor, channels_last: i32) -> *mut C_tensor;
        pub fn lssg_is_contiguous_as(t: *mut C_tensor, channels_last: i32) -> i32;
    }
}

/// `t` contiguous in channels-last order (`channels_last`: NHWC for 4-D tensors, NDHWC for 5-D
/// ones, other ranks are an error) or in plain order; `t`'s storage when it already is.
pub fn contiguous_as(t: &Tensor, channels_last: bool) -> Result<Tensor> {
    if channels_last && !matches!(t.dim(), 4 | 5) {
        return Err(Error::Shape {
            what: "channels-last tensor".into(),
            expected: "4 or 5 dimensions".into(),
            got: format!("{:?}", t.size()),
        });
    }
    // SAFETY: `t` is a live tensor; the shim returns a new heap `at::Tensor` (owned by the
    // returned `Tensor`) or null after catching the C++ exception.
    let ptr = unsafe { ffi::lssg_contiguous_as(t.as_ptr() as *mut C_tensor, i32::from(channels_last)) };
    if ptr.is_null() {
        return Err(Error::Unsupported {
            what: format!("contiguous memory format of a {:?} tensor", t.size()),
            reason: "libtorch raised an exception".into(),
        });
    }
    // SAFETY: a non-null pointer from the shim is a fresh `at::Tensor` nobody else owns.
    Ok(unsafe { Tensor::from_ptr(ptr) })
}

/// Whether `t` is contiguous in channels-last order (`channels_last`, as in [`contiguous_as`])
/// or in plain order.
pub fn is_contiguous_as(t: &Tensor, channels_last: bool) -> Result<bool> {
    // SAFETY: `t` is a live tensor; the shim only reads its strides.
    match unsafe { ffi::lssg_is_contiguous_as(t.as_ptr() as *mut C_tensor, i32::from(channels_last)) } {
        1 => Ok(true),
        0 => Ok(false),
        _ => Err(Error::Unsupported {
            what: format!("memory format query of a {:?} tensor", t.size()),
            reason: "libtorch raised an exception".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn parse_display_serde_resolve() {
        for l in Layout::ALL {
            assert_eq!(l.to_string().parse::<Layout>().unwrap(), l);
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{l}\""));
        }
        assert_eq!(Layout::default(), Layout::Nchw);
        let e = "nhwc".parse::<Layout>().unwrap_err().to_string();
        assert!(e.contains("\"nhwc\"") && e.contains("nchw, channels-last, auto"), "{e}");
        assert_eq!(Layout::Auto.resolve(Device::Cuda(0)), Layout::ChannelsLast);
        assert_eq!(Layout::Auto.resolve(Device::Cpu), Layout::Nchw);
        assert_eq!(Layout::ChannelsLast.resolve(Device::Cpu), Layout::ChannelsLast);
        assert!(Layout::Auto.apply(&Tensor::zeros([1], (Kind::Float, Device::Cpu))).is_err());
        assert!(Layout::Auto.apply_to_vars(&nn::VarStore::new(Device::Cpu)).is_err());
    }

    #[test]
    fn channels_last_has_nhwc_strides_and_equal_values() {
        let x = Tensor::randn([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        let y = Layout::ChannelsLast.apply(&x).unwrap();
        assert_eq!(y.size(), [2, 3, 4, 5]);
        assert_eq!(y.stride(), [60, 1, 15, 3]);
        assert!(is_contiguous_as(&y, true).unwrap() && !is_contiguous_as(&y, false).unwrap());
        assert!(is_contiguous_as(&x, false).unwrap() && !is_contiguous_as(&x, true).unwrap());
        assert!(y.equal(&x));
        let back = contiguous_as(&y, false).unwrap();
        assert_eq!(back.stride(), [60, 20, 5, 1]);
        assert!(back.equal(&x));
        // Already channels-last: the same storage, no copy.
        assert_eq!(Layout::ChannelsLast.apply(&y).unwrap().data_ptr(), y.data_ptr());
        // NCHW leaves tensors alone; a 2-D tensor is never converted.
        assert_eq!(Layout::Nchw.apply(&x).unwrap().stride(), [60, 20, 5, 1]);
        let m = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
        assert_eq!(Layout::ChannelsLast.apply(&m).unwrap().stride(), [3, 1]);
        assert!(contiguous_as(&m, true).unwrap_err().to_string().contains("4 or 5 dimensions"));
        // 5-D tensors take NDHWC strides.
        let v = Tensor::randn([2, 3, 4, 5, 6], (Kind::Float, Device::Cpu));
        let w = Layout::ChannelsLast.apply(&v).unwrap();
        assert_eq!(w.stride(), [360, 1, 90, 18, 3]);
        assert!(is_contiguous_as(&w, true).unwrap() && w.equal(&v));
    }

    #[test]
    fn variables_convert_in_place_for_every_handle() {
        let vs = nn::VarStore::new(Device::Cpu);
        let conv = nn::conv2d(vs.root(), 3, 8, 3, Default::default());
        let before = conv.ws.detach().copy();
        assert_eq!(Layout::Nchw.apply_to_vars(&vs).unwrap(), 0);
        assert_eq!(Layout::ChannelsLast.apply_to_vars(&vs).unwrap(), 1);
        // The module's own handle sees the new strides; the bias (1-D) is untouched.
        assert!(is_contiguous_as(&conv.ws, true).unwrap() && !is_contiguous_as(&conv.ws, false).unwrap());
        assert!(conv.ws.requires_grad() && conv.ws.equal(&before));
        let x = Tensor::randn([1, 3, 6, 6], (Kind::Float, Device::Cpu));
        let y = x.apply(&conv);
        let reference = x.conv2d(&before, conv.bs.as_ref(), [1, 1], [0, 0], [1, 1], 1);
        assert!(y.allclose(&reference, 1e-5, 1e-6, false));
    }
}
