//! Fixtures shared by the unit tests of the results tables and the bench records.

use lssg_trainer::{MeanStd, Metrics};

/// The metrics of a two-class evaluation of 4 pixels with mIoU `miou` (`None`: undefined);
/// `per_class` gives both the per-class IoU and F1.
pub(crate) fn two_class_metrics(miou: Option<f64>, per_class: [Option<f64>; 2]) -> Metrics {
    Metrics {
        images: 1,
        pixels: 4,
        ignored_pixels: 0,
        out_of_range_pixels: 0,
        soft_jaccard: MeanStd { mean: 0.25, std: 0.0 },
        soft_f1: MeanStd { mean: 0.4, std: 0.0 },
        class_names: vec!["a".into(), "b".into()],
        iou: per_class.to_vec(),
        f1: per_class.to_vec(),
        miou,
        accuracy: Some(0.5),
        confusion: vec![vec![1, 1], vec![1, 1]],
    }
}
