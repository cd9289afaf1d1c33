//! lssg-core: the vocabulary every lssg crate speaks. Plain data and pure functions, no tch:
//!
//! - [`Task`]: binary or multi-class with K classes, recorded in every evaluation file;
//! - [`MetricId`]: the names of the summary metrics;
//! - [`ConfusionMatrix`]: IoU, F1, mIoU and accuracy, with the one rule for undefined values
//!   (`None`, never a number; docs/method.md §6);
//! - [`percentile`]: the type-7 quantile every bootstrap interval is read with;
//! - [`seed`]: SplitMix64, its mixer and the seeded streams of a run (docs/method.md §5.8);
//! - [`Preference`], [`Descriptor`], [`ScoreKind`]: the options a probabilities file records;
//! - [`Table`]: the one Markdown and CSV writer of lssg's tables, and [`format_number`], which
//!   shows an undefined value as [`UNDEFINED`].
//!
//! ```
//! use lssg_core::{ConfusionMatrix, MetricId, Task};
//! let task = Task::from_logit_channels(3).unwrap();
//! assert_eq!(task.primary_metric(), MetricId::Miou);
//! let counts = [5, 0, 0, 1, 3, 0, 0, 0, 0];
//! let m = ConfusionMatrix::new(&counts, task.confusion_classes()).unwrap();
//! assert_eq!(m.iou(2), None); // class 2 neither labelled nor predicted
//! assert_eq!(m.miou(), Some((5.0 / 6.0 + 3.0 / 4.0) / 2.0));
//! ```
#![deny(missing_docs)]

mod confusion;
mod error;
mod metric;
mod options;
pub mod seed;
mod stats;
mod table;
mod task;

pub use confusion::ConfusionMatrix;
pub use error::{Error, Result};
pub use metric::MetricId;
pub use options::{Descriptor, Preference, ScoreKind};
pub use stats::percentile;
pub use table::{Align, Table, UNDEFINED, csv_field, format_number};
pub use task::Task;

/// The README's example, compiled as a doctest so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
