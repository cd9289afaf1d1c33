//! Integration tests of the latent distortion score (docs/method.md §3) and the probabilities file built
//! from it (docs/method.md §4): the batched [`measure_scores`] against the reference's batch-1 loop
//! [`measure_distortion_naive`] for CMX and CBC, the invariants D_full = 0 and D_k > 0,
//! `max_samples`, typed configuration and empty-data errors and the probabilities file.
//!
//! Everything runs the `tiny` presets on CPU, on six normalised 32 × 32 synthetic tiles with
//! three modalities (optical 4 bands, SAR 2, height 1: S = 7 scenarios), single-threaded.

use std::sync::Arc;

use lssg_backbones::{BackboneKind, ModelConfig, Preset, SegmentationModel};
use lssg_core::ScoreKind;
use lssg_datasets::normalize::compute_stats;
use lssg_datasets::{NormalizeConfig, Normalized, Subset, SyntheticConfig, SyntheticDataset, TileDataset};
use lssg_scoring::{DistortionReport, Error, ScoringConfig, measure_distortion_naive, measure_scores};
use lssg_smoothing::SmoothingConfig;
use tch::{Device, nn};

/// Tiles of the test data set: with `batch_size = 4` the last batch holds 2 samples.
const TILES: usize = 6;

/// Relative tolerance of batched against naive. Both compute the same per-(sample, scenario)
/// MSE, but libtorch picks different kernels (and summation orders) for a convolution over 1
/// sample than over 4 × k, so the latents agree only to float32 rounding (~1e-7 relative per
/// element). The distortion is a mean of squared differences of such latents, so its relative
/// error is that rounding over the relative size of the differences, averaged over many
/// elements. Observed (`--nocapture`): ≤ 2.6e-6 for tiny CMX, whose untrained latent moves
/// little (D ~ 1e-5), and ≤ 3e-7 for tiny CBC; a real mistake (rows of the wrong sample or
/// scenario, samples mixed) shows as ≥ 1e-2 (checked by swapping the sample-major repetition).
const RTOL: f64 = 1e-5;

/// Six normalised (train mean and std) synthetic tiles of 32 × 32 pixels.
fn dataset() -> Arc<dyn TileDataset> {
    let raw: Arc<dyn TileDataset> =
        Arc::new(SyntheticDataset::new(SyntheticConfig { tiles: TILES, tile_size: 32, ..Default::default() }).unwrap());
    let stats = compute_stats(raw.as_ref(), "test").unwrap();
    Arc::new(Normalized::new(raw, &stats, &NormalizeConfig { mean: true, std: true }).unwrap())
}

/// The test tiles and a freshly initialised tiny network of `backbone` for their modalities,
/// single-threaded.
struct Setup {
    data: Arc<dyn TileDataset>,
    net: Box<dyn SegmentationModel>,
    _vs: nn::VarStore,
}

fn setup(backbone: BackboneKind) -> Setup {
    tch::set_num_threads(1);
    let data = dataset();
    let vs = nn::VarStore::new(Device::Cpu);
    tch::manual_seed(7);
    let channels: Vec<i64> = data.modalities().channels().iter().map(|&c| c as i64).collect();
    let classes = data.num_classes() as i64;
    let config = ModelConfig { backbone, preset: Preset::Tiny, classes, ..Default::default() };
    let net = config.init(&vs.root(), &channels).unwrap();
    Setup { data, net, _vs: vs }
}

/// The mean scores of `model` on `data` (the per-sample values dropped).
fn mean_scores(
    model: &dyn SegmentationModel,
    data: Arc<dyn TileDataset>,
    config: &ScoringConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> lssg_scoring::Result<DistortionReport> {
    measure_scores(model, data, config, Device::Cpu, progress).map(|(report, _)| report)
}

fn measure(model: &dyn SegmentationModel, data: &Arc<dyn TileDataset>, config: &ScoringConfig) -> DistortionReport {
    mean_scores(model, data.clone(), config, &mut |_, _| {}).unwrap()
}

/// Asserts `got[k] ≈ want[k]` relatively for every scenario, naming the scenario.
fn assert_rel_close(label: &str, names: &[String], got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{label}: lengths");
    let mut largest = 0f64;
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        let rel = if g == w { 0.0 } else { (g - w).abs() / w.abs().max(f64::MIN_POSITIVE) };
        assert!(
            rel <= RTOL,
            "{label}: scenario {} batched {g} vs naive {w} (relative difference {rel:e} > {RTOL:e})",
            names[k]
        );
        largest = largest.max(rel);
    }
    eprintln!("{label}: largest relative difference {largest:e}");
}

