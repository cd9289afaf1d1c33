//! Seeded, bounded mutation tests of what `lssg` parses (docs/reliability.md §4): run
//! configurations, `--set` values, bench files, probabilities files, evaluation files,
//! safetensors checkpoints and the CLI's number lists. Each case ends in an error, or in a
//! success whose result passes validation again; a panic fails the test. Mutations are byte
//! edits, edge numbers in place of the numbers of a valid file, and value edits inside its
//! parsed structure. The files that go through GDAL are fuzzed by lssg-datasets' `fuzz` test,
//! the training state by lssg-trainer's `resume_state`.
//!
//! `LSSG_FUZZ_SCALE` multiplies the number of cases; the counts are printed (`--nocapture`).

use std::path::{Path, PathBuf};

use lssg::bench::{Bench, BenchFile};
use lssg::config::RunConfig;
use lssg_scenario::{ModalitySet, PROBABILITY_TOLERANCE, ProbabilitiesFile, validate_distribution};
use lssg_smoothing::{SmoothingConfig, smooth};
use lssg_trainer::EvalReport;
use tch::nn;

use crate::mutate::{EDGE_NUMBERS, Outcome, Rng, Tally, mutate_bytes, mutate_json, mutate_text_numbers};

fn scale() -> usize {
    std::env::var("LSSG_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A TOML text mutated as bytes, as numbers in the text, or as values of its parsed tree.
fn mutate_toml(rng: &mut Rng, text: &str) -> String {
    match rng.below(3) {
        0 => String::from_utf8_lossy(&mutate_bytes(rng, text.as_bytes())).into_owned(),
        1 => mutate_text_numbers(rng, text),
        _ => {
            let Ok(table) = text.parse::<toml::Table>() else { return text.to_string() };
            let json = serde_json::to_value(&table).unwrap();
            toml::to_string(&without_nulls(mutate_json(rng, &json))).unwrap_or_default()
        }
    }
}

/// TOML has no null: a value mutated to null is left out.
fn without_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => {
            o.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect()
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().filter(|v| !v.is_null()).map(without_nulls).collect())
        }
        other => other,
    }
}

/// An accepted run config validates again and survives its own round trip.
fn check_config(config: &RunConfig) -> Outcome {
    config.validate("accepted").expect("an accepted config validates again");
    let again = RunConfig::parse(&config.to_toml(), "round trip", &[]).expect("the resolved config parses");
    assert_eq!(&again, config, "the resolved config round-trips");
    Outcome::Accepted
}

fn parse_config(text: &str, overrides: &[String]) -> Outcome {
    if text.parse::<toml::Table>().is_err() {
        return Outcome::ParseError;
    }
    match RunConfig::parse(text, "fuzz.toml", overrides) {
        Ok(config) => check_config(&config),
        Err(_) => Outcome::Rejected,
    }
}

fn run_configs() -> Vec<String> {
    let mut texts = vec![std::fs::read_to_string(repo().join("tests/fixtures/tiny-run.toml")).unwrap()];
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("bench-"))
        .collect();
    files.sort();
    texts.extend(files.iter().map(|f| std::fs::read_to_string(f).unwrap()));
    texts
}

#[test]
fn run_configs_and_set_values() {
    let texts = run_configs();
    let mut rng = Rng::new(0xc0f1);
    let mut configs = Tally::new("TOML run configs");
    for case in 0..700 * scale() {
        let base = rng.pick(&texts).clone();
        let text = mutate_toml(&mut rng, &base);
        configs.case(|| format!("case {case}:\n{text}"), || parse_config(&text, &[]));
    }
    configs.finish();

    // `--set KEY=VALUE` on the tiny config: every key it resolves to, edge and odd values.
    let base = &texts[0];
    let resolved = RunConfig::parse(base, "base", &[]).unwrap().to_toml();
    let keys = leaf_keys(&resolved.parse::<toml::Table>().unwrap(), "");
    let odd = ["\"\"", "\"all\"", "\"x+y\"", "[]", "[1, 2]", "true", "{}", "\"1e308\"", "-", "=", "a.b"];
    let mut sets = Tally::new("--set values");
    for _ in 0..500 * scale() {
        let key = rng.pick(&keys).clone();
        let value = if rng.below(2) == 0 { rng.pick(&EDGE_NUMBERS).to_string() } else { rng.pick(&odd).to_string() };
        let mut assignment = format!("{key}={value}");
        if rng.below(5) == 0 {
            assignment = String::from_utf8_lossy(&mutate_bytes(&mut rng, assignment.as_bytes())).into_owned();
        }
        sets.case(
            || format!("--set {assignment}"),
            || match RunConfig::parse(base, "fuzz.toml", std::slice::from_ref(&assignment)) {
                Ok(config) => check_config(&config),
                Err(_) => Outcome::Rejected,
            },
        );
    }
    sets.finish();
}

