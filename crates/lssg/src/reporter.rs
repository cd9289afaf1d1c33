//! How the pipeline talks to its user: the stages of a run, typed, and the [`Reporter`] a front
//! end implements (the CLI's is [`crate::progress::ConsoleReporter`]).

use lssg_trainer::{Method, TrainObserver};

/// A stage of `lssg run`, in the order they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Pretraining with uniform scenario dropout.
    Pretrain,
    /// Latent distortion per scenario and its smoothing into the probabilities file.
    Scoring,
    /// Fine-tuning with one method.
    Finetune(Method),
    /// Evaluation of a method (or `pretrained`) under every scenario.
    Eval(String),
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Pretrain => f.write_str("pretrain"),
            Stage::Scoring => f.write_str("scoring"),
            Stage::Finetune(m) => write!(f, "finetune/{m}"),
            Stage::Eval(name) => write!(f, "eval/{name}"),
        }
    }
}

/// Whether a stage runs now or was finished by an earlier run in the same directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    /// The stage runs (or resumes) now.
    Running,
    /// Its output exists: nothing to do.
    DoneEarlier,
}

impl StageStatus {
    /// The line the run log and the console show for `stage`.
    pub fn line(self, stage: &Stage) -> String {
        match self {
            StageStatus::Running => format!("stage {stage}"),
            StageStatus::DoneEarlier => format!("stage {stage}: done earlier"),
        }
    }
}

/// Messages of the pipeline for the user; the pipeline also appends them to `run.log`.
pub trait Reporter {
    /// A stage starts, resumes, or was done earlier.
    fn stage(&mut self, stage: &Stage, status: StageStatus);
    /// Something noteworthy happened (the run directory, the data, where results went).
    fn info(&mut self, message: &str);
    /// `done` of `total` items of `what` (e.g. scoring samples) are finished.
    fn progress(&mut self, what: &str, done: usize, total: usize);
    /// The observer that draws training and evaluation progress.
    fn observer(&mut self) -> &mut dyn TrainObserver;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_lines_are_the_run_log_s() {
        assert_eq!(StageStatus::Running.line(&Stage::Finetune(Method::FullOnly)), "stage finetune/full-only");
        assert_eq!(
            StageStatus::DoneEarlier.line(&Stage::Eval("pretrained".into())),
            "stage eval/pretrained: done earlier"
        );
        assert_eq!(Stage::Scoring.to_string(), "scoring");
    }
}
