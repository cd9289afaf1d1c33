//! Tiled prediction against whole-image prediction (docs/predict.md §1, §2, §4): a pointwise
//! (1×1 convolution) model gives the same map tiled as whole, everywhere; a 3×3 model gives the
//! same map away from tile borders with flat blending, and within a small tolerance everywhere
//! with Hann blending; unavailable modalities are zeroed whether or not their data exist.

mod common;

use common::ConvModel;
use lssg_backbones::SegmentationModel;
use lssg_predict::{BlendWindow, FinishedRows, MemoryScene, Normalization, PredictOptions, predict_scene};
use lssg_scenario::Scenario;
use tch::{Device, Kind, Tensor};

const H: usize = 70;
const W: usize = 53;
const CHANNELS: [usize; 2] = [3, 1];

fn scene_data() -> Vec<Vec<f32>> {
    CHANNELS
        .iter()
        .enumerate()
        .map(|(m, &c)| {
            (0..c * H * W).map(|i| (((i * 7919 + m * 104729) % 1000) as f32 / 250.0 - 2.0) + m as f32).collect()
        })
        .collect()
}

/// The model on the whole scene at once: softmax probabilities `[classes, H, W]`.
fn whole(model: &ConvModel, data: &[Vec<f32>], norm: &Normalization, scenario: Scenario) -> Vec<f32> {
    let inputs: Vec<Tensor> = data
        .iter()
        .enumerate()
        .map(|(m, d)| {
            let mut d = d.clone();
            norm.apply(m, &mut d, H * W).unwrap();
            if !scenario.contains(m) {
                d.iter_mut().for_each(|v| *v = 0.0);
            }
            Tensor::from_slice(&d).view([1, CHANNELS[m] as i64, H as i64, W as i64])
        })
        .collect();
    let avail = lssg_backbones::input::uniform_availability(scenario, 1, 2, Device::Cpu);
    let logits = tch::no_grad(|| model.forward_t(&inputs, &avail, false).unwrap().logits);
    Vec::<f32>::try_from(logits.softmax(1, Kind::Float).flatten(0, -1)).unwrap()
}

/// The tiled prediction, stitched back into `[classes, H, W]`.
fn tiled(
    model: &ConvModel,
    data: Vec<Option<Vec<f32>>>,
    norm: &Normalization,
    scenario: Scenario,
    options: &PredictOptions,
) -> Vec<f32> {
    let mut scene = MemoryScene::new(H, W, CHANNELS.to_vec(), data).unwrap();
    let mut rows: Vec<FinishedRows> = Vec::new();
    let mut calls = Vec::new();
    let summary =
        predict_scene(model, &mut scene, norm, scenario, options, &mut rows, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(calls.last(), Some(&(summary.tile_rows, summary.tile_rows)));
    let classes = summary.classes;
    let mut out = vec![f32::NAN; classes * H * W];
    let mut next = 0;
    for r in &rows {
        assert_eq!(r.y0, next, "rows in order, each once");
        next += r.rows;
        let n = r.rows * W;
        for c in 0..classes {
            out[c * H * W + r.y0 * W..c * H * W + r.y0 * W + n].copy_from_slice(&r.probs[c * n..(c + 1) * n]);
        }
    }
    assert_eq!(next, H);
    out
}

fn norm() -> Normalization {
    Normalization { offset: vec![vec![0.5, -0.25, 1.0], vec![2.0]], scale: vec![vec![1.0, 2.0, 0.5], vec![1.0]] }
}

fn max_diff(a: &[f32], b: &[f32], keep: impl Fn(usize, usize) -> bool) -> f32 {
    let mut worst = 0.0f32;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let p = i % (H * W);
        if keep(p / W, p % W) {
            worst = worst.max((x - y).abs());
        }
    }
    worst
}

#[test]
fn pointwise_model_tiled_equals_whole_everywhere() {
    let model = ConvModel::new(vec![3, 1], 4, 1);
    let data = scene_data();
    let full = Scenario::full(2);
    let want = whole(&model, &data, &norm(), full);
    for window in [BlendWindow::Flat, BlendWindow::Hann, BlendWindow::Gaussian] {
        let options = PredictOptions { tile: 16, overlap: 5, batch: 3, window, device: Device::Cpu };
        let got = tiled(&model, data.iter().cloned().map(Some).collect(), &norm(), full, &options);
        let d = max_diff(&got, &want, |_, _| true);
        assert!(d < 1e-5, "{window:?}: max difference {d}");
    }
}

/// Whether (y, x) is at least `margin` pixels inside every tile of the plan that covers it.
fn inside_every_tile(plan: &lssg_predict::TilePlan, y: usize, x: usize, margin: usize) -> bool {
    let axis = |o: &[usize], v: usize, size: usize| {
        o.iter().filter(|&&s| v >= s && v < s + plan.tile).all(|&s| {
            let (lo, hi) = (s, (s + plan.tile).min(size));
            (v >= lo + margin || lo == 0) && (v + margin < hi || hi == size)
        })
    };
    axis(&plan.rows, y, plan.height) && axis(&plan.cols, x, plan.width)
}

