//! libtorch's fused optimiser kernels and PyTorch's set-to-none `zero_grad`, bound through a
//! small C++ shim (`src/optim_shim.cpp`, docs/speed.md §3), for an optimiser whose state tensors
//! belong to the caller (lssg-trainer's optimiser).
//!
//! tch generates no bindings for `_fused_*` ops. The fused kernels update every variable and
//! its moments in one pass over memory with no temporaries, where the same rule written as tch
//! tensor operations makes ~8 passes and 4 temporaries per variable.

use std::ffi::{CStr, c_char};

use tch::Tensor;
use torch_sys::C_tensor;

use crate::error::{Error, Result};

mod ffi {
    use super::{C_tensor, c_char};

    unsafe extern "C" {
        pub fn lssg_fused_adam(
            params: *const *mut C_tensor,
            grads: *const *mut C_tensor,
            exp_avgs: *const *mut C_tensor,
            exp_avg_sqs: *const *mut C_tensor,
            steps: *const *mut C_tensor,
            n: i64,
            lr: f64,
            beta1: f64,
            beta2: f64,
            weight_decay: f64,
            eps: f64,
            decoupled: i32,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
        pub fn lssg_fused_sgd(
            params: *const *mut C_tensor,
            grads: *const *mut C_tensor,
            buffers: *const *mut C_tensor,
            n: i64,
            weight_decay: f64,
            momentum: f64,
            lr: f64,
            nesterov: i32,
            first_step: i32,
            err: *mut c_char,
            err_len: usize,
        ) -> i32;
        pub fn lssg_grad_set_to_none(vars: *const *mut C_tensor, n: i64, err: *mut c_char, err_len: usize) -> i32;
    }
}

/// Adam's hyper-parameters for one fused step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// Learning rate.
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// Weight decay: L2 added to the gradient (Adam) or decoupled (AdamW).
    pub weight_decay: f64,
    /// ε.
    pub eps: f64,
    /// AdamW's decoupled weight decay instead of Adam's L2.
    pub decoupled: bool,
}

/// SGD's hyper-parameters for one fused step (dampening 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    /// Learning rate.
    pub lr: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Momentum (0: no buffers).
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// The variables' first step: the buffers start as the gradient.
    pub first_step: bool,
}

fn pointers(tensors: &[Tensor]) -> Vec<*mut C_tensor> {
    tensors.iter().map(|t| t.as_ptr() as *mut C_tensor).collect()
}

fn check_lengths(what: &str, n: usize, lists: &[(&str, usize)]) -> Result<()> {
    match lists.iter().find(|(_, len)| *len != n) {
        Some((name, len)) => Err(Error::Unsupported {
            what: what.into(),
            reason: format!("{name} has {len} tensors, the variables {n}"),
        }),
        None => Ok(()),
    }
}

/// The kernels index every list with the variable's element count and do not check shapes
/// themselves (measured: a 3-element gradient for a 2-element variable is accepted), so a
/// mismatch is refused here, naming the list and the index.
fn check_shapes(what: &str, params: &[Tensor], lists: &[(&str, &[Tensor])]) -> Result<()> {
    for (name, list) in lists {
        for (i, (p, t)) in params.iter().zip(*list).enumerate() {
            if p.size() != t.size() {
                return Err(Error::Unsupported {
                    what: what.into(),
                    reason: format!("{name} {i} has shape {:?}, its variable {:?}", t.size(), p.size()),
                });
            }
        }
    }
    Ok(())
}

/// Runs a shim call with an error buffer; a non-zero return becomes [`Error::Unsupported`]
/// naming `what` and carrying libtorch's message.
fn call(what: &str, f: impl FnOnce(*mut c_char, usize) -> i32) -> Result<()> {
    let mut err = [0 as c_char; 1024];
    if f(err.as_mut_ptr(), err.len()) == 0 {
        return Ok(());
    }
    // SAFETY: the shim writes a NUL-terminated string into `err` (and the buffer starts zeroed).
    let reason = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
    Err(Error::Unsupported { what: what.into(), reason })
}

/// One Adam / AdamW step (libtorch `_fused_adam_` / `_fused_adamw_`) over `params` with their
/// `grads`, first and second moments and 0-d float step counts (advanced by one here), all on
/// one device. Gradients must be defined.
pub fn adam_(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    steps: &[Tensor],
    h: AdamStep,
) -> Result<()> {
    let n = params.len();
    let what = if h.decoupled { "_fused_adamw_" } else { "_fused_adam_" };
    check_lengths(
        what,
        n,
        &[
            ("grads", grads.len()),
            ("exp_avgs", exp_avgs.len()),
            ("exp_avg_sqs", exp_avg_sqs.len()),
            ("steps", steps.len()),
        ],
    )?;
    check_shapes(what, params, &[("grad", grads), ("exp_avg", exp_avgs), ("exp_avg_sq", exp_avg_sqs)])?;
    if let Some((i, s)) = steps.iter().enumerate().find(|(_, s)| !s.size().is_empty() || s.kind() != tch::Kind::Float) {
        return Err(Error::Unsupported {
            what: what.into(),
            reason: format!("step count {i} is {:?} {:?}, expected a 0-d Float tensor", s.size(), s.kind()),
        });
    }
    if n == 0 {
        return Ok(());
    }
    let (p, g, m, v, s) =
        (pointers(params), pointers(grads), pointers(exp_avgs), pointers(exp_avg_sqs), pointers(steps));
    call(what, |err, len| {
        // SAFETY: five arrays of `n` live tensor pointers (the slices outlive the call); the shim
        // only reads them and catches every C++ exception.
        unsafe {
            ffi::lssg_fused_adam(
                p.as_ptr(),
                g.as_ptr(),
                m.as_ptr(),
                v.as_ptr(),
                s.as_ptr(),
                n as i64,
                h.lr,
                h.beta1,
                h.beta2,
                h.weight_decay,
                h.eps,
                i32::from(h.decoupled),
                err,
                len,
            )
        }
    })
}

