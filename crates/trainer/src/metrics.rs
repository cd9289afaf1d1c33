//! Segmentation metrics (docs/method.md §6): the reference's per-image soft Jaccard / soft F1, and a
//! dataset confusion matrix with hard per-class IoU, mIoU, overall accuracy and per-class F1.
//!
//! **Soft metrics [ref]**, per image, on probabilities without a threshold:
//! `J = (Σpy + ε)/(Σy + Σp − Σpy + ε)`, ε = 1e-8. Soft precision `P = Σpy/(Σp + ε)`, soft
//! recall `R = Σpy/(Σy + ε)`, soft F1 `= 2PR/(P + R + ε)`: ε only in the denominators, as the
//! reference's `JaccardAndF1` (`docs/reference.md §3`). Binary tasks (one logit,
//! p = σ(logit)): when an image's ground truth has no positive pixel, both p and y are flipped
//! (`1 − p`, `1 − y`), i.e. the background IoU is reported for that image, as the reference
//! does. **Multi-class [ours]**: p = softmax over classes, y = one-hot; the image's value is the
//! mean of the per-class values over the classes *present in that image's ground truth* (no
//! flipping is needed since some class is always present). Pixels labelled 255 are excluded
//! from every sum; an image without a valid pixel is skipped. Reported as mean ± population
//! standard deviation over images.
//!
//! **Hard metrics [ours]**: a micro confusion matrix over the whole data set (rows = ground
//! truth, columns = prediction). Binary: prediction = σ(logit) > 0.5 (i.e. logit > 0), classes
//! `background, <positive>`; multi-class: arg-max. Per-class IoU and F1, mIoU (background
//! included for binary tasks) and accuracy are lssg-core's [`ConfusionMatrix`] metrics, with its
//! rule for undefined values: `None`, and a class in neither the labels nor the predictions is
//! left out of the mIoU.
//!
//! Everything accumulates on the device without a host sync: the confusion matrix with a
//! `scatter_add_` into `K² + 2` bins (the last two collect ignored and out-of-range labels, so
//! no data-dependent `masked_select` is needed), the per-image soft values as `[B]` tensors.
//! [`MetricsAccumulator::finish`] reduces once.
//!
//! # Shapes
//! `logits` f32 `[B, K, H, W]` (K = 1 binary), `labels` i64 `[B, H, W]`.

use lssg_core::{ConfusionMatrix, MetricId, format_number};
use lssg_datasets::IGNORE_INDEX;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::loss::check_shapes;

/// ε of the soft metrics, as in the reference.
pub const SOFT_EPSILON: f64 = 1e-8;

/// A mean and population standard deviation over images.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Population standard deviation (ddof = 0).
    pub std: f64,
}

impl MeanStd {
    /// Mean and population std of `values` (zeros when empty).
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Self { mean, std: var.sqrt() }
    }
}

/// The metrics of one data set (or one scenario of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Images with at least one valid pixel (those the soft metrics average over).
    pub images: usize,
    /// Valid (counted) pixels.
    pub pixels: u64,
    /// Pixels labelled 255.
    pub ignored_pixels: u64,
    /// Pixels whose label was neither a class nor 255 (excluded; the loops reject such data).
    pub out_of_range_pixels: u64,
    /// Reference soft Jaccard over images.
    pub soft_jaccard: MeanStd,
    /// Reference soft F1 over images.
    pub soft_f1: MeanStd,
    /// Names of the confusion-matrix classes (binary: `background` and the positive class).
    pub class_names: Vec<String>,
    /// Hard IoU per class; `None` when the class is in neither labels nor predictions.
    pub iou: Vec<Option<f64>>,
    /// Hard F1 per class; `None` as for `iou`.
    pub f1: Vec<Option<f64>>,
    /// Mean of the defined per-class IoUs; `None` (`null`) when no class has one.
    pub miou: Option<f64>,
    /// Overall pixel accuracy; `None` (`null`) without a counted pixel.
    pub accuracy: Option<f64>,
    /// The confusion matrix, `confusion[truth][prediction]`.
    pub confusion: Vec<Vec<u64>>,
}

