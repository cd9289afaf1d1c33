//! libtorch's GEMMs run in libtorch's own BLAS, not in the OpenBLAS that lssg-smoothing links
//! for its LU solves (crates/smoothing/build.rs links it statically; build/link_libtorch.rs
//! keeps it out of the dynamic symbol table). A shared libopenblas.so.0 first in the lookup
//! scope would interpose libtorch_cpu's `sgemm_`, and its pthread pool would fight libtorch's
//! OpenMP threads (docs/speed.md §6).

use std::ffi::{CStr, CString};

use crate::util;

/// The BLAS symbols libtorch_cpu defines and calls itself (from `nm -D libtorch_cpu.so`, plus
/// the LU that `torch.linalg` uses).
const SYMBOLS: [&str; 4] = ["sgemm_", "dgemm_", "sgemv_", "dgetrf_"];

/// The file of the object that the global lookup scope resolves `name` to, if any: what
/// libtorch_cpu's own (not -Bsymbolic) references bind to as well.
fn provider(name: &str) -> Option<String> {
    let c = CString::new(name).unwrap();
    // SAFETY: dlsym/dladdr only read the loader's tables; `info` is written by dladdr.
    unsafe {
        let addr = libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr());
        if addr.is_null() {
            return None;
        }
        let mut info: libc::Dl_info = std::mem::zeroed();
        assert_ne!(libc::dladdr(addr, &mut info), 0, "dladdr({name})");
        assert!(!info.dli_fname.is_null(), "dladdr({name}) names no file");
        Some(CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned())
    }
}

#[test]
fn libtorch_blas_symbols_resolve_to_libtorch_in_process() {
    // Use both libraries first: a smoothing LU solve (ndarray-linalg) and a libtorch GEMM.
    let set = lssg_scenario::ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
    let cfg = lssg_smoothing::SmoothingConfig::default();
    let out = lssg_smoothing::smooth(&[0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0], &set, &cfg).unwrap();
    assert!((out.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    let a = tch::Tensor::ones([64, 64], (tch::Kind::Float, tch::Device::Cpu));
    assert_eq!(a.matmul(&a).double_value(&[0, 0]), 64.0);

    let sgemm = provider("sgemm_").expect("sgemm_ resolves (libtorch_cpu defines it)");
    println!("sgemm_ is provided by {sgemm}");
    for name in SYMBOLS {
        let Some(file) = provider(name) else { continue };
        println!("{name} -> {file}");
        assert!(
            file.contains("libtorch_cpu"),
            "{name} resolves to {file}, not libtorch_cpu: another BLAS interposes libtorch's own"
        );
    }
}

#[test]
fn the_lssg_binary_binds_libtorch_blas_to_libtorch() {
    // LD_BIND_NOW makes the loader resolve (and LD_DEBUG report) every binding at start-up.
    let out = util::lssg()
        .arg("--version")
        .env("LD_BIND_NOW", "1")
        .env("LD_DEBUG", "bindings")
        .output()
        .expect("the lssg binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = String::from_utf8_lossy(&out.stderr);
    let mut seen = 0;
    for line in log.lines() {
        let Some((binding, symbol)) = line.split_once(": normal symbol `") else { continue };
        if !SYMBOLS.iter().any(|s| symbol.strip_prefix(s) == Some("'")) || !binding.contains("libtorch_cpu.so [") {
            continue;
        }
        let from = binding.split(" to ").next().unwrap_or_default();
        if !from.contains("libtorch_cpu.so") {
            continue;
        }
        let to = binding.split(" to ").nth(1).unwrap_or_default();
        println!("{}", line.trim());
        assert!(
            to.contains("libtorch_cpu.so"),
            "libtorch_cpu's {} binds elsewhere: {line}",
            symbol.trim_end_matches('\'')
        );
        seen += 1;
    }
    assert!(seen > 0, "no binding of libtorch_cpu's sgemm_ etc. in LD_DEBUG output:\n{log:.2000}");
}
