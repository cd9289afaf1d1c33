//! The synthetic data set's design contract (docs/method.md §8.4): information is
//! complementary and partly redundant, so every single-modality scenario loses *different*
//! classes and the scenario costs are unequal.
//!
//! A per-pixel Gaussian naive Bayes classifier (plain Rust, features = the bands of the
//! available modalities) is fitted per scenario on training tiles and scored by mIoU on
//! held-out tiles. The checks: full ≥ every pair ≥ its singles (tolerance 0.01, naive Bayes
//! is not guaranteed monotone), single-modality mIoUs differ clearly, the three singles'
//! worst-confused class pairs differ, and the confusions are the documented ones.

use lssg_datasets::TileDataset;
use lssg_datasets::synthetic::{CLASS_NAMES, SyntheticConfig, SyntheticDataset};

const K: usize = CLASS_NAMES.len();
const TRAIN_TILES: usize = 40;
const TEST_TILES: usize = 40;

/// Per-pixel features of all bands (optical 4, sar 2, height 1) and labels.
struct Pixels {
    features: Vec<[f32; 7]>,
    labels: Vec<u8>,
}

fn pixels(ds: &SyntheticDataset, tiles: std::ops::Range<usize>) -> Pixels {
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for i in tiles {
        let s = ds.sample(i).unwrap();
        let n = s.height * s.width;
        for p in 0..n {
            let mut f = [0f32; 7];
            let mut j = 0;
            for m in &s.modalities {
                for c in 0..m.channels {
                    f[j] = m.data[c * n + p];
                    j += 1;
                }
            }
            features.push(f);
        }
        labels.extend_from_slice(&s.labels);
    }
    Pixels { features, labels }
}

/// Band indices of each modality in the feature vector.
const BANDS: [&[usize]; 3] = [&[0, 1, 2, 3], &[4, 5], &[6]];
const NAMES: [&str; 3] = ["optical", "sar", "height"];

struct Result {
    miou: f64,
    /// Row-normalised confusion: rate[i][j] = share of class i predicted as j.
    rate: [[f64; K]; K],
}

impl Result {
    fn pair(&self, a: usize, b: usize) -> f64 {
        self.rate[a][b] + self.rate[b][a]
    }

    fn worst_pair(&self) -> (usize, usize) {
        let mut best = (0, 1);
        for a in 0..K {
            for b in a + 1..K {
                if self.pair(a, b) > self.pair(best.0, best.1) {
                    best = (a, b);
                }
            }
        }
        best
    }
}

fn naive_bayes(train: &Pixels, test: &Pixels, mask: u32) -> Result {
    let feats: Vec<usize> = (0..3).filter(|m| mask >> m & 1 == 1).flat_map(|m| BANDS[m].iter().copied()).collect();
    // Fit: per class, per feature mean and variance (f64), plus the log prior.
    let (mut n, mut sum, mut sq) = ([0f64; K], [[0f64; 7]; K], [[0f64; 7]; K]);
    for (f, &l) in train.features.iter().zip(&train.labels) {
        let k = l as usize;
        n[k] += 1.0;
        for &j in &feats {
            sum[k][j] += f[j] as f64;
            sq[k][j] += (f[j] as f64).powi(2);
        }
    }
    let total: f64 = n.iter().sum();
    let mut mean = [[0f64; 7]; K];
    let mut inv2var = [[0f64; 7]; K];
    let mut bias = [0f64; K];
    for k in 0..K {
        assert!(n[k] > 100.0, "class {} has only {} training pixels", CLASS_NAMES[k], n[k]);
        bias[k] = (n[k] / total).ln();
        for &j in &feats {
            mean[k][j] = sum[k][j] / n[k];
            let var = (sq[k][j] / n[k] - mean[k][j].powi(2)).max(1e-6);
            inv2var[k][j] = 0.5 / var;
            bias[k] -= 0.5 * var.ln();
        }
    }
    let mut confusion = [[0u64; K]; K];
    for (f, &l) in test.features.iter().zip(&test.labels) {
        let mut best = (f64::NEG_INFINITY, 0);
        for k in 0..K {
            let mut s = bias[k];
            for &j in &feats {
                s -= (f[j] as f64 - mean[k][j]).powi(2) * inv2var[k][j];
            }
            if s > best.0 {
                best = (s, k);
            }
        }
        confusion[l as usize][best.1] += 1;
    }
    let mut rate = [[0f64; K]; K];
    let mut iou = 0.0;
    for k in 0..K {
        let row: u64 = confusion[k].iter().sum();
        let col: u64 = (0..K).map(|i| confusion[i][k]).sum();
        let tp = confusion[k][k];
        iou += tp as f64 / (row + col - tp) as f64;
        for j in 0..K {
            rate[k][j] = confusion[k][j] as f64 / row as f64;
        }
    }
    Result { miou: iou / K as f64, rate }
}

