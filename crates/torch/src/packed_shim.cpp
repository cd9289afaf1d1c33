// lssg-torch: extern "C" access to oneDNN's packed-weight inference operators (docs/speed.md §10).
//
// libtorch registers, for its own graph compilers, operators that take a weight already
// reordered into oneDNN's blocked format and fuse an activation into the convolution or matrix
// product: `mkldnn::_reorder_convolution_weight`, `mkldnn::_convolution_pointwise`,
// `mkldnn::_reorder_linear_weight` and `mkldnn::_linear_pointwise`. tch binds none of them, and
// they have no C++ function declarations in the installed headers, so this shim calls them
// through the dispatcher by schema name, boxed (the same names and schemas in libtorch 2.11
// and 2.13). A packed weight is an opaque MKLDNN tensor: it can only be passed back here.
//
// Every function catches C++ exceptions, copies the message into `err` (NUL-terminated,
// truncated to `err_len`) and returns nullptr or -1 (an exception must never unwind into Rust).

#include <ATen/Context.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/grad_mode.h>
#include <ATen/core/stack.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace {

void write_error(const char* what, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  std::strncpy(err, what, err_len - 1);
  err[err_len - 1] = '\0';
}

// Runs `f` and returns its tensor on the heap, or nullptr with the message in `err`.
template <class F>
at::Tensor* guarded(F f, char* err, size_t err_len) {
  try {
    return new at::Tensor(f());
  } catch (const c10::Error& e) {
    write_error(e.what_without_backtrace(), err, err_len);
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_len);
  } catch (...) {
    write_error("unknown C++ exception", err, err_len);
  }
  return nullptr;
}

// The operator `name` (overload ""), or an exception naming it.
c10::OperatorHandle op(const char* name) {
  auto handle = c10::Dispatcher::singleton().findSchema({name, ""});
  if (!handle.has_value()) {
    throw std::runtime_error(std::string("libtorch has no operator ") + name);
  }
  return *handle;
}

// Calls `handle` with `stack` and returns its single tensor output.
at::Tensor call(const c10::OperatorHandle& handle, torch::jit::Stack stack) {
  handle.callBoxed(stack);
  return stack.at(0).toTensor();
}

std::vector<int64_t> ints(const int64_t* values, int64_t n) { return std::vector<int64_t>(values, values + n); }

c10::IValue optional_tensor(at::Tensor* t) { return t == nullptr ? c10::IValue() : c10::IValue(*t); }

}  // namespace

extern "C" {

// 1 when libtorch has oneDNN and the four operators are registered, 0 when not.
int lssg_packed_available(void) {
  try {
    if (!at::hasMKLDNN()) return 0;
    for (const char* name : {"mkldnn::_reorder_convolution_weight", "mkldnn::_convolution_pointwise",
                             "mkldnn::_reorder_linear_weight", "mkldnn::_linear_pointwise"}) {
      if (!c10::Dispatcher::singleton().findSchema({name, ""}).has_value()) return 0;
    }
    return 1;
  } catch (...) {
    return 0;
  }
}

// 1 when oneDNN runs bf16 natively on this CPU (AVX512-BF16, AMX), 0 when not.
int lssg_packed_bf16_native(void) {
  try {
    torch::jit::Stack stack;
    op("mkldnn::_is_mkldnn_bf16_supported").callBoxed(stack);
    return stack.at(0).toBool() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

// 1 when gradients are being recorded on this thread, 0 under no_grad.
int lssg_grad_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }

// A convolution weight `[out, in/groups, kh, kw]` reordered for inputs of `input_size`
// (`input_dim` values), for `lssg_packed_conv` with the same geometry (`n` spatial dimensions).
at::Tensor* lssg_pack_conv_weight(at::Tensor* weight, const int64_t* padding, const int64_t* stride,
                                  const int64_t* dilation, int64_t n, int64_t groups, const int64_t* input_size,
                                  int64_t input_dim, char* err, size_t err_len) {
  return guarded(
      [&] {
        return call(op("mkldnn::_reorder_convolution_weight"),
                    {*weight, ints(padding, n), ints(stride, n), ints(dilation, n), groups,
                     ints(input_size, input_dim)});
      },
      err, err_len);
}

// The convolution of `x` with a packed weight and an optional bias (`bias` may be nullptr), with
// the activation `attr` ("none", "relu") applied in the same kernel.
at::Tensor* lssg_packed_conv(at::Tensor* x, at::Tensor* weight, at::Tensor* bias, const int64_t* padding,
                             const int64_t* stride, const int64_t* dilation, int64_t n, int64_t groups,
                             const char* attr, char* err, size_t err_len) {
  return guarded(
      [&] {
        return call(op("mkldnn::_convolution_pointwise"),
                    {*x, *weight, optional_tensor(bias), ints(padding, n), ints(stride, n), ints(dilation, n), groups,
                     std::string(attr), c10::List<std::optional<at::Scalar>>(), c10::IValue()});
      },
      err, err_len);
}

// A linear weight `[out, in]` reordered for `rows` input rows (the product of the input's
// leading dimensions), for `lssg_packed_linear`.
at::Tensor* lssg_pack_linear_weight(at::Tensor* weight, int64_t rows, char* err, size_t err_len) {
  return guarded([&] { return call(op("mkldnn::_reorder_linear_weight"), {*weight, rows}); }, err, err_len);
}

// `x Wᵀ + b` over the last dimension of `x` with a packed weight (`bias` may be nullptr) and the
// activation `attr` ("none", "relu") in the same kernel.
at::Tensor* lssg_packed_linear(at::Tensor* x, at::Tensor* weight, at::Tensor* bias, const char* attr, char* err,
                               size_t err_len) {
  return guarded(
      [&] {
        return call(op("mkldnn::_linear_pointwise"),
                    {*x, *weight, optional_tensor(bias), std::string(attr), c10::List<std::optional<at::Scalar>>(),
                     c10::IValue()});
      },
      err, err_len);
}

}  // extern "C"