/// Checks batched == naive for several (batch_size, max_forward) pairs. With S − 1 = 6 partial
/// scenarios, `max_forward / batch_size` scenarios go into one forward:
/// (4, 8) → chunks 2+2+2; (4, 16) → 4+2 (uneven last chunk); (4, 3) → 1 per forward (the
/// floor of one scenario); (1, 64) → all 6 at once; (5, 64) → one chunk, batches 5+1.
/// Batch size 4 over 6 tiles leaves a partial last batch of 2.
fn batched_matches_naive(backbone: BackboneKind) {
    let Setup { data, net, .. } = setup(backbone);
    let naive = measure_distortion_naive(net.as_ref(), data.as_ref(), TILES, Device::Cpu).unwrap();
    let names = data.modalities().scenario_names();
    assert_eq!(naive.len(), 7);
    for (batch_size, max_forward) in [(4, 8), (4, 16), (4, 3), (1, 64), (5, 64)] {
        let config = ScoringConfig { batch_size, max_samples: None, max_forward, ..Default::default() };
        let mut calls = Vec::new();
        let report = mean_scores(net.as_ref(), data.clone(), &config, &mut |d, t| calls.push((d, t))).unwrap();
        let label = format!("{backbone} batch_size={batch_size} max_forward={max_forward}");
        assert_eq!(report.num_samples, TILES, "{label}");
        assert_eq!(report.scenario_names, names, "{label}");
        // One progress call per batch, the last one complete.
        assert_eq!(calls.len(), TILES.div_ceil(batch_size), "{label}: progress calls {calls:?}");
        assert_eq!(calls.last(), Some(&(TILES, TILES)), "{label}");
        assert_rel_close(&label, &names, &report.distortion, &naive);
    }
}

#[test]
fn cmx_batched_equals_naive_across_chunking_and_partial_batches() {
    batched_matches_naive(BackboneKind::Cmx);
}

/// CBC's inter-modality attention must be computed per sample (docs/reference.md §2.2): the batched
/// path puts 4 samples × several scenarios in one forward, so any mixing across the batch
/// would show up here as a difference from the batch-1 loop.
#[test]
fn cbc_batched_equals_naive() {
    batched_matches_naive(BackboneKind::Cbc);
}

#[test]
fn full_scenario_is_exactly_zero_and_the_others_positive() {
    let Setup { data, net, .. } = setup(BackboneKind::Cmx);
    let report = measure(
        net.as_ref(),
        &data,
        &ScoringConfig { batch_size: 4, max_samples: None, max_forward: 8, ..Default::default() },
    );
    let names = &report.scenario_names;
    assert_eq!(names.last().map(String::as_str), Some("optical+sar+height"));
    let (full, partial) = report.distortion.split_last().unwrap();
    assert_eq!(*full, 0.0, "D_full must be exactly 0");
    for (name, d) in names.iter().zip(partial) {
        assert!(d.is_finite() && *d > 0.0, "D({name}) = {d}: a missing modality must move the latent");
    }
    // Tiny CMX's last fusion output at 32 × 32: 64 channels at H/32 × W/32.
    assert_eq!(report.hook_point, net.hook_point());
    assert_eq!(report.latent_shape, vec![64, 1, 1]);
    // The naive loop's full scenario compares a forward with itself: exactly 0 too.
    let naive = measure_distortion_naive(net.as_ref(), data.as_ref(), TILES, Device::Cpu).unwrap();
    assert_eq!(naive[6], 0.0);
}

