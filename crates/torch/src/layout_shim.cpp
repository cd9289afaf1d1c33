// lssg-torch: extern "C" access to libtorch's memory formats (docs/speed.md §8).
//
// tch 0.26 binds neither `Tensor::contiguous(MemoryFormat)` nor `is_contiguous(MemoryFormat)`,
// so this shim does. Only `at::Tensor::contiguous`, `at::Tensor::is_contiguous` and
// `c10::MemoryFormat::{Contiguous, ChannelsLast, ChannelsLast3d}`, declared alike by libtorch 2.11 and 2.13, are
// used, with `ChannelsLast3d` for 5-D tensors (the 3-D convolutions of CBC). Tensors travel as `at::Tensor*` (tch's `C_tensor`). Every function catches C++
// exceptions (which must never unwind into Rust) and reports failure by its return value.

#include <ATen/core/Tensor.h>

namespace {

// Channels-last means NHWC for 4-D tensors and NDHWC (`ChannelsLast3d`) for 5-D ones; other
// ranks have no channels-last order (libtorch raises, the caller gets the error value).
c10::MemoryFormat format_of(const at::Tensor& t, int channels_last) {
  if (channels_last == 0) return c10::MemoryFormat::Contiguous;
  return t.dim() == 5 ? c10::MemoryFormat::ChannelsLast3d : c10::MemoryFormat::ChannelsLast;
}

}  // namespace

extern "C" {

// A new tensor equal to `*t` and contiguous in plain (`channels_last = 0`) or channels-last order
// (1; a 4-D or 5-D tensor is required); `*t`'s storage when it already is. nullptr on error.
at::Tensor* lssg_contiguous_as(at::Tensor* t, int channels_last) {
  try {
    return new at::Tensor(t->contiguous(format_of(*t, channels_last)));
  } catch (...) {
    return nullptr;
  }
}

// 1 when `*t` is contiguous in the format, 0 when not, -1 on error.
int lssg_is_contiguous_as(at::Tensor* t, int channels_last) {
  try {
    return t->is_contiguous(format_of(*t, channels_last)) ? 1 : 0;
  } catch (...) {
    return -1;
  }
}

}  // extern "C"