/// The dotted keys of every leaf of a TOML table.
fn leaf_keys(table: &toml::Table, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => keys.extend(leaf_keys(t, &key)),
            _ => keys.push(key),
        }
    }
    keys
}

#[test]
fn bench_files_and_cell_lists() {
    let tmp = tempfile::tempdir().unwrap();
    // The bench files beside the configs they name.
    for dir in ["configs", "tests/fixtures"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                std::fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let benches: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains("bench"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(!benches.is_empty());
    let mut rng = Rng::new(0xbe7c);
    let mut tally = Tally::new("bench files");
    let path = tmp.path().join("fuzz-bench.toml");
    for case in 0..250 * scale() {
        let base = rng.pick(&benches).clone();
        let text = mutate_toml(&mut rng, &base);
        std::fs::write(&path, &text).unwrap();
        tally.case(
            || format!("case {case}:\n{text}"),
            || {
                if text.parse::<toml::Table>().is_err() || BenchFile::load(&path).is_err() {
                    return Outcome::ParseError;
                }
                let Ok(bench) = Bench::open(&path, &tmp.path().join("out"), Vec::new()) else {
                    return Outcome::Rejected;
                };
                assert!(!bench.grid.cells.is_empty(), "an accepted bench has cells");
                for cell in &bench.grid.cells {
                    check_config(&cell.config);
                }
                Outcome::Accepted
            },
        );
    }
    tally.finish();

    // `--cells` lists against the tiny bench's grid.
    let tiny = Bench::open(&tmp.path().join("tiny-bench.toml"), &tmp.path().join("out"), Vec::new()).unwrap();
    let n = tiny.grid.cells.len();
    let mut lists = Tally::new("--cells lists");
    for case in 0..400 * scale() {
        let base = *rng.pick(&["0,3-5", "0", "1-2", "0,1,2", "5-5"]);
        let list = if rng.below(2) == 0 {
            mutate_text_numbers(&mut rng, base)
        } else {
            String::from_utf8_lossy(&mutate_bytes(&mut rng, base.as_bytes())).into_owned()
        };
        lists.case(
            || format!("case {case}: --cells {list:?}"),
            || match tiny.grid.select(&list) {
                Ok(cells) => {
                    assert!(cells.iter().all(|&i| i < n), "{cells:?} of {n}");
                    Outcome::Accepted
                }
                Err(_) => Outcome::Rejected,
            },
        );
    }
    lists.finish();
}

#[test]
fn probabilities_and_evaluation_files() {
    let tmp = tempfile::tempdir().unwrap();
    let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
    let config = SmoothingConfig::default();
    let smoothed = smooth(&[0.8, 1.2, 1.5, 0.3, 0.4, 0.6, 0.0], &set, &config).unwrap();
    let file = smoothed.to_probabilities_file(&set, &config, "hook", "cmx", "ckpt", 10);
    let probabilities = serde_json::to_value(&file).unwrap();
    let mut rng = Rng::new(0x9b0b);
    let mut tally = Tally::new("probabilities files");
    let path = tmp.path().join("probabilities.json");
    for case in 0..400 * scale() {
        let bytes = if rng.below(3) == 0 {
            mutate_bytes(&mut rng, &serde_json::to_vec_pretty(&probabilities).unwrap())
        } else {
            serde_json::to_vec(&mutate_json(&mut rng, &probabilities)).unwrap()
        };
        std::fs::write(&path, &bytes).unwrap();
        tally.case(
            || format!("case {case}: {}", String::from_utf8_lossy(&bytes)),
            || match ProbabilitiesFile::read(&path) {
                Err(lssg_scenario::Error::ProbabilitiesFile { .. } | lssg_scenario::Error::Json { .. }) => {
                    Outcome::ParseError
                }
                Err(_) => Outcome::Rejected,
                Ok(read) => {
                    read.validate("again").expect("an accepted file validates again");
                    if let Ok(p) = read.probabilities_for(&set, "fuzz") {
                        validate_distribution("p", &p, 7, PROBABILITY_TOLERANCE).expect("a distribution");
                    }
                    Outcome::Accepted
                }
            },
        );
    }
    tally.finish();

    // Two scenarios of a tiny run's evaluation (seven classes).
    let eval_text = std::fs::read_to_string(repo().join("tests/fixtures/eval-uniform.json")).unwrap();
    EvalReport::read(&repo().join("tests/fixtures/eval-uniform.json")).expect("the fixture reads");
    let eval: serde_json::Value = serde_json::from_str(&eval_text).unwrap();
    let mut tally = Tally::new("evaluation files");
    let path = tmp.path().join("eval.json");
    for case in 0..400 * scale() {
        let bytes = if rng.below(3) == 0 {
            mutate_bytes(&mut rng, eval_text.as_bytes())
        } else {
            serde_json::to_vec(&mutate_json(&mut rng, &eval)).unwrap()
        };
        std::fs::write(&path, &bytes).unwrap();
        tally.case(
            || format!("case {case}: {}", String::from_utf8_lossy(&bytes)),
            || match EvalReport::read(&path) {
                Err(lssg_trainer::Error::EvalFile { .. }) => Outcome::ParseError,
                Err(_) => Outcome::Rejected,
                Ok(report) => {
                    for s in &report.scenarios {
                        s.metrics.check_ranges().expect("accepted metrics lie in their ranges");
                    }
                    Outcome::Accepted
                }
            },
        );
    }
    tally.finish();
}

/// A small store: a linear layer, a convolution and a buffer.
fn store() -> nn::VarStore {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let _ = nn::linear(vs.root() / "fc", 3, 2, Default::default());
    let _ = nn::conv2d(vs.root() / "conv", 2, 4, 3, Default::default());
    let _ = vs.root().zeros_no_train("running", &[4]);
    vs
}

#[test]
fn safetensors_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.safetensors");
    let source = store();
    lssg_backbones::checkpoint::save(&source, &good).unwrap();
    let original = std::fs::read(&good).unwrap();
    let mut rng = Rng::new(0x5afe);
    let mut tally = Tally::new("safetensors checkpoints");
    let path = tmp.path().join("case.safetensors");
    for case in 0..400 * scale() {
        match rng.below(3) {
            0 => std::fs::write(&path, mutate_bytes(&mut rng, &original)).unwrap(),
            1 => {
                // The JSON header's numbers (shapes, offsets) and names, inside valid structure.
                let n = u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
                let header = std::str::from_utf8(&original[8..8 + n]).unwrap();
                let mutated = mutate_text_numbers(&mut rng, header);
                let mut bytes = (mutated.len() as u64).to_le_bytes().to_vec();
                bytes.extend_from_slice(mutated.as_bytes());
                bytes.extend_from_slice(&original[8 + n..]);
                std::fs::write(&path, bytes).unwrap();
            }
            _ => {
                // Values: a tensor filled with an edge value, reshaped, retyped, renamed or dropped.
                let mut named = tch::Tensor::read_safetensors(&good).unwrap();
                let i = rng.below(named.len());
                match rng.below(5) {
                    0 => {
                        let v = *rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e38, -0.0]);
                        let _ = named[i].1.fill_(v);
                    }
                    1 => named[i].1 = named[i].1.reshape([-1]),
                    2 => {
                        named[i].1 =
                            named[i].1.to_kind(*rng.pick(&[tch::Kind::Double, tch::Kind::Int64, tch::Kind::Half]))
                    }
                    3 => named[i].0.push('x'),
                    _ => drop(named.remove(i)),
                }
                tch::Tensor::write_safetensors(&named, &path).unwrap();
            }
        }
        tally.case(
            || format!("case {case}: {}", path.display()),
            || {
                if tch::Tensor::read_safetensors(&path).is_err() {
                    assert!(lssg_backbones::checkpoint::load(&store(), &path).is_err());
                    return Outcome::ParseError;
                }
                let target = store();
                match lssg_backbones::checkpoint::load(&target, &path) {
                    Err(_) => Outcome::Rejected,
                    Ok(()) => {
                        for (name, t) in target.variables() {
                            assert!(t.isfinite().all().int64_value(&[]) != 0, "{name} loaded non-finite");
                            assert_eq!(t.size(), source.variables()[&name].size(), "{name}");
                        }
                        Outcome::Accepted
                    }
                }
            },
        );
    }
    tally.finish();
}

