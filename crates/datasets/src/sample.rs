//! The data model: a [`Sample`] is one f32 array per modality plus a label map; a [`Batch`] is
//! one contiguous `[B, C_m, H, W]` buffer per modality plus `[B, H, W]` labels, laid out so a
//! tensor copy needs no reshuffling.

use serde::{Deserialize, Serialize};

/// Label value of pixels that count in no loss or metric.
pub const IGNORE_INDEX: u8 = 255;

/// One modality's array of one tile, `[channels, height, width]` row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModalityArray {
    /// Number of channels (bands).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `channels * height * width` values, channel-major.
    pub data: Vec<f32>,
}

impl ModalityArray {
    /// An all-zero array.
    pub fn zeros(channels: usize, height: usize, width: usize) -> Self {
        Self { channels, height, width, data: vec![0.0; channels * height * width] }
    }

    /// The plane of channel `c`.
    pub fn channel(&self, c: usize) -> &[f32] {
        let n = self.height * self.width;
        &self.data[c * n..(c + 1) * n]
    }
}

/// One tile: an array per modality (in the data set's modality order) and its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// One array per modality, all of the same height and width.
    pub modalities: Vec<ModalityArray>,
    /// `[height, width]` class indices; [`IGNORE_INDEX`] marks ignored pixels.
    pub labels: Vec<u8>,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

/// A batch ready for tensors: `modalities[m]` is `[size, channels[m], height, width]`
/// row-major, `labels` is `[size, height, width]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Number of samples B.
    pub size: usize,
    /// Tile height.
    pub height: usize,
    /// Tile width.
    pub width: usize,
    /// Channels per modality.
    pub channels: Vec<usize>,
    /// One contiguous buffer per modality.
    pub modalities: Vec<Vec<f32>>,
    /// Labels of every sample, contiguous.
    pub labels: Vec<u8>,
    /// The data-set index of each sample (for logging and reproducibility checks).
    pub indices: Vec<usize>,
}
