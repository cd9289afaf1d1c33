//! The stages of the method that train (docs/method.md §1, §5): pretraining with uniform
//! scenario dropout, and fine-tuning from the pretrained weights with one of the methods that
//! lssg compares. Each method is a composition ([`recipe`]): a scenario sampler × a loss × the
//! parameters that train (every one, or LoRA adapters on the frozen base):
//!
//! | method            | scenarios                                     | loss                         | parameters |
//! |-------------------|-----------------------------------------------|------------------------------|------------|
//! | `uniform`         | uniform over all scenarios                    | segmentation                 | all        |
//! | `guided`          | `final_probs` of the probabilities file       | segmentation                 | all        |
//! | `lora`            | uniform, or guided (`lora_sampling`)          | segmentation                 | LoRA       |
//! | `full-only`       | always every modality                         | segmentation                 | all        |
//! | `fixed`           | always `fixed_scenario`                       | segmentation                 | all        |
//! | `guided-adaptive` | guided, re-scored during training (§5.9)      | segmentation                 | all        |
//! | `guided-task`     | the task-score probabilities file             | segmentation                 | all        |
//! | `dro`             | uniform                                       | group DRO over scenarios (§5.10, [`dro`]) | all |
//! | `distill`         | uniform                                       | segmentation + distillation (§5.11, [`distill`]) | all |
//! | `guided-distill`  | guided                                        | segmentation + distillation  | all        |
//! | `curriculum`      | every modality → uniform (§5.12, [`curriculum`]) | segmentation              | all        |
//! | `prior`           | the deployment failure profile (§5.13, [`prior`]) | segmentation             | all        |
//!
//! `[finetune.recipes.<method>]` replaces a method's scenarios or loss ([`RecipeOverride`]).
//!
//! Both stages are resumable exactly as [`crate::train`](mod@crate::train) is: calling them
//! again on the same directory continues after the last finished epoch, or returns at once when
//! it is complete.
//!
//! Each stage draws from its own random streams ([`lssg_core::seed::stream`]): the
//! initialisation from (init seed, stage[, method]) and the training loop (scenario draws,
//! shuffling, dropout) from (train seed, stage[, method]), so no two methods replay the same
//! draws (docs/method.md §5.8).

pub mod curriculum;
pub mod distill;
pub mod dro;
pub mod prior;
pub mod recipe;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lssg_backbones::{ArchitectureConfig, LoadedModel, LoraConfig, ModelConfig, Weights};
use lssg_core::seed::stream;
use lssg_datasets::DataSplits;
use lssg_scenario::{ModalitySet, ProbabilitiesFile, SamplingStrategy};
use lssg_scoring::ScoringConfig;
use lssg_smoothing::SmoothingConfig;
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::adaptive::{EpochHook, Rescorer};
use crate::error::{Error, Result};
use crate::observer::TrainObserver;
use crate::train::{LossStrategy, Sampling, TrainConfig, TrainSummary, train};
use curriculum::{Curriculum, CurriculumConfig};
use distill::{Distill, DistillConfig};
use dro::{DroConfig, GroupDro};
use prior::PriorConfig;
use recipe::{Objective, Recipe, RecipeOverride, Scenarios};

/// A fine-tuning method (docs/method.md §1, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// All parameters, uniform scenarios (the paper's standard fine-tuning).
    Uniform,
    /// All parameters, scenarios drawn from the probabilities file.
    Guided,
    /// Frozen base + LoRA adapters; scenarios as `finetune.lora_sampling`.
    Lora,
    /// All parameters, every modality always present.
    FullOnly,
    /// All parameters, always `finetune.fixed_scenario`.
    Fixed,
    /// All parameters, guided scenarios re-scored with the current weights every
    /// `finetune.rescore_every` epochs (docs/method.md §5.9).
    GuidedAdaptive,
    /// All parameters, scenarios drawn from the task-score probabilities file (docs/method.md §3.4).
    GuidedTask,
    /// All parameters, uniform scenarios, group DRO over scenarios (docs/method.md §5.10).
    Dro,
    /// All parameters, uniform scenarios, distillation from the full-modality pretrained
    /// network (docs/method.md §5.11).
    Distill,
    /// All parameters, guided scenarios, distillation as `distill`.
    GuidedDistill,
    /// All parameters, every modality moving to uniform dropout (docs/method.md §5.12).
    Curriculum,
    /// All parameters, scenarios from the deployment failure profile (docs/method.md §5.13).
    Prior,
}