impl Metrics {
    /// The ranges of values read back from a file (an evaluation, `metrics.jsonl`): every
    /// metric a finite number in [0, 1] (standard deviations too), one IoU and F1 entry per
    /// class name, a square confusion matrix. Says which value is wrong.
    pub fn check_ranges(&self) -> std::result::Result<(), String> {
        let fraction = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(format!("{name} = {v} is not in [0, 1]")) }
        };
        fraction("soft_jaccard.mean", self.soft_jaccard.mean)?;
        fraction("soft_jaccard.std", self.soft_jaccard.std)?;
        fraction("soft_f1.mean", self.soft_f1.mean)?;
        fraction("soft_f1.std", self.soft_f1.std)?;
        for (name, v) in [("miou", self.miou), ("accuracy", self.accuracy)] {
            v.map_or(Ok(()), |v| fraction(name, v))?;
        }
        for (name, values) in [("iou", &self.iou), ("f1", &self.f1)] {
            if !values.is_empty() && values.len() != self.class_names.len() {
                return Err(format!("{name} has {} entries for {} classes", values.len(), self.class_names.len()));
            }
            for (i, v) in values.iter().enumerate() {
                v.map_or(Ok(()), |v| fraction(&format!("{name}[{i}]"), v))?;
            }
        }
        if self.confusion.iter().any(|row| row.len() != self.confusion.len()) {
            return Err("the confusion matrix is not square".into());
        }
        Ok(())
    }
}

/// The quantity that decides which epoch is "best" (higher is better for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    /// Mean soft Jaccard (the reference metric).
    #[default]
    SoftJaccard,
    /// Hard mean IoU.
    Miou,
    /// Overall accuracy.
    Accuracy,
}

impl Monitor {
    /// The metric it reads.
    pub fn metric(self) -> MetricId {
        match self {
            Self::SoftJaccard => MetricId::SoftJaccard,
            Self::Miou => MetricId::Miou,
            Self::Accuracy => MetricId::Accuracy,
        }
    }
}

impl Metrics {
    /// The value of summary metric `id` (a fraction); `None` when it is undefined: the soft
    /// metrics without an image with a valid pixel, mIoU and accuracy as lssg-core's
    /// [`ConfusionMatrix`] says.
    pub fn metric(&self, id: MetricId) -> Option<f64> {
        match id {
            MetricId::SoftJaccard => (self.images > 0).then_some(self.soft_jaccard.mean),
            MetricId::SoftF1 => (self.images > 0).then_some(self.soft_f1.mean),
            MetricId::Miou => self.miou,
            MetricId::Accuracy => self.accuracy,
        }
    }

    /// The value of `monitor`; NaN when it is undefined, which no epoch counts as best.
    pub fn value(&self, monitor: Monitor) -> f64 {
        self.metric(monitor.metric()).unwrap_or(f64::NAN)
    }

    /// One line: `softJ 0.8123±0.0912 softF1 … mIoU … acc …`.
    pub fn summary(&self) -> String {
        format!(
            "softJ {:.4}±{:.4} softF1 {:.4}±{:.4} mIoU {} acc {}",
            self.soft_jaccard.mean,
            self.soft_jaccard.std,
            self.soft_f1.mean,
            self.soft_f1.std,
            format_number(self.miou, 4),
            format_number(self.accuracy, 4)
        )
    }
}

/// The confusion-matrix class names for a task with `num_classes` logit channels, given the
/// data set's names: binary tasks get `background` prepended to the positive class's name.
pub fn confusion_class_names(num_classes: usize, names: &[String]) -> Result<Vec<String>> {
    let k = num_classes.max(2);
    match (num_classes, names.len()) {
        (1, 1) => Ok(vec!["background".to_string(), names[0].clone()]),
        (_, n) if n == k => Ok(names.to_vec()),
        (_, 0) if num_classes == 1 => Ok(vec!["background".into(), "positive".into()]),
        (_, 0) => Ok((0..k).map(|c| format!("class_{c}")).collect()),
        (_, n) => Err(Error::shape("class names", if num_classes == 1 { 1 } else { k }, n)),
    }
}

/// Accumulates [`Metrics`] over batches, on the device.
#[derive(Debug)]
pub struct MetricsAccumulator {
    num_classes: i64,
    k: i64,
    class_names: Vec<String>,
    /// `[K² + 2]` i64: K² confusion cells, then ignored, then out-of-range.
    confusion: Tensor,
    jaccard: Vec<Tensor>,
    f1: Vec<Tensor>,
    counted: Vec<Tensor>,
    /// Per-tile confusion matrices `[B, K²]` of each batch, when asked for.
    tile_confusion: Option<Vec<Tensor>>,
    /// i64 scalar: logits seen that were NaN or infinite ([`Self::check_finite`]).
    non_finite: Tensor,
}

/// Per-tile metrics of one evaluation, in the data set's order: what a paired bootstrap over
/// test tiles resamples (docs/bench.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileMetrics {
    /// Soft Jaccard of each tile; `None` for a tile without a valid pixel.
    pub soft_jaccard: Vec<Option<f64>>,
    /// Each tile's `K × K` confusion matrix, row-major (`[truth][prediction]`).
    pub confusion: Vec<Vec<u64>>,
}

