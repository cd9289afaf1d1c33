// lssg: declarations only. See crates/torch/src/gloo_decl/README.md.
#pragma once

namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
