// lssg: declarations only. See crates/torch/src/gloo_decl/README.md.
//
// ProcessGroupGloo.hpp's inline `setTimeout` calls `gloo::Context::setTimeout`, so the member is
// declared; lssg never calls it (nor constructs a Context): libtorch_cpu owns every gloo object.
#pragma once
#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
