//! Links libtorch so that CUDA survives `--as-needed` and binaries need no LD_LIBRARY_PATH, and
//! compiles the autocast and fused-optimiser shims (`src/autocast_shim.cpp`, docs/precision.md §2;
//! `src/optim_shim.cpp`, docs/speed.md §3) against the same libtorch
//! headers torch-sys builds against.
include!("../../build/link_libtorch.rs");

fn main() {
    link_libtorch();
    compile_shims();
}

/// The libtorch root: the parent of torch-sys's library directory, else `LIBTORCH`.
fn libtorch_root() -> Option<std::path::PathBuf> {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        return std::path::PathBuf::from(lib).parent().map(std::path::Path::to_path_buf);
    }
    std::env::var("LIBTORCH").ok().map(std::path::PathBuf::from)
}

/// Builds the shims as one static library with torch-sys's flags (C++17, the C++11 ABI setting
/// of `LIBTORCH_CXX11_ABI`, default 1 as in torch-sys).
fn compile_shims() {
    println!("cargo:rerun-if-changed=src/autocast_shim.cpp");
    println!("cargo:rerun-if-changed=src/optim_shim.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let Some(root) = libtorch_root() else {
        panic!("lssg-backbones: cannot find libtorch (neither DEP_TCH_LIBTORCH_LIB nor LIBTORCH is set)");
    };
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        // Debug info of the libtorch headers makes the shim slow to build and is never needed.
        .debug(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("src/autocast_shim.cpp")
        .file("src/optim_shim.cpp")
        .compile("lssg_autocast_shim");
}
