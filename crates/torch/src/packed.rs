//! Packed-weight inference (docs/speed.md §10): [`Inference`] (`eager | packed | auto`, as written
//! in configs and on the command line), inference sessions, and convolutions and linear maps
//! whose weights are reordered once into oneDNN's blocked format, with ReLU fused into the same
//! kernel.
//!
//! An eager forward hands libtorch plain weights, so every call casts them (under bf16 autocast)
//! and reorders them for oneDNN before the first multiply: at small tiles, where a layer's
//! weight is larger than its activations, that is most of the work. A *session* is a region in
//! which the network's weights do not change (an evaluation, a scoring pass, a prediction): in
//! it each layer packs its weight (with a following batch norm folded in) once per input shape
//! and reuses it for every later forward. Outside a session, and whenever grad mode is on, the
//! layers run eagerly. Results equal the eager ones up to float rounding; the packs of a session
//! are dropped when the outermost session ends.
//!
//! tch binds none of the operators; they come from a small C++ shim (`packed_shim.cpp`) that
//! calls libtorch's `mkldnn::` operators through the dispatcher.

use std::any::Any;
use std::cell::Cell;
use std::ffi::{CStr, c_char};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

use crate::error::{Error, Result};
use crate::named::named_enum;

/// How evaluation, scoring and prediction run their forwards (docs/speed.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Inference {
    /// libtorch's operators with the weights as they are, every forward.
    #[default]
    Eager,
    /// Weights packed once per session for oneDNN, activations fused (CPU only).
    Packed,
    /// Packed on a CPU whose libtorch has oneDNN, eager elsewhere ([`Inference::resolve`]).
    Auto,
}

named_enum!(Inference, "inference", {
    Eager => "eager",
    Packed => "packed",
    Auto => "auto",
});

impl Inference {
    /// Every value, in the order of the docs.
    pub const ALL: [Inference; 3] = [Inference::Eager, Inference::Packed, Inference::Auto];

    /// Whether this is the default (serde's `skip_serializing_if`: eager configs keep their bytes).
    pub fn is_eager(&self) -> bool {
        *self == Inference::Eager
    }

    /// The mode to use on `device`: `auto` is packed on a CPU with oneDNN and eager elsewhere;
    /// `packed` anywhere else is an error naming the device.
    pub fn resolve(self, device: Device) -> Result<Inference> {
        let possible = device == Device::Cpu && available();
        match self {
            Inference::Eager => Ok(Inference::Eager),
            Inference::Auto => Ok(if possible { Inference::Packed } else { Inference::Eager }),
            Inference::Packed if possible => Ok(Inference::Packed),
            Inference::Packed => Err(Error::Unsupported {
                what: format!("inference = \"packed\" on {device:?}"),
                reason: if device == Device::Cpu {
                    "this libtorch has no oneDNN packed-weight operators".into()
                } else {
                    "packed weights are oneDNN's (CPU); use \"auto\" or \"eager\" on other devices".into()
                },
            }),
        }
    }

    /// Runs `f` in an inference session when this mode resolves to packed on `device`, plainly
    /// otherwise. Call it around work during which the weights do not change.
    pub fn region<T>(self, device: Device, f: impl FnOnce() -> T) -> Result<T> {
        let _session = (self.resolve(device)? == Inference::Packed).then(Session::begin);
        Ok(f())
    }
}

