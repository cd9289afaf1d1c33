//! The names of the summary metrics (docs/method.md §6): one enum, so a metric is never a
//! string outside serialisation and display. The serde names (`miou`, `soft_jaccard`,
//! `soft_f1`, `accuracy`) are the keys of every file that records metrics.
//!
//! ```
//! use lssg_core::MetricId;
//! assert_eq!("soft_jaccard".parse::<MetricId>().unwrap(), MetricId::SoftJaccard);
//! assert_eq!(MetricId::Miou.to_string(), "miou");
//! assert_eq!(serde_json::to_string(&MetricId::SoftF1).unwrap(), r#""soft_f1""#);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A summary metric of an evaluation.
///
/// The variants are declared in the alphabetical order of their names, so a map keyed by
/// `MetricId` (a bench cell's `metrics`) lists its keys in the order a map keyed by the names
/// would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricId {
    /// Overall pixel accuracy from the confusion matrix.
    Accuracy,
    /// Mean IoU over the classes with a defined IoU, from the confusion matrix.
    Miou,
    /// The reference's soft F1, mean over images.
    SoftF1,
    /// The reference's soft Jaccard, mean over images.
    SoftJaccard,
}

impl MetricId {
    /// Every metric, in the order the tables list them after the primary one.
    pub const ALL: [MetricId; 4] = [Self::Miou, Self::SoftJaccard, Self::SoftF1, Self::Accuracy];

    /// The name in files, configs and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::Miou => "miou",
            Self::SoftF1 => "soft_f1",
            Self::SoftJaccard => "soft_jaccard",
        }
    }

    /// What it is, in words, for a table's heading.
    pub fn title(self) -> &'static str {
        match self {
            Self::Accuracy => "overall accuracy",
            Self::Miou => "mIoU from the confusion matrix",
            Self::SoftF1 => "soft F1, mean over test images",
            Self::SoftJaccard => "soft Jaccard, mean over test images (the reference's metric)",
        }
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MetricId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| Error::UnknownName {
            what: "metric",
            value: s.to_string(),
            expected: "miou, soft_jaccard, soft_f1 or accuracy",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_as_strings() {
        for m in MetricId::ALL {
            assert_eq!(m.as_str().parse::<MetricId>().unwrap(), m);
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        let mut by_id = MetricId::ALL.to_vec();
        by_id.sort();
        let mut by_name = MetricId::ALL.to_vec();
        by_name.sort_by_key(|m| m.as_str());
        assert_eq!(by_id, by_name);
        assert!(matches!("iou".parse::<MetricId>(), Err(Error::UnknownName { what: "metric", .. })));
        assert!(serde_json::from_str::<MetricId>(r#""iou""#).is_err());
    }
}
