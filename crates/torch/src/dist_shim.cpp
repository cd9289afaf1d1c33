// lssg-torch: extern "C" access to libtorch's c10d (docs/distributed.md §1): a TCPStore
// rendezvous and a ProcessGroupGloo over it, with broadcast, all-reduce, all-gather and barrier
// on CPU tensors.
//
// The PyPI wheel ships ProcessGroupGloo.hpp but not the gloo headers it includes; the
// declarations it needs come from `gloo_decl/` (lssg's own, declarations only). Every gloo object
// is created and used inside libtorch_cpu, with its own gloo.
//
// A group travels as an opaque `LssgGroup*`. Every function catches C++ exceptions, copies the
// message into `err` (NUL-terminated, truncated to `err_len`) and returns -1, or -2 when the
// message reports a timeout (an exception must never unwind into Rust); 0 on success.

#define USE_C10D_GLOO 1

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

struct LssgGroup {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::chrono::milliseconds timeout;
};

namespace {

void write_error(const char* what, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  std::strncpy(err, what, err_len - 1);
  err[err_len - 1] = '\0';
}

// gloo and the TCPStore report timeouts only in their messages ("Timed out", "timeout").
bool is_timeout(const std::string& what) {
  return what.find("imed out") != std::string::npos || what.find("imeout") != std::string::npos;
}

// Runs `f`: 0 when it returns, -1 with the message in `err` when it throws, -2 for a timeout.
template <class F>
int guarded(F f, char* err, size_t err_len) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    // libtorch's own errors: the message without the C++ backtrace.
    write_error(e.what_without_backtrace(), err, err_len);
    return is_timeout(e.what_without_backtrace()) ? -2 : -1;
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_len);
    return is_timeout(e.what()) ? -2 : -1;
  } catch (...) {
    write_error("unknown C++ exception", err, err_len);
  }
  return -1;
}

std::vector<at::Tensor> list(at::Tensor** ptrs, int64_t n) {
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(*ptrs[i]);
  return out;
}

void wait(LssgGroup* g, const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait(g->timeout);
}

}  // namespace

extern "C" {

// Joins the group of `world` ranks as `rank`: rank 0 serves the TCPStore on `port` of `host`,
// every rank connects to it; then the Gloo group connects every pair of ranks through a device
// bound to `interface` (a network interface name) when given, else to this host's address.
// Every step waits at most `timeout_ms`.
int lssg_dist_new(const char* host, uint16_t port, int rank, int world, int64_t timeout_ms, const char* interface,
                  LssgGroup** out, char* err, size_t err_len) {
  return guarded(
      [&] {
        auto timeout = std::chrono::milliseconds(timeout_ms);
        c10d::TCPStoreOptions opts;
        opts.port = port;
        opts.isServer = rank == 0;
        opts.numWorkers = static_cast<size_t>(world);
        opts.waitWorkers = true;
        opts.timeout = timeout;
        auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        if (interface != nullptr && interface[0] != '\0') {
          options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
        } else {
          options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        // One Gloo worker thread: a step's collectives are queued together anyway, and the cores
        // belong to libtorch's compute (a rank often has one or two).
        options->threads = 1;
        auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
        *out = new LssgGroup{store, group, timeout};
      },
      err, err_len);
}

void lssg_dist_free(LssgGroup* g) {
  try {
    delete g;
  } catch (...) {
  }
}

// Broadcasts `tensor` from `root` into every rank's `tensor`.
int lssg_dist_broadcast(LssgGroup* g, at::Tensor* tensor, int root, char* err, size_t err_len) {
  return guarded(
      [&] {
        std::vector<at::Tensor> tensors{*tensor};
        c10d::BroadcastOptions opts;
        opts.rootRank = root;
        opts.timeout = g->timeout;
        wait(g, g->group->broadcast(tensors, opts));
      },
      err, err_len);
}

// Reduces each of `n` tensors in place over the ranks: op 0 = sum, 1 = max, 2 = min. All `n`
// collectives are queued before the first wait, so they overlap on Gloo's thread.
int lssg_dist_all_reduce(LssgGroup* g, at::Tensor** tensors, int64_t n, int op, char* err, size_t err_len) {
  return guarded(
      [&] {
        c10d::AllreduceOptions opts;
        opts.reduceOp = op == 1 ? c10d::ReduceOp::MAX : op == 2 ? c10d::ReduceOp::MIN : c10d::ReduceOp::SUM;
        opts.timeout = g->timeout;
        std::vector<c10::intrusive_ptr<c10d::Work>> works;
        for (auto& t : list(tensors, n)) {
          std::vector<at::Tensor> one{t};
          works.push_back(g->group->allreduce(one, opts));
        }
        for (auto& w : works) wait(g, w);
      },
      err, err_len);
}

// Gathers every rank's `input` into the contiguous `output`, rank after rank (`output` has
// world × numel(input) elements).
int lssg_dist_all_gather(LssgGroup* g, at::Tensor* input, at::Tensor* output, char* err, size_t err_len) {
  return guarded(
      [&] {
        std::vector<at::Tensor> inputs{*input};
        std::vector<std::vector<at::Tensor>> outputs(1);
        auto parts = output->reshape({-1}).chunk(g->group->getSize(), 0);
        for (auto& part : parts) outputs[0].push_back(part.view(input->sizes()));
        c10d::AllgatherOptions opts;
        opts.timeout = g->timeout;
        wait(g, g->group->allgather(outputs, inputs, opts));
      },
      err, err_len);
}

// Returns when every rank has called it.
int lssg_dist_barrier(LssgGroup* g, char* err, size_t err_len) {
  return guarded(
      [&] {
        c10d::BarrierOptions opts;
        opts.timeout = g->timeout;
        wait(g, g->group->barrier(opts));
      },
      err, err_len);
}

}  // extern "C"