/// One SGD step (libtorch `_fused_sgd_`); `buffers` holds one momentum buffer per variable
/// when `h.momentum > 0` and is ignored (may be empty) otherwise.
pub fn sgd_(params: &[Tensor], grads: &[Tensor], buffers: &[Tensor], h: SgdStep) -> Result<()> {
    let n = params.len();
    let mut lists = vec![("grads", grads.len())];
    if h.momentum > 0.0 {
        lists.push(("momentum buffers", buffers.len()));
    }
    check_lengths("_fused_sgd_", n, &lists)?;
    check_shapes("_fused_sgd_", params, &[("grad", grads)])?;
    if h.momentum > 0.0 {
        check_shapes("_fused_sgd_", params, &[("momentum buffer", buffers)])?;
    }
    if n == 0 {
        return Ok(());
    }
    let (p, g) = (pointers(params), pointers(grads));
    let b = if h.momentum > 0.0 { pointers(buffers) } else { Vec::new() };
    call("_fused_sgd_", |err, len| {
        // SAFETY: as in `adam_`; `b` is only read when momentum > 0, and then has `n` entries.
        unsafe {
            ffi::lssg_fused_sgd(
                p.as_ptr(),
                g.as_ptr(),
                b.as_ptr(),
                n as i64,
                h.weight_decay,
                h.momentum,
                h.lr,
                i32::from(h.nesterov),
                i32::from(h.first_step),
                err,
                len,
            )
        }
    })
}

/// Drops the gradients of `vars` (PyTorch's `zero_grad(set_to_none=True)`), so the next
/// backward allocates them instead of accumulating into zeroed buffers.
pub fn grad_set_to_none(vars: &[Tensor]) -> Result<()> {
    let p = pointers(vars);
    call("zero_grad(set_to_none)", |err, len| {
        // SAFETY: `n` live tensor pointers; the shim resets each one's gradient slot.
        unsafe { ffi::lssg_grad_set_to_none(p.as_ptr(), p.len() as i64, err, len) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn one_adam_step_matches_the_formula() {
        // θ = 1, g = 2, lr = 0.1: m̂ = 2, v̂ = 4, θ ← 1 − 0.1·2/(2 + 1e-8) = 0.9.
        let theta = Tensor::ones([1], (Kind::Float, Device::Cpu));
        let grad = Tensor::from_slice(&[2.0f32]);
        let (m, v) = (theta.zeros_like(), theta.zeros_like());
        let step = Tensor::zeros([], (Kind::Float, Device::Cpu));
        let h = AdamStep { lr: 0.1, beta1: 0.9, beta2: 0.999, weight_decay: 0.0, eps: 1e-8, decoupled: false };
        let all = |t: &Tensor| [t.shallow_clone()];
        adam_(&all(&theta), &all(&grad), &all(&m), &all(&v), &all(&step), h).unwrap();
        assert!((theta.double_value(&[0]) - 0.9).abs() < 1e-7);
        assert_eq!(step.double_value(&[]), 1.0);
        assert!((m.double_value(&[0]) - 0.2).abs() < 1e-7);
    }

    #[test]
    fn errors_carry_libtorch_s_message() {
        let theta = Tensor::ones([2], (Kind::Float, Device::Cpu));
        let wrong = Tensor::ones([3], (Kind::Float, Device::Cpu));
        let step = Tensor::zeros([], (Kind::Float, Device::Cpu));
        let h = AdamStep { lr: 0.1, beta1: 0.9, beta2: 0.999, weight_decay: 0.0, eps: 1e-8, decoupled: true };
        let one = |t: &Tensor| [t.shallow_clone()];
        let e = adam_(&one(&theta), &one(&wrong), &one(&theta.zeros_like()), &one(&theta.zeros_like()), &one(&step), h)
            .unwrap_err();
        assert!(e.to_string().contains("grad 0 has shape [3], its variable [2]"), "{e}");
        // An integer variable: libtorch's own dispatch error comes back.
        let ints = Tensor::ones([2], (Kind::Int64, Device::Cpu));
        let e = adam_(&one(&ints), &one(&ints), &one(&ints), &one(&ints), &one(&step), h).unwrap_err();
        assert!(
            matches!(&e, Error::Unsupported { what, reason } if what == "_fused_adamw_" && !reason.is_empty()),
            "{e}"
        );
        let e = adam_(&one(&theta), &[], &[], &[], &[], h).unwrap_err();
        assert!(e.to_string().contains("grads has 0 tensors"), "{e}");
    }

    #[test]
    fn set_to_none_drops_gradients() {
        let x = Tensor::ones([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        (&x * 2.0).sum(Kind::Float).backward();
        assert!(x.grad().defined());
        grad_set_to_none(std::slice::from_ref(&x)).unwrap();
        assert!(!x.grad().defined());
        (&x * 3.0).sum(Kind::Float).backward();
        assert_eq!(x.grad().double_value(&[0]), 3.0);
    }
}
