//! Trajectories of adaptive sampling distributions (docs/report.md §9) and of per-scenario
//! loss weights (§10.5): for every stage whose curve points carry the distribution the epoch
//! sampled from (`CurvePoint.sampling`, e.g. `guided-adaptive`) or the loss weights it ended
//! with (`CurvePoint.weights`, group DRO's q), the value of each scenario per epoch and seed,
//! and its mean over the seeds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::StageCurves;
use crate::record::CurvePoint;
use crate::stats::mean;

/// What a trajectory follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// The sampling distribution (`CurvePoint.sampling`).
    Sampling,
    /// The per-scenario loss weights (`CurvePoint.weights`).
    Weights,
}

impl Recorded {
    fn values(self, p: &CurvePoint) -> Option<&Vec<f64>> {
        match self {
            Self::Sampling => p.sampling.as_ref(),
            Self::Weights => p.weights.as_ref(),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Sampling => "sampling distributions",
            Self::Weights => "loss weights",
        }
    }
}

/// The distribution one epoch sampled from (or the weights it ended with).
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
    recorded: Recorded,
    notes: &mut Vec<String>,
) -> Vec<Trajectory> {
    curves.iter().filter_map(|stage| trajectory(stage, scenarios, scored, recorded, notes)).collect()
}

fn trajectory(
    stage: &StageCurves,
    scenarios: &[String],
    scored: Option<&[String]>,
    recorded: Recorded,
    notes: &mut Vec<String>,
) -> Option<Trajectory> {
    let what = recorded.what();
    let len = stage.seeds.iter().flat_map(|(_, pts)| pts).find_map(|p| recorded.values(p).map(Vec::len))?;
    let names: Vec<String> = if len == scenarios.len() {
        scenarios.to_vec()
    } else if let Some(s) = scored.filter(|s| s.len() == len) {
        s.to_vec()
    } else {
        notes.push(format!("{}: {what} of {len} scenarios, the group has {}; not shown", stage.stage, scenarios.len()));
        return None;
    };
    let mut seeds = Vec::new();
    for (seed, pts) in &stage.seeds {
        let points: Vec<EpochSampling> = pts
            .iter()
            .filter_map(|p| recorded.values(p).map(|s| EpochSampling { epoch: p.epoch, probabilities: s.clone() }))
            .collect();
        if points.iter().any(|p| p.probabilities.len() != len) {
            notes.push(format!("{} seed {seed}: {what} of another length; left out", stage.stage));
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