impl MetricsAccumulator {
    /// An empty accumulator for logits with `num_classes` channels (1 = binary) on `device`.
    pub fn new(num_classes: i64, device: Device) -> Result<Self> {
        if num_classes < 1 {
            return Err(Error::InvalidConfig {
                field: "num_classes",
                value: num_classes.to_string(),
                expected: "at least 1 (1 = binary)",
            });
        }
        let k = num_classes.max(2);
        Ok(Self {
            num_classes,
            k,
            class_names: confusion_class_names(num_classes as usize, &[])?,
            confusion: Tensor::zeros([k * k + 2], (Kind::Int64, device)),
            jaccard: Vec::new(),
            f1: Vec::new(),
            counted: Vec::new(),
            tile_confusion: None,
            non_finite: Tensor::zeros([], (Kind::Int64, device)),
        })
    }

    /// Fails with [`Error::NonFiniteLogits`] when any logit added so far was NaN or infinite:
    /// metrics of such outputs look ordinary (every pixel gets some class) but mean nothing.
    /// One host synchronisation; call it once, after the last batch.
    pub fn check_finite(&self, what: &str) -> Result<()> {
        let count = self.non_finite.int64_value(&[]);
        if count == 0 { Ok(()) } else { Err(Error::NonFiniteLogits { what: what.to_string(), count: count as u64 }) }
    }

