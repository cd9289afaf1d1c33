//! The checkpointer of a training run: restores a run from its directory, writes each epoch's
//! files and commits the epoch (the files and the protocol are in [`crate::run_dir`]).
//!
//! After every epoch it writes the epoch's model and optimiser files, then carries out what its
//! [`CheckpointStrategy`]s ask for: copies of the weights (`last`, `best`) before the commit
//! point, `metrics.jsonl` and `state.json` (the commit point), and removals of old epoch files
//! after it, so that a crash at any moment leaves the previous epoch's checkpoint complete.
//!
//! The strategies come from the config ([`strategies`]): [`KeepLastEpochs`] keeps the last
//! `keep_epochs` epoch files and the `last` copy; [`KeepBest`] keeps the `best` copy of the epoch
//! that improved the monitored metric. `keep` orders them: the first whose weights exist is the
//! run's result.

use std::path::PathBuf;

use lssg_datasets::TileDataset;
use lssg_scenario::{SamplingStrategy, ScenarioSampler};
use lssg_torch::GradScaler;
use tch::nn::VarStore;

use crate::checkpoint;
use crate::error::Result;
use crate::observer::EpochRecord;
use crate::optim::Optimizer;
use crate::run_dir::{BestEpoch, RunPaths, RunState, check_resume, file_name, remove_epochs_before};
use crate::state_check::StateFile;
use crate::train::config::{Keep, TrainConfig};
use crate::train::step::{LossState, StepContext};

/// A copy of one epoch's weights under a fixed name in `checkpoint/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alias {
    /// `last.safetensors`: the latest epoch.
    Last,
    /// `best.safetensors`: the best epoch by the monitored metric.
    Best,
}

impl Alias {
    fn path(self, paths: &RunPaths) -> PathBuf {
        match self {
            Alias::Last => paths.last(),
            Alias::Best => paths.best(),
        }
    }
}

/// What a strategy asks for after an epoch's files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckpointAction {
    /// Copy the epoch's weights to the alias (before the commit point).
    Copy(Alias),
    /// Remove the model and optimiser files of every epoch before this one (after the commit
    /// point), including those of earlier calls with a larger `keep_epochs`.
    RemoveEpochsBefore(usize),
}

/// An epoch whose model and optimiser files were just written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SavedEpoch {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Whether it became the best so far by the monitored metric.
    pub improved: bool,
}

/// A checkpointing policy: which files to keep after each epoch, and which weights it offers
/// as the run's result.
pub(crate) trait CheckpointStrategy: std::fmt::Debug {
    /// The actions after `saved`'s files are written.
    fn actions(&mut self, saved: &SavedEpoch) -> Vec<CheckpointAction>;
    /// The weights this strategy keeps for the run's result, given the best epoch so far
    /// (`None` when it keeps none yet).
    fn kept(&self, best: Option<&BestEpoch>) -> Option<Alias>;
}

/// Keeps the last `epochs` epochs' files and a `last` copy of the latest weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeepLastEpochs {
    /// Epoch files kept (≥ 1).
    pub epochs: usize,
}

impl CheckpointStrategy for KeepLastEpochs {
    fn actions(&mut self, saved: &SavedEpoch) -> Vec<CheckpointAction> {
        let first_kept = (saved.epoch + 1).saturating_sub(self.epochs);
        vec![CheckpointAction::Copy(Alias::Last), CheckpointAction::RemoveEpochsBefore(first_kept)]
    }

    fn kept(&self, _best: Option<&BestEpoch>) -> Option<Alias> {
        Some(Alias::Last)
    }
}

/// Keeps a `best` copy of the weights of the best validated epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeepBest;

impl CheckpointStrategy for KeepBest {
    fn actions(&mut self, saved: &SavedEpoch) -> Vec<CheckpointAction> {
        if saved.improved { vec![CheckpointAction::Copy(Alias::Best)] } else { Vec::new() }
    }

    fn kept(&self, best: Option<&BestEpoch>) -> Option<Alias> {
        best.map(|_| Alias::Best)
    }
}

/// The strategies of `config`, the one `keep` names first.
pub(crate) fn strategies(config: &TrainConfig) -> Vec<Box<dyn CheckpointStrategy>> {
    let last = Box::new(KeepLastEpochs { epochs: config.keep_epochs });
    match config.keep {
        Keep::Last => vec![last, Box::new(KeepBest)],
        Keep::Best => vec![Box::new(KeepBest), last],
    }
}

