//! The run configuration: one TOML file with a section per stage, each the config struct of
//! the crate that does the work. Unknown keys are errors naming the key and the file;
//! `--set section.key=value` overrides any value before validation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use lssg_backbones::ArchitectureConfig;
use lssg_datasets::DataConfig;
use lssg_scoring::ScoringConfig;
use lssg_smoothing::SmoothingConfig;
use lssg_torch::{DeviceSpec, Inference, Layout, Precision};
use lssg_trainer::{FinetuneConfig, ProtocolConfig, TrainConfig};

use crate::error::{Error, Result};

/// `[run]`: what the run is and where it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// Seed of every random choice of the run (weights, scenarios, shuffling).
    pub seed: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: DeviceSpec,
    /// The run directory (overridden by `--out`).
    pub output_dir: PathBuf,
    /// libtorch CPU threads (default: libtorch's choice, one per core).
    pub threads: Option<usize>,
    /// `fp32` (default), `fp16` (CUDA only), `bf16` or `auto`: the arithmetic of every forward
    /// (docs/precision.md §1). Sets `precision` of `[pretrain]` and `[finetune.train]` unless
    /// they set their own, except `auto` (bf16 for scoring, evaluation and prediction where the
    /// device computes bf16 fast, fp32 elsewhere; training stays fp32). Left out of the written
    /// config when fp32.
    #[serde(skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
    /// `nchw` (default), `channels-last` or `auto`: the memory layout of every network of the
    /// run, for training, scoring, evaluation and prediction (docs/speed.md §8). Left out of
    /// the written config when nchw.
    #[serde(skip_serializing_if = "Layout::is_nchw")]
    pub layout: Layout,
    /// `eager` (default), `packed` or `auto`: how scoring, validation, evaluation and
    /// prediction run their forwards; packed weights are made once per pass for oneDNN (CPU
    /// only; `auto`: packed on the CPU, eager on CUDA; docs/speed.md §10). Training forwards are
    /// always eager. Left out of the written config when eager.
    #[serde(skip_serializing_if = "Inference::is_eager")]
    pub inference: Inference,
}

impl Default for RunSection {
    fn default() -> Self {
        Self {
            seed: 0,
            device: DeviceSpec::Auto,
            output_dir: PathBuf::from("runs/default"),
            threads: None,
            precision: Precision::Fp32,
            layout: Layout::Nchw,
            inference: Inference::Eager,
        }
    }
}

/// `[eval]`: evaluation of every method under every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// `all` or a comma-separated list of scenarios.
    pub scenarios: String,
    /// Samples per forward.
    pub batch_size: usize,
    /// Also evaluate the pretrained network itself (column `pretrained`).
    pub include_pretrained: bool,
    /// `[eval.protocols]`: the robustness protocols (docs/method.md §6.1), none by default.
    /// Left out of the written config while it is the default.
    #[serde(skip_serializing_if = "ProtocolConfig::is_default")]
    pub protocols: ProtocolConfig,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self { scenarios: "all".into(), batch_size: 8, include_pretrained: true, protocols: ProtocolConfig::default() }
    }
}

/// The whole run: every crate's config, nested by stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// `[run]`.
    pub run: RunSection,
    /// `[data]`.
    pub data: DataConfig,
    /// `[model]`: backbone and preset (the class count comes from the data set, the adapters
    /// from the `lora` method).
    pub model: ArchitectureConfig,
    /// `[pretrain]`.
    pub pretrain: TrainConfig,
    /// `[scoring]`.
    pub scoring: ScoringConfig,
    /// `[smoothing]`.
    pub smoothing: SmoothingConfig,
    /// `[finetune]`.
    pub finetune: FinetuneConfig,
    /// `[eval]`.
    pub eval: EvalSection,
}