    /// Combines this rank's accumulator with the other ranks' of a data-parallel evaluation
    /// (`crate::dist`), on every rank: counts added, per-image and per-tile values concatenated
    /// in rank order (the data set's order when each rank took a contiguous block of batches),
    /// so [`Self::finish`] gives what one process computes over all batches.
    pub(crate) fn gather(&mut self, group: &lssg_torch::ProcessGroup) -> Result<()> {
        let device = self.confusion.device();
        let sum = |t: &Tensor| -> Result<Tensor> {
            let host = t.to_device(Device::Cpu).reshape([-1]).contiguous();
            group.all_reduce(std::slice::from_ref(&host), lssg_torch::ReduceOp::Sum)?;
            Ok(host.view(t.size().as_slice()).to_device(device))
        };
        self.confusion = sum(&self.confusion)?;
        self.non_finite = sum(&self.non_finite)?;
        // Values travel as f64: soft metrics are f64, flags and counts exact below 2⁵³.
        let concat = |parts: &[Tensor], kind: Kind, width: i64| -> Result<Vec<Tensor>> {
            let local = match parts.is_empty() {
                true => Vec::new(),
                false => {
                    let flat = Tensor::cat(parts, 0).to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]);
                    Vec::<f64>::try_from(flat)
                        .map_err(|source| Error::Torch { context: "gathering a data-parallel evaluation", source })?
                }
            };
            let all: Vec<f64> = group.all_gather_f64(&local)?.concat();
            Ok(match all.is_empty() {
                true => Vec::new(),
                false => {
                    vec![Tensor::from_slice(&all).view([-1, width]).squeeze_dim(1).to_kind(kind).to_device(device)]
                }
            })
        };
        self.jaccard = concat(&self.jaccard, Kind::Double, 1)?;
        self.f1 = concat(&self.f1, Kind::Double, 1)?;
        self.counted = concat(&self.counted, Kind::Bool, 1)?;
        if let Some(tiles) = &self.tile_confusion {
            let k2 = self.k * self.k;
            let gathered = concat(tiles, Kind::Int64, k2)?;
            // `squeeze_dim(1)` left [N, K²] alone unless K² = 1, which K ≥ 2 rules out.
            self.tile_confusion = Some(gathered);
        }
        Ok(())
    }

    /// Also keeps each tile's confusion matrix and soft Jaccard ([`Self::finish_tiles`]).
    pub fn with_tiles(mut self) -> Self {
        self.tile_confusion = Some(Vec::new());
        self
    }

    /// Names the classes (see [`confusion_class_names`]).
    pub fn with_class_names(mut self, names: &[String]) -> Result<Self> {
        self.class_names = confusion_class_names(self.num_classes as usize, names)?;
        Ok(self)
    }

    /// Adds a batch: `logits` `[B, K, H, W]`, `labels` i64 `[B, H, W]` (255 = ignore). No
    /// host synchronisation.
    pub fn update(&mut self, logits: &Tensor, labels: &Tensor) -> Result<()> {
        check_shapes(logits, labels)?;
        if logits.size()[1] != self.num_classes {
            return Err(Error::shape("logit channels", self.num_classes, logits.size()[1]));
        }
        tch::no_grad(|| {
            let logits = logits.detach();
            self.non_finite += logits.isfinite().logical_not().sum(Kind::Int64).to_device(self.non_finite.device());
            let labels = labels.to_device(logits.device());
            self.update_confusion(&logits, &labels);
            let (j, f, counted) =
                if self.num_classes == 1 { soft_binary(&logits, &labels) } else { soft_multiclass(&logits, &labels) };
            self.jaccard.push(j);
            self.f1.push(f);
            self.counted.push(counted);
        });
        Ok(())
    }

    fn update_confusion(&mut self, logits: &Tensor, labels: &Tensor) {
        let k = self.k;
        let pred = if self.num_classes == 1 {
            logits.select(1, 0).gt(0.0).to_kind(Kind::Int64)
        } else {
            logits.argmax(1, false)
        };
        let ignored = labels.eq(i64::from(IGNORE_INDEX));
        let out_of_range = labels.lt(0).logical_or(&labels.ge(k)).logical_and(&ignored.logical_not());
        let cell = labels * k + pred;
        let index = cell.masked_fill(&ignored, k * k).masked_fill(&out_of_range, k * k + 1).flatten(0, -1);
        let ones = Tensor::ones_like(&index);
        let _ = self.confusion.scatter_add_(0, &index, &ones);
        if let Some(tiles) = &mut self.tile_confusion {
            // One bin block per tile; ignored and out-of-range pixels go to the two extra bins.
            let b = labels.size()[0];
            let bins = k * k + 2;
            let offset = Tensor::arange(b, (Kind::Int64, labels.device())).view([b, 1]) * bins;
            let per_tile = index.view([b, -1]) + offset;
            let counts = Tensor::zeros([b * bins], (Kind::Int64, labels.device()));
            let counts = counts.scatter_add(0, &per_tile.flatten(0, -1), &ones);
            tiles.push(counts.view([b, bins]).narrow(1, 0, k * k));
        }
    }

    /// The per-tile values of an accumulator made [`Self::with_tiles`] (`None` otherwise).
    pub fn finish_tiles(&self) -> Option<TileMetrics> {
        let tiles = self.tile_confusion.as_ref()?;
        let k2 = (self.k * self.k) as usize;
        let (confusion, soft_jaccard) = if tiles.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let counts =
                Vec::<i64>::try_from(Tensor::cat(tiles, 0).to_device(Device::Cpu).flatten(0, -1)).expect("i64 vector");
            let confusion = counts.chunks(k2).map(|c| c.iter().map(|&v| v as u64).collect()).collect();
            let values = Vec::<f64>::try_from(Tensor::cat(&self.jaccard, 0).to_device(Device::Cpu)).expect("f64");
            let counted = Vec::<bool>::try_from(Tensor::cat(&self.counted, 0).to_device(Device::Cpu)).expect("bool");
            (confusion, values.into_iter().zip(counted).map(|(v, c)| c.then_some(v)).collect())
        };
        Some(TileMetrics { soft_jaccard, confusion })
    }

    /// Reduces everything (one transfer) into [`Metrics`].
    pub fn finish(&self) -> Metrics {
        let k = self.k as usize;
        let counts = Vec::<i64>::try_from(self.confusion.to_device(Device::Cpu)).expect("i64 vector");
        let confusion: Vec<Vec<u64>> = (0..k).map(|r| (0..k).map(|c| counts[r * k + c] as u64).collect()).collect();
        let (ignored_pixels, out_of_range_pixels) = (counts[k * k] as u64, counts[k * k + 1] as u64);

        let (jaccard, f1) = if self.jaccard.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let counted = Tensor::cat(&self.counted, 0);
            let pick = |v: &[Tensor]| {
                let all = Tensor::cat(v, 0).masked_select(&counted).to_device(Device::Cpu);
                Vec::<f64>::try_from(all).expect("f64 vector")
            };
            (pick(&self.jaccard), pick(&self.f1))
        };

        let cells: Vec<u64> = confusion.concat();
        let matrix = ConfusionMatrix::new(&cells, k).expect("a K × K matrix");
        Metrics {
            images: jaccard.len(),
            pixels: matrix.total(),
            ignored_pixels,
            out_of_range_pixels,
            soft_jaccard: MeanStd::of(&jaccard),
            soft_f1: MeanStd::of(&f1),
            class_names: self.class_names.clone(),
            iou: matrix.ious(),
            f1: matrix.f1s(),
            miou: matrix.miou(),
            accuracy: matrix.accuracy(),
            confusion,
        }
    }
}

