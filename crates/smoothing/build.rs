//! Links Debian's static OpenBLAS (libopenblas-dev) as the LAPACK behind ndarray-linalg.
//!
//! Why static: the shared `libopenblas.so.0` exports the whole BLAS (`sgemm_`, `dgemm_`, …)
//! and, loaded ahead of libtorch, it interposed libtorch_cpu's own definitions, so libtorch's
//! GEMMs ran in OpenBLAS and its thread pool fought libtorch's OpenMP threads. Linked from
//! the archive, the LU solves resolve inside the executable at link time, and the binaries
//! that also link libtorch keep those symbols out of their dynamic symbol table with
//! `-Wl,--exclude-libs,libopenblas.a` (build/link_libtorch.rs), so libtorch binds to itself.
//! `tests/blas.rs` (crate lssg) checks which library provides `sgemm_` at run time.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    // Debian puts the pthread build in …/openblas-pthread/ (openblas.pc says where); look
    // in the multiarch directory too, where the alternatives symlink lives.
    let mut dirs: Vec<PathBuf> = pkg_config::Config::new()
        .cargo_metadata(false)
        .statik(true)
        .probe("openblas")
        .map(|lib| lib.link_paths)
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/lib/x86_64-linux-gnu"));
    dirs.push(PathBuf::from("/usr/lib/aarch64-linux-gnu"));
    let Some(dir) = dirs.iter().find(|d| d.join("libopenblas.a").exists()) else {
        panic!(
            "lssg-smoothing: libopenblas.a not found (looked in {dirs:?}); \
             run scripts/setup (installs Debian's libopenblas-dev)"
        );
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    // `-bundle`: placed after all rlibs on the final link line, so it resolves lax's LAPACK
    // references (lax comes after this crate); rustc wraps it in -Bstatic.
    println!("cargo:rustc-link-lib=static:-bundle=openblas");
    // Its LAPACK part is gfortran-compiled. Only the runtime libgfortran.so.5 (libgfortran5,
    // a dependency of libopenblas0) is installed, not the unversioned libgfortran.so of
    // libgfortran-12-dev, hence the verbatim name.
    println!("cargo:rustc-link-lib=dylib:+verbatim=libgfortran.so.5");
    println!("cargo:rustc-link-lib=dylib=pthread");
    println!("cargo:rustc-link-lib=dylib=m");
    println!("cargo:lib_dir={}", dir.display());
}
