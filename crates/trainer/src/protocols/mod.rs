//! The robustness protocols of an evaluation (docs/method.md §6.1), computed once from a
//! finished checkpoint: the expected metric under independent sensor failure (from the
//! per-scenario metrics, no extra forward), random-missing patches and Gaussian noise on one
//! modality at a time (one extra forward per setting and batch, in the same pass over the test
//! split), and the predicted maps of the first few test tiles.

pub mod config;
mod pass;
pub mod perturb;

use lssg_backbones::SegmentationModel;
use lssg_datasets::TileDataset;
use lssg_scenario::robustness::{Protocols, TileMap, expected_metrics};
use lssg_scenario::{LabelledProfile, ModalitySet, Scenario};
use tch::Device;

pub use config::{NoisyConfig, ProtocolConfig, RandomMissingConfig};
pub use lssg_scenario::robustness::ProtocolKind;

use crate::error::Result;
use crate::evaluate::BatchHook;
use crate::metrics::Metrics;
use pass::{ProtocolPass, summary};

/// What an evaluation with protocols does beyond the scenarios, checked before any forward.
pub(crate) struct Plan<'a> {
    profiles: Vec<LabelledProfile>,
    pass: ProtocolPass<'a>,
}

/// The plan of `config` for an evaluation of `model` on `dataset` under `scenarios` (canonical
/// order), or `None` when no protocol is enabled. Bad settings, a profile that does not fit
/// the data set's modalities, and an expected metric over fewer than every scenario are errors
/// here, before the evaluation starts.
pub(crate) fn plan<'a>(
    config: &ProtocolConfig,
    model: &'a dyn SegmentationModel,
    dataset: &dyn TileDataset,
    scenarios: &[Scenario],
    device: Device,
) -> Result<Option<Plan<'a>>> {
    config.validate()?;
    if !config.any() {
        return Ok(None);
    }
    let set = dataset.modalities();
    let profiles = config.check_modalities(set, scenarios.len())?;
    let names = scenarios.iter().map(|&s| set.scenario_name(s)).collect();
    let pass = ProtocolPass::new(model, dataset, config, names, device)?;
    Ok(Some(Plan { profiles, pass }))
}

impl Plan<'_> {
    /// The per-batch work of the pass.
    pub(crate) fn hook(&mut self) -> &mut dyn BatchHook {
        &mut self.pass
    }

    /// The protocols' results, given the evaluated `scenarios` of `set` and their `metrics`,
    /// and the captured maps.
    pub(crate) fn finish(
        self,
        set: &ModalitySet,
        scenarios: &[Scenario],
        metrics: &[Metrics],
    ) -> Result<(Protocols, Vec<TileMap>)> {
        let summaries: Vec<_> = metrics.iter().map(summary).collect();
        let expected = self
            .profiles
            .iter()
            .map(|p| expected_metrics(&p.label, &p.profile, set, scenarios, &summaries))
            .collect::<lssg_scenario::Result<Vec<_>>>()?;
        let results = self.pass.finish();
        let protocols = Protocols { expected, random_missing: results.random_missing, noisy: results.noisy };
        Ok((protocols, results.maps))
    }
}
