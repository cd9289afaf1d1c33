//! Collective communication between processes on libtorch's own c10d (docs/distributed.md §1):
//! a [`ProcessGroup`] joins a TCPStore rendezvous (rank 0 serves it at `MASTER_ADDR:MASTER_PORT`)
//! and a Gloo group over it, bound through a small C++ shim (`src/dist_shim.cpp`). It broadcasts,
//! all-reduces, all-gathers and waits at barriers on CPU tensors; [`GradientBuckets`] averages
//! a model's gradients in a few flat buffers, as PyTorch's DDP does.
//!
//! Every call waits at most the group's timeout; a peer that died or stopped answering becomes
//! [`Error::Distributed`] or [`Error::DistributedTimeout`], never a hang.

use std::ffi::{CStr, CString, c_char};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

use crate::error::{Error, Result};

mod ffi {
    use super::{C_tensor, c_char};

    /// c10d's store and Gloo group, owned by the shim.
    #[repr(C)]
    pub struct LssgGroup {
        _private: [u8; 0],
    }

    unsafe extern "C" {
        pub fn lssg_dist_new(
            host: *const c_char,
            port: u16,
            rank: i32,
            world: i32,
            timeout_ms: i64,
            interface: *const c_char,
            out: *mut *mut LssgGroup,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
        pub fn lssg_dist_free(group: *mut LssgGroup);
        pub fn lssg_dist_broadcast(
            group: *mut LssgGroup,
            tensor: *mut C_tensor,
            root: i32,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
        pub fn lssg_dist_all_reduce(
            group: *mut LssgGroup,
            tensors: *const *mut C_tensor,
            n: i64,
            op: i32,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
        pub fn lssg_dist_all_gather(
            group: *mut LssgGroup,
            input: *mut C_tensor,
            output: *mut C_tensor,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
        pub fn lssg_dist_barrier(group: *mut LssgGroup, err: *mut c_char, err_len: usize) -> i32;
    }
}

/// Where and how a process joins its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// Host of rank 0's rendezvous store (`MASTER_ADDR`).
    pub master_addr: String,
    /// Its TCP port (`MASTER_PORT`).
    pub master_port: u16,
    /// This process's rank, `0..world_size`.
    pub rank: usize,
    /// Processes in the group.
    pub world_size: usize,
    /// The longest any rendezvous or collective may wait for the other ranks.
    pub timeout: Duration,
    /// The network interface Gloo binds to (`GLOO_SOCKET_IFNAME`); this host's address if none.
    pub interface: Option<String>,
}

/// How [`ProcessGroup::all_reduce`] combines the ranks' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    /// Element-wise sum.
    Sum,
    /// Element-wise maximum.
    Max,
    /// Element-wise minimum.
    Min,
}

impl ReduceOp {
    fn code(self) -> i32 {
        match self {
            ReduceOp::Sum => 0,
            ReduceOp::Max => 1,
            ReduceOp::Min => 2,
        }
    }
}

/// One process's membership of a Gloo group (c10d `ProcessGroupGloo` over a `TCPStore`).
///
/// Every rank must make the same calls in the same order with tensors of the same shapes and
/// kinds, as with any collective library. Calls take `&self` but the group is not meant to be
/// used from two threads at once (`Send`, not `Sync`).
pub struct ProcessGroup {
    group: NonNull<ffi::LssgGroup>,
    rank: usize,
    world_size: usize,
    timeout: Duration,
    /// Nanoseconds spent inside collectives (docs/distributed.md §4).
    busy_ns: AtomicU64,
}

// SAFETY: the shim's group is a heap object of c10d's, whose collectives may be called from any
// thread; the pointer is owned by this value alone.
unsafe impl Send for ProcessGroup {}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup").field("rank", &self.rank).field("world_size", &self.world_size).finish()
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: created by `lssg_dist_new` and freed exactly once.
        unsafe { ffi::lssg_dist_free(self.group.as_ptr()) }
    }
}