/// Where a run starts: restored from `state.json`, or fresh.
pub(crate) struct Start {
    /// The scenario sampler, RNG included.
    pub sampler: ScenarioSampler,
    /// Finished epochs (0 for a fresh run).
    pub epoch: usize,
    /// The best epoch so far.
    pub best: Option<BestEpoch>,
    /// The finished epochs' records.
    pub history: Vec<EpochRecord>,
}

/// What the commit of an epoch records besides the tensors.
pub(crate) struct Commit<'a> {
    /// The finished epoch, 1-based.
    pub epoch: usize,
    /// The sampler after it.
    pub sampler: &'a ScenarioSampler,
    /// The gradient scaler after it.
    pub scaler: &'a GradScaler,
    /// The loss's state after it (group DRO's weights), if it carries one.
    pub loss: Option<LossState>,
    /// The best epoch so far.
    pub best: Option<BestEpoch>,
    /// Every finished epoch's record, this one last.
    pub history: &'a [EpochRecord],
}

/// Restores, saves and commits the epochs of one run directory.
pub(crate) struct Checkpointer<'a> {
    paths: RunPaths,
    config: &'a TrainConfig,
    /// The strategy the run started with, stored when the sampler's may change during the run
    /// (`guided-adaptive`).
    initial: Option<SamplingStrategy>,
    strategies: Vec<Box<dyn CheckpointStrategy>>,
    /// The current epoch's actions that wait for its commit point.
    after_commit: Vec<CheckpointAction>,
}

impl<'a> Checkpointer<'a> {
    /// The checkpointer of run directory `paths` with `config`'s strategies.
    pub fn new(paths: RunPaths, config: &'a TrainConfig, initial: Option<SamplingStrategy>) -> Self {
        Self { paths, config, initial, strategies: strategies(config), after_commit: Vec::new() }
    }

    /// The run directory's files.
    pub fn paths(&self) -> &RunPaths {
        &self.paths
    }

    /// Restores the weights in `vs`, the optimiser and scaler of `ctx`, the sampler and the
    /// history when a run was started here (after checking it was started with the same
    /// settings and `strategy`), or starts a fresh sampler over `train`'s modalities.
    pub fn restore(
        &self,
        vs: &VarStore,
        ctx: &mut StepContext<'_>,
        train: &dyn TileDataset,
        strategy: SamplingStrategy,
    ) -> Result<Start> {
        let (paths, config) = (&self.paths, self.config);
        let state_path = paths.state();
        if !state_path.exists() {
            let sampler = ScenarioSampler::new(train.modalities(), strategy, config.seed)?;
            return Ok(Start { sampler, epoch: 0, best: None, history: Vec::new() });
        }
        let state: RunState = checkpoint::read_json(&state_path)?;
        check_resume(&state_path, &state, config, &strategy)?;
        if state.epoch < config.epochs {
            // Epochs remain: they must run in the world size that ran the others.
            crate::dist::check_world_size(state.world_size, &state_path)?;
        }
        state.validate(&StateFile::new(&state_path), config, train.modalities())?;
        lssg_backbones::checkpoint::load(vs, &paths.checkpoint_dir.join(&state.model))?;
        ctx.optimizer.load(&paths.checkpoint_dir.join(&state.optimizer))?;
        if let Some(s) = &state.grad_scaler {
            ctx.scaler.load_state(s)?;
        }
        ctx.loss.restore(state.loss_state.as_ref(), &StateFile::new(&state_path))?;
        // Lines of epochs after the commit point (a crash between the two writes) are dropped.
        let mut history: Vec<EpochRecord> = checkpoint::read_json_lines(&paths.metrics())?;
        history.retain(|r| r.epoch <= state.epoch);
        Ok(Start { sampler: state.sampler, epoch: state.epoch, best: state.best, history })
    }