impl Method {
    /// Every method, in the order of the table above.
    pub const ALL: [Method; 12] = [
        Method::Uniform,
        Method::Guided,
        Method::Lora,
        Method::FullOnly,
        Method::Fixed,
        Method::GuidedAdaptive,
        Method::GuidedTask,
        Method::Dro,
        Method::Distill,
        Method::GuidedDistill,
        Method::Curriculum,
        Method::Prior,
    ];

    /// The method's name in configs, files and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Guided => "guided",
            Self::Lora => "lora",
            Self::FullOnly => "full-only",
            Self::Fixed => "fixed",
            Self::GuidedAdaptive => "guided-adaptive",
            Self::GuidedTask => "guided-task",
            Self::Dro => "dro",
            Self::Distill => "distill",
            Self::GuidedDistill => "guided-distill",
            Self::Curriculum => "curriculum",
            Self::Prior => "prior",
        }
    }

    /// Whether the method trains LoRA adapters on a frozen base (its checkpoints hold adapters).
    pub fn uses_lora(self) -> bool {
        self == Self::Lora
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which scenarios the LoRA baseline trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoraSampling {
    /// Uniform scenarios (default).
    #[default]
    Uniform,
    /// The guided distribution.
    Guided,
}

/// `[finetune]`: the methods compared, all from the same pretrained weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    /// Methods to run, in table column order.
    pub methods: Vec<Method>,
    /// The scenario of the `fixed` method (e.g. `rgb+nir`).
    pub fixed_scenario: Option<String>,
    /// Adapters of the `lora` method.
    pub lora: LoraConfig,
    /// Scenarios of the `lora` method.
    pub lora_sampling: LoraSampling,
    /// The training loop of every method.
    pub train: TrainConfig,
    /// `guided-adaptive`: epochs between re-scorings (docs/method.md §5.9).
    pub rescore_every: usize,
    /// `guided-adaptive`: training tiles scored each time.
    pub rescore_samples: usize,
    /// `guided-adaptive`: weight of the previous distribution, in [0, 1).
    pub rescore_momentum: f64,
    /// `dro`: group DRO's step size.
    pub dro: DroConfig,
    /// `distill`, `guided-distill`: weights and temperature of distillation.
    pub distill: DistillConfig,
    /// `curriculum`: the schedule from every modality to uniform dropout.
    pub curriculum: CurriculumConfig,
    /// `prior`: the deployment failure profile.
    pub prior: PriorConfig,
    /// Replaced parts of methods' compositions, by method name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub recipes: BTreeMap<String, RecipeOverride>,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            methods: vec![Method::Uniform, Method::Guided, Method::Lora],
            fixed_scenario: None,
            lora: LoraConfig::default(),
            lora_sampling: LoraSampling::Uniform,
            train: TrainConfig::default(),
            rescore_every: 1,
            rescore_samples: 64,
            rescore_momentum: 0.0,
            dro: DroConfig::default(),
            distill: DistillConfig::default(),
            curriculum: CurriculumConfig::default(),
            prior: PriorConfig::default(),
            recipes: BTreeMap::new(),
        }
    }
}

