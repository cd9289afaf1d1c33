//! Host batches → device tensors, and availability masks (docs/method.md §2, §5): the input format of
//! [`crate::SegmentationModel::forward_t`], shared by the trainer and the scorer so that both
//! feed a model exactly the same tensors (docs/method.md §3, §5).
//!
//! A [`Batch`] already holds one contiguous `[B, C_m, H, W]` buffer per modality and `[B, H, W]`
//! u8 labels, so each becomes a tensor with one host-to-device copy
//! ([`lssg_torch::transfer::host_to_device`]: pinned memory and a non-blocking transfer on
//! CUDA, docs/speed.md §5); labels travel as u8 (8× less traffic) and are widened to i64 on the
//! device.

use lssg_datasets::Batch;
use lssg_scenario::Scenario;
use lssg_torch::transfer::host_to_device;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};

/// A shape error ([`Error::shape`]) from debug-printable sizes.
fn shape(what: impl Into<String>, expected: impl std::fmt::Debug, got: impl std::fmt::Debug) -> Error {
    Error::shape(what, format!("{expected:?}"), format!("{got:?}"))
}

/// The model inputs of a batch: `inputs[m]` is f32 `[B, C_m, H, W]` on `device`.
///
/// Fails with [`lssg_torch::Error::Shape`] when a buffer's length does not match the batch's sizes.
pub fn batch_inputs(batch: &Batch, device: Device) -> Result<Vec<Tensor>> {
    let (b, h, w) = (batch.size as i64, batch.height as i64, batch.width as i64);
    let plane = batch.size * batch.height * batch.width;
    if batch.channels.len() != batch.modalities.len() {
        return Err(shape("batch modality count", batch.channels.len(), batch.modalities.len()));
    }
    let mut inputs = Vec::with_capacity(batch.modalities.len());
    for (m, (data, &c)) in batch.modalities.iter().zip(&batch.channels).enumerate() {
        if data.len() != plane * c {
            return Err(shape(
                format!("batch modality {m} buffer length ([B, C, H, W] = [{b}, {c}, {h}, {w}])"),
                plane * c,
                data.len(),
            ));
        }
        inputs.push(host_to_device(data, &[b, c as i64, h, w], device)?);
    }
    Ok(inputs)
}

/// Converts a batch to `(inputs, labels)`: `inputs[m]` is f32 `[B, C_m, H, W]` and `labels` is
/// i64 `[B, H, W]` (255 = ignore), all on `device`.
///
/// Fails with [`lssg_torch::Error::Shape`] when a buffer's length does not match the batch's sizes.
pub fn batch_to_tensors(batch: &Batch, device: Device) -> Result<(Vec<Tensor>, Tensor)> {
    let inputs = batch_inputs(batch, device)?;
    let (b, h, w) = (batch.size as i64, batch.height as i64, batch.width as i64);
    let plane = batch.size * batch.height * batch.width;
    if batch.labels.len() != plane {
        return Err(shape(format!("batch labels length ([B, H, W] = [{b}, {h}, {w}])"), plane, batch.labels.len()));
    }
    let labels = host_to_device(&batch.labels, &[b, h, w], device)?.to_kind(Kind::Int64);
    Ok((inputs, labels))
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
        // The inputs alone are the same tensors.
        let alone = batch_inputs(&batch(), Device::Cpu).unwrap();
        assert!(alone.iter().zip(&inputs).all(|(a, b)| a.equal(b)));
    }

    #[test]
    fn rejects_wrong_buffer_lengths() {
        let mut b = batch();
        b.modalities[1].pop();
        let err = batch_to_tensors(&b, Device::Cpu).unwrap_err();
        assert!(
            matches!(&err, Error::TorchExt(lssg_torch::Error::Shape { what, .. }) if what.contains("modality 1")),
            "{err}"
        );
        let mut b = batch();
        b.labels.push(0);
        let err = batch_to_tensors(&b, Device::Cpu).unwrap_err();
        assert!(
            matches!(&err, Error::TorchExt(lssg_torch::Error::Shape { what, .. }) if what.contains("labels")),
            "{err}"
        );
        let mut b = batch();
        b.channels.pop();
        assert!(matches!(batch_inputs(&b, Device::Cpu), Err(Error::TorchExt(lssg_torch::Error::Shape { .. }))));
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
