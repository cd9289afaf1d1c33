// Shared by the build.rs of every crate that links libtorch (torch, backbones, scoring, trainer,
// predict, lssg).
//
// Why: torch-sys links libtorch with `--as-needed`, so `libtorch_cuda.so` (which nothing
// references by symbol) is dropped and CUDA silently disappears at run time. We force it in
// with `--no-as-needed` when it exists, and add an rpath so binaries and test executables run
// without LD_LIBRARY_PATH. torch-sys exports the library directory as `cargo:libtorch_lib`,
// which reaches a build script as DEP_TCH_LIBTORCH_LIB only in a package that depends on
// torch-sys directly, and `cargo:rustc-link-arg` applies only to that package's own targets;
// hence one copy of this logic per linking crate, included from this file.

//
// Also: lssg-smoothing links Debian's static OpenBLAS for its LU solves. An executable
// exports its own definitions of symbols that a shared library it links also defines, so
// OpenBLAS's `sgemm_`, `dgemm_`, `dgetrf_`, … would interpose libtorch_cpu's own, and
// libtorch's GEMMs would run in OpenBLAS (whose pthread pool fights libtorch's OpenMP).
// `--exclude-libs` keeps the archive's symbols out of the dynamic symbol table; harmless
// where the archive is not linked. Checked by tests/blas.rs (docs/speed.md §6).
//
// The GPU flavour (scripts/gpu-build, docs/gpu.md §2) runs on another machine, against the
// libtorch of that machine's PyTorch: there `LSSG_RPATH` (e.g. `$ORIGIN/../lib`) replaces the
// build venv's directory in the rpath, `--allow-shlib-undefined` lets the link succeed against
// a CUDA libtorch installed without its nvidia-* libraries (`pip install --no-deps`), and
// libtorch_cuda.so is not linked: `lssg_torch::device::load_libtorch_cuda` dlopens it at
// start-up, so the binary also starts where CUDA's libraries are absent (and says why).

fn link_libtorch() {
    println!("cargo:rustc-check-cfg=cfg(libtorch_cuda)");
    println!("cargo:rustc-link-arg=-Wl,--exclude-libs,libopenblas.a");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LSSG_RPATH");
    let lib_dir = match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(dir) => std::path::PathBuf::from(dir),
        Err(_) => match std::env::var("LIBTORCH") {
            Ok(root) => std::path::PathBuf::from(root).join("lib"),
            Err(_) => return,
        },
    };
    if let Some(rpath) = std::env::var("LSSG_RPATH").ok().filter(|r| !r.is_empty()) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{rpath}");
        println!("cargo:rustc-link-arg=-Wl,--allow-shlib-undefined");
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    if lib_dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib_dir.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
        println!("cargo:rustc-cfg=libtorch_cuda");
    }
}