impl FinetuneConfig {
    /// Checks the method list (non-empty, no repeats, `fixed` has its scenario), the adapters and
    /// the training loop.
    pub fn validate(&self) -> Result<()> {
        if self.methods.is_empty() {
            return Err(Error::InvalidConfig {
                field: "finetune.methods",
                value: "[]".into(),
                expected: "at least one method (docs/method.md §5)",
            });
        }
        for (i, m) in self.methods.iter().enumerate() {
            if self.methods[..i].contains(m) {
                return Err(Error::InvalidConfig {
                    field: "finetune.methods",
                    value: format!("{:?} twice", m.name()),
                    expected: "each method at most once",
                });
            }
        }
        let bad = |field, value: String, expected| Err(Error::InvalidConfig { field, value, expected });
        if self.rescore_every == 0 {
            return bad("finetune.rescore_every", "0".into(), "at least 1 (epochs between re-scorings)");
        }
        if self.rescore_samples == 0 {
            return bad("finetune.rescore_samples", "0".into(), "at least 1 training tile");
        }
        if !(0.0..1.0).contains(&self.rescore_momentum) {
            return bad("finetune.rescore_momentum", self.rescore_momentum.to_string(), "in [0, 1)");
        }
        if let Some(name) = self.recipes.keys().find(|name| !Method::ALL.iter().any(|m| m.name() == *name)) {
            return bad("finetune.recipes", format!("{name:?}"), "a table per method name (uniform, guided, lora, …)");
        }
        let fixed_anywhere = self.methods.iter().any(|&m| self.recipe(m).scenarios == Scenarios::Fixed);
        if fixed_anywhere && self.fixed_scenario.is_none() {
            return bad(
                "finetune.fixed_scenario",
                "absent".into(),
                "a scenario such as \"rgb+nir\" for fixed scenarios",
            );
        }
        self.dro.validate()?;
        self.distill.validate()?;
        self.curriculum.validate()?;
        self.prior.validate()?;
        self.lora.validate()?;
        self.train.validate()
    }

    /// `method`'s composition: its own, with `[finetune.recipes.<method>]` in place.
    pub fn recipe(&self, method: Method) -> Recipe {
        let own = method.recipe(self.lora_sampling);
        self.recipes.get(method.name()).map_or(own, |change| own.with(change))
    }

    /// Whether `method` draws from a probabilities file (the task-score one for `guided-task`).
    pub fn needs_probabilities(&self, method: Method) -> bool {
        self.recipe(method).scenarios.needs_probabilities()
    }

    /// The checks of the methods' settings against the data's modalities (the fixed scenario,
    /// the prior's profile), before any stage trains.
    pub fn check_modalities(&self, set: &ModalitySet) -> Result<()> {
        for &method in &self.methods {
            match self.recipe(method).scenarios {
                Scenarios::Fixed => drop(set.parse_scenario(self.fixed_scenario.as_deref().unwrap_or_default())?),
                Scenarios::Prior => drop(self.prior.profile(set)?),
                _ => {}
            }
        }
        Ok(())
    }

    /// The scenario sampler of `method` over `set` at the start of a run (`curriculum` changes
    /// it every epoch from there, `guided-adaptive` when it re-scores). `probabilities` is the
    /// probabilities file its scenarios come from (the task-score file for `guided-task`) and
    /// the path it came from (for errors); required by guided sampling, ignored otherwise.
    pub fn strategy(
        &self,
        method: Method,
        set: &ModalitySet,
        probabilities: Option<(&ProbabilitiesFile, &Path)>,
    ) -> Result<SamplingStrategy> {
        Ok(match self.recipe(method).scenarios {
            Scenarios::Guided | Scenarios::GuidedAdaptive | Scenarios::GuidedTask => {
                let (file, path) = probabilities.ok_or(Error::MissingProbabilities { method: method.name() })?;
                SamplingStrategy::Weighted { probabilities: file.probabilities_for(set, &path.display().to_string())? }
            }
            Scenarios::Uniform => SamplingStrategy::Uniform,
            Scenarios::FullOnly => SamplingStrategy::FullOnly,
            Scenarios::Fixed => {
                let text = self.fixed_scenario.as_deref().unwrap_or_default();
                SamplingStrategy::Fixed { scenario: set.parse_scenario(text)? }
            }
            Scenarios::Curriculum => Curriculum::new(&self.curriculum, self.train.epochs, set).initial(),
            Scenarios::Prior => self.prior.strategy(set)?,
        })
    }

    /// The network `method` trains: the base network, with this config's adapters for `lora`.
    pub fn model_config(&self, method: Method, base: &ModelConfig) -> ModelConfig {
        ModelConfig { lora: method.uses_lora().then_some(self.lora), ..base.clone() }
    }
}

