// lssg-torch: extern "C" access to libtorch's fused optimiser kernels (docs/speed.md §3).
//
// tch 0.26 (and 0.24) generate no bindings for `_fused_*` and `_foreach_*` ops, so this shim
// binds the three the Rust optimiser (crates/trainer/src/optim.rs) applies to state tensors it
// owns: `_fused_adam_`, `_fused_adamw_` and `_fused_sgd_`, each with the `double lr` overload
// present in libtorch 2.11 and 2.13. It also clears gradients the way PyTorch's
// `zero_grad(set_to_none=True)` does, which tch cannot express.
//
// Tensors travel as `at::Tensor*`, tch's `C_tensor` pointers. Every function catches C++
// exceptions, copies the message into `err` (NUL-terminated, truncated to `err_len`) and returns
// -1 (an exception must never unwind into Rust); 0 on success.

#include <ATen/core/Tensor.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_fused_adam.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/_fused_sgd.h>

#include <cstring>
#include <vector>

namespace {

std::vector<at::Tensor> list(at::Tensor** ptrs, int64_t n) {
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(*ptrs[i]);
  return out;
}

void write_error(const char* what, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  std::strncpy(err, what, err_len - 1);
  err[err_len - 1] = '\0';
}

// Runs `f`: 0 when it returns, -1 with the message in `err` when it throws.
template <class F>
int guarded(F f, char* err, size_t err_len) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_len);
  } catch (...) {
    write_error("unknown C++ exception", err, err_len);
  }
  return -1;
}

}  // namespace

extern "C" {

// One Adam (decoupled = 0) or AdamW (decoupled = 1) step over `n` variables: every step count
// (a 0-d float tensor on the variable's device) is advanced by one first, as PyTorch's
// `Adam(fused=True)` does, then the fused kernel updates variables and moments in one pass.
int lssg_fused_adam(at::Tensor** params, at::Tensor** grads, at::Tensor** exp_avgs, at::Tensor** exp_avg_sqs,
                    at::Tensor** steps, int64_t n, double lr, double beta1, double beta2, double weight_decay,
                    double eps, int decoupled, char* err, size_t err_len) {
  return guarded(
      [&] {
        auto p = list(params, n), g = list(grads, n), m = list(exp_avgs, n), v = list(exp_avg_sqs, n),
             s = list(steps, n);
        at::_foreach_add_(s, 1);
        std::vector<at::Tensor> no_max;
        if (decoupled != 0) {
          at::_fused_adamw_(p, g, m, v, no_max, s, lr, beta1, beta2, weight_decay, eps, false, false);
        } else {
          at::_fused_adam_(p, g, m, v, no_max, s, lr, beta1, beta2, weight_decay, eps, false, false);
        }
      },
      err, err_len);
}

// One SGD step (dampening 0) over `n` variables; `buffers` has `n` momentum buffers when
// momentum > 0 and is ignored otherwise. `first_step` = 1 initialises the buffers with the
// gradient (PyTorch's first step), so callers group variables by whether they have stepped.
int lssg_fused_sgd(at::Tensor** params, at::Tensor** grads, at::Tensor** buffers, int64_t n, double weight_decay,
                   double momentum, double lr, int nesterov, int first_step, char* err, size_t err_len) {
  return guarded(
      [&] {
        auto p = list(params, n), g = list(grads, n);
        auto b = momentum > 0.0 ? list(buffers, n) : std::vector<at::Tensor>{};
        at::_fused_sgd_(p, g, b, weight_decay, momentum, lr, 0.0, nesterov != 0, false, first_step != 0);
      },
      err, err_len);
}

// Drops the gradient of each of `n` variables (PyTorch's `zero_grad(set_to_none=True)`): the
// next backward writes fresh gradients instead of adding into zeroed ones.
int lssg_grad_set_to_none(at::Tensor** vars, int64_t n, char* err, size_t err_len) {
  return guarded([&] { for (int64_t i = 0; i < n; ++i) vars[i]->mutable_grad().reset(); }, err, err_len);
}

}  // extern "C"
