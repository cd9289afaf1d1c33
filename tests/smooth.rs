//! `lssg smooth`: the docs/method.md §4.1 test vector end to end, the output forms and the input errors.

use lssg_scenario::ProbabilitiesFile;

use crate::util;

const SPEC_D: &str = "0.8,1.2,1.5,0.3,0.4,0.6,0.0";
/// docs/method.md §4.1's p for SPEC_D with the reference defaults, 6 printed decimals.
const SPEC_P: [f64; 7] = [0.142145, 0.179349, 0.215648, 0.113491, 0.118053, 0.128788, 0.102525];

fn final_probs(json: &str) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_str(json).expect("stdout is JSON");
    serde_json::from_value(v["final_probs"].clone()).expect("final_probs is a list of numbers")
}

fn assert_spec_p(p: &[f64]) {
    assert_eq!(p.len(), 7);
    for (k, (got, want)) in p.iter().zip(SPEC_P).enumerate() {
        assert!((got - want).abs() < 1e-6, "final_probs[{k}] = {got}, docs/method.md §4.1 says {want}");
    }
}

#[test]
fn spec_vector_as_json() {
    let out = util::ok(&["smooth", "--distortion", SPEC_D, "--modalities", "rgb,nir,swir"]);
    assert_spec_p(&final_probs(&out));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["scenario_names"][6], "rgb+nir+swir");
    assert_eq!(v["hook_point"], "cli");
    assert_eq!(v["backbone"], "");
    assert_eq!(v["num_samples"], 0);
    assert_eq!(v["rbf_sigma"], 1.0);
    assert_eq!(v["gamma_floor"], 0.5);
    assert_eq!(v["kernel_matrix"].as_array().unwrap().len(), 7);
}

#[test]
fn modality_names_are_inferred_from_the_count() {
    let out = util::ok(&["smooth", "--distortion", SPEC_D]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["scenario_names"][3], "m0+m1");
    assert_spec_p(&final_probs(&out));
    let v: serde_json::Value = serde_json::from_str(&util::ok(&["smooth", "--distortion", "0.2"])).unwrap();
    assert_eq!(v["final_probs"][0], 1.0);
}

#[test]
fn table_lists_every_scenario() {
    let out = util::ok(&["smooth", "--distortion", SPEC_D, "--modalities", "rgb,nir,swir", "--table"]);
    for name in ["scenario", "softmax", "rgb", "nir+swir", "rgb+nir+swir", "0.215648", "-1.405553"] {
        assert_contains!(out, name);
    }
    assert_eq!(out.lines().count(), 1 + 7 + 1, "header, 7 scenarios, parameters:\n{out}");
    let width = out.lines().nth(1).unwrap().len();
    assert!(out.lines().skip(1).take(7).all(|l| l.len() == width), "rows are not aligned:\n{out}");
}

#[test]
fn out_writes_a_valid_probabilities_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scoring/probabilities.json");
    let p = path.to_str().unwrap();
    let result = util::run_in(None, &["smooth", "--distortion", SPEC_D, "--modalities", "rgb,nir,swir", "--out", p]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(result.stdout.is_empty(), "JSON went to the file, not stdout");
    assert_contains!(String::from_utf8_lossy(&result.stderr), "probabilities.json");
    let file = ProbabilitiesFile::read(&path).unwrap();
    assert_spec_p(&file.final_probs);
    assert_eq!(file.D_sh, vec![0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0]);
    assert_eq!(file.preference, Some(lssg_core::Preference::DistortedFirst));
    // --quiet drops the confirmation.
    let result = util::run_in(None, &["smooth", "-q", "--distortion", SPEC_D, "--out", p]);
    assert!(result.status.success() && result.stderr.is_empty());
}

#[test]
fn distortion_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.json");
    std::fs::write(&path, "[0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0]").unwrap();
    assert_spec_p(&final_probs(&util::ok(&["smooth", "--distortion-file", path.to_str().unwrap()])));
    std::fs::write(&path, r#"{"D": [1, 2, 3]}"#).unwrap();
    let err = util::fails(&["smooth", "--distortion-file", path.to_str().unwrap()]);
    assert_contains!(err, "d.json");
    assert_contains!(err, "JSON list of numbers");
}

#[test]
fn options_reach_the_library() {
    let base = ["smooth", "--distortion", SPEC_D];
    let faithful = final_probs(&util::ok(&[&base[..], &["--preference", "faithful-first"]].concat()));
    let most = faithful.iter().cloned().fold(0.0, f64::max);
    assert_eq!(faithful[6], most, "faithful-first gives the full scenario the most");
    let v: serde_json::Value =
        serde_json::from_str(&util::ok(&[&base[..], &["--sigma", "median", "--descriptor", "masks"]].concat()))
            .unwrap();
    assert_eq!(v["descriptor"], "masks");
    assert_eq!(v["scenario_features_X"][0].as_array().unwrap().len(), 3);
    // Median of the masks' pairwise distances (1 and √2): √2.
    assert!((v["rbf_sigma"].as_f64().unwrap() - 2f64.sqrt()).abs() < 1e-12);
    let uniform = final_probs(&util::ok(&[&base[..], &["--tau", "0", "--lambda", "0.01", "--gamma", "1"]].concat()));
    assert!(uniform.iter().all(|p| (p - 1.0 / 7.0).abs() < 1e-12), "{uniform:?}");
}

#[test]
fn wrong_length_is_explained() {
    let err = util::fails(&["smooth", "--distortion", "0.8,1.2,1.5,0.3,0.4,0.6"]);
    assert_contains!(err, "got 6 distortion scores");
    assert_contains!(err, "2^M - 1");
    let err = util::fails(&["smooth", "--distortion", "0.8,1.2,1.5,0.3,0.4,0.6", "--modalities", "rgb,nir,swir"]);
    assert_contains!(err, "expected 7 distortion scores");
}

#[test]
fn bad_values_are_named() {
    let err = util::fails(&["smooth", "--distortion", "0.8,1.2,NaN,0.3,0.4,0.6,0.0", "--modalities", "rgb,nir,swir"]);
    assert_contains!(err, "distortion score 2 (swir) is NaN");
    let err = util::fails(&["smooth", "--distortion", "0.8,-1.2,1.5,0.3,0.4,0.6,0.0"]);
    assert_contains!(err, "distortion score 1 (m1) is -1.2");
    let err = util::fails(&["smooth", "--distortion", "0.8,x,1.5"]);
    assert_contains!(err, "value 1 \"x\" is not a number");
    let err = util::fails(&["smooth", "--distortion", SPEC_D, "--sigma", "-1"]);
    assert_contains!(err, "rbf_sigma = -1");
    let err = util::fails(&["smooth", "--distortion", SPEC_D, "--gamma", "2"]);
    assert_contains!(err, "gamma_floor = 2");
    let err = util::fails(&["smooth", "--distortion", SPEC_D, "--preference", "best"]);
    assert_contains!(err, "faithful-first");
}

#[test]
fn missing_or_conflicting_sources_fail() {
    let err = util::fails(&["smooth", "--distortion-file", "/nonexistent/lssg/d.json"]);
    assert_contains!(err, "/nonexistent/lssg/d.json");
    let err = util::fails(&["smooth", "--distortion", "0.1", "--distortion-file", "d.json"]);
    assert_contains!(err, "cannot be used with");
    util::fails(&["smooth"]);
}
