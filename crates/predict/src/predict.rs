//! The prediction loop (docs/predict.md §4): for each row of tiles, read that strip of rows of
//! every available modality, normalise it, cut it into tiles (the unavailable modalities all
//! zeros, as in training), run the model in batches, blend the tiles' probabilities and hand
//! the rows that no later tile touches to a [`RowSink`]. Peak memory is a few strips, whatever
//! the scene's height.

use lssg_backbones::SegmentationModel;
use lssg_backbones::input::uniform_availability;
use lssg_scenario::Scenario;
use tch::{Device, Kind, Tensor};

use crate::blend::{BlendWindow, FinishedRows, StripAccumulator};
use crate::error::{Error, Result};
use crate::plan::TilePlan;
use crate::source::{Normalization, RowSource};

/// How a scene is tiled, blended and run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictOptions {
    /// Tile side in pixels (the training tile size is a good choice).
    pub tile: usize,
    /// Overlap between neighbouring tiles.
    pub overlap: usize,
    /// Tiles per forward pass.
    pub batch: usize,
    /// How overlapping tiles are weighted.
    pub window: BlendWindow,
    /// Where the forwards run.
    pub device: Device,
}

impl Default for PredictOptions {
    fn default() -> Self {
        Self { tile: 224, overlap: 32, batch: 16, window: BlendWindow::Hann, device: Device::Cpu }
    }
}

/// Receives finished rows in order, top to bottom, each row exactly once.
pub trait RowSink {
    /// Takes rows `[rows.y0, rows.y0 + rows.rows)`.
    fn write_rows(&mut self, rows: &FinishedRows) -> Result<()>;
}

impl RowSink for Vec<FinishedRows> {
    fn write_rows(&mut self, rows: &FinishedRows) -> Result<()> {
        self.push(rows.clone());
        Ok(())
    }
}

/// Sends every row to several sinks, in order.
pub struct Tee<'a>(pub Vec<&'a mut dyn RowSink>);

impl RowSink for Tee<'_> {
    fn write_rows(&mut self, rows: &FinishedRows) -> Result<()> {
        self.0.iter_mut().try_for_each(|s| s.write_rows(rows))
    }
}

/// What a prediction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictSummary {
    /// Scene height.
    pub height: usize,
    /// Scene width.
    pub width: usize,
    /// Tiles run.
    pub tiles: usize,
    /// Rows of tiles.
    pub tile_rows: usize,
    /// Probability channels (the model's classes; 1 for a binary model).
    pub classes: usize,
}

/// Predicts the whole scene of `source` with `model` under `scenario` (the available
/// modalities), normalising with `norm`; finished rows go to `sink`, and `progress(done, total)`
/// is called after each row of tiles.
pub fn predict_scene(
    model: &dyn SegmentationModel,
    source: &mut dyn RowSource,
    norm: &Normalization,
    scenario: Scenario,
    options: &PredictOptions,
    sink: &mut dyn RowSink,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<PredictSummary> {
    if options.batch == 0 {
        return Err(Error::config("batch", 0, "at least one tile per forward pass"));
    }
    let channels = source.channels().to_vec();
    if scenario.count() == 0 {
        return Err(Error::Modality("the scenario has no available modality".into()));
    }
    if let Some(m) = scenario.indices().find(|&m| m >= channels.len() || !source.has(m)) {
        return Err(Error::Modality(format!("modality {m} is available but the scene has no data for it")));
    }
    if norm.offset.len() != channels.len() {
        return Err(Error::Shape {
            what: "normalisation modalities".into(),
            expected: channels.len(),
            got: norm.offset.len(),
        });
    }
    let (h, w) = (source.height(), source.width());
    let plan = TilePlan::new(h, w, options.tile, options.overlap)?;
    let classes = model.num_classes().max(1) as usize;
    let mut acc = StripAccumulator::new(classes, h, w, options.tile, options.window);
    for (i, &y0) in plan.rows.iter().enumerate() {
        let rows = plan.tile_rows(i);
        let mut strips = Vec::with_capacity(channels.len());
        let mut nodata = vec![true; rows * w];
        for m in 0..channels.len() {
            if scenario.contains(m) {
                let mut data = source.read_rows(m, y0, rows)?;
                mark_data(&data, rows * w, &mut nodata);
                norm.apply(m, &mut data, rows * w)?;
                strips.push(Some(data));
            } else {
                strips.push(None);
            }
        }
        let strip = Strip { data: &strips, channels: &channels, nodata: &nodata, y0, rows, width: w };
        for cols in plan.cols.chunks(options.batch) {
            let probs = forward_tiles(model, &strip, cols, options.tile, scenario, options.device)
                .map_err(|e| e.in_scene(&format!("the {h} × {w} scene")))?;
            let per_tile = classes * options.tile * options.tile;
            for (&x0, p) in cols.iter().zip(probs.chunks_exact(per_tile)) {
                acc.add(y0, x0, p)?;
            }
        }
        // The finished rows start at this strip's first row (docs/predict.md §2).
        let mut done = acc.finish(plan.finished_after(i))?;
        if nodata.iter().any(|&n| n) {
            nodata.truncate(done.rows * w);
            done.nodata = nodata;
        }
        sink.write_rows(&done)?;
        progress(i + 1, plan.rows.len());
    }
    Ok(PredictSummary { height: h, width: w, tiles: plan.len(), tile_rows: plan.rows.len(), classes })
}

/// Clears `nodata` at every pixel where `data` (`[C, plane]` raw values) has a finite value.
fn mark_data(data: &[f32], plane: usize, nodata: &mut [bool]) {
    for chunk in data.chunks_exact(plane.max(1)) {
        for (n, v) in nodata.iter_mut().zip(chunk) {
            if v.is_finite() {
                *n = false;
            }
        }
    }
}

/// One strip of normalised rows from row `y0`: `data[m]` is `[C_m, rows, width]`, `None` when
/// unavailable; `nodata` is `[rows, width]`, true where no available modality has data.
struct Strip<'a> {
    data: &'a [Option<Vec<f32>>],
    channels: &'a [usize],
    nodata: &'a [bool],
    y0: usize,
    rows: usize,
    width: usize,
}

