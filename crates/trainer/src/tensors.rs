//! The label check before a batch reaches a loss or a confusion matrix (docs/method.md §2, §5). The
//! batch-to-tensor conversion itself is the model's input format and lives in
//! `lssg_backbones::input`.

use lssg_datasets::IGNORE_INDEX;

use crate::error::{Error, Result};

/// Checks that every label is a class index or [`IGNORE_INDEX`]: below 2 for a binary task
/// (`num_classes == 1`), below `num_classes` otherwise. One pass over the u8 buffer on the host,
/// before the labels reach a loss or a confusion matrix where they would corrupt counts.
pub fn check_labels(labels: &[u8], num_classes: usize) -> Result<()> {
    let limit = num_classes.max(2);
    // Fold to the largest non-ignored label: branch-free and vectorisable.
    let max = labels.iter().fold(0u8, |acc, &l| if l == IGNORE_INDEX { acc } else { acc.max(l) });
    if usize::from(max) >= limit {
        return Err(Error::LabelOutOfRange { value: max, num_classes });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_check_respects_binary_and_ignore() {
        assert!(check_labels(&[0, 1, 255], 1).is_ok());
        assert!(matches!(check_labels(&[0, 2], 1), Err(Error::LabelOutOfRange { value: 2, .. })));
        assert!(check_labels(&[0, 5, 255], 6).is_ok());
        assert!(matches!(check_labels(&[6], 6), Err(Error::LabelOutOfRange { value: 6, num_classes: 6 })));
    }
}
