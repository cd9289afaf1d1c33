//! The overrides of a bench (docs/bench.md §1–§2): `section.key=value`, as `lssg run --set`
//! writes them, but applied to a cell's resolved [`RunConfig`] rather than to TOML text, and
//! each one knowing which stages of a run read its value. A key is checked against the
//! sections of the run config (`SECTIONS`) when the bench file or the command line is read,
//! and against its section's type when a cell's config is built: an unknown key is an error
//! naming it before any cell runs.
//!
//! The stages a key reaches decide what a grid shares: a pretraining cell runs
//! [`CellKind::Pretrain`]'s stages, so an axis whose keys reach none of them (fine-tuning keys)
//! shares its pretraining cells, and any other axis has pretraining cells of its own.
//!
//! [`CellKind::Pretrain`]: crate::bench::CellKind::Pretrain

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{RunConfig, derived_model_key, expand_env_value, parse_assignment, set_path};
use crate::error::{Error, Result};

/// A stage of a run, in the order they run (docs/architecture.md): each reads its own section
/// of the config and the outputs of the stages before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Pretraining with uniform scenario dropout.
    Pretrain,
    /// The scores of every scenario on the pretrained network.
    Score,
    /// Their smoothing into the sampling distribution.
    Smooth,
    /// Fine-tuning with one method (guided-adaptive re-scores and re-smooths in it).
    Finetune,
    /// The evaluation of a network under every scenario.
    Eval,
}

impl Stage {
    const ALL: [Stage; 5] = [Stage::Pretrain, Stage::Score, Stage::Smooth, Stage::Finetune, Stage::Eval];

    fn name(self) -> &'static str {
        match self {
            Stage::Pretrain => "pretrain",
            Stage::Score => "score",
            Stage::Smooth => "smooth",
            Stage::Finetune => "finetune",
            Stage::Eval => "eval",
        }
    }
}

/// A set of [`Stage`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stages(u8);

impl Stages {
    /// Every stage.
    pub const ALL: Stages = Stages::of(&Stage::ALL);

    /// The set of `stages`.
    pub const fn of(stages: &[Stage]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < stages.len() {
            bits |= 1 << stages[i] as u8;
            i += 1;
        }
        Stages(bits)
    }

    /// Whether `stage` is in the set.
    pub fn contains(self, stage: Stage) -> bool {
        self.0 & (1 << stage as u8) != 0
    }

    /// The stages in either set.
    pub fn union(self, other: Stages) -> Stages {
        Stages(self.0 | other.0)
    }

    /// Whether the sets share a stage.
    pub fn intersects(self, other: Stages) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::fmt::Display for Stages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = Stage::ALL.iter().filter(|&&s| self.contains(s)).map(|s| s.name()).collect();
        f.write_str(&names.join(", "))
    }
}

/// A section of the run config: the stages that read it and the setter of a key inside it.
struct Section {
    name: &'static str,
    stages: Stages,
    set: fn(&mut RunConfig, &[String], toml::Value) -> std::result::Result<(), String>,
}

/// Every section of [`RunConfig`]. `[run]`'s device, threads and precision reach every stage.
const SECTIONS: [Section; 8] = [
    Section { name: "run", stages: Stages::ALL, set: set_run },
    Section { name: "data", stages: Stages::ALL, set: |c, key, v| set_in(&mut c.data, key, v) },
    Section { name: "model", stages: Stages::ALL, set: |c, key, v| set_in(&mut c.model, key, v) },
    Section {
        name: "pretrain",
        stages: Stages::of(&[Stage::Pretrain]),
        set: |c, key, v| set_in(&mut c.pretrain, key, v),
    },
    Section {
        name: "scoring",
        stages: Stages::of(&[Stage::Score, Stage::Finetune]),
        set: |c, key, v| set_in(&mut c.scoring, key, v),
    },
    Section {
        name: "smoothing",
        stages: Stages::of(&[Stage::Smooth, Stage::Finetune]),
        set: |c, key, v| set_in(&mut c.smoothing, key, v),
    },
    Section {
        name: "finetune",
        stages: Stages::of(&[Stage::Finetune]),
        set: |c, key, v| set_in(&mut c.finetune, key, v),
    },
    Section { name: "eval", stages: Stages::of(&[Stage::Eval]), set: |c, key, v| set_in(&mut c.eval, key, v) },
];

