//! A probabilities file: an error, or a file whose distribution is one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lssg_scenario::{ModalitySet, PROBABILITY_TOLERANCE, ProbabilitiesFile, validate_distribution};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = serde_json::from_slice::<ProbabilitiesFile>(data) else { return };
    if file.validate("fuzz").is_err() {
        return;
    }
    let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
    if let Ok(p) = file.probabilities_for(&set, "fuzz") {
        validate_distribution("p", &p, 7, PROBABILITY_TOLERANCE).expect("a distribution");
    }
});
