//! The robustness protocols of an evaluation (docs/method.md §6.1) on the synthetic data set
//! with a tiny test-only model (a masked 3×3 convolution per modality), on the CPU, in one
//! process and on two ranks of a Gloo group (two threads on localhost).

mod common;

use common::Tiny;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use lssg_core::MetricId;
use lssg_datasets::{DataConfig, DataSplits, SyntheticConfig, SyntheticDataConfig};
use lssg_scenario::robustness::ProtocolKind;
use lssg_trainer::{EvalOptions, Evaluation, NoopObserver, ProtocolConfig, evaluate_with};
use tch::Device;
use tch::nn;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::set_num_threads(1);
    guard
}

fn splits() -> DataSplits {
    let mut c = SyntheticDataConfig {
        generator: SyntheticConfig { tile_size: 24, tiles: 20, ..Default::default() },
        ..Default::default()
    };
    c.split.folds = 4;
    c.split.val_fraction = 0.2;
    lssg_datasets::open(&DataConfig::Synthetic(c)).unwrap()
}

fn model(data: &DataSplits) -> (nn::VarStore, Tiny) {
    // libtorch's generator is global: two rank threads seeding and drawing at once would
    // interleave their draws, so the weights are made one network at a time.
    static INIT: Mutex<()> = Mutex::new(());
    let _init = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let channels = data.test.modalities().channels();
    let classes = data.test.num_classes() as i64;
    let config = nn::ConvConfig { padding: 1, ..Default::default() };
    let convs = channels
        .iter()
        .enumerate()
        .map(|(m, &c)| nn::conv2d(vs.root() / format!("conv{m}"), c as i64, classes, 3, config))
        .collect();
    let model = Tiny { convs, channels: channels.iter().map(|&c| c as i64).collect(), classes };
    (vs, model)
}

fn all_protocols() -> ProtocolConfig {
    let mut c = ProtocolConfig {
        enabled: vec![ProtocolKind::Expected, ProtocolKind::RandomMissing, ProtocolKind::Noisy],
        seed: 5,
        map_tiles: 2,
        ..Default::default()
    };
    c.random_missing.patch_size = 8;
    c
}

fn evaluate(data: &DataSplits, model: &Tiny, batch_size: usize, protocols: &ProtocolConfig) -> Evaluation {
    let scenarios = data.test.modalities().scenarios();
    let options = EvalOptions { batch_size, device: Device::Cpu, protocols };
    evaluate_with(model, data.test.clone(), &scenarios, options, &mut NoopObserver).unwrap()
}

#[test]
fn protocol_results_do_not_depend_on_the_batch_size() {
    let _s = serial();
    let data = splits();
    let (_vs, model) = model(&data);
    let protocols = all_protocols();
    let one = evaluate(&data, &model, 1, &protocols);
    let three = evaluate(&data, &model, 3, &protocols);
    let (a, b) = (one.report.protocols.as_ref().unwrap(), three.report.protocols.as_ref().unwrap());
    let m = data.test.modalities().len();
    assert_eq!(a.expected.len(), 3);
    assert_eq!(a.random_missing.len(), 3 * m);
    assert_eq!(a.noisy.len(), 3 * m);
    // Every draw is seeded per tile, so the perturbed inputs are the same in both; the
    // confusion-matrix metrics are equal and the soft ones agree to float rounding.
    let close = |x: &std::collections::BTreeMap<MetricId, f64>, y: &std::collections::BTreeMap<MetricId, f64>| {
        assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
        assert_eq!(x.get(&MetricId::Miou), y.get(&MetricId::Miou));
        assert_eq!(x.get(&MetricId::Accuracy), y.get(&MetricId::Accuracy));
        for (k, v) in x {
            assert!((v - y[k]).abs() < 1e-6, "{k}: {v} vs {}", y[k]);
        }
    };
    for (x, y) in a.random_missing.iter().zip(&b.random_missing) {
        assert_eq!((&x.modality, x.rate), (&y.modality, y.rate));
        close(&x.metrics, &y.metrics);
    }
    for (x, y) in a.noisy.iter().zip(&b.noisy) {
        assert_eq!((&x.modality, x.snr_db), (&y.modality, y.snr_db));
        close(&x.metrics, &y.metrics);
    }
    assert_eq!(one.maps, three.maps);
    // The perturbations do something: the heaviest noise changes the metrics of some modality.
    let full = one.report.scenarios.last().unwrap().metrics.metric(MetricId::Accuracy);
    assert!(a.noisy.iter().filter(|n| n.snr_db == 0.0).any(|n| n.metrics.get(&MetricId::Accuracy) != full.as_ref()));
}