impl RunConfig {
    /// Reads `path`, applies `overrides` (`section.key=value`, the value parsed as TOML, or
    /// taken as a string when it does not parse) and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string(), overrides)
    }

    /// Parses TOML text; `source` names it in errors.
    pub fn parse(text: &str, source: &str, overrides: &[String]) -> Result<Self> {
        let value: toml::Table =
            toml::from_str(text).map_err(|e| Error::Config { file: source.to_string(), message: e.to_string() })?;
        Self::from_table(value, source, overrides)
    }

    /// [`RunConfig::parse`] of a parsed TOML table.
    pub fn from_table(mut value: toml::Table, source: &str, overrides: &[String]) -> Result<Self> {
        for o in overrides {
            apply_override(&mut value, o)?;
        }
        expand_env_table(&mut value, "", source)?;
        reject_derived_model_keys(&value, source)?;
        // `[run] seed` seeds every stage unless a stage sets its own; `[run] precision` likewise,
        // except `auto`, which is for scoring, evaluation and prediction: training stays fp32;
        // `[run] inference` sets the stages' validation forwards.
        for key in ["seed", "precision", "inference"] {
            let Some(v) = value.get("run").and_then(|r| r.get(key)).cloned() else { continue };
            if key == "precision" && v.as_str() == Some("auto") {
                continue;
            }
            for path in [&["pretrain"][..], &["finetune", "train"][..]] {
                if let Some(table) = section(&mut value, path) {
                    table.entry(key).or_insert_with(|| v.clone());
                }
            }
        }
        let config: Self = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config { file: source.to_string(), message: e.to_string() })?;
        config.validate(source)?;
        Ok(config)
    }

    /// Cross-section checks serde cannot express.
    pub fn validate(&self, source: &str) -> Result<()> {
        let bad = |message: String| Err(Error::Config { file: source.to_string(), message });
        if self.run.threads == Some(0) {
            return bad("run.threads must be at least 1 (or left out for libtorch's default)".into());
        }
        if self.eval.batch_size == 0 {
            return bad("eval.batch_size must be at least 1".into());
        }
        self.validate_precision(source)?;
        // Each section's own checks, so `config check` catches what a run would hit later.
        let section = |name: &str, e: &dyn std::fmt::Display| Error::Config {
            file: source.to_string(),
            message: format!("[{name}] {e}"),
        };
        self.pretrain.validate().map_err(|e| section("pretrain", &e))?;
        self.finetune.lora.validate().map_err(|e| section("finetune.lora", &e))?;
        self.finetune.train.validate().map_err(|e| section("finetune.train", &e))?;
        self.finetune.validate().map_err(|e| section("finetune", &e))?;
        self.scoring.validate().map_err(|e| section("scoring", &e))?;
        self.smoothing.validate().map_err(|e| section("smoothing", &e))?;
        self.eval.protocols.validate().map_err(|e| section("eval.protocols", &e))?;
        self.validate_against_data(source)
    }

    /// The checks of values against the data set's configuration (no file is read): the split,
    /// the generator, the modality slots, and the scenarios named by `eval.scenarios` and the
    /// fine-tuning methods, so that `lssg config check` rejects what `run`, `eval`, `score`,
    /// `bench` and `predict` would reject later.
    fn validate_against_data(&self, source: &str) -> Result<()> {
        let section = |name: &str, e: &dyn std::fmt::Display| Error::Config {
            file: source.to_string(),
            message: format!("[{name}] {e}"),
        };
        self.data.validate().map_err(|e| section("data", &e))?;
        let set = self.data.modality_set().map_err(|e| section("data", &e))?;
        set.parse_scenario_list(&self.eval.scenarios).map_err(|e| section("eval", &format!("scenarios: {e}")))?;
        self.finetune.check_modalities(&set).map_err(|e| section("finetune", &e))?;
        let scenarios = set.parse_scenario_list(&self.eval.scenarios).map_or(0, |list| list.len());
        self.eval.protocols.check_modalities(&set, scenarios).map_err(|e| section("eval.protocols", &e))?;
        // The tile against the backbone; training batches also need batch norm to see more
        // than one value per channel at the deepest level.
        let (key, tile) = self.data.tile_size();
        let batch = self.pretrain.batch_size.min(self.finetune.train.batch_size);
        self.model.check_tile(key, tile, Some(batch)).map_err(|e| section("model", &e))?;
        Ok(())
    }

    /// Each stage's precision against `run.device` (docs/precision.md §4): fp16 needs CUDA, so
    /// `device = "cpu"` with fp16 is an error naming the field and the device. `auto` is checked
    /// when the run resolves it ([`RunConfig::check_precision_on`]).
    fn validate_precision(&self, source: &str) -> Result<()> {
        // `auto` resolves for inference only; a training stage must say what it trains in.
        for (field, precision) in [
            ("pretrain.precision", self.pretrain.precision),
            ("finetune.train.precision", self.finetune.train.precision),
        ] {
            if precision == Precision::Auto {
                let message = format!(
                    "{field} = \"auto\": auto is for scoring, evaluation and prediction ([run] precision); \
                     a training stage takes fp32, fp16 or bf16"
                );
                return Err(Error::Config { file: source.to_string(), message });
            }
        }
        if self.run.device == DeviceSpec::Cpu {
            self.check_precision_on(tch::Device::Cpu, source)?;
        }
        Ok(())
    }

    /// Checks `run.precision` and the stages' `precision` against the resolved `device`.
    pub fn check_precision_on(&self, device: tch::Device, source: &str) -> Result<()> {
        let fields = [
            ("run.precision", self.run.precision),
            ("pretrain.precision", self.pretrain.precision),
            ("finetune.train.precision", self.finetune.train.precision),
        ];
        for (field, precision) in fields {
            if let Err(e) = precision.check_device(device) {
                let message = format!("{field} = \"{precision}\" cannot run on device {} ({e})", self.run.device);
                return Err(Error::Config { file: source.to_string(), message });
            }
        }
        if let Err(e) = self.run.inference.resolve(device) {
            let message =
                format!("run.inference = \"{}\" cannot run on device {} ({e})", self.run.inference, self.run.device);
            return Err(Error::Config { file: source.to_string(), message });
        }
        Ok(())
    }

    /// The resolved config as TOML, as written into the run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a RunConfig always serialises")
    }
}