/// Keys a bench sets itself, and why they cannot be overridden.
const SET_BY_THE_BENCH: [(&str, &str); 5] = [
    ("run.seed", "the seed axis sets it: list the seeds in bench.seeds"),
    ("pretrain.seed", "the seed axis sets it: list the seeds in bench.seeds"),
    ("finetune.train.seed", "the seed axis sets it: list the seeds in bench.seeds"),
    ("finetune.methods", "the method axis sets it: list the methods in bench.methods"),
    ("run.output_dir", "every cell has its own directory under the bench's --out"),
];

/// One override, its key checked against `SECTIONS`. Written and read as `section.key=value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Override {
    /// As written.
    text: String,
    /// The dotted key, split (at least a section and a key).
    key: Vec<String>,
    /// The value, `${NAME}` expanded.
    value: toml::Value,
    /// The section it edits (an index into `SECTIONS`).
    section: usize,
}

impl Override {
    /// Parses `section.key=value` (the value parsed as TOML, or taken as a string when it does
    /// not parse) and checks its section.
    pub fn parse(text: &str) -> Result<Self> {
        let (key, value) = parse_assignment(text)?;
        Self::new(text.to_string(), key, value)
    }

    /// The override of `[section] key = value` (a model axis' keys).
    pub fn of(section: &str, key: &str, value: &toml::Value) -> Result<Self> {
        let text = format!("{section}.{key}={value}");
        Self::new(text, vec![section.to_string(), key.to_string()], value.clone())
    }

    fn new(text: String, key: Vec<String>, mut value: toml::Value) -> Result<Self> {
        let bad = |message: String| Error::Override { assignment: text.clone(), message };
        let dotted = key.join(".");
        if let Some((refused, why)) = SET_BY_THE_BENCH.iter().find(|(k, _)| is_under(&dotted, k)) {
            return Err(bad(format!("{refused} cannot be overridden in a bench: {why}")));
        }
        if let Some(why) = key.get(1).filter(|_| key[0] == "model").and_then(|k| derived_model_key(k)) {
            return Err(bad(why.to_string()));
        }
        let Some(section) = SECTIONS.iter().position(|s| s.name == key[0]) else {
            let names: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
            return Err(bad(format!("unknown key {dotted}: the run config's sections are {}", names.join(", "))));
        };
        expand_env_value(&mut value, &dotted, &text).map_err(|e| match e {
            Error::Config { message, .. } => bad(message),
            other => bad(other.to_string()),
        })?;
        Ok(Self { text, key, value, section })
    }

    /// The dotted key.
    pub fn key(&self) -> String {
        self.key.join(".")
    }

    /// The stages that read the key's value.
    pub fn stages(&self) -> Stages {
        SECTIONS[self.section].stages
    }