/// The network of a run, as the stages share it: the base config (classes set from the data,
/// no adapters), the modalities' channel counts, the seed of the random initialisation and the
/// device it lives on.
#[derive(Debug, Clone)]
pub struct Network {
    /// The plain network (adapters are added per method).
    pub model: ModelConfig,
    /// Channels per modality, in the data set's order.
    pub channels: Vec<i64>,
    /// Seeds libtorch before every initialisation (weights, and the adapters of `lora`).
    pub init_seed: u64,
    /// Where the weights live and the forwards run.
    pub device: Device,
    /// The memory layout of every network built here (`[run] layout`, docs/speed.md §8).
    pub layout: lssg_torch::Layout,
}

impl Network {
    /// The network for `data`: `architecture` with the data set's class count (1 = binary) and
    /// channel counts, no adapters.
    pub fn for_data(architecture: &ArchitectureConfig, data: &DataSplits, init_seed: u64, device: Device) -> Self {
        let channels = data.train.modalities().channels().iter().map(|&c| c as i64).collect();
        let model = architecture.model(data.train.num_classes() as i64, None);
        Self { model, channels, init_seed, device, layout: lssg_torch::Layout::Nchw }
    }

    /// Builds `config` (this network, possibly with adapters) with `weights`.
    pub fn load(&self, config: &ModelConfig, weights: Weights<'_>) -> Result<LoadedModel> {
        Ok(LoadedModel::new(config, &self.channels, self.device, self.init_seed, weights)?.laid_out(self.layout)?)
    }

    /// This network with its initialisation on the stream `parts` of its init seed.
    fn on_stream(&self, parts: &[&str]) -> Self {
        Self { init_seed: stream(self.init_seed, parts), ..self.clone() }
    }
}

/// `config` with its seed replaced by the stream `parts` of it.
fn train_stream(config: &TrainConfig, parts: &[&str]) -> TrainConfig {
    TrainConfig { seed: stream(config.seed, parts), ..config.clone() }
}

/// Pretrains `network` from random weights with uniform scenario dropout on `data.train`,
/// validating on `data.val` with every modality, in `dir` (resumable). Returns the summary;
/// its `checkpoint` is the pretrained weights.
pub fn pretrain(
    network: &Network,
    data: &DataSplits,
    config: &TrainConfig,
    dir: &Path,
    observer: &mut dyn TrainObserver,
) -> Result<TrainSummary> {
    const STAGE: &[&str] = &["pretrain"];
    let model = network.on_stream(STAGE).load(&network.model, Weights::Random)?;
    train(model.net.as_ref(), &model.vs, data, SamplingStrategy::Uniform, &train_stream(config, STAGE), dir, observer)
}

/// What to fine-tune from and with.
#[derive(Debug, Clone, Copy)]
pub struct FinetuneFrom<'a> {
    /// The pretrained weights (a plain network's checkpoint).
    pub pretrained: &'a Path,
    /// The probabilities file and its path, for methods that sample from it.
    pub probabilities: Option<(&'a ProbabilitiesFile, &'a Path)>,
    /// The task-score probabilities file and its path (`guided-task`).
    pub task_probabilities: Option<(&'a ProbabilitiesFile, &'a Path)>,
    /// How `guided-adaptive` re-scores: the scoring and smoothing settings of the run.
    pub rescoring: Option<(&'a ScoringConfig, &'a SmoothingConfig)>,
}

impl<'a> FinetuneFrom<'a> {
    /// From `pretrained` weights alone (methods that need no probabilities file).
    pub fn weights(pretrained: &'a Path) -> Self {
        Self { pretrained, probabilities: None, task_probabilities: None, rescoring: None }
    }
}

/// Fine-tunes `network` with `method` from `from.pretrained` on `data` in `dir` (resumable):
/// the method's sampler and model set-up from `config`, its training loop `config.train`.
/// The returned summary's `checkpoint` holds the method's weights (with adapters for `lora`).
pub fn finetune(
    method: Method,
    config: &FinetuneConfig,
    network: &Network,
    from: FinetuneFrom<'_>,
    data: &DataSplits,
    dir: &Path,
    observer: &mut dyn TrainObserver,
) -> Result<TrainSummary> {
    config.validate()?;
    let recipe = config.recipe(method);
    let set = data.train.modalities();
    config.check_modalities(set)?;
    let task = recipe.scenarios == Scenarios::GuidedTask;
    let probabilities = if task { from.task_probabilities } else { from.probabilities };
    let strategy = config.strategy(method, set, probabilities)?;
    let stage = ["finetune", method.name()];
    let model =
        network.on_stream(&stage).load(&config.model_config(method, &network.model), Weights::Base(from.pretrained))?;
    let train_config = train_stream(&config.train, &stage);
    let mut hook = epoch_hook(recipe, config, network, &from, data, &train_config)?;
    let loss = objective_loss(recipe, config, network, &from, set)?;
    let hook = hook.as_mut().map(|h| h.as_mut() as &mut dyn EpochHook);
    let sampling = Sampling { strategy, hook, loss };
    train(model.net.as_ref(), &model.vs, data, sampling, &train_config, dir, observer)
}

