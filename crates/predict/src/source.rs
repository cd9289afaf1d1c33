//! Where a scene's pixels come from (docs/predict.md §3): a [`RowSource`] reads a block of rows
//! of one modality at a time, so no reader ever holds the whole scene (GDAL rasters through
//! [`GdalScene`]); [`Normalization`] applies the training statistics of the run.

use lssg_datasets::normalize::{ChannelStats, NormalizeConfig};
use lssg_datasets::raster::grid::GdalScene;

use crate::error::{Error, Result};

/// A scene read in row blocks: `channels()[m]` channels per modality on one `height × width` grid.
pub trait RowSource {
    /// Scene height.
    fn height(&self) -> usize;
    /// Scene width.
    fn width(&self) -> usize;
    /// Channels per modality, in the model's modality order.
    fn channels(&self) -> &[usize];
    /// Whether modality `m` can be read (an unavailable modality may have no file).
    fn has(&self, m: usize) -> bool;
    /// Raw values of rows `[y0, y0 + rows)` of modality `m`, `[C_m, rows, width]`; no-data is NaN.
    fn read_rows(&mut self, m: usize, y0: usize, rows: usize) -> Result<Vec<f32>>;
}

/// A scene held in memory (tests, small scenes): one `[C_m, height, width]` buffer per modality,
/// `None` for a modality without data.
#[derive(Debug, Clone)]
pub struct MemoryScene {
    height: usize,
    width: usize,
    channels: Vec<usize>,
    data: Vec<Option<Vec<f32>>>,
}

impl MemoryScene {
    /// A scene of the given size; `data[m]` must hold `channels[m] · height · width` values.
    pub fn new(height: usize, width: usize, channels: Vec<usize>, data: Vec<Option<Vec<f32>>>) -> Result<Self> {
        for (m, (d, &c)) in data.iter().zip(&channels).enumerate() {
            if let Some(d) = d
                && d.len() != c * height * width
            {
                return Err(Error::Shape {
                    what: format!("modality {m} buffer"),
                    expected: c * height * width,
                    got: d.len(),
                });
            }
        }
        if data.len() != channels.len() {
            return Err(Error::Shape { what: "modality buffers".into(), expected: channels.len(), got: data.len() });
        }
        Ok(Self { height, width, channels, data })
    }
}

impl RowSource for MemoryScene {
    fn height(&self) -> usize {
        self.height
    }
    fn width(&self) -> usize {
        self.width
    }
    fn channels(&self) -> &[usize] {
        &self.channels
    }
    fn has(&self, m: usize) -> bool {
        self.data.get(m).is_some_and(Option::is_some)
    }
    fn read_rows(&mut self, m: usize, y0: usize, rows: usize) -> Result<Vec<f32>> {
        let Some(Some(data)) = self.data.get(m) else {
            return Err(Error::Modality(format!("modality {m} has no data")));
        };
        let (plane, w) = (self.height * self.width, self.width);
        let mut out = Vec::with_capacity(self.channels[m] * rows * w);
        for c in 0..self.channels[m] {
            out.extend_from_slice(&data[c * plane + y0 * w..c * plane + (y0 + rows) * w]);
        }
        Ok(out)
    }
}

/// The rasters of a scene through GDAL (`lssg_datasets::raster::grid`).
impl RowSource for GdalScene {
    fn height(&self) -> usize {
        self.geo().height
    }
    fn width(&self) -> usize {
        self.geo().width
    }
    fn channels(&self) -> &[usize] {
        GdalScene::channels(self)
    }
    fn has(&self, m: usize) -> bool {
        GdalScene::has(self, m)
    }
    fn read_rows(&mut self, m: usize, y0: usize, rows: usize) -> Result<Vec<f32>> {
        Ok(GdalScene::read_rows(self, m, y0, rows)?)
    }
}

/// The training normalisation: `(x − offset) · scale` per channel; non-finite values (no-data)
/// become 0, the value of a missing modality (docs/predict.md §3).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    /// Per modality, per channel: subtracted offset.
    pub offset: Vec<Vec<f32>>,
    /// Per modality, per channel: multiplied scale.
    pub scale: Vec<Vec<f32>>,
}

impl Normalization {
    /// No normalisation for modalities of `channels` channels.
    pub fn identity(channels: &[usize]) -> Self {
        Self {
            offset: channels.iter().map(|&c| vec![0.0; c]).collect(),
            scale: channels.iter().map(|&c| vec![1.0; c]).collect(),
        }
    }

    /// What `lssg_datasets::Normalized` applies for `stats` under `config` (mean subtraction by
    /// default, division by the standard deviation when configured).
    pub fn from_stats(stats: &ChannelStats, config: &NormalizeConfig) -> Self {
        let (offset, scale) = lssg_datasets::offsets_and_scales(stats, config);
        Self { offset, scale }
    }

    /// Normalises `data` (`[C, …]` of modality `m`, `plane` values per channel) in place.
    pub fn apply(&self, m: usize, data: &mut [f32], plane: usize) -> Result<()> {
        let (o, k) = (&self.offset[m], &self.scale[m]);
        if data.len() != o.len() * plane {
            return Err(Error::Shape {
                what: format!("modality {m} rows"),
                expected: o.len() * plane,
                got: data.len(),
            });
        }
        for (c, chunk) in data.chunks_exact_mut(plane.max(1)).enumerate() {
            for v in chunk {
                *v = if v.is_finite() { (*v - o[c]) * k[c] } else { 0.0 };
            }
        }
        Ok(())
    }
}
