//! Metrics of a confusion matrix (docs/method.md §6): per-class IoU and F1, mIoU and overall
//! accuracy, for the evaluation of a whole data set and for any resampled set of test tiles
//! alike (docs/report.md §3).
//!
//! The matrix is K × K, row-major, `counts[truth * K + prediction]`. For class c with TP the
//! diagonal count, `row` its labelled and `col` its predicted pixels:
//!
//! ```text
//! IoU_c = TP / (row + col − TP)      F1_c = 2 TP / (row + col)
//! mIoU  = mean of the defined IoU_c  accuracy = Σ TP / Σ counts
//! ```
//!
//! **Undefined values are `None`, never a number.** A class that is neither labelled nor
//! predicted (`row + col = 0`) has no IoU and no F1, and is left out of the mIoU: the mean runs
//! over the classes with a defined IoU, so an absent class counts neither as 0 nor as 1. A
//! matrix without a defined class has no mIoU, and one without a pixel no accuracy. Files
//! record an undefined value as `null` (per class) or leave it out (a bench cell's metrics);
//! tables print `–`; statistics drop it.
//!
//! ```
//! use lssg_core::ConfusionMatrix;
//! // Three classes; class 2 is neither labelled nor predicted.
//! let counts = [3, 1, 0, 2, 4, 0, 0, 0, 0];
//! let m = ConfusionMatrix::new(&counts, 3).unwrap();
//! assert_eq!(m.iou(0), Some(0.5)); // 3 / (4 + 5 − 3)
//! assert_eq!(m.iou(2), None);
//! assert_eq!(m.miou(), Some((0.5 + 4.0 / 7.0) / 2.0));
//! assert_eq!(m.accuracy(), Some(0.7));
//! ```

use crate::error::{Error, Result};

/// A K × K confusion matrix, borrowed (row = ground truth, column = prediction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfusionMatrix<'a> {
    counts: &'a [u64],
    k: usize,
}

impl<'a> ConfusionMatrix<'a> {
    /// The matrix of `k ≥ 1` classes held row-major in `counts` (`k²` entries).
    pub fn new(counts: &'a [u64], k: usize) -> Result<Self> {
        if k == 0 || counts.len() != k * k {
            return Err(Error::ConfusionShape { classes: k, expected: k * k, got: counts.len() });
        }
        Ok(Self { counts, k })
    }

    /// K.
    pub fn classes(&self) -> usize {
        self.k
    }

    /// The pixels with label `truth` predicted as `prediction`.
    pub fn count(&self, truth: usize, prediction: usize) -> u64 {
        self.counts[truth * self.k + prediction]
    }

    /// Every counted pixel.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// (TP, labelled, predicted) of class `c`.
    fn class_counts(&self, c: usize) -> (u64, u64, u64) {
        let k = self.k;
        let row: u64 = self.counts[c * k..(c + 1) * k].iter().sum();
        let col: u64 = (0..k).map(|r| self.counts[r * k + c]).sum();
        (self.counts[c * k + c], row, col)
    }

    /// IoU of class `c`; `None` when it is neither labelled nor predicted.
    pub fn iou(&self, c: usize) -> Option<f64> {
        let (tp, row, col) = self.class_counts(c);
        let union = row + col - tp;
        (union > 0).then(|| tp as f64 / union as f64)
    }

    /// F1 of class `c`; `None` when it is neither labelled nor predicted.
    pub fn f1(&self, c: usize) -> Option<f64> {
        let (tp, row, col) = self.class_counts(c);
        (row + col > 0).then(|| (2 * tp) as f64 / (row + col) as f64)
    }

    /// The IoU of every class.
    pub fn ious(&self) -> Vec<Option<f64>> {
        (0..self.k).map(|c| self.iou(c)).collect()
    }

    /// The F1 of every class.
    pub fn f1s(&self) -> Vec<Option<f64>> {
        (0..self.k).map(|c| self.f1(c)).collect()
    }

    /// The mean of the defined per-class IoUs, in class order; `None` when none is defined.
    pub fn miou(&self) -> Option<f64> {
        let (mut sum, mut defined) = (0.0, 0usize);
        for c in 0..self.k {
            if let Some(iou) = self.iou(c) {
                sum += iou;
                defined += 1;
            }
        }
        (defined > 0).then(|| sum / defined as f64)
    }

    /// Σ TP / Σ counts; `None` without a pixel.
    pub fn accuracy(&self) -> Option<f64> {
        let total = self.total();
        let trace: u64 = (0..self.k).map(|c| self.counts[c * self.k + c]).sum();
        (total > 0).then(|| trace as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_computed_matrix() {
        // class 0: tp 3, row 4, col 5 → IoU 3/6, F1 6/9; class 1: tp 4, row 6, col 5 → IoU 4/7, F1 8/11
        let counts = [3, 1, 2, 4];
        let m = ConfusionMatrix::new(&counts, 2).unwrap();
        assert_eq!(m.ious(), [Some(0.5), Some(4.0 / 7.0)]);
        assert_eq!(m.f1s(), [Some(6.0 / 9.0), Some(8.0 / 11.0)]);
        assert_eq!(m.miou(), Some((0.5 + 4.0 / 7.0) / 2.0));
        assert_eq!(m.accuracy(), Some(0.7));
        assert_eq!((m.total(), m.count(1, 0), m.classes()), (10, 2, 2));
    }

    #[test]
    fn an_absent_class_is_left_out_of_the_mean() {
        // Four classes: labels (0, 1, 2, 2), predictions (0, 2, 2, 1); class 3 never occurs.
        // IoU = (1, 0, 1/3, None), mIoU = (1 + 0 + 1/3)/3; F1 = (1, 0, 0.5, None); accuracy 2/4.
        let mut counts = [0u64; 16];
        for (t, p) in [(0, 0), (1, 2), (2, 2), (2, 1)] {
            counts[t * 4 + p] += 1;
        }
        let m = ConfusionMatrix::new(&counts, 4).unwrap();
        assert_eq!(m.ious(), [Some(1.0), Some(0.0), Some(1.0 / 3.0), None]);
        assert_eq!(m.f1s(), [Some(1.0), Some(0.0), Some(0.5), None]);
        assert_eq!(m.miou(), Some((1.0 + 0.0 + 1.0 / 3.0) / 3.0));
        assert_eq!(m.accuracy(), Some(0.5));
        let only_zero = [2, 0, 0, 0, 2, 0, 0, 0, 0];
        assert_eq!(ConfusionMatrix::new(&only_zero, 3).unwrap().miou(), Some(1.0));
    }

    #[test]
    fn undefined_values_are_none() {
        let empty = [0u64; 4];
        let m = ConfusionMatrix::new(&empty, 2).unwrap();
        assert_eq!((m.miou(), m.accuracy(), m.iou(0), m.f1(1)), (None, None, None, None));
        assert_eq!(ConfusionMatrix::new(&[1, 2, 3], 2), Err(Error::ConfusionShape { classes: 2, expected: 4, got: 3 }));
        assert!(ConfusionMatrix::new(&[], 0).is_err());
    }
}