/// The hook that changes `recipe`'s sampler between epochs: the re-scoring of
/// `guided-adaptive`, the schedule of `curriculum`; none for fixed distributions.
fn epoch_hook(
    recipe: Recipe,
    config: &FinetuneConfig,
    network: &Network,
    from: &FinetuneFrom<'_>,
    data: &DataSplits,
    train_config: &TrainConfig,
) -> Result<Option<Box<dyn EpochHook>>> {
    Ok(match recipe.scenarios {
        Scenarios::GuidedAdaptive => {
            let (scoring, smoothing) = from.rescoring.ok_or(Error::MissingRescoring)?;
            Some(Box::new(Rescorer {
                every: config.rescore_every,
                samples: config.rescore_samples,
                momentum: config.rescore_momentum,
                scoring: scoring.clone(),
                smoothing: *smoothing,
                train: data.train.clone(),
                device: network.device,
                seed: train_config.seed,
                precision: train_config.precision,
                inference: train_config.inference,
            }))
        }
        Scenarios::Curriculum => {
            Some(Box::new(Curriculum::new(&config.curriculum, config.train.epochs, data.train.modalities())))
        }
        _ => None,
    })
}

/// The loss of `recipe`'s objective; `None` for the configured segmentation loss.
fn objective_loss(
    recipe: Recipe,
    config: &FinetuneConfig,
    network: &Network,
    from: &FinetuneFrom<'_>,
    set: &ModalitySet,
) -> Result<Option<Box<dyn LossStrategy>>> {
    let loss = config.train.loss.clone();
    Ok(match recipe.objective {
        Objective::Segmentation => None,
        Objective::GroupDro => Some(Box::new(GroupDro::new(loss, config.dro, set))),
        Objective::Distill => {
            // The teacher: the pretrained network as it is, every modality, frozen.
            let teacher = network.load(&network.model, Weights::Checkpoint(from.pretrained))?;
            Some(Box::new(Distill::new(loss, config.distill, teacher)))
        }
    })
}

