//! A fine-tuning method as a composition (docs/method.md §5): where its scenarios come from
//! ([`Scenarios`]), what each step minimises ([`Objective`]) and which parameters train
//! ([`Params`]). Every named [`Method`] is one [`Recipe`]; `[finetune.recipes.<method>]`
//! replaces a method's scenarios or objective, so a combination such as task-aware guidance
//! with distillation is configuration (`[finetune.recipes.distill] scenarios = "guided-task"`),
//! not new code.

use serde::{Deserialize, Serialize};

use crate::finetune::{LoraSampling, Method};

/// Where a method's scenarios come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenarios {
    /// Every scenario with probability 1/S.
    Uniform,
    /// `final_probs` of the probabilities file (latent scores).
    Guided,
    /// `final_probs` of the task-score probabilities file.
    GuidedTask,
    /// Guided, re-scored with the current weights during training (§5.9).
    GuidedAdaptive,
    /// Always every modality.
    FullOnly,
    /// Always `finetune.fixed_scenario`.
    Fixed,
    /// From every modality to uniform over the first epochs (`[finetune.curriculum]`, §5.12).
    Curriculum,
    /// The deployment failure profile (`[finetune.prior]`, §5.13).
    Prior,
}

impl Scenarios {
    /// Whether the scenarios come from a probabilities file (the task-score one for `guided-task`).
    pub fn needs_probabilities(self) -> bool {
        matches!(self, Self::Guided | Self::GuidedAdaptive | Self::GuidedTask)
    }
}

/// What each step minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// The configured segmentation loss (`[finetune.train.loss]`).
    Segmentation,
    /// Group DRO over scenarios (`[finetune.dro]`, §5.10).
    GroupDro,
    /// The segmentation loss plus distillation from the full-modality teacher
    /// (`[finetune.distill]`, §5.11).
    Distill,
}

/// Which parameters train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Params {
    /// Every parameter of the network.
    Full,
    /// LoRA adapters on the frozen base (`[finetune.lora]`).
    Lora,
}

/// One method's composition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipe {
    /// The scenario sampler.
    pub scenarios: Scenarios,
    /// The loss.
    pub objective: Objective,
    /// The trained parameters.
    pub params: Params,
}

/// `[finetune.recipes.<method>]`: replaces parts of a method's recipe (the parameters stay the
/// method's: they decide what its checkpoints hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecipeOverride {
    /// The scenario sampler instead of the method's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenarios: Option<Scenarios>,
    /// The loss instead of the method's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<Objective>,
}

impl Method {
    /// The method's own composition; `lora_sampling` chooses the scenarios of `lora`.
    pub fn recipe(self, lora_sampling: LoraSampling) -> Recipe {
        use Objective::{Distill, GroupDro, Segmentation};
        let (scenarios, objective) = match self {
            Method::Uniform => (Scenarios::Uniform, Segmentation),
            Method::Guided => (Scenarios::Guided, Segmentation),
            Method::Lora => match lora_sampling {
                LoraSampling::Uniform => (Scenarios::Uniform, Segmentation),
                LoraSampling::Guided => (Scenarios::Guided, Segmentation),
            },
            Method::FullOnly => (Scenarios::FullOnly, Segmentation),
            Method::Fixed => (Scenarios::Fixed, Segmentation),
            Method::GuidedAdaptive => (Scenarios::GuidedAdaptive, Segmentation),
            Method::GuidedTask => (Scenarios::GuidedTask, Segmentation),
            Method::Dro => (Scenarios::Uniform, GroupDro),
            Method::Distill => (Scenarios::Uniform, Distill),
            Method::GuidedDistill => (Scenarios::Guided, Distill),
            Method::Curriculum => (Scenarios::Curriculum, Segmentation),
            Method::Prior => (Scenarios::Prior, Segmentation),
        };
        let params = if self.uses_lora() { Params::Lora } else { Params::Full };
        Recipe { scenarios, objective, params }
    }
}

impl Recipe {
    /// This recipe with `change`'s parts in place of its own.
    pub fn with(self, change: &RecipeOverride) -> Self {
        Self {
            scenarios: change.scenarios.unwrap_or(self.scenarios),
            objective: change.objective.unwrap_or(self.objective),
            params: self.params,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_methods_are_compositions() {
        let r = |m: Method| m.recipe(LoraSampling::Uniform);
        assert_eq!(
            r(Method::GuidedDistill),
            Recipe { scenarios: Scenarios::Guided, objective: Objective::Distill, params: Params::Full }
        );
        assert_eq!(r(Method::Lora).params, Params::Lora);
        assert_eq!(Method::Lora.recipe(LoraSampling::Guided).scenarios, Scenarios::Guided);
        assert_eq!(r(Method::Dro).objective, Objective::GroupDro);
        let task_distill =
            r(Method::Distill).with(&RecipeOverride { scenarios: Some(Scenarios::GuidedTask), objective: None });
        assert_eq!((task_distill.scenarios, task_distill.objective), (Scenarios::GuidedTask, Objective::Distill));
        let parsed: RecipeOverride =
            serde_json::from_str(r#"{"scenarios": "guided-task", "objective": "group-dro"}"#).unwrap();
        assert_eq!(
            parsed,
            RecipeOverride { scenarios: Some(Scenarios::GuidedTask), objective: Some(Objective::GroupDro) }
        );
        assert!(serde_json::from_str::<RecipeOverride>(r#"{"params": "lora"}"#).is_err());
    }
}