/// `[model] classes` and `[model] lora` are not set in a run config: the class count is the
/// data set's and adapters belong to the `lora` method. Saying so beats serde's "unknown field".
fn reject_derived_model_keys(value: &toml::Table, source: &str) -> Result<()> {
    let Some(model) = value.get("model").and_then(toml::Value::as_table) else { return Ok(()) };
    match model.keys().find_map(|key| derived_model_key(key)) {
        Some(message) => Err(Error::Config { file: source.to_string(), message: message.to_string() }),
        None => Ok(()),
    }
}

/// Why `[model] key` cannot be set, when it is one of the keys derived from elsewhere.
pub(crate) fn derived_model_key(key: &str) -> Option<&'static str> {
    match key {
        "classes" => {
            Some("[model] classes: the class count is taken from the data set (1 for a binary task); remove the key")
        }
        "lora" => Some("[model] lora: adapters belong to the `lora` fine-tuning method; set them in [finetune.lora]"),
        _ => None,
    }
}

/// Expands `${NAME}` and `${NAME:-default}` in every string of `table` from the environment,
/// so that data roots can come from e.g. `LSSG_DATA`. An unset variable without a default is
/// an error naming the key.
fn expand_env_table(table: &mut toml::Table, prefix: &str, source: &str) -> Result<()> {
    for (key, value) in table.iter_mut() {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        expand_env_value(value, &path, source)?;
    }
    Ok(())
}

/// [`expand_env_table`] of one value at the dotted `path`.
pub(crate) fn expand_env_value(value: &mut toml::Value, path: &str, source: &str) -> Result<()> {
    match value {
        toml::Value::String(s) => *s = expand_env(s, path, source)?,
        toml::Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                expand_env_value(v, &format!("{path}[{i}]"), source)?;
            }
        }
        toml::Value::Table(t) => expand_env_table(t, path, source)?,
        _ => {}
    }
    Ok(())
}

