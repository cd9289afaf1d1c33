//! What a network is trained to predict: one binary map or one of K ≥ 2 classes per pixel.
//!
//! Every evaluation file records its task, so whatever reads the file (the results tables, a
//! bench cell, `lssg score --diagnose`) knows it from the file, never from a guess on the class
//! count. The task decides which metric leads the tables: the reference's soft Jaccard for a
//! binary task, the mIoU otherwise (docs/method.md §6).
//!
//! ```
//! use lssg_core::{MetricId, Task};
//! let task = Task::from_logit_channels(1).unwrap();
//! assert_eq!(task, Task::Binary);
//! assert_eq!(task.confusion_classes(), 2);
//! assert_eq!(task.primary_metric(), MetricId::SoftJaccard);
//! let json = serde_json::to_string(&Task::MultiClass { classes: 6 }).unwrap();
//! assert_eq!(json, r#"{"kind":"multi-class","classes":6}"#);
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::metric::MetricId;

/// A segmentation task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "TaskRepr", into = "TaskRepr")]
pub enum Task {
    /// One logit per pixel, p = σ(logit); the confusion matrix has the classes `background`
    /// and the positive class.
    Binary,
    /// One logit per class, p = softmax over the classes.
    MultiClass {
        /// K ≥ 2.
        classes: usize,
    },
}

/// The serialised form, checked on the way in ([`Task`]'s `try_from`).
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum TaskRepr {
    Binary,
    MultiClass { classes: usize },
}

impl TryFrom<TaskRepr> for Task {
    type Error = Error;
    fn try_from(r: TaskRepr) -> Result<Self> {
        match r {
            TaskRepr::Binary => Ok(Self::Binary),
            TaskRepr::MultiClass { classes } if classes >= 2 => Ok(Self::MultiClass { classes }),
            TaskRepr::MultiClass { classes } => Err(Error::Task { classes }),
        }
    }
}

impl From<Task> for TaskRepr {
    fn from(t: Task) -> Self {
        match t {
            Task::Binary => Self::Binary,
            Task::MultiClass { classes } => Self::MultiClass { classes },
        }
    }
}

impl Task {
    /// The task of a network with `channels` logit channels: 1 is binary, K ≥ 2 multi-class
    /// (the data sets' `num_classes` convention).
    pub fn from_logit_channels(channels: usize) -> Result<Self> {
        match channels {
            0 => Err(Error::Task { classes: 0 }),
            1 => Ok(Self::Binary),
            classes => Ok(Self::MultiClass { classes }),
        }
    }

    /// Whether the task is binary.
    pub fn is_binary(self) -> bool {
        self == Self::Binary
    }

    /// The network's logit channels: 1 for binary, K otherwise.
    pub fn logit_channels(self) -> usize {
        match self {
            Self::Binary => 1,
            Self::MultiClass { classes } => classes,
        }
    }

    /// The rows (and columns) of the task's confusion matrix: 2 for binary, K otherwise.
    pub fn confusion_classes(self) -> usize {
        match self {
            Self::Binary => 2,
            Self::MultiClass { classes } => classes,
        }
    }

    /// The metric the tables lead with: soft Jaccard for binary tasks (the reference's), mIoU
    /// otherwise.
    pub fn primary_metric(self) -> MetricId {
        match self {
            Self::Binary => MetricId::SoftJaccard,
            Self::MultiClass { .. } => MetricId::Miou,
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Binary => f.write_str("binary"),
            Self::MultiClass { classes } => write!(f, "multi-class ({classes} classes)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logit_channels_decide_the_task() {
        assert_eq!(Task::from_logit_channels(1), Ok(Task::Binary));
        assert_eq!(Task::from_logit_channels(2), Ok(Task::MultiClass { classes: 2 }));
        assert_eq!(Task::from_logit_channels(0), Err(Error::Task { classes: 0 }));
        // A two-class softmax network is multi-class, not binary.
        let two = Task::MultiClass { classes: 2 };
        assert!(!two.is_binary());
        assert_eq!(two.primary_metric(), MetricId::Miou);
        assert_eq!((two.logit_channels(), two.confusion_classes()), (2, 2));
        assert_eq!((Task::Binary.logit_channels(), Task::Binary.confusion_classes()), (1, 2));
    }

    #[test]
    fn serde_form_is_checked() {
        assert_eq!(serde_json::to_string(&Task::Binary).unwrap(), r#"{"kind":"binary"}"#);
        let t: Task = serde_json::from_str(r#"{"kind":"multi-class","classes":6}"#).unwrap();
        assert_eq!(t, Task::MultiClass { classes: 6 });
        let err = serde_json::from_str::<Task>(r#"{"kind":"multi-class","classes":1}"#).unwrap_err();
        assert!(err.to_string().contains("at least 2 classes"), "{err}");
        assert!(serde_json::from_str::<Task>(r#"{"kind":"regression"}"#).is_err());
        assert!(serde_json::from_str::<Task>(r#""binary""#).is_err());
    }
}
