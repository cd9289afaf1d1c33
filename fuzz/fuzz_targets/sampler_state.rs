//! The scenario sampler of a `state.json`: refused by `check_state`, or it draws without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lssg_scenario::{ModalitySet, ScenarioSampler};

fuzz_target!(|data: &[u8]| {
    let Ok(mut sampler) = serde_json::from_slice::<ScenarioSampler>(data) else { return };
    let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
    if sampler.check_state(&set).is_ok() {
        let scenarios = set.scenarios();
        assert!(sampler.sample_n(64).iter().all(|s| scenarios.contains(s)));
    }
});