/// Per-image soft Jaccard and F1 from intersection, Σp and Σy (each `[B]` or `[B, C]`).
///
/// ε sits where the reference's `JaccardAndF1` puts it (`docs/reference.md §3`): added to the
/// Jaccard's numerator and denominator, but only to the denominators of precision, recall and
/// F1, so an image with no overlap scores F1 = 0 exactly. (The reference
/// names Σ(1−p)y "FP" and Σ(1−y)p "FN", so its `recall` is our precision and vice versa; F1 is
/// symmetric in the two, so the value is the same.)
fn soft_ratios(inter: &Tensor, psum: &Tensor, ysum: &Tensor) -> (Tensor, Tensor) {
    let e = SOFT_EPSILON;
    let jaccard = (inter + e) / (ysum + psum - inter + e);
    let precision = inter / (psum + e);
    let recall = inter / (ysum + e);
    let f1 = &precision * &recall * 2.0 / (&precision + &recall + e);
    (jaccard, f1)
}

/// Binary soft metrics per image: `(jaccard [B], f1 [B], counted [B] bool)`.
fn soft_binary(logits: &Tensor, labels: &Tensor) -> (Tensor, Tensor, Tensor) {
    let dims: &[i64] = &[1, 2];
    let valid = labels.ne(i64::from(IGNORE_INDEX)).to_kind(Kind::Double);
    let p = logits.select(1, 0).sigmoid().to_kind(Kind::Double);
    let y = labels.clamp(0, 1).to_kind(Kind::Double) * &valid;
    // No positive pixel → flip both (background IoU), as the reference does.
    let flip = y.sum_dim_intlist(dims, true, Kind::Double).eq(0.0);
    let (p_flipped, y_flipped): (Tensor, Tensor) = (1.0 - &p, 1.0 - &y);
    let p = p_flipped.where_self(&flip, &p) * &valid;
    let y = y_flipped.where_self(&flip, &y) * &valid;
    let inter = (&p * &y).sum_dim_intlist(dims, false, Kind::Double);
    let (j, f) = soft_ratios(
        &inter,
        &p.sum_dim_intlist(dims, false, Kind::Double),
        &y.sum_dim_intlist(dims, false, Kind::Double),
    );
    (j, f, valid.sum_dim_intlist(dims, false, Kind::Double).gt(0.0))
}

