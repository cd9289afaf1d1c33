//! Host batches → device tensors, and availability masks (SPEC §2, §5).
//!
//! A [`Batch`] already holds one contiguous `[B, C_m, H, W]` buffer per modality and `[B, H, W]`
//! u8 labels, so each becomes a tensor with one `from_slice` + `view` + one device copy; labels
//! travel as u8 (8× less traffic) and are widened to i64 on the device.

use lssg_datasets::{Batch, IGNORE_INDEX};
use lssg_scenario::Scenario;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// Converts a batch to `(inputs, labels)`: `inputs[m]` is f32 `[B, C_m, H, W]` and `labels` is
/// i64 `[B, H, W]` (255 = ignore), all on `device`.
///
/// Fails with [`Error::Shape`] when a buffer's length does not match the batch's sizes.
pub fn batch_to_tensors(batch: &Batch, device: Device) -> Result<(Vec<Tensor>, Tensor)> {
    let (b, h, w) = (batch.size as i64, batch.height as i64, batch.width as i64);
    let plane = batch.size * batch.height * batch.width;
    if batch.channels.len() != batch.modalities.len() {
        return Err(Error::shape("batch modality count", batch.channels.len(), batch.modalities.len()));
    }
    let mut inputs = Vec::with_capacity(batch.modalities.len());
    for (m, (data, &c)) in batch.modalities.iter().zip(&batch.channels).enumerate() {
        if data.len() != plane * c {
            return Err(Error::shape(
                format!("batch modality {m} buffer length ([B, C, H, W] = [{b}, {c}, {h}, {w}])"),
                plane * c,
                data.len(),
            ));
        }
        inputs.push(Tensor::from_slice(data).view([b, c as i64, h, w]).to_device(device));
    }
    if batch.labels.len() != plane {
        return Err(Error::shape(
            format!("batch labels length ([B, H, W] = [{b}, {h}, {w}])"),
            plane,
            batch.labels.len(),
        ));
    }
    let labels = Tensor::from_slice(&batch.labels).view([b, h, w]).to_device(device).to_kind(Kind::Int64);
    Ok((inputs, labels))
}

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

/// The `[B, M]` f32 0/1 availability tensor of one scenario per sample, on `device`.
pub fn availability(scenarios: &[Scenario], num_modalities: usize, device: Device) -> Tensor {
    let flat: Vec<f32> = scenarios.iter().flat_map(|s| s.availability(num_modalities)).collect();
    Tensor::from_slice(&flat).view([scenarios.len() as i64, num_modalities as i64]).to_device(device)
}

/// The `[B, M]` availability tensor where every sample has the same scenario.
pub fn uniform_availability(scenario: Scenario, batch: usize, num_modalities: usize, device: Device) -> Tensor {
    let row = Tensor::from_slice(&scenario.availability(num_modalities)).view([1, num_modalities as i64]);
    row.expand([batch as i64, num_modalities as i64], false).contiguous().to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Batch {
        // B = 2, H = 2, W = 3, modality 0 with 1 channel, modality 1 with 2 channels.
        Batch {
            size: 2,
            height: 2,
            width: 3,
            channels: vec![1, 2],
            modalities: vec![(0..12).map(|x| x as f32).collect(), (0..24).map(|x| x as f32 * 0.5).collect()],
            labels: vec![0, 1, 255, 1, 0, 0, 1, 1, 1, 0, 255, 0],
            indices: vec![4, 9],
        }
    }

    #[test]
    fn converts_with_row_major_layout() {
        let (inputs, labels) = batch_to_tensors(&batch(), Device::Cpu).unwrap();
        assert_eq!(inputs[0].size(), [2, 1, 2, 3]);
        assert_eq!(inputs[1].size(), [2, 2, 2, 3]);
        assert_eq!(labels.size(), [2, 2, 3]);
        assert_eq!(labels.kind(), Kind::Int64);
        // element [1, 1, 0, 2] of modality 1 is flat index 1*12 + 1*6 + 0*3 + 2 = 20 → 10.0
        assert_eq!(inputs[1].double_value(&[1, 1, 0, 2]), 10.0);
        assert_eq!(labels.int64_value(&[0, 0, 2]), 255);
        assert_eq!(labels.int64_value(&[1, 1, 1]), 255);
    }

    #[test]
    fn rejects_wrong_buffer_lengths() {
        let mut b = batch();
        b.modalities[1].pop();
        assert!(matches!(batch_to_tensors(&b, Device::Cpu), Err(Error::Shape { .. })));
        let mut b = batch();
        b.labels.push(0);
        assert!(matches!(batch_to_tensors(&b, Device::Cpu), Err(Error::Shape { .. })));
    }

    #[test]
    fn label_check_respects_binary_and_ignore() {
        assert!(check_labels(&[0, 1, 255], 1).is_ok());
        assert!(matches!(check_labels(&[0, 2], 1), Err(Error::LabelOutOfRange { value: 2, .. })));
        assert!(check_labels(&[0, 5, 255], 6).is_ok());
        assert!(matches!(check_labels(&[6], 6), Err(Error::LabelOutOfRange { value: 6, num_classes: 6 })));
    }

    #[test]
    fn availability_rows_follow_scenarios() {
        let s = [Scenario::from_mask(0b01, 2).unwrap(), Scenario::from_mask(0b11, 2).unwrap()];
        let a = availability(&s, 2, Device::Cpu);
        assert_eq!(Vec::<f32>::try_from(a.flatten(0, -1)).unwrap(), [1.0, 0.0, 1.0, 1.0]);
        let u = uniform_availability(s[0], 3, 2, Device::Cpu);
        assert_eq!(Vec::<f32>::try_from(u.flatten(0, -1)).unwrap(), [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    }
}
