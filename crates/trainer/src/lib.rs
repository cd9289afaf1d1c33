//! Training and evaluation for lssg (docs/method.md §5, §6): losses on logits, the reference's soft
//! metrics and a confusion matrix, optimisers whose state can be saved, learning-rate
//! schedules, a resumable training loop that draws one availability scenario per sample, and
//! per-scenario evaluation.
#![deny(missing_docs)]

pub mod adaptive;
mod checkpoint;
pub mod dist;
mod error;
pub mod evaluate;
pub mod finetune;
pub mod loss;
pub mod metrics;
pub mod observer;
pub mod optim;
pub mod protocols;
pub mod run_dir;
pub mod schedule;
pub mod state_check;
pub mod tensors;
pub mod train;

pub use error::{Error, Result};
pub use evaluate::{EvalOptions, EvalReport, Evaluation, ScenarioMetrics, evaluate, evaluate_with};
pub use finetune::{FinetuneConfig, FinetuneFrom, LoraSampling, Method, Network, finetune, pretrain};
pub use loss::{LossConfig, output_loss, segmentation_loss};
pub use metrics::{MeanStd, Metrics, MetricsAccumulator, Monitor, TileMetrics};
pub use observer::{EpochRecord, LogObserver, NoopObserver, StepEvent, TrainObserver};
pub use optim::{Optimizer, OptimizerConfig, OptimizerKind};
pub use protocols::ProtocolConfig;
pub use run_dir::{BestEpoch, RunPaths};
pub use schedule::{SchedulerConfig, StepOrder};
pub use tensors::check_labels;
pub use train::{Keep, Sampling, TrainConfig, TrainSummary, train};