    /// Sets the key in `config`; a key its section does not have, or a value of the wrong type,
    /// is an error naming the key. The config is validated as a whole once every override is in.
    pub fn apply(&self, config: &mut RunConfig) -> Result<()> {
        (SECTIONS[self.section].set)(config, &self.key[1..], self.value.clone()).map_err(|message| Error::Override {
            assignment: self.text.clone(),
            message: format!("{}: {message}", self.key()),
        })
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for Override {
    type Error = Error;
    fn try_from(text: String) -> Result<Self> {
        Self::parse(&text)
    }
}

impl From<Override> for String {
    fn from(o: Override) -> String {
        o.text
    }
}

/// Whether the dotted `key` is `prefix` or lies under it.
fn is_under(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Sets `key` (dotted path, split) in `section` through its serde form, so that the section's
/// own type checks the key and the value.
fn set_in<T: Serialize + DeserializeOwned>(
    section: &mut T,
    key: &[String],
    value: toml::Value,
) -> std::result::Result<(), String> {
    let mut table = toml::Table::try_from(&*section).map_err(|e| e.to_string())?;
    set_path(&mut table, key, value)?;
    *section = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.message().to_string())?;
    Ok(())
}

/// `[run]`: as in a run config, `precision` is also that of the training stages that did not
/// set their own — here, those at the previous `[run] precision`.
fn set_run(config: &mut RunConfig, key: &[String], value: toml::Value) -> std::result::Result<(), String> {
    let before = config.run.precision;
    set_in(&mut config.run, key, value)?;
    let after = config.run.precision;
    for stage in [&mut config.pretrain.precision, &mut config.finetune.train.precision] {
        if *stage == before {
            *stage = after;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunConfig {
        RunConfig::parse("[run]\ndevice = \"cpu\"\n[data]\nkind = \"synthetic\"\n", "base.toml", &[]).unwrap()
    }

    #[test]
    fn overrides_set_typed_fields_and_name_their_stages() {
        let mut c = config();
        let epochs = Override::parse("pretrain.epochs=7").unwrap();
        assert_eq!(epochs.stages(), Stages::of(&[Stage::Pretrain]));
        epochs.apply(&mut c).unwrap();
        assert_eq!(c.pretrain.epochs, 7);
        let lr = Override::parse("finetune.train.optimizer.lr=1e-3").unwrap();
        assert_eq!((lr.key().as_str(), lr.stages()), ("finetune.train.optimizer.lr", Stages::of(&[Stage::Finetune])));
        lr.apply(&mut c).unwrap();
        assert_eq!(c.finetune.train.optimizer.lr, 1e-3);
        let tiles = Override::parse("data.generator.tiles=24").unwrap();
        assert_eq!(tiles.stages(), Stages::ALL);
        tiles.apply(&mut c).unwrap();
        assert_eq!(toml::Value::try_from(&c.data).unwrap()["generator"]["tiles"].as_integer(), Some(24));
        let scoring = Override::parse("scoring.max_forward=8").unwrap();
        assert_eq!(scoring.stages().to_string(), "score, finetune");
        Override::of("model", "preset", &"small".into()).unwrap().apply(&mut c).unwrap();
        // The same edits through the TOML text give the same config.
        let text = "[run]\ndevice = \"cpu\"\n[data]\nkind = \"synthetic\"\n";
        let sets =
            ["pretrain.epochs=7", "finetune.train.optimizer.lr=1e-3", "data.generator.tiles=24", "model.preset=small"];
        let sets: Vec<String> = sets.map(String::from).to_vec();
        assert_eq!(c, RunConfig::parse(text, "base.toml", &sets).unwrap());
    }

    #[test]
    fn run_precision_moves_the_stages_that_follow_it() {
        let mut c = config();
        Override::parse("pretrain.precision=fp32").unwrap().apply(&mut c).unwrap();
        Override::parse("run.precision=bf16").unwrap().apply(&mut c).unwrap();
        assert_eq!(c.pretrain.precision, c.run.precision);
        assert_eq!(c.finetune.train.precision, c.run.precision);
        assert_eq!(c.run.precision.to_string(), "bf16");
    }

    #[test]
    fn unknown_and_bench_owned_keys_are_errors_naming_the_key() {
        let e = Override::parse("pretrian.epochs=2").unwrap_err().to_string();
        assert!(e.contains("unknown key pretrian.epochs") && e.contains("finetune"), "{e}");
        let e = Override::parse("pretrain.epochz=2").unwrap().apply(&mut config()).unwrap_err().to_string();
        assert!(e.contains("pretrain.epochz") && e.contains("epochz"), "{e}");
        let e = Override::parse("pretrain.epochs=many").unwrap().apply(&mut config()).unwrap_err().to_string();
        assert!(e.contains("pretrain.epochs"), "{e}");
        let e = Override::parse("finetune.methods=[\"guided\"]").unwrap_err().to_string();
        assert!(e.contains("bench.methods"), "{e}");
        assert!(Override::parse("run.seed=3").unwrap_err().to_string().contains("bench.seeds"));
        assert!(Override::parse("finetune.train.seed=3").unwrap_err().to_string().contains("bench.seeds"));
        assert!(Override::parse("model.classes=3").unwrap_err().to_string().contains("from the data set"));
        assert!(Override::parse("pretrain").unwrap_err().to_string().contains("section.key=value"));
        // `finetune.train.seeds` is not `finetune.train.seed`: only its section's type can tell.
        assert!(Override::parse("finetune.train.seeds=1").is_ok());
    }
}
