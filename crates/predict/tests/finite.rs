//! Non-finite logits over pixels with data stop a prediction, naming the window
//! (docs/reliability.md §3); pixels without data (no-data, the padding beyond the scene) are
//! not checked, since their outputs are no-data anyway.

use lssg_backbones::model::check_inputs;
use lssg_backbones::{ModelOutput, SegmentationModel};
use lssg_predict::{
    BlendWindow, FinishedRows, MemoryScene, Normalization, PredictOptions, non_finite_per_tile, predict_scene,
};
use lssg_scenario::Scenario;
use tch::{Device, Kind, Tensor, nn};

const H: usize = 20;
const W: usize = 30;

/// Two classes from the sum `s` of the (masked) inputs: `(w·s, −w·s)` through a 1×1 convolution
/// of weight `w`; with `nan_at_zero`, `+ 0·log s`, which is NaN exactly where `s = 0`.
#[derive(Debug)]
struct SumModel {
    conv: nn::Conv2D,
    nan_at_zero: bool,
    _vs: nn::VarStore,
}

impl SumModel {
    fn new(weight: f32, nan_at_zero: bool) -> Self {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = nn::ConvConfig { bias: false, ..Default::default() };
        let mut conv = nn::conv2d(vs.root(), 1, 2, 1, cfg);
        tch::no_grad(|| conv.ws.copy_(&Tensor::from_slice(&[weight, -weight]).view([2, 1, 1, 1])));
        Self { conv, nan_at_zero, _vs: vs }
    }
}

impl SegmentationModel for SumModel {
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, _train: bool) -> lssg_backbones::Result<ModelOutput> {
        check_inputs(&[1, 1], inputs, availability)?;
        let s = &inputs[0] * availability.narrow(1, 0, 1).view([-1, 1, 1, 1])
            + &inputs[1] * availability.narrow(1, 1, 1).view([-1, 1, 1, 1]);
        let s = if self.nan_at_zero { &s + s.log() * 0.0 } else { s };
        let logits = s.apply(&self.conv);
        Ok(ModelOutput::new(logits.shallow_clone(), logits))
    }
    fn hook_point(&self) -> &str {
        "conv"
    }
    fn num_classes(&self) -> i64 {
        2
    }
}

/// Ones in both modalities, NaN (no-data) where `nodata(y, x)`, and `zero` (a pixel with data
/// whose value is 0) in modality 0 and 1.
fn scene(nodata: impl Fn(usize, usize) -> bool, zero: Option<(usize, usize)>) -> MemoryScene {
    let band = |_: usize| -> Vec<f32> {
        (0..H * W)
            .map(|i| {
                let (y, x) = (i / W, i % W);
                if nodata(y, x) {
                    f32::NAN
                } else if zero == Some((y, x)) {
                    0.0
                } else {
                    1.0
                }
            })
            .collect()
    };
    MemoryScene::new(H, W, vec![1, 1], vec![Some(band(0)), Some(band(1))]).unwrap()
}

fn run(model: &SumModel, scene: &mut MemoryScene) -> lssg_predict::Result<Vec<FinishedRows>> {
    let options = PredictOptions { tile: 16, overlap: 4, batch: 3, window: BlendWindow::Hann, device: Device::Cpu };
    let mut rows = Vec::new();
    let norm = Normalization::identity(&[1, 1]);
    predict_scene(model, scene, &norm, Scenario::full(2), &options, &mut rows, &mut |_, _| {})?;
    Ok(rows)
}

#[test]
fn the_count_covers_only_pixels_with_data() {
    // Two tiles, 2 classes, 2 × 2 pixels; the mask leaves out the last column.
    let logits = Tensor::zeros([2, 2, 2, 2], (Kind::Float, Device::Cpu));
    let mask = Tensor::from_slice(&[1u8, 0, 1, 0, 1, 0, 1, 0]).view([2, 1, 2, 2]);
    let _ = logits.get(0).get(1).get(0).get(1).fill_(f64::NAN); // outside the mask
    assert_eq!(non_finite_per_tile(&logits, &mask).unwrap(), [0, 0]);
    let _ = logits.get(1).get(0).get(1).get(0).fill_(f64::INFINITY);
    let _ = logits.get(1).get(1).get(1).get(0).fill_(f64::NEG_INFINITY); // the same pixel
    let _ = logits.get(1).get(1).get(0).get(0).fill_(f64::NAN);
    assert_eq!(non_finite_per_tile(&logits, &mask).unwrap(), [0, 2]);
}

#[test]
fn no_data_pixels_may_give_nan_logits() {
    // A no-data block: the model is NaN wherever its input is 0, there included.
    let model = SumModel::new(1.0, true);
    let rows = run(&model, &mut scene(|y, x| (3..9).contains(&y) && (20..26).contains(&x), None)).unwrap();
    let nodata: usize = rows.iter().map(|r| r.nodata.iter().filter(|&&n| n).count()).sum();
    assert_eq!(nodata, 36, "the no-data block stays no-data");
}

#[test]
fn non_finite_logits_over_data_name_the_scene_and_window() {
    // A pixel with data whose input is 0 (row 5, column 25): first met by the tile at x 12, y 0.
    let model = SumModel::new(1.0, true);
    let err = run(&model, &mut scene(|_, _| false, Some((5, 25)))).unwrap_err();
    assert!(matches!(err, lssg_predict::Error::NonFiniteLogits { x0: 12, y0: 0, tile: 16, pixels: 1, .. }), "{err:?}");
    let s = err.to_string();
    assert!(s.contains("20 × 30 scene") && s.contains("x 12, y 0") && s.contains("NaN or infinite"), "{s}");
}

#[test]
fn finite_weights_that_overflow_are_refused() {
    // 3e38 is a finite float32 weight; 2 · 3e38 is not.
    let model = SumModel::new(3e38, false);
    let err = run(&model, &mut scene(|_, _| false, None)).unwrap_err();
    assert!(matches!(err, lssg_predict::Error::NonFiniteLogits { x0: 0, y0: 0, pixels: 256, .. }), "{err:?}");
    assert!(run(&SumModel::new(1e38, false), &mut scene(|_, _| false, None)).is_ok());
}