#[test]
fn expected_metric_is_the_weighted_mean_of_the_scenarios() {
    let _s = serial();
    let data = splits();
    let (_vs, model) = model(&data);
    let eval = evaluate(&data, &model, 4, &all_protocols());
    let set = data.test.modalities();
    let protocols = eval.report.protocols.as_ref().unwrap();
    for (e, p) in protocols.expected.iter().zip([0.05f64, 0.1, 0.2]) {
        assert_eq!(e.label, format!("p = {p}"));
        let all_missing = p.powi(set.len() as i32);
        assert!((e.all_missing - all_missing).abs() < 1e-15);
        let mut want = 0.0;
        for s in &eval.report.scenarios {
            let on = s.mask.iter().filter(|&&a| a == 1).count() as i32;
            let weight = (1.0 - p).powi(on) * p.powi(set.len() as i32 - on) / (1.0 - all_missing);
            want += weight * s.metrics.miou.unwrap();
        }
        assert!((e.metrics[&MetricId::Miou] - want).abs() < 1e-12, "{p}: {} vs {want}", e.metrics[&MetricId::Miou]);
    }
}

#[test]
fn negligible_perturbations_reproduce_the_full_scenario() {
    let _s = serial();
    let data = splits();
    let (_vs, model) = model(&data);
    let mut protocols = all_protocols();
    protocols.enabled = vec![ProtocolKind::RandomMissing, ProtocolKind::Noisy];
    // Fewer than half a cell of 9 drops none; 300 dB of SNR adds noise far below f32 rounding.
    protocols.random_missing.rates = vec![0.01];
    protocols.noisy.snr_db = vec![300.0];
    let eval = evaluate(&data, &model, 4, &protocols);
    let full = &eval.report.scenarios.last().unwrap().metrics;
    let p = eval.report.protocols.as_ref().unwrap();
    assert!(p.expected.is_empty());
    for metrics in p.random_missing.iter().map(|r| &r.metrics).chain(p.noisy.iter().map(|n| &n.metrics)) {
        assert_eq!(metrics.get(&MetricId::Miou).copied(), full.miou);
        assert_eq!(metrics.get(&MetricId::Accuracy).copied(), full.accuracy);
    }
}

#[test]
fn maps_hold_the_first_tiles_under_every_scenario() {
    let _s = serial();
    let data = splits();
    let (_vs, model) = model(&data);
    let eval = evaluate(&data, &model, 3, &all_protocols());
    assert_eq!(eval.maps.len(), 2);
    let names = data.test.modalities().scenario_names();
    for (i, tile) in eval.maps.iter().enumerate() {
        assert_eq!(tile.tile, i);
        let sample = data.test.sample(i).unwrap();
        assert_eq!(tile.labels, sample.labels);
        assert_eq!((tile.height, tile.width), (sample.height, sample.width));
        let scenarios: Vec<&String> = tile.predictions.iter().map(|p| &p.scenario).collect();
        assert_eq!(scenarios, names.iter().collect::<Vec<_>>());
        let classes = data.test.num_classes() as u8;
        assert!(tile.predictions.iter().all(|p| p.classes.len() == 24 * 24 && p.classes.iter().all(|&c| c < classes)));
    }
}

#[test]
fn bad_protocol_settings_fail_before_any_forward() {
    let _s = serial();
    let data = splits();
    let (_vs, model) = model(&data);
    let set = data.test.modalities();
    let mut protocols = all_protocols();
    let first = set.names()[0].to_string();
    protocols.expected.profile = Some([(first, 0.1), ("lidar".to_string(), 0.2)].into());
    let options = EvalOptions { batch_size: 2, device: Device::Cpu, protocols: &protocols };
    let err = evaluate_with(&model, data.test.clone(), &set.scenarios(), options, &mut NoopObserver).unwrap_err();
    assert!(err.to_string().contains("expected.profile.lidar"), "{err}");
    // The expected metric needs every scenario.
    let protocols = all_protocols();
    let options = EvalOptions { batch_size: 2, device: Device::Cpu, protocols: &protocols };
    let err = evaluate_with(&model, data.test.clone(), &set.scenarios()[..1], options, &mut NoopObserver).unwrap_err();
    assert!(err.to_string().contains("every scenario"), "{err}");
    let mut protocols = all_protocols();
    protocols.noisy.snr_db = vec![f64::NAN];
    let options = EvalOptions { batch_size: 2, device: Device::Cpu, protocols: &protocols };
    let err = evaluate_with(&model, data.test.clone(), &set.scenarios(), options, &mut NoopObserver).unwrap_err();
    assert!(err.to_string().contains("noisy.snr_db[0]"), "{err}");
}

#[test]
fn a_two_rank_evaluation_has_the_protocols_of_one_process() {
    let _s = serial();
    let evaluate_here = || {
        let data = splits();
        let (_vs, model) = model(&data);
        // Batches of 2: the ranks' blocks of batches differ in size.
        let eval = evaluate(&data, &model, 2, &all_protocols());
        (eval.report.protocols, eval.maps)
    };
    let (single, maps) = evaluate_here();
    let results = common::two_ranks(Duration::from_secs(30), move |_| evaluate_here());
    for (rank, (protocols, _)) in results.iter().enumerate() {
        assert_eq!(protocols, &single, "rank {rank}");
    }
    // Rank 0 runs the first block of batches: it holds the maps of the first tiles.
    assert_eq!(results[0].1, maps);
}
