//! Links libtorch so that CUDA survives `--as-needed` and binaries need no LD_LIBRARY_PATH, and
//! compiles the C++ shims of [`SHIMS`] (autocast: docs/precision.md §2; fused optimisers:
//! docs/speed.md §3; memory formats: docs/speed.md §8; packed-weight inference: docs/speed.md §10; c10d's Gloo: docs/distributed.md §1) into
//! one static library against the same libtorch headers torch-sys builds against.
include!("../../build/link_libtorch.rs");

/// The C++ shims, compiled together. A new shim is one more entry here (and its `extern "C"`
/// block in the module that binds it).
const SHIMS: &[&str] = &[
    "src/autocast_shim.cpp",
    "src/jit_shim.cpp",
    "src/optim_shim.cpp",
    "src/layout_shim.cpp",
    "src/dist_shim.cpp",
    "src/packed_shim.cpp",
];

fn main() {
    link_libtorch();
    compile_shims(SHIMS);
}

/// The libtorch root: the parent of torch-sys's library directory, else `LIBTORCH`.
fn libtorch_root() -> Option<std::path::PathBuf> {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        return std::path::PathBuf::from(lib).parent().map(std::path::Path::to_path_buf);
    }
    std::env::var("LIBTORCH").ok().map(std::path::PathBuf::from)
}

/// Builds `shims` as one static library with torch-sys's flags (C++17, the C++11 ABI setting
/// of `LIBTORCH_CXX11_ABI`, default 1 as in torch-sys).
fn compile_shims(shims: &[&str]) {
    for shim in shims {
        println!("cargo:rerun-if-changed={shim}");
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=src/gloo_decl");
    let Some(root) = libtorch_root() else {
        panic!("lssg-torch: cannot find libtorch (neither DEP_TCH_LIBTORCH_LIB nor LIBTORCH is set)");
    };
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        // Debug info of the libtorch headers makes the shims slow to build and is never needed.
        .debug(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        // The gloo declarations ProcessGroupGloo.hpp includes, which the wheel does not ship.
        .include("src/gloo_decl")
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .files(shims)
        .compile("lssg_torch_shims");
}