/// Turns a shim return code and its message into a typed error about `op`.
fn check(rc: i32, err: &[c_char], op: &str, rank: usize, world_size: usize, timeout: Duration) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: the shim writes a NUL-terminated string into `err` (and the buffer starts zeroed).
    let reason = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
    let op = op.to_string();
    Err(if rc == -2 {
        Error::DistributedTimeout { op, rank, world_size, timeout_ms: timeout.as_millis() as u64, reason }
    } else {
        Error::Distributed { op, rank, world_size, reason }
    })
}

fn c_text(field: &'static str, text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::invalid(field, format!("{text:?}"), "text without NUL bytes"))
}

impl ProcessGroup {
    /// Joins the group `config` describes: blocks until every rank has joined, at most the
    /// timeout.
    pub fn new(config: &GroupConfig) -> Result<Self> {
        let GroupConfig { master_addr, master_port, rank, world_size, timeout, interface } = config;
        let (rank, world_size, timeout) = (*rank, *world_size, *timeout);
        if world_size == 0 || rank >= world_size {
            return Err(Error::invalid("rank", rank, format!("0 ≤ rank < world size {world_size}")));
        }
        if timeout.is_zero() {
            return Err(Error::invalid("timeout", format!("{timeout:?}"), "> 0"));
        }
        let host = c_text("master_addr", master_addr)?;
        let interface = c_text("interface", interface.as_deref().unwrap_or(""))?;
        let mut group = std::ptr::null_mut();
        let mut err = [0 as c_char; 2048];
        // SAFETY: valid C strings and an out pointer; the shim catches every exception.
        let rc = unsafe {
            ffi::lssg_dist_new(
                host.as_ptr(),
                *master_port,
                rank as i32,
                world_size as i32,
                timeout.as_millis() as i64,
                interface.as_ptr(),
                &mut group,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        let op = format!("joining the group at {master_addr}:{master_port}");
        check(rc, &err, &op, rank, world_size, timeout)?;
        let group = NonNull::new(group).ok_or_else(|| Error::Distributed {
            op,
            rank,
            world_size,
            reason: "the shim returned no group".into(),
        })?;
        Ok(Self { group, rank, world_size, timeout, busy_ns: AtomicU64::new(0) })
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Processes in the group.
    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Seconds spent inside collectives so far.
    pub fn busy_seconds(&self) -> f64 {
        self.busy_ns.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// Runs one shim call with an error buffer, timing it.
    fn call(&self, op: &str, f: impl FnOnce(*mut ffi::LssgGroup, *mut c_char, usize) -> i32) -> Result<()> {
        let mut err = [0 as c_char; 2048];
        let started = Instant::now();
        let rc = f(self.group.as_ptr(), err.as_mut_ptr(), err.len());
        self.busy_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        check(rc, &err, op, self.rank, self.world_size, self.timeout)
    }

    /// Gloo works on contiguous CPU tensors only; anything else is refused before it sees them.
    fn check_tensor(op: &str, t: &Tensor) -> Result<()> {
        if t.device() != Device::Cpu || !t.is_contiguous() {
            return Err(Error::Unsupported {
                what: op.into(),
                reason: format!(
                    "a {:?} tensor on {:?} (contiguous: {}); expected contiguous CPU",
                    t.size(),
                    t.device(),
                    t.is_contiguous()
                ),
            });
        }
        Ok(())
    }

    /// Replaces `tensor` on every rank by rank `root`'s.
    pub fn broadcast(&self, tensor: &Tensor, root: usize) -> Result<()> {
        Self::check_tensor("broadcast", tensor)?;
        if root >= self.world_size {
            return Err(Error::invalid("root", root, format!("< world size {}", self.world_size)));
        }
        let ptr = tensor.as_ptr() as *mut C_tensor;
        // SAFETY: a live tensor pointer for the call; the shim catches every exception.
        self.call("broadcast", |g, err, len| unsafe { ffi::lssg_dist_broadcast(g, ptr, root as i32, err, len) })
    }

    /// Reduces each of `tensors` in place over the ranks with `op`; the collectives are queued
    /// together and overlap.
    pub fn all_reduce(&self, tensors: &[Tensor], op: ReduceOp) -> Result<()> {
        for t in tensors {
            Self::check_tensor("all-reduce", t)?;
        }
        let ptrs: Vec<*mut C_tensor> = tensors.iter().map(|t| t.as_ptr() as *mut C_tensor).collect();
        // SAFETY: `n` live tensor pointers for the call; the shim catches every exception.
        self.call("all-reduce", |g, err, len| unsafe {
            ffi::lssg_dist_all_reduce(g, ptrs.as_ptr(), ptrs.len() as i64, op.code(), err, len)
        })
    }

    /// Reduces a few numbers over the ranks with `op` (exactly, as f64): per-scenario losses,
    /// sample counts, sums of metrics.
    pub fn all_reduce_f64(&self, values: &mut [f64], op: ReduceOp) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let t = Tensor::from_slice(values);
        self.all_reduce(std::slice::from_ref(&t), op)?;
        t.copy_data(values, values.len());
        Ok(())
    }

    /// Every rank's `input`, stacked in rank order: `[world_size, ...input's shape]`.
    pub fn all_gather(&self, input: &Tensor) -> Result<Tensor> {
        Self::check_tensor("all-gather", input)?;
        let mut shape = vec![self.world_size as i64];
        shape.extend(input.size());
        let output = Tensor::empty(&shape, (input.kind(), Device::Cpu));
        let (i, o) = (input.as_ptr() as *mut C_tensor, output.as_ptr() as *mut C_tensor);
        // SAFETY: two live tensor pointers for the call; the shim catches every exception.
        self.call("all-gather", |g, err, len| unsafe { ffi::lssg_dist_all_gather(g, i, o, err, len) })?;
        Ok(output)
    }

    /// Variable-length all-gather: every rank's `values` (any lengths), concatenated in rank
    /// order. Two collectives: the lengths, then the values padded to the longest.
    pub fn all_gather_f64(&self, values: &[f64]) -> Result<Vec<Vec<f64>>> {
        let lengths = self.all_gather(&Tensor::from_slice(&[values.len() as i64]))?;
        let lengths: Vec<i64> = Self::host(&lengths);
        let longest = lengths.iter().copied().max().unwrap_or(0) as usize;
        let mut padded = values.to_vec();
        padded.resize(longest, 0.0);
        let all = self.all_gather(&Tensor::from_slice(&padded))?;
        let flat: Vec<f64> = Self::host(&all);
        Ok(lengths.iter().enumerate().map(|(r, &n)| flat[r * longest..r * longest + n as usize].to_vec()).collect())
    }

    /// `t`'s values as a host vector of `T`.
    fn host<T: tch::kind::Element>(t: &Tensor) -> Vec<T> {
        let n = t.numel();
        let mut out = vec![T::ZERO; n];
        t.to_kind(T::KIND).reshape([-1]).copy_data(&mut out, n);
        out
    }

    /// Returns when every rank has reached it.
    pub fn barrier(&self) -> Result<()> {
        // SAFETY: the group pointer only; the shim catches every exception.
        self.call("barrier", |g, err, len| unsafe { ffi::lssg_dist_barrier(g, err, len) })
    }
}

/// A model's gradients in flat buffers of at most a given size (DDP's buckets): one all-reduce
/// per bucket instead of one per tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientBuckets {
    /// Index ranges into the gradient list, one per bucket.
    buckets: Vec<std::ops::Range<usize>>,
}

/// DDP's default bucket size, 25 MiB.
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

impl GradientBuckets {
    /// Buckets over tensors of `numels` elements of `element_bytes` each, in order, none over
    /// `bucket_bytes` unless one tensor alone is larger.
    pub fn new(numels: &[usize], element_bytes: usize, bucket_bytes: usize) -> Self {
        let mut buckets = Vec::new();
        let (mut start, mut bytes) = (0, 0);
        for (i, &n) in numels.iter().enumerate() {
            let size = n * element_bytes;
            if i > start && bytes + size > bucket_bytes {
                buckets.push(start..i);
                (start, bytes) = (i, 0);
            }
            bytes += size;
        }
        if start < numels.len() {
            buckets.push(start..numels.len());
        }
        Self { buckets }
    }

    /// Buckets of the tensors in `like` (float gradients or variables), in order.
    pub fn for_tensors(like: &[Tensor], bucket_bytes: usize) -> Self {
        let numels: Vec<usize> = like.iter().map(|t| t.numel()).collect();
        Self::new(&numels, 4, bucket_bytes)
    }

    /// Buckets made.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether there is no bucket (no tensors).
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Replaces every gradient by its mean over the ranks. `gradients` are the tensors these
    /// buckets were made for, in the same order; an undefined one counts as zeros of `like`'s
    /// shape on this rank and stays undefined here. Each bucket is flattened into one f32 buffer,
    /// all the buffers are summed together, divided by the world size and copied back.
    pub fn average(&self, group: &ProcessGroup, gradients: &[Tensor], like: &[Tensor]) -> Result<()> {
        if gradients.len() != like.len() || self.buckets.last().is_some_and(|b| b.end != like.len()) {
            return Err(Error::Shape {
                what: "gradient buckets".into(),
                expected: format!("{} gradients", self.buckets.last().map_or(0, |b| b.end)),
                got: format!("{} gradients, {} variables", gradients.len(), like.len()),
            });
        }
        let flats: Vec<Tensor> = self
            .buckets
            .iter()
            .map(|b| {
                let parts: Vec<Tensor> = b
                    .clone()
                    .map(|i| match gradients[i].defined() {
                        true => gradients[i].to_device(Device::Cpu).to_kind(Kind::Float).reshape([-1]),
                        false => Tensor::zeros([like[i].numel() as i64], (Kind::Float, Device::Cpu)),
                    })
                    .collect();
                Tensor::cat(&parts, 0)
            })
            .collect();
        group.all_reduce(&flats, ReduceOp::Sum)?;
        let world = group.world_size() as f64;
        for (b, flat) in self.buckets.iter().zip(&flats) {
            let mut offset = 0i64;
            for i in b.clone() {
                let n = like[i].numel() as i64;
                let g = &gradients[i];
                if g.defined() {
                    let mean = (flat.narrow(0, offset, n) / world).view_as(g).to_device(g.device());
                    tch::no_grad(|| g.shallow_clone().copy_(&mean));
                }
                offset += n;
            }
        }
        Ok(())
    }
}

thread_local! {
    /// The group of this thread's process, installed by [`install`].
    static CURRENT: std::cell::RefCell<Option<std::rc::Rc<ProcessGroup>>> = const { std::cell::RefCell::new(None) };
}

/// Makes `group` the group every data-parallel stage on this thread uses ([`current`]) until
/// [`uninstall`]; a group of one process is not installed (the single-process path stays the
/// plain one). Returns the group installed.
pub fn install(group: ProcessGroup) -> Option<std::rc::Rc<ProcessGroup>> {
    if group.world_size() < 2 {
        return None;
    }
    let group = std::rc::Rc::new(group);
    CURRENT.with(|c| *c.borrow_mut() = Some(std::rc::Rc::clone(&group)));
    Some(group)
}

/// Removes this thread's group (dropping it when nothing else holds it).
pub fn uninstall() {
    CURRENT.with(|c| c.borrow_mut().take());
}

/// This thread's group, if it runs as one rank of several; `None` in a single process.
pub fn current() -> Option<std::rc::Rc<ProcessGroup>> {
    CURRENT.with(|c| c.borrow().clone())
}

#[cfg(test)]
mod tests;