    /// Writes `saved`'s model (from `vs`) and optimiser files and the strategies' copies; their
    /// removals wait for [`Checkpointer::commit`].
    pub fn save(&mut self, saved: SavedEpoch, vs: &VarStore, optimizer: &Optimizer) -> Result<()> {
        let model_path = self.paths.epoch_model(saved.epoch);
        lssg_backbones::checkpoint::save(vs, &model_path)?;
        optimizer.save(&self.paths.epoch_optimizer(saved.epoch))?;
        self.after_commit.clear();
        for action in self.strategies.iter_mut().flat_map(|s| s.actions(&saved)) {
            match action {
                CheckpointAction::Copy(alias) => checkpoint::copy_file(&model_path, &alias.path(&self.paths))?,
                CheckpointAction::RemoveEpochsBefore(_) => self.after_commit.push(action),
            }
        }
        Ok(())
    }

    /// Writes the metrics and then `state.json`, the commit point of the epoch whose tensors
    /// [`Checkpointer::save`] wrote, and then removes what the strategies no longer keep.
    pub fn commit(&mut self, commit: Commit<'_>) -> Result<()> {
        checkpoint::write_json_lines(&self.paths.metrics(), commit.history)?;
        let state = RunState {
            epoch: commit.epoch,
            model: file_name(&self.paths.epoch_model(commit.epoch)),
            optimizer: file_name(&self.paths.epoch_optimizer(commit.epoch)),
            sampler: commit.sampler.clone(),
            best: commit.best,
            config: self.config.clone(),
            initial_strategy: self.initial.clone(),
            grad_scaler: commit.scaler.state(),
            loss_state: commit.loss,
            world_size: crate::dist::recorded_world_size(),
        };
        checkpoint::write_json(&self.paths.state(), &state)?;
        for action in std::mem::take(&mut self.after_commit) {
            if let CheckpointAction::RemoveEpochsBefore(first_kept) = action {
                remove_epochs_before(&self.paths, first_kept)?;
            }
        }
        Ok(())
    }

    /// The run's result: the weights of the first strategy that keeps some.
    pub fn kept(&self, best: Option<&BestEpoch>) -> PathBuf {
        let alias = self.strategies.iter().find_map(|s| s.kept(best)).unwrap_or(Alias::Last);
        alias.path(&self.paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Monitor;

    /// Runs `strategy` over scripted epochs (`true` = improved) and returns each epoch's actions.
    fn script(mut strategy: impl CheckpointStrategy, improved: &[bool]) -> Vec<Vec<CheckpointAction>> {
        improved
            .iter()
            .enumerate()
            .map(|(i, &improved)| strategy.actions(&SavedEpoch { epoch: i + 1, improved }))
            .collect()
    }

    #[test]
    fn keep_last_copies_every_epoch_and_removes_all_but_the_last_n() {
        use CheckpointAction::{Copy, RemoveEpochsBefore};
        let actions = script(KeepLastEpochs { epochs: 2 }, &[false, true, false]);
        assert_eq!(
            actions,
            [
                vec![Copy(Alias::Last), RemoveEpochsBefore(0)],
                vec![Copy(Alias::Last), RemoveEpochsBefore(1)],
                vec![Copy(Alias::Last), RemoveEpochsBefore(2)],
            ]
        );
        assert_eq!(KeepLastEpochs { epochs: 1 }.kept(None), Some(Alias::Last));
    }

    #[test]
    fn keep_best_copies_only_improving_epochs() {
        let actions = script(KeepBest, &[true, false, false, true]);
        let copies: Vec<usize> =
            actions.iter().enumerate().filter(|(_, a)| !a.is_empty()).map(|(i, _)| i + 1).collect();
        assert_eq!(copies, [1, 4]);
        assert_eq!(actions[0], [CheckpointAction::Copy(Alias::Best)]);
        assert_eq!(KeepBest.kept(None), None);
        let best = BestEpoch { epoch: 4, monitor: Monitor::SoftJaccard, value: 0.7 };
        assert_eq!(KeepBest.kept(Some(&best)), Some(Alias::Best));
    }

    #[test]
    fn keep_chooses_the_result_and_falls_back_to_last() {
        let best = BestEpoch { epoch: 1, monitor: Monitor::SoftJaccard, value: 0.7 };
        let paths = RunPaths::new("run".as_ref());
        for (keep, with_best, expected) in
            [(Keep::Last, true, paths.last()), (Keep::Best, true, paths.best()), (Keep::Best, false, paths.last())]
        {
            let config = TrainConfig { keep, ..Default::default() };
            let checkpointer = Checkpointer::new(paths.clone(), &config, None);
            assert_eq!(checkpointer.kept(with_best.then_some(&best)), expected, "{keep:?} {with_best}");
        }
    }
}
