//! Host buffers → device tensors (docs/speed.md §5). On the CPU one copy (`from_slice`); on
//! CUDA one copy into page-locked memory from libtorch's caching host allocator and a
//! non-blocking transfer, so the copy overlaps with kernels still running (the allocator keeps
//! the pinned block until the transfer has completed).

use tch::{Device, Tensor, kind::Element};

use crate::error::{Error, Result};

/// `data` as a contiguous tensor of `shape` on `device`.
///
/// Fails with [`Error::Shape`] when `data` does not hold exactly the elements of `shape`.
pub fn host_to_device<T: Element>(data: &[T], shape: &[i64], device: Device) -> Result<Tensor> {
    let elements: i64 = shape.iter().product();
    if shape.iter().any(|&d| d < 0) || elements != data.len() as i64 {
        return Err(Error::Shape {
            what: "host buffer length".into(),
            expected: format!("{elements} (shape {shape:?})"),
            got: data.len().to_string(),
        });
    }
    if !device.is_cuda() {
        return Ok(Tensor::from_slice(data).view(shape));
    }
    let mut pinned = Tensor::empty(shape, (T::KIND, Device::Cpu)).pin_memory(device);
    let strides = contiguous_strides(shape);
    // SAFETY: `data` holds exactly `shape.iter().product()` elements of `T::KIND` (checked
    // above) and outlives `borrowed`, which is only read by the synchronous copy below.
    let borrowed = unsafe { Tensor::from_blob(data.as_ptr().cast(), shape, &strides, T::KIND, Device::Cpu) };
    pinned.copy_(&borrowed);
    Ok(pinned.to_device_(device, T::KIND, true, false))
}

/// Row-major strides of `shape`.
fn contiguous_strides(shape: &[i64]) -> Vec<i64> {
    let mut strides = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(contiguous_strides(&[2, 3, 4, 5]), [60, 20, 5, 1]);
        assert_eq!(contiguous_strides(&[7]), [1]);
    }

    #[test]
    fn cpu_tensors_are_row_major_views_of_the_buffer() {
        let data: Vec<f32> = (0..24).map(|x| x as f32).collect();
        let t = host_to_device(&data, &[2, 3, 4], Device::Cpu).unwrap();
        assert_eq!(t.size(), [2, 3, 4]);
        assert_eq!(t.double_value(&[1, 2, 3]), 23.0);
        let labels = host_to_device(&[0u8, 255, 1], &[3], Device::Cpu).unwrap();
        assert_eq!(labels.kind(), Kind::Uint8);
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let e = host_to_device(&[1.0f32; 5], &[2, 3], Device::Cpu).unwrap_err();
        assert!(matches!(&e, Error::Shape { expected, got, .. } if expected.starts_with("6 ") && got == "5"), "{e}");
        assert!(host_to_device(&[1.0f32; 6], &[-2, -3], Device::Cpu).is_err());
    }

    #[test]
    fn pinned_non_blocking_transfer_equals_the_cpu_tensors() {
        if !tch::Cuda::is_available() {
            println!("skipped: CUDA is not available");
            return;
        }
        let data: Vec<f32> = (0..36).map(|x| x as f32 * 0.5).collect();
        let cpu = host_to_device(&data, &[2, 2, 3, 3], Device::Cpu).unwrap();
        let gpu = host_to_device(&data, &[2, 2, 3, 3], Device::Cuda(0)).unwrap();
        assert_eq!(gpu.device(), Device::Cuda(0));
        assert!(cpu.equal(&gpu.to_device(Device::Cpu)));
        let labels = [0u8, 1, 255, 7];
        let gpu = host_to_device(&labels, &[2, 2], Device::Cuda(0)).unwrap();
        assert!(host_to_device(&labels, &[2, 2], Device::Cpu).unwrap().equal(&gpu.to_device(Device::Cpu)));
    }
}