#[test]
fn max_samples_limits_the_samples_scored() {
    let Setup { data, net, .. } = setup(BackboneKind::Cmx);
    let names = data.modalities().scenario_names();
    // 3 samples at batch size 2: batches 2 + 1.
    let config = ScoringConfig { batch_size: 2, max_samples: Some(3), max_forward: 6, ..Default::default() };
    let mut calls = Vec::new();
    let report = mean_scores(net.as_ref(), data.clone(), &config, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(report.num_samples, 3);
    assert_eq!(calls, vec![(2, 3), (3, 3)]);
    let first3 = measure_distortion_naive(net.as_ref(), data.as_ref(), 3, Device::Cpu).unwrap();
    assert_rel_close("max_samples = 3", &names, &report.distortion, &first3);
    // Not the same as the whole set: the limit really drops samples 3..6.
    let all = measure_distortion_naive(net.as_ref(), data.as_ref(), TILES, Device::Cpu).unwrap();
    assert!(first3.iter().zip(&all).take(6).any(|(a, b)| (a - b).abs() > 1e-3 * b.abs()), "{first3:?} vs {all:?}");
    // A limit above the data set's size scores everything.
    let report = measure(net.as_ref(), &data, &ScoringConfig { max_samples: Some(100), ..config });
    assert_eq!(report.num_samples, TILES);
    assert_rel_close("max_samples = 100", &names, &report.distortion, &all);
}

#[test]
fn bad_configs_and_empty_data_are_typed_errors() {
    let Setup { data, net, .. } = setup(BackboneKind::Cmx);
    let run = |config: ScoringConfig| {
        let mut called = false;
        let r = mean_scores(net.as_ref(), data.clone(), &config, &mut |_, _| called = true);
        assert!(!called, "no batch may run on a rejected config: {config:?}");
        r.unwrap_err()
    };
    let e = run(ScoringConfig { batch_size: 0, ..Default::default() });
    assert!(matches!(&e, Error::Config { field, value, .. } if field == "batch_size" && value == "0"), "{e:?}");
    assert!(e.to_string().contains("batch_size = 0"), "{e}");
    let e = run(ScoringConfig { max_forward: 0, ..Default::default() });
    assert!(matches!(&e, Error::Config { field, value, .. } if field == "max_forward" && value == "0"), "{e:?}");
    // Scoring on no samples: rejected by the config check, and an empty data set is an error.
    let e = run(ScoringConfig { max_samples: Some(0), ..Default::default() });
    assert!(matches!(&e, Error::Config { field, .. } if field == "max_samples"), "{e:?}");
    let empty: Arc<dyn TileDataset> = Arc::new(Subset::new(data.clone(), Vec::new()).unwrap());
    let e = mean_scores(net.as_ref(), empty, &ScoringConfig::default(), &mut |_, _| {}).unwrap_err();
    assert!(matches!(&e, Error::EmptyDataset { .. }), "{e:?}");
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn probabilities_file_from_a_measured_report() {
    let Setup { data, net, .. } = setup(BackboneKind::Cmx);
    let report = measure(
        net.as_ref(),
        &data,
        &ScoringConfig { batch_size: 4, max_samples: Some(5), max_forward: 64, ..Default::default() },
    );
    let set = data.modalities();
    let file = lssg_scoring::probabilities(
        ScoreKind::Latent,
        &report,
        set,
        &SmoothingConfig::default(),
        "cmx",
        "runs/x/pretrain.safetensors",
    )
    .unwrap();
    file.validate("test").unwrap();
    assert_eq!(file.hook_point, net.hook_point());
    assert_eq!(file.num_samples, 5);
    assert_eq!((file.backbone.as_str(), file.checkpoint.as_str()), ("cmx", "runs/x/pretrain.safetensors"));
    assert_eq!(file.scenario_names, set.scenario_names());
    assert_eq!(file.D_sh, report.distortion);
    assert_eq!(file.probabilities_for(set, "test").unwrap(), file.final_probs);
    // docs/method.md §4, reference direction: higher distortion ⇒ higher probability, so the full
    // scenario (D = 0, every other D > 0) gets strictly the least.
    let (full, partial) = file.final_probs.split_last().unwrap();
    for (name, p) in file.scenario_names.iter().zip(partial) {
        assert!(p > full, "p({name}) = {p} is not above p(full) = {full}: {:?}", file.final_probs);
    }
    // The most distorted scenario gets the most probability.
    let argmax = |v: &[f64]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    assert_eq!(argmax(&file.final_probs), argmax(&file.D_sh));
}