fn expand_env(text: &str, path: &str, source: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| Error::Config {
            file: source.to_string(),
            message: format!("{path}: unterminated ${{…}} in {text:?}"),
        })?;
        let (name, default) = match after[..end].split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (&after[..end], None),
        };
        match (std::env::var(name), default) {
            (Ok(v), _) if !v.is_empty() => out.push_str(&v),
            (_, Some(d)) => out.push_str(d),
            _ => {
                return Err(Error::Config {
                    file: source.to_string(),
                    message: format!(
                        "{path}: environment variable {name} is not set (write ${{{name}:-default}} for a fallback)"
                    ),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The table at `path`, created when absent; `None` when a key on the way is not a table.
fn section<'a>(root: &'a mut toml::Table, path: &[&str]) -> Option<&'a mut toml::Table> {
    match path.split_first() {
        None => Some(root),
        Some((key, rest)) => {
            let entry = root.entry(key.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            section(entry.as_table_mut()?, rest)
        }
    }
}

/// Splits `section.key(.subkey…)=value` into its keys and its value: a TOML value when it parses
/// (numbers, booleans, arrays, inline tables), else a string.
pub(crate) fn parse_assignment(assignment: &str) -> Result<(Vec<String>, toml::Value)> {
    let bad = |message: &str| Error::Override { assignment: assignment.to_string(), message: message.to_string() };
    let (path, raw) = assignment.split_once('=').ok_or_else(|| bad("expected section.key=value"))?;
    let keys: Vec<String> = path.trim().split('.').map(|k| k.trim().to_string()).collect();
    if keys.len() < 2 || keys.iter().any(String::is_empty) {
        return Err(bad("expected a dotted key with a section, e.g. pretrain.epochs=3"));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {}", raw.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    Ok((keys, value))
}

/// Sets `section.key(.subkey…)=value` in a parsed TOML table.
fn apply_override(root: &mut toml::Table, assignment: &str) -> Result<()> {
    let (keys, value) = parse_assignment(assignment)?;
    set_path(root, &keys, value).map_err(|message| Error::Override { assignment: assignment.to_string(), message })
}

/// Sets the value at the dotted path `keys` (at least one) in `root`, creating the tables on the
/// way; the error names a key on the way that holds a value rather than a table.
pub(crate) fn set_path(root: &mut toml::Table, keys: &[String], value: toml::Value) -> std::result::Result<(), String> {
    let (last, sections) = keys.split_last().ok_or("an empty key")?;
    let mut table = root;
    for key in sections {
        let entry = table.entry(key.as_str()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| format!("{key} is not a section"))?;
    }
    table.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_layout_parses_and_nchw_stays_out_of_the_written_config() {
        let c = RunConfig::parse("[run]\nlayout = \"channels-last\"\n", "t.toml", &[]).unwrap();
        assert_eq!(c.run.layout, Layout::ChannelsLast);
        assert!(c.to_toml().contains("layout = \"channels-last\""));
        let c = RunConfig::parse("", "t.toml", &["run.layout=auto".into()]).unwrap();
        assert_eq!(c.run.layout, Layout::Auto);
        let d = RunConfig::parse("", "t.toml", &[]).unwrap();
        assert!(d.run.layout.is_nchw() && !d.to_toml().contains("layout"));
        let e = RunConfig::parse("[run]\nlayout = \"nhwc\"\n", "t.toml", &[]).unwrap_err().to_string();
        assert!(e.contains("nhwc") && e.contains("channels-last"), "{e}");
    }

    #[test]
    fn run_precision_auto_stays_out_of_training() {
        let c = RunConfig::parse("[run]\nprecision = \"auto\"\ndevice = \"cpu\"\n", "t.toml", &[]).unwrap();
        assert_eq!(c.run.precision, Precision::Auto);
        assert_eq!((c.pretrain.precision, c.finetune.train.precision), (Precision::Fp32, Precision::Fp32));
        assert!(c.to_toml().contains("precision = \"auto\""));
        let e = RunConfig::parse("[pretrain]\nprecision = \"auto\"\n", "t.toml", &[]);
        let e = e.unwrap_err().to_string();
        assert!(e.contains("pretrain.precision") && e.contains("auto") && e.contains("t.toml"), "{e}");
    }

    #[test]
    fn eval_protocols_parse_stay_out_of_a_default_config_and_bad_keys_are_named() {
        let text = "[eval.protocols]\nenabled = [\"expected\", \"noisy\"]\n[eval.protocols.noisy]\nsnr_db = [5]\n";
        let c = RunConfig::parse(text, "t.toml", &[]).unwrap();
        assert!(c.eval.protocols.any() && c.eval.protocols.noisy.snr_db == [5.0]);
        assert!(c.to_toml().contains("[eval.protocols.noisy]"));
        assert!(!RunConfig::default().to_toml().contains("protocols"));
        let cases = [
            ("[eval.protocols]\nenabled = [\"blur\"]\n", "blur"),
            ("[eval.protocols.noisy]\nsnr_db = [nan]\n", "noisy.snr_db[0]"),
            ("[eval.protocols.expected]\np = [1.0]\n", "expected.p[0]"),
            ("[eval.protocols.random_missing]\npatch_size = -4\n", "patch_size"),
            ("[eval.protocols.random_missing]\nrates = [-0.5]\n", "random_missing.rates[0]"),
            ("[eval.protocols]\nexpected.profile = { lidar = 0.5 }\n", "profile.lidar"),
            ("[eval]\nscenarios = \"0\"\nprotocols.enabled = [\"expected\"]\n", "every scenario"),
        ];
        for (text, key) in cases {
            let err = RunConfig::parse(text, "t.toml", &[]).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains("t.toml"), "{text}: {err}");
        }
    }

    #[test]
    fn run_precision_parses_propagates_and_is_validated() {
        let c = RunConfig::parse("[run]\nprecision = \"bf16\"\ndevice = \"cpu\"\n", "t.toml", &[]).unwrap();
        assert_eq!(c.run.precision, Precision::Bf16);
        assert_eq!((c.pretrain.precision, c.finetune.train.precision), (Precision::Bf16, Precision::Bf16));
        assert!(c.to_toml().contains("precision = \"bf16\""));
        // A stage may keep its own.
        let c = RunConfig::parse("[run]\nprecision = \"bf16\"\n[pretrain]\nprecision = \"fp32\"\n", "t", &[]).unwrap();
        assert_eq!((c.pretrain.precision, c.finetune.train.precision), (Precision::Fp32, Precision::Bf16));
        // fp32 is the default and is not written out (old run directories compare equal).
        let d = RunConfig::parse("", "t", &[]).unwrap();
        assert_eq!(d.run.precision, Precision::Fp32);
        assert!(!d.to_toml().contains("precision"));

        let e = RunConfig::parse("[run]\nprecision = \"fp16\"\ndevice = \"cpu\"\n", "t.toml", &[]).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("run.precision") && e.contains("fp16") && e.contains("cpu") && e.contains("t.toml"), "{e}");
        let e = RunConfig::parse("[run]\ndevice = \"cpu\"\n", "t", &["finetune.train.precision=fp16".into()]);
        assert!(e.unwrap_err().to_string().contains("finetune.train.precision"));
        // fp16 with `auto` or CUDA passes validation (checked again once the device is resolved).
        RunConfig::parse("[run]\nprecision = \"fp16\"\ndevice = \"cuda\"\n", "t", &[]).unwrap();
        let c = RunConfig::parse("[run]\nprecision = \"fp16\"\n", "t", &[]).unwrap();
        assert!(c.check_precision_on(tch::Device::Cpu, "t").unwrap_err().to_string().contains("run.precision"));
        let e = RunConfig::parse("[run]\nprecision = \"fp64\"\n", "t", &[]).unwrap_err().to_string();
        assert!(e.contains("fp64") && e.contains("fp32, fp16, bf16"), "{e}");
    }

    #[test]
    fn run_inference_reaches_the_stages_and_packed_needs_the_cpu() {
        let c = RunConfig::parse("[run]\ninference = \"packed\"\ndevice = \"cpu\"\n", "t", &[]).unwrap();
        assert_eq!(c.run.inference, Inference::Packed);
        assert_eq!((c.pretrain.inference, c.finetune.train.inference), (Inference::Packed, Inference::Packed));
        assert!(c.to_toml().contains("inference = \"packed\""));
        let d = RunConfig::parse("", "t", &[]).unwrap();
        assert_eq!(d.run.inference, Inference::Eager);
        assert!(!d.to_toml().contains("inference"), "eager is not written out");
        let c = RunConfig::parse("[run]\ninference = \"packed\"\n", "t.toml", &[]).unwrap();
        let e = c.check_precision_on(tch::Device::Cuda(0), "t.toml").unwrap_err().to_string();
        assert!(e.contains("run.inference") && e.contains("packed") && e.contains("t.toml"), "{e}");
        let c = RunConfig::parse("[run]\ninference = \"auto\"\n", "t", &[]).unwrap();
        c.check_precision_on(tch::Device::Cuda(0), "t").unwrap();
        let e = RunConfig::parse("[run]\ninference = \"fast\"\n", "t", &[]).unwrap_err().to_string();
        assert!(e.contains("fast") && e.contains("eager, packed, auto"), "{e}");
    }
}
