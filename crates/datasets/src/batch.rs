//! Batch assembly: [`Batch::from_samples`] copies B samples into one contiguous
//! `[B, C_m, H, W]` buffer per modality and `[B, H, W]` labels, after checking that every
//! sample has the same shape; [`Batch::sample`] takes one back out.

use crate::error::{Error, Result};
use crate::sample::{Batch, ModalityArray, Sample};

fn mismatch(what: String, expected: impl ToString, got: impl ToString) -> Error {
    Error::Mismatch { what, expected: expected.to_string(), got: got.to_string() }
}

/// Checks that a sample's arrays are internally consistent and match the reference shape
/// (`height`, `width`, channels per modality).
fn check_sample(s: &Sample, i: usize, height: usize, width: usize, channels: &[usize]) -> Result<()> {
    if (s.height, s.width) != (height, width) {
        return Err(mismatch(
            format!("batch sample {i} size"),
            format!("{height}×{width}"),
            format!("{}×{}", s.height, s.width),
        ));
    }
    if s.labels.len() != height * width {
        return Err(mismatch(format!("batch sample {i} labels"), height * width, s.labels.len()));
    }
    if s.modalities.len() != channels.len() {
        return Err(mismatch(format!("batch sample {i} modality count"), channels.len(), s.modalities.len()));
    }
    for (m, (a, &c)) in s.modalities.iter().zip(channels).enumerate() {
        if (a.channels, a.height, a.width) != (c, height, width) || a.data.len() != c * height * width {
            return Err(mismatch(
                format!("batch sample {i} modality {m} shape [C, H, W] (values)"),
                format!("[{c}, {height}, {width}] ({})", c * height * width),
                format!("[{}, {}, {}] ({})", a.channels, a.height, a.width, a.data.len()),
            ));
        }
    }
    Ok(())
}

impl Batch {
    /// Assembles `samples` (with their data-set `indices`) into a batch. The first sample
    /// fixes the shape; any sample that disagrees (size, modality count, channels, buffer
    /// lengths) is an [`Error::Mismatch`] naming it. An empty batch is an error too.
    pub fn from_samples(samples: &[Sample], indices: impl Into<Vec<usize>>) -> Result<Batch> {
        let indices = indices.into();
        let first = samples.first().ok_or_else(|| mismatch("batch size".into(), "at least 1 sample", 0))?;
        if indices.len() != samples.len() {
            return Err(mismatch("batch indices".into(), samples.len(), indices.len()));
        }
        let (height, width) = (first.height, first.width);
        let channels: Vec<usize> = first.modalities.iter().map(|m| m.channels).collect();
        for (i, s) in samples.iter().enumerate() {
            check_sample(s, i, height, width, &channels)?;
        }
        let plane = height * width;
        let modalities = channels
            .iter()
            .enumerate()
            .map(|(m, &c)| {
                let mut buf = Vec::with_capacity(samples.len() * c * plane);
                for s in samples {
                    buf.extend_from_slice(&s.modalities[m].data);
                }
                buf
            })
            .collect();
        let mut labels = Vec::with_capacity(samples.len() * plane);
        for s in samples {
            labels.extend_from_slice(&s.labels);
        }
        Ok(Batch { size: samples.len(), height, width, channels, modalities, labels, indices })
    }

    /// Sample `i` of the batch, copied out (the inverse of [`Batch::from_samples`]).
    pub fn sample(&self, i: usize) -> Result<Sample> {
        if i >= self.size {
            return Err(Error::IndexOutOfRange { index: i, len: self.size });
        }
        let plane = self.height * self.width;
        let modalities = self
            .channels
            .iter()
            .zip(&self.modalities)
            .map(|(&c, buf)| ModalityArray {
                channels: c,
                height: self.height,
                width: self.width,
                data: buf[i * c * plane..(i + 1) * c * plane].to_vec(),
            })
            .collect();
        Ok(Sample {
            modalities,
            labels: self.labels[i * plane..(i + 1) * plane].to_vec(),
            height: self.height,
            width: self.width,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seed: f32, channels: &[usize], h: usize, w: usize) -> Sample {
        let modalities = channels
            .iter()
            .enumerate()
            .map(|(m, &c)| ModalityArray {
                channels: c,
                height: h,
                width: w,
                data: (0..c * h * w).map(|v| seed * 1000.0 + m as f32 * 100.0 + v as f32).collect(),
            })
            .collect();
        Sample { modalities, labels: (0..h * w).map(|v| (v as f32 + seed) as u8).collect(), height: h, width: w }
    }

    #[test]
    fn layout_is_b_c_h_w_and_round_trips() {
        let s: Vec<Sample> = (0..3).map(|i| sample(i as f32, &[2, 1], 2, 3)).collect();
        let b = Batch::from_samples(&s, [7, 8, 9].as_slice()).unwrap();
        assert_eq!((b.size, b.height, b.width, b.channels.clone()), (3, 2, 3, vec![2, 1]));
        assert_eq!(b.modalities[0].len(), 3 * 2 * 6);
        // Element [b=1, c=1, y=1, x=2] of modality 0 is sample 1's value at channel 1, pixel 5.
        assert_eq!(b.modalities[0][(2 + 1) * 6 + 5], 1000.0 + 6.0 + 5.0);
        assert_eq!(b.labels.len(), 18);
        assert_eq!(b.indices, [7, 8, 9]);
        for (i, orig) in s.iter().enumerate() {
            assert_eq!(&b.sample(i).unwrap(), orig);
        }
        assert!(b.sample(3).is_err());
    }

    #[test]
    fn rejects_disagreeing_samples() {
        let good = sample(0.0, &[2, 1], 4, 4);
        let cases = [
            sample(1.0, &[2, 1], 4, 5),
            sample(1.0, &[2], 4, 4),
            sample(1.0, &[3, 1], 4, 4),
            Sample { labels: vec![0; 3], ..sample(1.0, &[2, 1], 4, 4) },
        ];
        for bad in cases {
            let err = Batch::from_samples(&[good.clone(), bad], vec![0, 1]).unwrap_err();
            assert!(matches!(&err, Error::Mismatch { what, .. } if what.contains("sample 1")), "{err}");
        }
        let mut short = good.clone();
        short.modalities[1].data.pop();
        assert!(Batch::from_samples(&[good.clone(), short], vec![0, 1]).is_err());
        assert!(Batch::from_samples(&[], Vec::new()).is_err());
        assert!(Batch::from_samples(std::slice::from_ref(&good), vec![0, 1]).is_err());
    }
}