impl Strip<'_> {
    /// `[B, 1, tile, tile]`, 1 where the tiles at `cols` cover a pixel of the scene with data
    /// (not the padding beyond the scene, not no-data).
    fn data_mask(&self, cols: &[usize], tile: usize) -> Vec<u8> {
        let mut out = vec![0u8; cols.len() * tile * tile];
        let (rows, w) = (self.rows.min(tile), self.width);
        for (b, &x0) in cols.iter().enumerate() {
            for r in 0..rows {
                for c in 0..tile.min(w - x0) {
                    out[(b * tile + r) * tile + c] = u8::from(!self.nodata[r * w + x0 + c]);
                }
            }
        }
        out
    }

    /// `[B, C_m, tile, tile]` of modality `m` for the tiles at `cols`, zero outside the scene
    /// and everywhere for an unavailable modality.
    fn tiles(&self, m: usize, cols: &[usize], tile: usize) -> Vec<f32> {
        let c = self.channels[m];
        let mut out = vec![0.0f32; cols.len() * c * tile * tile];
        let Some(data) = &self.data[m] else { return out };
        let (rows, w) = (self.rows.min(tile), self.width);
        for (b, &x0) in cols.iter().enumerate() {
            let n = tile.min(w - x0);
            for k in 0..c {
                for r in 0..rows {
                    let src = k * self.rows * w + r * w + x0;
                    let dst = ((b * c + k) * tile + r) * tile;
                    out[dst..dst + n].copy_from_slice(&data[src..src + n]);
                }
            }
        }
        out
    }
}

/// Runs the tiles at `cols` of `strip` and returns their probabilities, `[B, classes, tile, tile]`
/// flattened (softmax over classes, or the sigmoid of a binary model).
fn forward_tiles(
    model: &dyn SegmentationModel,
    strip: &Strip<'_>,
    cols: &[usize],
    tile: usize,
    scenario: Scenario,
    device: Device,
) -> Result<Vec<f32>> {
    let (b, t) = (cols.len() as i64, tile as i64);
    let probs = tch::no_grad(|| -> Result<Tensor> {
        let inputs: Vec<Tensor> = (0..strip.channels.len())
            .map(|m| {
                let data = strip.tiles(m, cols, tile);
                Tensor::from_slice(&data).view([b, strip.channels[m] as i64, t, t]).to_device(device)
            })
            .collect();
        let availability = uniform_availability(scenario, cols.len(), strip.channels.len(), device);
        // In f32 whatever the forward computed in (a no-op for f32 logits).
        let logits = model.forward_t(&inputs, &availability, false)?.into_f32().logits;
        let classes = model.num_classes().max(1);
        if logits.size() != [b, classes, t, t] {
            return Err(Error::Shape {
                what: format!("model logits {:?} for [B, classes, H, W]", logits.size()),
                expected: (b * classes * t * t) as usize,
                got: logits.numel(),
            });
        }
        let mask = Tensor::from_slice(&strip.data_mask(cols, tile)).view([b, 1, t, t]).to_device(device);
        let bad = non_finite_per_tile(&logits, &mask)?;
        if let Some((i, &pixels)) = bad.iter().enumerate().find(|(_, n)| **n > 0) {
            let (x0, y0) = (cols[i], strip.y0);
            return Err(Error::NonFiniteLogits { scene: String::new(), x0, y0, tile, pixels });
        }
        let p = if classes == 1 { logits.sigmoid() } else { logits.softmax(1, Kind::Float) };
        Ok(p.to_kind(Kind::Float).to_device(Device::Cpu).contiguous())
    })?;
    Ok(Vec::<f32>::try_from(probs.flatten(0, -1))?)
}

/// Per tile of `logits` (`[B, K, H, W]`), the pixels where `mask` (`[B, 1, H, W]`, non-zero
/// where the input has data) is set and some class's logit is NaN or infinite. One reduction on
/// the logits' device; pixels without data are not counted (their outputs are no-data anyway).
pub fn non_finite_per_tile(logits: &Tensor, mask: &Tensor) -> Result<Vec<usize>> {
    let bad = logits.isfinite().logical_not().any_dims(&[1][..], true).logical_and(&mask.ne(0));
    let counts = bad.sum_dim_intlist(&[1, 2, 3][..], false, Kind::Int64).to_device(Device::Cpu);
    Ok(Vec::<i64>::try_from(counts)?.into_iter().map(|n| n.max(0) as usize).collect())
}