/// Multi-class soft metrics per image, averaged over the classes present in the image.
fn soft_multiclass(logits: &Tensor, labels: &Tensor) -> (Tensor, Tensor, Tensor) {
    let dims: &[i64] = &[2, 3];
    let classes = logits.size()[1];
    let ignore = labels.eq(i64::from(IGNORE_INDEX));
    let out_of_range = labels.lt(0).logical_or(&labels.ge(classes));
    let invalid = ignore.logical_or(&out_of_range);
    let valid = invalid.logical_not().to_kind(Kind::Double).unsqueeze(1); // [B, 1, H, W]
    let p = logits.softmax(1, Kind::Double) * &valid;
    let y = labels.masked_fill(&invalid, 0).one_hot(classes).permute([0, 3, 1, 2]).to_kind(Kind::Double) * &valid;
    let inter = (&p * &y).sum_dim_intlist(dims, false, Kind::Double); // [B, C]
    let ysum = y.sum_dim_intlist(dims, false, Kind::Double);
    let (j, f) = soft_ratios(&inter, &p.sum_dim_intlist(dims, false, Kind::Double), &ysum);
    let present = ysum.gt(0.0).to_kind(Kind::Double);
    let n = present.sum_dim_intlist(1, false, Kind::Double);
    let mean = |v: &Tensor| (v * &present).sum_dim_intlist(1, false, Kind::Double) / n.clamp_min(1.0);
    (mean(&j), mean(&f), n.gt(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(label: &str, got: f64, expected: f64) {
        assert!((got - expected).abs() < 1e-6, "{label}: got {got}, expected {expected}");
    }

    fn logit(p: f32) -> f32 {
        (p / (1.0 - p)).ln()
    }

    #[test]
    fn binary_golden() {
        // Three 2×2 images with p = (0.8, 0.2, 0.6, 0.4) each.
        // Image 0, labels (1, 0, 1, 0): Σpy = 1.4, Σp = 2, Σy = 2 → J = 1.4/2.6 = 0.538462;
        //   P = 0.7, R = 0.7 → F1 = 0.7.
        // Image 1, labels all 0 → flipped: p' = (0.2, 0.8, 0.4, 0.6), y' = 1: Σpy = 2, Σp = 2,
        //   Σy = 4 → J = 2/4 = 0.5; P = 1, R = 0.5 → F1 = 2/3.
        // Image 2, labels all 255 → skipped.
        // Soft J: mean 0.519231, population std 0.019231; F1: mean 0.683333, std 0.016667.
        // Hard (logit > 0 ⇔ p > 0.5): predictions (1, 0, 1, 0) on images 0 and 1:
        //   truth bg → pred bg 4, pred pos 2; truth pos → pred pos 2. IoU bg = 4/6, pos = 2/4,
        //   mIoU = 0.583333, accuracy 6/8; F1 bg = 8/10, pos = 4/6.
        let p: Vec<f32> = [0.8, 0.2, 0.6, 0.4].repeat(3).into_iter().map(logit).collect();
        let logits = Tensor::from_slice(&p).view([3, 1, 2, 2]);
        let labels = Tensor::from_slice(&[1i64, 0, 1, 0, 0, 0, 0, 0, 255, 255, 255, 255]).view([3, 2, 2]);
        let mut acc = MetricsAccumulator::new(1, Device::Cpu).unwrap().with_class_names(&["crops".into()]).unwrap();
        // Two updates (image 0; images 1 and 2) must equal one.
        acc.update(&logits.narrow(0, 0, 1), &labels.narrow(0, 0, 1)).unwrap();
        acc.update(&logits.narrow(0, 1, 2), &labels.narrow(0, 1, 2)).unwrap();
        let m = acc.finish();
        assert_eq!(m.images, 2);
        assert_eq!((m.pixels, m.ignored_pixels, m.out_of_range_pixels), (8, 4, 0));
        close("softJ mean", m.soft_jaccard.mean, 0.519231);
        close("softJ std", m.soft_jaccard.std, 0.019231);
        close("softF1 mean", m.soft_f1.mean, 0.683333);
        close("softF1 std", m.soft_f1.std, 0.016667);
        assert_eq!(m.class_names, ["background", "crops"]);
        assert_eq!(m.confusion, vec![vec![4, 2], vec![0, 2]]);
        close("iou bg", m.iou[0].unwrap(), 4.0 / 6.0);
        close("iou pos", m.iou[1].unwrap(), 0.5);
        close("miou", m.miou.unwrap(), 0.583333);
        close("acc", m.accuracy.unwrap(), 0.75);
        close("f1 bg", m.f1[0].unwrap(), 0.8);
        close("f1 pos", m.f1[1].unwrap(), 4.0 / 6.0);
        assert_eq!(m.value(Monitor::Miou), m.miou.unwrap());
        assert_eq!(m.metric(MetricId::SoftF1), Some(m.soft_f1.mean));
    }

    #[test]
    fn tiles_split_the_binary_golden_per_image() {
        // The three images of `binary_golden`, per tile: image 0 predicts (1, 0, 1, 0) on labels
        // (1, 0, 1, 0) → [[2, 0], [0, 2]], J = 0.538462; image 1 on all-0 labels → [[2, 2], [0, 0]],
        // J = 0.5; image 2 is all ignored → a zero matrix and no soft value.
        let p: Vec<f32> = [0.8, 0.2, 0.6, 0.4].repeat(3).into_iter().map(logit).collect();
        let logits = Tensor::from_slice(&p).view([3, 1, 2, 2]);
        let labels = Tensor::from_slice(&[1i64, 0, 1, 0, 0, 0, 0, 0, 255, 255, 255, 255]).view([3, 2, 2]);
        let mut acc = MetricsAccumulator::new(1, Device::Cpu).unwrap().with_tiles();
        acc.update(&logits.narrow(0, 0, 2), &labels.narrow(0, 0, 2)).unwrap();
        acc.update(&logits.narrow(0, 2, 1), &labels.narrow(0, 2, 1)).unwrap();
        let tiles = acc.finish_tiles().expect("asked for tiles");
        assert_eq!(tiles.confusion, vec![vec![2, 0, 0, 2], vec![2, 2, 0, 0], vec![0, 0, 0, 0]]);
        assert_eq!(tiles.soft_jaccard.len(), 3);
        close("tile 0", tiles.soft_jaccard[0].unwrap(), 0.538462);
        close("tile 1", tiles.soft_jaccard[1].unwrap(), 0.5);
        assert_eq!(tiles.soft_jaccard[2], None);
        // The tiles sum to the data set's matrix.
        let m = acc.finish();
        let summed: Vec<u64> = (0..4).map(|c| tiles.confusion.iter().map(|t| t[c]).sum()).collect();
        assert_eq!(summed, m.confusion.concat());
        assert!(MetricsAccumulator::new(1, Device::Cpu).unwrap().finish_tiles().is_none());
    }

    #[test]
    fn soft_f1_epsilon_as_the_reference() {
        // One 2×2 image, labels (1, 1, 0, 0), p = 1e-8 on every pixel, so the sums are of the
        // order of ε and where ε goes decides the value. By hand (ε = 1e-8):
        //   Σpy = 2e-8, Σp = 4e-8, Σy = 2.
        //   Reference (`JaccardAndF1`): P = Σpy/(Σp + ε) = 2e-8/5e-8 = 0.4,
        //   R = Σpy/(Σy + ε) = 2e-8/(2 + 1e-8) = 1e-8 (to 8 digits),
        //   F1 = 2PR/(P + R + ε) = 0.8e-8/0.40000002 = 2.0e-8 (1.9999999e-8).
        //   ε added to every numerator instead would give P = 0.6, R = 1.5e-8, F1 = 3.0e-8.
        //   J = (Σpy + ε)/(Σy + Σp − Σpy + ε) = 3e-8/2.00000003 = 1.5e-8.
        // p is σ of an f32 logit, accurate to ~1e-6 relative, hence the relative tolerance.
        let x = logit(1e-8);
        let logits = Tensor::from_slice(&[x; 4]).view([1, 1, 2, 2]);
        let labels = Tensor::from_slice(&[1i64, 1, 0, 0]).view([1, 2, 2]);
        let mut acc = MetricsAccumulator::new(1, Device::Cpu).unwrap();
        acc.update(&logits, &labels).unwrap();
        let m = acc.finish();
        let rel = |label: &str, got: f64, want: f64| {
            assert!((got / want - 1.0).abs() < 1e-4, "{label}: got {got:e}, expected {want:e}");
        };
        rel("soft F1", m.soft_f1.mean, 2.0e-8);
        rel("soft J", m.soft_jaccard.mean, 1.5e-8);
        // No overlap (p = 0 where y = 1, p = 1 elsewhere): Σpy = 0, so F1 = 0/(0 + ε) = 0;
        // with ε in the numerators it would be ≈ ε/2 = 5e-9.
        let logits = Tensor::from_slice(&[-200.0f32, -200.0, 200.0, 200.0]).view([1, 1, 2, 2]);
        let mut acc = MetricsAccumulator::new(1, Device::Cpu).unwrap();
        acc.update(&logits, &labels).unwrap();
        let f1 = acc.finish().soft_f1.mean;
        assert!(f1.abs() < 1e-20, "{f1:e}");
    }

    #[test]
    fn non_finite_logits_are_an_error() {
        let labels = Tensor::from_slice(&[1i64, 0, 1, 0]).view([1, 2, 2]);
        let mut acc = MetricsAccumulator::new(1, Device::Cpu).unwrap();
        acc.update(&Tensor::from_slice(&[1.0f32, -1.0, 1.0, -1.0]).view([1, 1, 2, 2]), &labels).unwrap();
        acc.check_finite("ok").unwrap();
        for bad in [f32::NAN, f32::INFINITY] {
            let mut acc = MetricsAccumulator::new(3, Device::Cpu).unwrap();
            acc.update(&Tensor::from_slice(&[bad; 12]).view([1, 3, 2, 2]), &labels).unwrap();
            match acc.check_finite("evaluation") {
                Err(Error::NonFiniteLogits { what, count }) => assert_eq!((what.as_str(), count), ("evaluation", 12)),
                other => panic!("expected NonFiniteLogits, got {other:?}"),
            }
        }
    }

    #[test]
    fn perfect_prediction_scores_one() {
        let logits = Tensor::from_slice(&[20.0f32, -20.0, 20.0, -20.0]).view([1, 1, 2, 2]);
        let labels = Tensor::from_slice(&[1i64, 0, 1, 0]).view([1, 2, 2]);
        let mut acc = MetricsAccumulator::new(1, Device::Cpu).unwrap();
        acc.update(&logits, &labels).unwrap();
        let m = acc.finish();
        assert!(m.soft_jaccard.mean > 0.999_999 && m.soft_f1.mean > 0.999_999, "{m:?}");
        assert_eq!((m.miou, m.accuracy), (Some(1.0), Some(1.0)));
    }

    #[test]
    fn multiclass_soft_golden() {
        // One image, two pixels, three classes, all logits 0 → p = 1/3 everywhere.
        // Labels (0, 2): class 0: Σpy = 1/3, Σp = 2/3, Σy = 1 → J = (1/3)/(4/3) = 0.25,
        // P = 0.5, R = 1/3 → F1 = 0.4; class 2 the same; class 1 absent → not averaged.
        let logits = Tensor::zeros([1, 3, 1, 2], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 2]).view([1, 1, 2]);
        let mut acc = MetricsAccumulator::new(3, Device::Cpu).unwrap();
        acc.update(&logits, &labels).unwrap();
        let m = acc.finish();
        close("softJ", m.soft_jaccard.mean, 0.25);
        close("softF1", m.soft_f1.mean, 0.4);
        assert_eq!(m.soft_jaccard.std, 0.0);
    }

    #[test]
    fn multiclass_confusion_golden() {
        // Four classes, five pixels: labels (0, 1, 2, 2, 255), arg-max predictions
        // (0, 2, 2, 1, 0). Cells: (0,0) (1,2) (2,2) (2,1); the 255 pixel is ignored.
        // IoU0 = 1/1; IoU1 = 0/(0+1+1) = 0; IoU2 = 1/(1+1+1) = 1/3; class 3 never occurs → None.
        // mIoU = (1 + 0 + 1/3)/3 = 0.444444; accuracy 2/4; F1 = (1, 0, 0.5, None).
        let pred = [0i64, 2, 2, 1, 0];
        let mut logits = vec![0.0f32; 4 * 5];
        for (i, &c) in pred.iter().enumerate() {
            logits[c as usize * 5 + i] = 5.0;
        }
        let logits = Tensor::from_slice(&logits).view([1, 4, 1, 5]);
        let labels = Tensor::from_slice(&[0i64, 1, 2, 2, 255]).view([1, 1, 5]);
        let mut acc = MetricsAccumulator::new(4, Device::Cpu).unwrap();
        acc.update(&logits, &labels).unwrap();
        let m = acc.finish();
        assert_eq!(m.confusion[2], [0, 1, 1, 0]);
        assert_eq!(m.iou[3], None);
        close("iou0", m.iou[0].unwrap(), 1.0);
        close("iou1", m.iou[1].unwrap(), 0.0);
        close("iou2", m.iou[2].unwrap(), 1.0 / 3.0);
        close("miou", m.miou.unwrap(), 0.444444);
        close("acc", m.accuracy.unwrap(), 0.5);
        assert_eq!(m.f1, [Some(1.0), Some(0.0), Some(0.5), None]);
        assert_eq!((m.pixels, m.ignored_pixels), (4, 1));
        assert_eq!(m.class_names, ["class_0", "class_1", "class_2", "class_3"]);
    }

    #[test]
    fn out_of_range_labels_are_counted_not_mixed_in() {
        let logits = Tensor::zeros([1, 1, 1, 3], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 7, 1]).view([1, 1, 3]);
        let mut acc = MetricsAccumulator::new(1, Device::Cpu).unwrap();
        acc.update(&logits, &labels).unwrap();
        let m = acc.finish();
        assert_eq!((m.pixels, m.out_of_range_pixels), (2, 1));
    }

    #[test]
    fn rejects_bad_inputs_and_round_trips() {
        let mut acc = MetricsAccumulator::new(2, Device::Cpu).unwrap();
        let logits = Tensor::zeros([1, 3, 2, 2], (Kind::Float, Device::Cpu));
        let labels = Tensor::zeros([1, 2, 2], (Kind::Int64, Device::Cpu));
        assert!(matches!(acc.update(&logits, &labels), Err(Error::Shape { .. })));
        assert!(matches!(acc.update(&logits.narrow(1, 0, 2), &labels.narrow(1, 0, 1)), Err(Error::Shape { .. })));
        assert!(MetricsAccumulator::new(0, Device::Cpu).is_err());
        assert!(confusion_class_names(3, &["a".into()]).is_err());
        // Nothing counted: every summary metric is undefined, recorded as null, never best.
        let empty = MetricsAccumulator::new(2, Device::Cpu).unwrap().finish();
        assert_eq!((empty.images, empty.pixels, empty.miou, empty.accuracy), (0, 0, None, None));
        assert!(MetricId::ALL.iter().all(|&id| empty.metric(id).is_none()));
        assert!(empty.value(Monitor::SoftJaccard).is_nan());
        let json = serde_json::to_string(&empty).unwrap();
        assert!(json.contains(r#""miou":null,"accuracy":null"#), "{json}");
        assert_eq!(serde_json::from_str::<Metrics>(&json).unwrap(), empty);
    }
}
