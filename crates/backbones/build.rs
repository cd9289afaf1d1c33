//! Links libtorch so that CUDA survives `--as-needed` and binaries need no LD_LIBRARY_PATH.
include!("../../build/link_libtorch.rs");

fn main() {
    link_libtorch();
}