/// The directory of `method` under a run's `finetune/` directory.
pub fn method_dir(finetune_root: &Path, method: Method) -> PathBuf {
    finetune_root.join(method.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_and_validate() {
        for m in Method::ALL {
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        FinetuneConfig::default().validate().unwrap();
        let empty = FinetuneConfig { methods: vec![], ..Default::default() };
        assert!(empty.validate().unwrap_err().to_string().contains("finetune.methods"));
        let twice = FinetuneConfig { methods: vec![Method::Guided, Method::Guided], ..Default::default() };
        assert!(twice.validate().unwrap_err().to_string().contains("twice"));
        let fixed = FinetuneConfig { methods: vec![Method::Fixed], ..Default::default() };
        assert!(fixed.validate().unwrap_err().to_string().contains("fixed_scenario"));
    }

    #[test]
    fn each_method_maps_to_its_sampler_and_model() {
        let set = ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap();
        let config = FinetuneConfig { fixed_scenario: Some("rgb+nir".into()), ..Default::default() };
        assert_eq!(config.strategy(Method::Uniform, &set, None).unwrap(), SamplingStrategy::Uniform);
        assert_eq!(config.strategy(Method::Lora, &set, None).unwrap(), SamplingStrategy::Uniform);
        assert_eq!(config.strategy(Method::FullOnly, &set, None).unwrap(), SamplingStrategy::FullOnly);
        let SamplingStrategy::Fixed { scenario } = config.strategy(Method::Fixed, &set, None).unwrap() else {
            panic!("fixed maps to a fixed scenario")
        };
        assert_eq!(set.scenario_name(scenario), "rgb+nir");
        let err = config.strategy(Method::Guided, &set, None).unwrap_err();
        assert!(matches!(err, Error::MissingProbabilities { method: "guided" }), "{err}");
        let lora_guided = FinetuneConfig { lora_sampling: LoraSampling::Guided, ..Default::default() };
        assert!(lora_guided.needs_probabilities(Method::Lora));

        let base = ModelConfig { classes: 7, ..Default::default() };
        assert_eq!(config.model_config(Method::Guided, &base), base);
        assert_eq!(config.model_config(Method::Lora, &base).lora, Some(config.lora));
    }

    #[test]
    fn the_new_methods_and_recipe_overrides() {
        let set = ModalitySet::from_names(["rgb", "nir"], 3).unwrap();
        let config = FinetuneConfig { train: TrainConfig { epochs: 3, ..Default::default() }, ..Default::default() };
        assert_eq!(config.strategy(Method::Dro, &set, None).unwrap(), SamplingStrategy::Uniform);
        assert_eq!(config.strategy(Method::Distill, &set, None).unwrap(), SamplingStrategy::Uniform);
        let curriculum = config.strategy(Method::Curriculum, &set, None).unwrap();
        assert_eq!(curriculum, SamplingStrategy::Weighted { probabilities: vec![0.0, 0.0, 1.0] });
        let SamplingStrategy::Weighted { probabilities } = config.strategy(Method::Prior, &set, None).unwrap() else {
            panic!("prior samples its profile")
        };
        assert!((probabilities[2] - 0.81 / 0.99).abs() < 1e-12);
        assert!(config.needs_probabilities(Method::GuidedDistill) && !config.needs_probabilities(Method::Distill));

        // Task-aware guidance with distillation, by configuration.
        let change = RecipeOverride { scenarios: Some(Scenarios::GuidedTask), objective: None };
        let task_distill = FinetuneConfig { recipes: [("distill".to_string(), change)].into(), ..config.clone() };
        task_distill.validate().unwrap();
        let recipe = task_distill.recipe(Method::Distill);
        assert_eq!((recipe.scenarios, recipe.objective), (Scenarios::GuidedTask, Objective::Distill));
        let err = task_distill.strategy(Method::Distill, &set, None).unwrap_err();
        assert!(matches!(err, Error::MissingProbabilities { method: "distill" }), "{err}");
        assert_eq!(task_distill.recipe(Method::Uniform), Method::Uniform.recipe(LoraSampling::Uniform));

        let unknown = FinetuneConfig { recipes: [("distil".to_string(), change)].into(), ..config.clone() };
        let e = unknown.validate().unwrap_err().to_string();
        assert!(e.contains("finetune.recipes") && e.contains("distil"), "{e}");
        let fixed = RecipeOverride { scenarios: Some(Scenarios::Fixed), objective: None };
        let needs_scenario = FinetuneConfig { recipes: [("uniform".to_string(), fixed)].into(), ..config.clone() };
        assert!(needs_scenario.validate().unwrap_err().to_string().contains("finetune.fixed_scenario"));
        for (bad, key) in [
            (FinetuneConfig { dro: DroConfig { step: -1.0 }, ..config.clone() }, "finetune.dro.step"),
            (
                FinetuneConfig { distill: DistillConfig { temperature: -2.0, ..Default::default() }, ..config.clone() },
                "finetune.distill.temperature",
            ),
            (FinetuneConfig { prior: PriorConfig { p: 1.0, profile: None }, ..config.clone() }, "finetune.prior.p"),
        ] {
            assert!(bad.validate().unwrap_err().to_string().contains(key), "{key}");
        }
        let profile = PriorConfig { p: 0.1, profile: Some([("rgb".into(), 0.1), ("sar".into(), 0.2)].into()) };
        let prior = FinetuneConfig { methods: vec![Method::Prior], prior: profile, ..config };
        prior.validate().unwrap();
        let e = prior.check_modalities(&set).unwrap_err().to_string();
        assert!(e.contains("finetune.prior.profile.sar"), "{e}");
    }
}