fn class(name: &str) -> usize {
    CLASS_NAMES.iter().position(|c| *c == name).unwrap()
}

fn scenario_name(mask: u32) -> String {
    (0..3).filter(|m| mask >> m & 1 == 1).map(|m| NAMES[m]).collect::<Vec<_>>().join("+")
}

#[test]
fn scenarios_are_complementary_and_unequal() {
    let ds = SyntheticDataset::new(SyntheticConfig { tiles: TRAIN_TILES + TEST_TILES, ..Default::default() }).unwrap();
    let train = pixels(&ds, 0..TRAIN_TILES);
    let test = pixels(&ds, TRAIN_TILES..TRAIN_TILES + TEST_TILES);
    let results: Vec<(u32, Result)> = (1..8u32).map(|mask| (mask, naive_bayes(&train, &test, mask))).collect();
    let get = |mask: u32| &results.iter().find(|(m, _)| *m == mask).unwrap().1;
    let report: Vec<String> = results
        .iter()
        .map(|(m, r)| {
            let (a, b) = r.worst_pair();
            format!(
                "{}: mIoU {:.3}, worst {}<->{} {:.2}",
                scenario_name(*m),
                r.miou,
                CLASS_NAMES[a],
                CLASS_NAMES[b],
                r.pair(a, b)
            )
        })
        .collect();
    let report = report.join("\n");
    eprintln!("{report}");

    // Monotone: a superset of modalities never does (much) worse.
    const TOL: f64 = 0.01;
    for (mask, r) in &results {
        for (sub, s) in &results {
            if sub != mask && sub & mask == *sub {
                assert!(
                    r.miou >= s.miou - TOL,
                    "{} ({:.3}) worse than its subset {} ({:.3})\n{report}",
                    scenario_name(*mask),
                    r.miou,
                    scenario_name(*sub),
                    s.miou
                );
            }
        }
    }
    // Single-modality costs are clearly unequal, and the full set is clearly the best.
    let singles: Vec<f64> = [1, 2, 4].iter().map(|&m| get(m).miou).collect();
    let spread = singles.iter().cloned().fold(f64::MIN, f64::max) - singles.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread >= 0.05, "single-modality mIoUs too similar: {singles:?}\n{report}");
    assert!(get(7).miou > 0.8, "the full scenario should be nearly solvable\n{report}");
    for &s in &singles {
        assert!(get(7).miou - s >= 0.05, "a single modality is as good as all three\n{report}");
    }

    // Each single modality confuses a different pair of classes.
    let worst: Vec<(usize, usize)> = [1, 2, 4].iter().map(|&m| get(m).worst_pair()).collect();
    assert!(worst[0] != worst[1] && worst[0] != worst[2] && worst[1] != worst[2], "{worst:?}\n{report}");

    // The documented signatures.
    let (road, building, trees) = (class("road"), class("building"), class("trees"));
    let (bare, low) = (class("bare_soil"), class("low_vegetation"));
    let (optical, sar, height) = (get(1), get(2), get(4));
    assert_eq!(optical.worst_pair(), (road, building), "optical confuses roads and roofs\n{report}");
    assert_eq!(sar.worst_pair(), (bare, low), "SAR confuses bare soil and low vegetation\n{report}");
    // SAR and height separate buildings from roads; optical does not.
    assert!(optical.pair(road, building) > 2.0 * sar.pair(road, building).max(height.pair(road, building)), "{report}");
    // Height does not separate buildings from trees; optical and SAR do.
    assert!(
        height.pair(trees, building) > 2.0 * optical.pair(trees, building).max(sar.pair(trees, building)),
        "{report}"
    );
    // Optical separates low vegetation from bare soil; SAR does not.
    assert!(sar.pair(bare, low) > 3.0 * optical.pair(bare, low), "{report}");
}
