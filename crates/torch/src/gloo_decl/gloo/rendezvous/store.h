// lssg: declarations only. See crates/torch/src/gloo_decl/README.md.
//
// ProcessGroupGloo.hpp derives `GlooStore` from this class and overrides these four members in
// inline definitions, so the base must be complete; lssg never constructs a GlooStore, so the
// layout of this declaration is never used (libtorch_cpu constructs its own, with its gloo).
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace gloo {
namespace rendezvous {
class Store {
 public:
  virtual ~Store() = default;
  virtual void set(const std::string& key, const std::vector<char>& data) = 0;
  virtual std::vector<char> get(const std::string& key) = 0;
  virtual void wait(const std::vector<std::string>& keys) = 0;
  virtual void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) = 0;
};
}  // namespace rendezvous
}  // namespace gloo