mod ffi {
    use super::{C_tensor, c_char};
    unsafe extern "C" {
        pub fn lssg_packed_available() -> i32;
        pub fn lssg_packed_bf16_native() -> i32;
        pub fn lssg_grad_enabled() -> i32;
        pub fn lssg_pack_conv_weight(
            weight: *mut C_tensor,
            padding: *const i64,
            stride: *const i64,
            dilation: *const i64,
            n: i64,
            groups: i64,
            input_size: *const i64,
            input_dim: i64,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut C_tensor;
        pub fn lssg_packed_conv(
            x: *mut C_tensor,
            weight: *mut C_tensor,
            bias: *mut C_tensor,
            padding: *const i64,
            stride: *const i64,
            dilation: *const i64,
            n: i64,
            groups: i64,
            attr: *const c_char,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut C_tensor;
        pub fn lssg_pack_linear_weight(
            weight: *mut C_tensor,
            rows: i64,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut C_tensor;
        pub fn lssg_packed_linear(
            x: *mut C_tensor,
            weight: *mut C_tensor,
            bias: *mut C_tensor,
            attr: *const c_char,
            err: *mut c_char,
            err_len: usize,
        ) -> *mut C_tensor;
    }
}

/// Whether libtorch has oneDNN and its packed-weight operators (checked once).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    // SAFETY: the shim only queries libtorch's registry.
    *AVAILABLE.get_or_init(|| unsafe { ffi::lssg_packed_available() } == 1)
}

/// Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX).
pub fn bf16_native() -> bool {
    // SAFETY: the shim only queries oneDNN's CPU detection.
    unsafe { ffi::lssg_packed_bf16_native() == 1 }
}

/// Whether gradients are being recorded on this thread (false under `tch::no_grad`).
pub fn grad_enabled() -> bool {
    // SAFETY: reads a thread-local flag of libtorch.
    unsafe { ffi::lssg_grad_enabled() == 1 }
}

thread_local! {
    /// The id of this thread's open session, 0 when none.
    static SESSION: Cell<u64> = const { Cell::new(0) };
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// The caches that hold packs of the session now open, emptied when it ends.
static LIVE: Mutex<Vec<Weak<Mutex<Slot>>>> = Mutex::new(Vec::new());

/// A region in which the weights do not change; packs made in it are reused until it ends. A
/// session opened inside another one is the same session. Not `Send`: sessions are per thread.
#[derive(Debug)]
pub struct Session {
    /// The id this session opened; 0 when it joined an outer one.
    opened: u64,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Session {
    /// Opens a session on this thread (or joins the one already open).
    pub fn begin() -> Session {
        let opened = SESSION.with(|s| {
            if s.get() != 0 {
                return 0;
            }
            let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
            s.set(id);
            id
        });
        Session { opened, _not_send: std::marker::PhantomData }
    }

    /// The id of this thread's open session.
    fn current() -> Option<u64> {
        SESSION.with(|s| Some(s.get()).filter(|&id| id != 0))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.opened == 0 {
            return;
        }
        SESSION.with(|s| s.set(0));
        // The packs are one more copy of the weights: free them with the session (those of
        // other threads' sessions stay).
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|weak| {
            let Some(slot) = weak.upgrade() else { return false };
            let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            if slot.session != self.opened {
                return true;
            }
            slot.entries.clear();
            false
        });
    }
}

/// How many layers hold packs made in this thread's open session (0 outside a session).
pub fn packed_layers() -> usize {
    let Some(session) = Session::current() else { return 0 };
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.iter()
        .filter_map(Weak::upgrade)
        .filter(|slot| {
            let slot = slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.session == session && !slot.entries.is_empty()
        })
        .count()
}

/// Whether a session is open on this thread and gradients are off: the condition under which
/// layers use packed weights.
pub fn packing() -> bool {
    Session::current().is_some() && !grad_enabled()
}

/// The arithmetic a packed forward of `x` runs in: bf16 when CPU autocast is on at bf16 (as the
/// eager operators would), f32 for f32 inputs without autocast; `None` (run eagerly) for every
/// other case: another device, kind or autocast dtype.
pub fn compute_kind(x: &Tensor) -> Option<Kind> {
    if x.device() != Device::Cpu {
        return None;
    }
    match crate::precision::autocast_state(Device::Cpu).ok()? {
        (true, Some(Kind::BFloat16)) if matches!(x.kind(), Kind::Float | Kind::BFloat16) => Some(Kind::BFloat16),
        (true, _) => None,
        (false, _) => (x.kind() == Kind::Float).then_some(Kind::Float),
    }
}

struct Slot {
    session: u64,
    entries: Vec<(Vec<i64>, Arc<dyn Any + Send + Sync>)>,
}

/// What a layer has packed in the current session, keyed by the caller (kind, input shape,
/// which weight). Entries of an earlier session are never returned.
pub struct SessionCache {
    slot: Arc<Mutex<Slot>>,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache { slot: Arc::new(Mutex::new(Slot { session: 0, entries: Vec::new() })) }
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("SessionCache").field("session", &slot.session).field("entries", &slot.entries.len()).finish()
    }
}

/// Most entries one cache keeps in a session (input shapes differ only in the last batch, the
/// scenario chunks, and the scene edges of a prediction).
const MAX_ENTRIES: usize = 8;

impl SessionCache {
    /// In a session, the value stored under `key` (made by `make` the first time); outside a
    /// session `None` without calling `make`.
    pub fn get_or_make<T: Any + Send + Sync>(
        &self,
        key: Vec<i64>,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<Option<Arc<T>>> {
        let Some(session) = Session::current() else { return Ok(None) };
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.session != session {
            slot.session = session;
            slot.entries.clear();
        }
        if let Some((_, v)) = slot.entries.iter().find(|(k, _)| *k == key) {
            return Ok(Arc::clone(v).downcast::<T>().ok());
        }
        let value = Arc::new(make()?);
        let first = slot.entries.is_empty();
        if slot.entries.len() == MAX_ENTRIES {
            slot.entries.remove(0);
        }
        slot.entries.push((key, value.clone() as Arc<dyn Any + Send + Sync>));
        drop(slot);
        // Registered after the slot's lock is released: a session's end takes LIVE first.
        if first {
            LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&self.slot));
        }
        Ok(Some(value))
    }

    /// How many packs the cache holds now.
    pub fn len(&self) -> usize {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).entries.len()
    }

