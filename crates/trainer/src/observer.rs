//! Progress events of training and evaluation, so a front end (the CLI's progress bars) can
//! follow a run without the trainer depending on it.
//!
//! Every method has an empty default; [`NoopObserver`] ignores everything and [`LogObserver`]
//! prints plain lines to stderr.

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;

/// One optimisation step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEvent {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Step within the epoch, 1-based.
    pub step: usize,
    /// Steps in this epoch.
    pub steps: usize,
    /// Loss of this batch.
    pub loss: f64,
    /// Learning rate of this epoch.
    pub lr: f64,
    /// Training throughput since the epoch started.
    pub samples_per_s: f64,
}

/// What one finished epoch produced; one line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Epochs of the run.
    pub epochs: usize,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Mean training loss over samples.
    pub train_loss: f64,
    /// Optimisation steps.
    pub steps: usize,
    /// Training samples seen.
    pub samples: usize,
    /// Training throughput (samples per second of the training phase).
    pub samples_per_s: f64,
    /// Seconds of the training phase.
    pub train_seconds: f64,
    /// Seconds of the whole epoch (training, validation, checkpoint).
    pub wall_seconds: f64,
    /// Mean validation loss over samples, all modalities available; `None` when not validated.
    pub val_loss: Option<f64>,
    /// Validation metrics, all modalities available; `None` when not validated.
    pub val: Option<Metrics>,
    /// Whether this epoch became the best so far by the monitored metric.
    pub best: bool,
    /// The scenario distribution the epoch sampled from, when it can change during training
    /// (`guided-adaptive`, docs/method.md §5.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Vec<f64>>,
    /// The per-scenario loss weights after the epoch, canonical order, when the loss carries
    /// them (group DRO's q, docs/method.md §5.10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// Seconds of the training phase this rank spent inside collectives (gradient all-reduces,
    /// waiting for slower ranks included); only in data-parallel runs (docs/distributed.md §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_seconds: Option<f64>,
}

/// Receives progress events. All methods default to doing nothing.
pub trait TrainObserver {
    /// Training starts at epoch `first` (1-based; > 1 when resuming) of `epochs`.
    fn run_start(&mut self, _first: usize, _epochs: usize) {}
    /// An epoch starts with `steps` batches.
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// A step finished.
    fn step(&mut self, _event: &StepEvent) {}
    /// Validation of `epoch` starts with `batches` batches.
    fn validation_start(&mut self, _epoch: usize, _batches: usize) {}
    /// `done` of `total` validation batches are finished.
    fn validation_progress(&mut self, _done: usize, _total: usize) {}
    /// An epoch finished (its checkpoint is written).
    fn epoch_end(&mut self, _record: &EpochRecord) {}
    /// Evaluation starts: `scenarios` (names) on `batches` batches each.
    fn evaluation_start(&mut self, _scenarios: &[String], _batches: usize) {}
    /// `done` of `total` evaluation batches (each with every scenario) are finished.
    fn evaluation_progress(&mut self, _done: usize, _total: usize) {}
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl TrainObserver for NoopObserver {}

/// Prints plain progress lines to stderr: one per `every` steps (0 = none) and one per epoch.
#[derive(Debug, Clone, Copy)]
pub struct LogObserver {
    every: usize,
}

impl LogObserver {
    /// A logger printing every `every`-th step (0: epochs only).
    pub fn new(every: usize) -> Self {
        Self { every }
    }
}

impl Default for LogObserver {
    fn default() -> Self {
        Self::new(0)
    }
}

impl TrainObserver for LogObserver {
    fn run_start(&mut self, first: usize, epochs: usize) {
        if first > 1 {
            eprintln!("resuming at epoch {first}/{epochs}");
        }
    }

    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize) {
        eprintln!("epoch {epoch}/{epochs}: {steps} steps");
    }

    fn step(&mut self, e: &StepEvent) {
        if self.every > 0 && (e.step.is_multiple_of(self.every) || e.step == e.steps) {
            eprintln!(
                "  epoch {} step {}/{}: loss {:.5} lr {:.3e} ({:.1} samples/s)",
                e.epoch, e.step, e.steps, e.loss, e.lr, e.samples_per_s
            );
        }
    }

    fn epoch_end(&mut self, r: &EpochRecord) {
        let val = match (&r.val, r.val_loss) {
            (Some(m), Some(l)) => format!(" | val loss {l:.5} {}{}", m.summary(), if r.best { " (best)" } else { "" }),
            _ => String::new(),
        };
        eprintln!(
            "epoch {}/{}: train loss {:.5} lr {:.3e} {:.1} samples/s {:.1}s{val}",
            r.epoch, r.epochs, r.train_loss, r.lr, r.samples_per_s, r.wall_seconds
        );
    }

    fn evaluation_start(&mut self, scenarios: &[String], batches: usize) {
        eprintln!("evaluating {} scenario(s) on {batches} batch(es)", scenarios.len());
    }
}
