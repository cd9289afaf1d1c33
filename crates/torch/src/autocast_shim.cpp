// lssg-torch: extern "C" access to libtorch's per-device autocast state (docs/precision.md §2).
//
// tch 0.26 binds only the deprecated CUDA-only `at::autocast::is_enabled/set_enabled`, with no
// dtype setter, so this shim binds the per-device API. Only functions present in both libtorch
// 2.11 (the tch 0.24 GPU build flavour) and 2.13 headers are used:
// `is_autocast_enabled`, `set_autocast_enabled`, `get_autocast_dtype`, `set_autocast_dtype`
// (each taking an `at::DeviceType`), `increment_nesting`, `decrement_nesting`, `clear_cache`,
// and `getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8` for `precision = "auto"`.
//
// Device and dtype travel as libtorch's own enum values (c10::DeviceType, c10::ScalarType),
// checked below against the numbers the Rust side uses. Every function catches C++ exceptions
// and returns -1 instead (an exception must never unwind into Rust).

#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

static_assert(static_cast<int>(c10::DeviceType::CPU) == 0, "DeviceType::CPU");
static_assert(static_cast<int>(c10::DeviceType::CUDA) == 1, "DeviceType::CUDA");
static_assert(static_cast<int>(c10::ScalarType::Half) == 5, "ScalarType::Half");
static_assert(static_cast<int>(c10::ScalarType::Float) == 6, "ScalarType::Float");
static_assert(static_cast<int>(c10::ScalarType::BFloat16) == 15, "ScalarType::BFloat16");

extern "C" {

// 1 when autocast is enabled for `device_type`, 0 when not, -1 on error.
int lssg_autocast_is_enabled(int device_type) {
  try {
    return at::autocast::is_autocast_enabled(static_cast<c10::DeviceType>(device_type)) ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

// 0 on success, -1 on error.
int lssg_autocast_set_enabled(int device_type, int enabled) {
  try {
    at::autocast::set_autocast_enabled(static_cast<c10::DeviceType>(device_type), enabled != 0);
    return 0;
  } catch (...) {
    return -1;
  }
}

// The autocast dtype of `device_type` as a c10::ScalarType number, -1 on error.
int lssg_autocast_get_dtype(int device_type) {
  try {
    return static_cast<int>(at::autocast::get_autocast_dtype(static_cast<c10::DeviceType>(device_type)));
  } catch (...) {
    return -1;
  }
}

// 0 on success, -1 on error.
int lssg_autocast_set_dtype(int device_type, int scalar_type) {
  try {
    at::autocast::set_autocast_dtype(static_cast<c10::DeviceType>(device_type),
                                     static_cast<c10::ScalarType>(scalar_type));
    return 0;
  } catch (...) {
    return -1;
  }
}

// The nesting depth after the change, -1 on error.
int lssg_autocast_increment_nesting(void) {
  try {
    return at::autocast::increment_nesting();
  } catch (...) {
    return -1;
  }
}

int lssg_autocast_decrement_nesting(void) {
  try {
    return at::autocast::decrement_nesting();
  } catch (...) {
    return -1;
  }
}

// Drops the cached casts of weights (what PyTorch does when the outermost autocast exits).
int lssg_autocast_clear_cache(void) {
  try {
    at::autocast::clear_cache();
    return 0;
  } catch (...) {
    return -1;
  }
}

// 1 when the current CUDA device has bf16 tensor cores (compute capability >= 8.0, the test
// libtorch's CUDA hooks make), 0 when not or when libtorch has no CUDA, -1 on error.
int lssg_cuda_bf16_fast(void) {
  try {
    return at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8() ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

}  // extern "C"
