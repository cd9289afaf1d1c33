//! A model checkpoint: an error, or weights that fit the model and are finite.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tch::nn;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("case.safetensors");
    std::fs::write(&path, data).unwrap();
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let _ = nn::linear(vs.root() / "fc", 3, 2, Default::default());
    if lssg_backbones::checkpoint::load(&vs, &path).is_ok() {
        for (name, t) in vs.variables() {
            assert!(t.isfinite().all().int64_value(&[]) != 0, "{name}");
        }
    }
});