/// `lssg smooth --distortion LIST` in a child process: an error (exit 2) or a distribution.
#[test]
fn smooth_number_lists() {
    let mut rng = Rng::new(0x5300);
    let mut tally = Tally::new("smooth --distortion");
    for case in 0..25 * scale() {
        let base = "0.8,1.2,1.5,0.3,0.4,0.6,0.0";
        let list = if rng.below(3) == 0 {
            String::from_utf8_lossy(&mutate_bytes(&mut rng, base.as_bytes())).replace('\0', "")
        } else {
            mutate_text_numbers(&mut rng, base)
        };
        let tau = rng.pick(&EDGE_NUMBERS).to_string();
        tally.case(
            || format!("case {case}: --distortion {list:?} --tau {tau}"),
            || {
                let out = crate::util::run_in(None, &["smooth", "--distortion", &list, "--tau", &tau]);
                match out.status.code() {
                    Some(2) => Outcome::Rejected,
                    Some(0) => {
                        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
                        let p: Vec<f64> = serde_json::from_value(v["final_probs"].clone()).expect("numbers, not null");
                        validate_distribution("final_probs", &p, p.len(), 1e-6).expect("a distribution");
                        Outcome::Accepted
                    }
                    other => panic!("exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
                }
            },
        );
    }
    tally.finish();
}