    /// Whether the cache holds no pack.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An activation fused into a packed operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOp {
    /// None.
    Identity,
    /// `max(x, 0)`.
    Relu,
}

impl PostOp {
    fn attr(self) -> &'static CStr {
        match self {
            PostOp::Identity => c"none",
            PostOp::Relu => c"relu",
        }
    }

    /// The activation applied eagerly (for the unpacked path).
    pub fn apply(self, x: Tensor) -> Tensor {
        match self {
            PostOp::Identity => x,
            PostOp::Relu => x.relu(),
        }
    }
}

/// Stride, padding, dilation (one entry per spatial dimension) and groups of a convolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Stride per dimension.
    pub stride: Vec<i64>,
    /// Zero padding per dimension.
    pub padding: Vec<i64>,
    /// Dilation per dimension.
    pub dilation: Vec<i64>,
    /// Groups.
    pub groups: i64,
}

const ERR_LEN: usize = 1024;

/// Takes a shim result: the tensor, or the shim's message as an error about `what`.
fn take(ptr: *mut C_tensor, err: &[c_char; ERR_LEN], what: impl FnOnce() -> String) -> Result<Tensor> {
    if ptr.is_null() {
        // SAFETY: the shim writes a NUL-terminated string into `err` (the buffer starts zeroed).
        let reason = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
        return Err(Error::Unsupported { what: what(), reason });
    }
    // SAFETY: a non-null pointer from the shim is a fresh `at::Tensor` nobody else owns.
    Ok(unsafe { Tensor::from_ptr(ptr) })
}

fn ptr(t: &Tensor) -> *mut C_tensor {
    t.as_ptr() as *mut C_tensor
}

fn opt_ptr(t: Option<&Tensor>) -> *mut C_tensor {
    t.map_or(std::ptr::null_mut(), ptr)
}

/// A 2-D convolution whose weight is packed for one input shape and kind.
#[derive(Debug)]
pub struct PackedConv {
    weight: Tensor,
    bias: Option<Tensor>,
    geometry: ConvGeometry,
    kind: Kind,
}