#[test]
fn convolutional_model_matches_away_from_tile_borders_and_blends_seams() {
    let model = ConvModel::new(vec![3, 1], 3, 3);
    let data = scene_data();
    let full = Scenario::full(2);
    let want = whole(&model, &data, &norm(), full);
    let flat = PredictOptions { tile: 24, overlap: 8, batch: 4, window: BlendWindow::Flat, device: Device::Cpu };
    let got = tiled(&model, data.iter().cloned().map(Some).collect(), &norm(), full, &flat);
    let plan = lssg_predict::TilePlan::new(H, W, 24, 8).unwrap();
    let inner = max_diff(&got, &want, |y, x| inside_every_tile(&plan, y, x, 1));
    assert!(inner < 1e-5, "away from tile borders: {inner}");
    let flat_all = max_diff(&got, &want, |_, _| true);
    assert!(flat_all > 1e-3, "the 3×3 model does see tile borders ({flat_all})");
    let hann = PredictOptions { window: BlendWindow::Hann, ..flat };
    let got = tiled(&model, data.iter().cloned().map(Some).collect(), &norm(), full, &hann);
    let all = max_diff(&got, &want, |_, _| true);
    assert!(all < 0.02, "Hann blending everywhere: {all}");
    assert!(all < flat_all, "Hann ({all}) hides seams better than flat ({flat_all})");
}

#[test]
fn unavailable_modalities_are_zeroed_with_or_without_data() {
    let model = ConvModel::new(vec![3, 1], 4, 1);
    let data = scene_data();
    let only0 = Scenario::from_mask(0b01, 2).unwrap();
    let want = whole(&model, &data, &norm(), only0);
    let options = PredictOptions { tile: 16, overlap: 4, batch: 8, ..Default::default() };
    let with = tiled(&model, data.iter().cloned().map(Some).collect(), &norm(), only0, &options);
    let without = tiled(&model, vec![Some(data[0].clone()), None], &norm(), only0, &options);
    assert_eq!(with, without, "the unavailable modality's data do not matter");
    assert!(max_diff(&with, &want, |_, _| true) < 1e-5);
    let full = whole(&model, &data, &norm(), Scenario::full(2));
    assert!(max_diff(&with, &full, |_, _| true) > 1e-3, "and the modality does matter when available");
}

#[test]
fn available_modality_without_data_and_bad_options_are_errors() {
    let model = ConvModel::new(vec![3, 1], 2, 1);
    let data = scene_data();
    let mut scene = MemoryScene::new(H, W, CHANNELS.to_vec(), vec![Some(data[0].clone()), None]).unwrap();
    let mut rows: Vec<FinishedRows> = Vec::new();
    let full = Scenario::full(2);
    let err = predict_scene(&model, &mut scene, &norm(), full, &PredictOptions::default(), &mut rows, &mut |_, _| {});
    assert!(matches!(err, Err(lssg_predict::Error::Modality(_))), "{err:?}");
    let only0 = Scenario::from_mask(1, 2).unwrap();
    let bad = PredictOptions { tile: 16, overlap: 16, ..Default::default() };
    let err = predict_scene(&model, &mut scene, &norm(), only0, &bad, &mut rows, &mut |_, _| {});
    assert!(matches!(err, Err(lssg_predict::Error::Config { .. })), "{err:?}");
    assert!(rows.is_empty(), "nothing is emitted before the checks");
}

/// A tall scene that counts what is read and checks that rows arrive in order.
struct CountingScene {
    height: usize,
    width: usize,
    max_rows: usize,
    reads: usize,
}

impl lssg_predict::RowSource for CountingScene {
    fn height(&self) -> usize {
        self.height
    }
    fn width(&self) -> usize {
        self.width
    }
    fn channels(&self) -> &[usize] {
        &CHANNELS
    }
    fn has(&self, _m: usize) -> bool {
        true
    }
    fn read_rows(&mut self, m: usize, y0: usize, rows: usize) -> lssg_predict::Result<Vec<f32>> {
        self.max_rows = self.max_rows.max(rows);
        self.reads += 1;
        Ok((0..CHANNELS[m] * rows * self.width).map(|i| ((i + y0) % 13) as f32 * 0.1).collect())
    }
}

/// Counts emitted rows without keeping them.
struct CountingSink {
    next: usize,
    max_rows: usize,
}

impl lssg_predict::RowSink for CountingSink {
    fn write_rows(&mut self, rows: &FinishedRows) -> lssg_predict::Result<()> {
        assert_eq!(rows.y0, self.next);
        self.next += rows.rows;
        self.max_rows = self.max_rows.max(rows.rows);
        Ok(())
    }
}

#[test]
fn memory_is_bounded_by_one_strip_of_tile_rows() {
    // 20 000 rows: reads and emitted blocks never exceed one tile of rows, whatever the height.
    let model = ConvModel::new(vec![3, 1], 2, 1);
    let mut scene = CountingScene { height: 20_000, width: 40, max_rows: 0, reads: 0 };
    let mut sink = CountingSink { next: 0, max_rows: 0 };
    let options = PredictOptions { tile: 32, overlap: 8, batch: 8, ..Default::default() };
    let s = predict_scene(&model, &mut scene, &norm(), Scenario::full(2), &options, &mut sink, &mut |_, _| {}).unwrap();
    assert_eq!(sink.next, 20_000);
    assert!(scene.max_rows <= 32 && sink.max_rows <= 32, "{} / {}", scene.max_rows, sink.max_rows);
    assert_eq!(scene.reads, 2 * s.tile_rows, "each strip read once per modality");
}
