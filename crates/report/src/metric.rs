//! Segmentation metrics recomputed from confusion matrices (docs/report.md §3), as the tile
//! bootstrap needs them for arbitrary resampled sets of tiles.

/// Mean intersection over union of a K × K row-major confusion matrix (row = label, column =
/// prediction): the mean over classes whose IoU is defined of `tp / (row + col − tp)`; a class
/// with `row + col == 0` (neither labelled nor predicted) has no IoU and is left out.
///
/// Returns NaN when no class has a defined IoU or when `confusion.len() != k * k`.
pub fn miou(confusion: &[u64], k: usize) -> f64 {
    if k == 0 || confusion.len() != k * k {
        return f64::NAN;
    }
    let mut sum = 0.0;
    let mut defined = 0usize;
    for c in 0..k {
        let tp = confusion[c * k + c];
        let row: u64 = confusion[c * k..(c + 1) * k].iter().sum();
        let col: u64 = (0..k).map(|r| confusion[r * k + c]).sum();
        let union = row + col - tp;
        if union > 0 {
            sum += tp as f64 / union as f64;
            defined += 1;
        }
    }
    if defined == 0 { f64::NAN } else { sum / defined as f64 }
}

/// Pixel accuracy of a K × K confusion matrix: trace / total; NaN for an empty matrix or a
/// length other than `k * k`.
pub fn accuracy(confusion: &[u64], k: usize) -> f64 {
    if k == 0 || confusion.len() != k * k {
        return f64::NAN;
    }
    let total: u64 = confusion.iter().sum();
    if total == 0 {
        return f64::NAN;
    }
    let trace: u64 = (0..k).map(|c| confusion[c * k + c]).sum();
    trace as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miou_of_a_hand_computed_matrix() {
        // class 0: tp 3, row 4, col 5 -> 3/6; class 1: tp 4, row 6, col 5 -> 4/7
        let m = [3, 1, 2, 4];
        assert!((miou(&m, 2) - (0.5 + 4.0 / 7.0) / 2.0).abs() < 1e-12);
        assert!((accuracy(&m, 2) - 0.7).abs() < 1e-12);
    }

    #[test]
    fn an_absent_class_is_left_out() {
        // class 2 never labelled nor predicted: the mean runs over classes 0 and 1 only
        let m = [2, 0, 0, 0, 2, 0, 0, 0, 0];
        assert_eq!(miou(&m, 3), 1.0);
    }

    #[test]
    fn degenerate_inputs_are_nan() {
        assert!(miou(&[0, 0, 0, 0], 2).is_nan());
        assert!(miou(&[1, 2, 3], 2).is_nan());
        assert!(accuracy(&[], 0).is_nan());
    }
}