impl PackedConv {
    /// Packs `weight` (`[out, in/groups, kh, kw]`) and `bias` in `kind` for inputs of
    /// `input_size` (`[B, in, H, W]`).
    pub fn new(
        weight: &Tensor,
        bias: Option<&Tensor>,
        geometry: &ConvGeometry,
        kind: Kind,
        input_size: &[i64],
    ) -> Result<Self> {
        let n = geometry.stride.len();
        if weight.dim() != 4
            || input_size.len() != 4
            || n != 2
            || geometry.padding.len() != n
            || geometry.dilation.len() != n
        {
            return Err(Error::Shape {
                what: "packed convolution".into(),
                expected: "a 4-D weight and input with 2 strides, paddings and dilations".into(),
                got: format!("weight {:?}, input {input_size:?}, geometry {geometry:?}", weight.size()),
            });
        }
        let w = tch::no_grad(|| weight.detach().to_kind(kind));
        let w = crate::layout::contiguous_as(&w, true)?;
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: every pointer is live for the call; the shim copies the integer arrays.
        let packed = unsafe {
            ffi::lssg_pack_conv_weight(
                ptr(&w),
                geometry.padding.as_ptr(),
                geometry.stride.as_ptr(),
                geometry.dilation.as_ptr(),
                n as i64,
                geometry.groups,
                input_size.as_ptr(),
                input_size.len() as i64,
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        let weight = take(packed, &err, || format!("packing a {:?} convolution weight", weight.size()))?;
        let bias = bias.map(|b| tch::no_grad(|| b.detach().to_kind(kind).contiguous()));
        Ok(PackedConv { weight, bias, geometry: geometry.clone(), kind })
    }

    /// The convolution of `x` (cast to the pack's kind) followed by `post`, in one kernel; the
    /// output is in the pack's kind, channels-last.
    pub fn forward(&self, x: &Tensor, post: PostOp) -> Result<Tensor> {
        let x = if x.kind() == self.kind { x.shallow_clone() } else { x.to_kind(self.kind) };
        let g = &self.geometry;
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: every pointer is live for the call; the shim copies the integer arrays.
        let y = unsafe {
            ffi::lssg_packed_conv(
                ptr(&x),
                ptr(&self.weight),
                opt_ptr(self.bias.as_ref()),
                g.padding.as_ptr(),
                g.stride.as_ptr(),
                g.dilation.as_ptr(),
                g.stride.len() as i64,
                g.groups,
                post.attr().as_ptr(),
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        take(y, &err, || format!("a packed convolution of a {:?} input", x.size()))
    }
}

// SAFETY: a pack is never mutated after `new`; its operators only read its tensors, which
// libtorch allows from several threads at once.
unsafe impl Sync for PackedConv {}

/// A linear map whose weight is packed for one number of input rows and kind.
#[derive(Debug)]
pub struct PackedLinear {
    weight: Tensor,
    bias: Option<Tensor>,
    kind: Kind,
}

impl PackedLinear {
    /// Packs `weight` (`[out, in]`) and `bias` in `kind` for inputs of `rows` rows (the product
    /// of the input's leading dimensions).
    pub fn new(weight: &Tensor, bias: Option<&Tensor>, kind: Kind, rows: i64) -> Result<Self> {
        if weight.dim() != 2 {
            return Err(Error::Shape {
                what: "packed linear weight".into(),
                expected: "2 dimensions".into(),
                got: format!("{:?}", weight.size()),
            });
        }
        let w = tch::no_grad(|| weight.detach().to_kind(kind).contiguous());
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: `w` is live for the call.
        let packed = unsafe { ffi::lssg_pack_linear_weight(ptr(&w), rows, err.as_mut_ptr(), ERR_LEN) };
        let weight = take(packed, &err, || format!("packing a {:?} linear weight", weight.size()))?;
        let bias = bias.map(|b| tch::no_grad(|| b.detach().to_kind(kind).contiguous()));
        Ok(PackedLinear { weight, bias, kind })
    }

    /// `x Wᵀ + b` over the last dimension of `x` (cast to the pack's kind), then `post`, in one
    /// kernel.
    pub fn forward(&self, x: &Tensor, post: PostOp) -> Result<Tensor> {
        let x = if x.kind() == self.kind { x.shallow_clone() } else { x.to_kind(self.kind) };
        let mut err = [0 as c_char; ERR_LEN];
        // SAFETY: every pointer is live for the call.
        let y = unsafe {
            ffi::lssg_packed_linear(
                ptr(&x),
                ptr(&self.weight),
                opt_ptr(self.bias.as_ref()),
                post.attr().as_ptr(),
                err.as_mut_ptr(),
                ERR_LEN,
            )
        };
        take(y, &err, || format!("a packed linear map of a {:?} input", x.size()))
    }
}

// SAFETY: as for `PackedConv`.
unsafe impl Sync for PackedLinear {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Precision;

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a.to_kind(Kind::Float) - b.to_kind(Kind::Float)).abs().max().double_value(&[])
    }

    #[test]
    fn names_and_resolution() {
        for i in Inference::ALL {
            assert_eq!(i.to_string().parse::<Inference>().unwrap(), i);
        }
        assert_eq!(Inference::default(), Inference::Eager);
        let e = "fast".parse::<Inference>().unwrap_err().to_string();
        assert!(e.contains("\"fast\"") && e.contains("eager, packed, auto"), "{e}");
        assert!(available(), "the PyPI libtorch has oneDNN");
        assert_eq!(Inference::Auto.resolve(Device::Cpu).unwrap(), Inference::Packed);
        assert_eq!(Inference::Auto.resolve(Device::Cuda(0)).unwrap(), Inference::Eager);
        assert_eq!(Inference::Eager.resolve(Device::Cpu).unwrap(), Inference::Eager);
        let e = Inference::Packed.resolve(Device::Cuda(0)).unwrap_err().to_string();
        assert!(e.contains("packed") && e.contains("Cuda(0)") && e.contains("auto"), "{e}");
    }

    #[test]
    fn sessions_nest_and_free_their_packs() {
        let cache = SessionCache::default();
        assert!(cache.get_or_make(vec![1], || Ok(1u8)).unwrap().is_none(), "no session, no pack");
        {
            let _outer = Session::begin();
            let _inner = Session::begin();
            let mut made = 0;
            for _ in 0..3 {
                let v = cache.get_or_make(vec![1], || {
                    made += 1;
                    Ok(7u32)
                });
                assert_eq!(*v.unwrap().unwrap(), 7);
            }
            assert_eq!(made, 1, "made once per session");
            drop(_inner);
            assert_eq!(cache.len(), 1, "an inner session's end keeps the outer's packs");
        }
        assert!(cache.is_empty(), "the outermost session's end frees them");
        let _again = Session::begin();
        let v = cache.get_or_make(vec![1], || Ok(9u32)).unwrap().unwrap();
        assert_eq!(*v, 9, "a new session makes its own");
    }

    #[test]
    fn packing_needs_a_session_and_no_grad() {
        assert!(!packing());
        let _s = Session::begin();
        assert!(grad_enabled() && !packing());
        tch::no_grad(|| assert!(packing()));
    }

    #[test]
    fn packed_conv_equals_conv_then_relu_in_f32_and_bf16() {
        tch::manual_seed(1);
        let x = Tensor::randn([2, 8, 9, 7], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([16, 4, 3, 3], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([16], (Kind::Float, Device::Cpu));
        let g = ConvGeometry { stride: vec![2, 1], padding: vec![1, 1], dilation: vec![1, 1], groups: 2 };
        let eager = x.conv2d(&w, Some(&b), [2, 1], [1, 1], [1, 1], 2).relu();
        let p = PackedConv::new(&w, Some(&b), &g, Kind::Float, &x.size()).unwrap();
        let y = p.forward(&x, PostOp::Relu).unwrap();
        assert_eq!(y.size(), eager.size());
        assert_eq!(y.kind(), Kind::Float);
        assert!(crate::layout::is_contiguous_as(&y, true).unwrap(), "oneDNN answers channels-last");
        assert!(max_diff(&y, &eager) < 1e-4, "{}", max_diff(&y, &eager));
        let bf = PackedConv::new(&w, Some(&b), &g, Kind::BFloat16, &x.size()).unwrap();
        let y = bf.forward(&x, PostOp::Identity).unwrap();
        assert_eq!(y.kind(), Kind::BFloat16);
        let eager =
            Precision::Bf16.autocast(Device::Cpu, || x.conv2d(&w, Some(&b), [2, 1], [1, 1], [1, 1], 2)).unwrap();
        let scale = eager.to_kind(Kind::Float).abs().max().double_value(&[]);
        assert!(max_diff(&y, &eager) < 2e-2 * scale, "{} of {scale}", max_diff(&y, &eager));
    }

    #[test]
    fn packed_linear_equals_linear_over_leading_dimensions() {
        tch::manual_seed(2);
        let x = Tensor::randn([3, 5, 12], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([6, 12], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([6], (Kind::Float, Device::Cpu));
        let eager = Precision::Bf16.autocast(Device::Cpu, || x.linear(&w, Some(&b))).unwrap();
        let p = PackedLinear::new(&w, Some(&b), Kind::BFloat16, 15).unwrap();
        let y = p.forward(&x, PostOp::Relu).unwrap();
        assert_eq!(y.size(), [3, 5, 6]);
        let scale = eager.to_kind(Kind::Float).abs().max().double_value(&[]);
        assert!(max_diff(&y, &eager.relu()) < 2e-2 * scale, "{} of {scale}", max_diff(&y, &eager.relu()));
        assert!(
            PackedLinear::new(&Tensor::zeros([2, 3, 4], (Kind::Float, Device::Cpu)), None, Kind::Float, 1).is_err()
        );
    }

    #[test]
    fn compute_kind_follows_autocast() {
        let x = Tensor::zeros([1, 2, 3, 3], (Kind::Float, Device::Cpu));
        assert_eq!(compute_kind(&x), Some(Kind::Float));
        assert_eq!(compute_kind(&x.to_kind(Kind::Double)), None);
        let k = Precision::Bf16.autocast(Device::Cpu, || compute_kind(&x)).unwrap();
        assert_eq!(k, Some(Kind::BFloat16));
    }

    #[test]
    fn a_bad_shape_is_an_error_not_a_crash() {
        let w = Tensor::zeros([4, 2, 3, 3], (Kind::Float, Device::Cpu));
        let g = ConvGeometry { stride: vec![1, 1], padding: vec![1, 1], dilation: vec![1, 1], groups: 1 };
        let p = PackedConv::new(&w, None, &g, Kind::Float, &[1, 2, 5, 5]).unwrap();
        let e = p.forward(&Tensor::zeros([1, 3, 5, 5], (Kind::Float, Device::Cpu)), PostOp::Identity).unwrap_err();
        assert!(e.to_string().contains("packed convolution of a [1, 3, 5, 5] input"), "{e}");
    }
}
