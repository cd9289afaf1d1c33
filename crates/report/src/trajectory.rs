//! Trajectories of adaptive sampling distributions (docs/report.md §9): for every stage whose
//! curve points carry the distribution the epoch sampled from (`CurvePoint.sampling`, e.g.
//! `guided-adaptive`), the probability of each scenario per epoch and seed, and its mean over
//! the seeds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::StageCurves;
use crate::stats::mean;

/// The distribution one epoch sampled from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochSampling {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Probability per scenario, canonical order.
    pub probabilities: Vec<f64>,
}

/// One seed's trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedTrajectory {
    /// The seed.
    pub seed: u64,
    /// The epochs that recorded a distribution, ascending.
    pub points: Vec<EpochSampling>,
}

/// A stage's sampling distributions over epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// `finetune/<method>`.
    pub stage: String,
    /// The scenario of each probability.
    pub scenarios: Vec<String>,
    /// Per seed.
    pub seeds: Vec<SeedTrajectory>,
    /// Per epoch, the mean over the seeds that recorded it.
    pub mean: Vec<EpochSampling>,
}

/// The trajectories of the stages in `curves`. The probabilities are matched to `scenarios`
/// (the group's evaluated scenarios) or, failing that, `scored` (the pretraining scores' own);
/// a distribution of another length is left out with a note.
pub(crate) fn trajectories(
    curves: &[StageCurves],
    scenarios: &[String],
    scored: Option<&[String]>,
    notes: &mut Vec<String>,
) -> Vec<Trajectory> {
    curves.iter().filter_map(|stage| trajectory(stage, scenarios, scored, notes)).collect()
}

fn trajectory(
    stage: &StageCurves,
    scenarios: &[String],
    scored: Option<&[String]>,
    notes: &mut Vec<String>,
) -> Option<Trajectory> {
    let len = stage.seeds.iter().flat_map(|(_, pts)| pts).find_map(|p| p.sampling.as_ref().map(Vec::len))?;
    let names: Vec<String> = if len == scenarios.len() {
        scenarios.to_vec()
    } else if let Some(s) = scored.filter(|s| s.len() == len) {
        s.to_vec()
    } else {
        notes.push(format!(
            "{}: sampling distributions of {len} scenarios, the group has {}; not shown",
            stage.stage,
            scenarios.len()
        ));
        return None;
    };
    let mut seeds = Vec::new();
    for (seed, pts) in &stage.seeds {
        let points: Vec<EpochSampling> = pts
            .iter()
            .filter_map(|p| p.sampling.as_ref().map(|s| EpochSampling { epoch: p.epoch, probabilities: s.clone() }))
            .collect();
        if points.iter().any(|p| p.probabilities.len() != len) {
            notes.push(format!("{} seed {seed}: sampling distributions of another length; left out", stage.stage));
            continue;
        }
        if !points.is_empty() {
            seeds.push(SeedTrajectory { seed: *seed, points });
        }
    }
    let mut by_epoch: BTreeMap<usize, Vec<&[f64]>> = BTreeMap::new();
    for p in seeds.iter().flat_map(|s| &s.points) {
        by_epoch.entry(p.epoch).or_default().push(&p.probabilities);
    }
    let mean = by_epoch
        .into_iter()
        .map(|(epoch, rows)| EpochSampling {
            epoch,
            probabilities: (0..len)
                .map(|j| mean(&rows.iter().map(|r| r[j]).collect::<Vec<_>>()).unwrap_or(f64::NAN))
                .collect(),
        })
        .collect();
    Some(Trajectory { stage: stage.stage.clone(), scenarios: names, seeds, mean })
}
