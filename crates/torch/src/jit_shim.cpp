// lssg-torch: extern "C" access to `torch::jit::Module::save` with extra files.
//
// tch saves a TorchScript module without extra files, and `lssg export` stores its metadata
// (`lssg.json`) inside the archive, where `torch.jit.load(path, _extra_files=…)` reads it. The
// shim loads the archive tch wrote and saves it again with the extra files added: the archive
// path is all that crosses the boundary, so the shim needs no knowledge of tch's module handle.
//
// Every function catches C++ exceptions, copies the message into `err` (NUL-terminated,
// truncated to `err_len`) and returns -1 (an exception must never unwind into Rust); 0 on
// success. The same calls exist in libtorch 2.11 and 2.13.

#include <torch/csrc/jit/serialization/import.h>
#include <torch/script.h>

#include <cstring>
#include <string>

namespace {

void write_error(const char* what, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  std::strncpy(err, what, err_len - 1);
  err[err_len - 1] = '\0';
}

}  // namespace

// Reads the TorchScript archive at `src` and writes it to `dst` with one extra file `name`
// holding the `len` bytes at `data`. `src` and `dst` may not be the same path.
extern "C" int lssg_jit_save_with_extra_file(const char* src, const char* dst, const char* name,
                                             const char* data, size_t len, char* err,
                                             size_t err_len) {
  try {
    torch::jit::Module module = torch::jit::load(std::string(src));
    torch::jit::ExtraFilesMap extra;
    extra[std::string(name)] = std::string(data, len);
    module.save(std::string(dst), extra);
    return 0;
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_len);
    return -1;
  } catch (...) {
    write_error("unknown C++ exception", err, err_len);
    return -1;
  }
}
