//! Seeded scenario samplers: one scenario per sample, drawn with replacement (docs/method.md §2).
//!
//! A sampler owns its ChaCha8 generator; the whole sampler (strategy and generator state) is
//! serde-serialisable so a resumed run draws exactly the scenarios an uninterrupted run would.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::modality::ModalitySet;
use crate::probabilities::{PROBABILITY_TOLERANCE, validate_distribution};
use crate::scenario::Scenario;

/// How scenarios are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SamplingStrategy {
    /// Every scenario with probability 1/S (the reference's modality dropout).
    Uniform,
    /// Scenario k with probability `probabilities[k]`, canonical order (guided sampling).
    Weighted {
        /// One probability per scenario, canonical order; sums to 1.
        probabilities: Vec<f64>,
    },
    /// Always the same scenario.
    Fixed {
        /// The scenario.
        scenario: Scenario,
    },
    /// Always every modality.
    FullOnly,
}

/// Draws scenarios for a fixed modality set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioSampler {
    scenarios: Vec<Scenario>,
    strategy: SamplingStrategy,
    /// Cumulative probabilities for `Weighted` (last entry forced to 1).
    cumulative: Vec<f64>,
    rng: ChaCha8Rng,
}

impl ScenarioSampler {
    /// A sampler over `set`'s scenarios with the given strategy and seed. Weighted
    /// probabilities are validated (S entries, finite, non-negative, sum 1 ± 1e-9).
    pub fn new(set: &ModalitySet, strategy: SamplingStrategy, seed: u64) -> Result<Self> {
        let scenarios = set.scenarios();
        let cumulative = match &strategy {
            SamplingStrategy::Weighted { probabilities } => {
                validate_distribution("probabilities", probabilities, scenarios.len(), PROBABILITY_TOLERANCE)?;
                cumulative(probabilities)
            }
            SamplingStrategy::Fixed { scenario } => {
                if !scenarios.contains(scenario) {
                    return Err(Error::InvalidScenario {
                        scenario: format!("mask {:#b}", scenario.mask()),
                        reason: format!("not a scenario of a set of {} modalities", set.len()),
                    });
                }
                Vec::new()
            }
            SamplingStrategy::Uniform | SamplingStrategy::FullOnly => Vec::new(),
        };
        Ok(Self { scenarios, strategy, cumulative, rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    /// The strategy.
    pub fn strategy(&self) -> &SamplingStrategy {
        &self.strategy
    }

    /// The probability of each scenario in canonical order under this strategy.
    pub fn probabilities(&self) -> Vec<f64> {
        let s = self.scenarios.len();
        match &self.strategy {
            SamplingStrategy::Uniform => vec![1.0 / s as f64; s],
            SamplingStrategy::Weighted { probabilities } => probabilities.clone(),
            SamplingStrategy::Fixed { scenario } => {
                self.scenarios.iter().map(|x| f64::from(u8::from(x == scenario))).collect()
            }
            SamplingStrategy::FullOnly => (0..s).map(|i| f64::from(u8::from(i + 1 == s))).collect(),
        }
    }

    /// Draws one scenario.
    pub fn sample(&mut self) -> Scenario {
        match &self.strategy {
            SamplingStrategy::Uniform => self.scenarios[self.rng.gen_range(0..self.scenarios.len())],
            SamplingStrategy::Weighted { .. } => {
                let u: f64 = self.rng.r#gen();
                // First index whose cumulative probability exceeds u; zero-probability
                // scenarios have an empty interval and are never drawn.
                let k = self.cumulative.partition_point(|&c| c <= u).min(self.scenarios.len() - 1);
                self.scenarios[k]
            }
            SamplingStrategy::Fixed { scenario } => *scenario,
            SamplingStrategy::FullOnly => *self.scenarios.last().expect("a set has at least one scenario"),
        }
    }

    /// Checks a sampler read back from a file (a resumed run's `state.json`) against the
    /// modality set it must draw from: exactly `set`'s scenarios in canonical order (none
    /// empty, none outside the set), a distribution over them that is finite, non-negative and
    /// sums to one, and, for weighted sampling, the running sums that distribution gives. A
    /// sampler that passes never panics when it draws.
    pub fn check_state(&self, set: &ModalitySet) -> Result<()> {
        let inconsistent = |reason: String| Error::Inconsistent { file: "sampler".into(), reason };
        let expected = set.scenarios();
        if self.scenarios != expected {
            let masks = |v: &[Scenario]| v.iter().map(|s| format!("{:#b}", s.mask())).collect::<Vec<_>>().join(",");
            return Err(inconsistent(format!(
                "scenarios [{}] are not the {} scenarios of the modalities {} ([{}])",
                masks(&self.scenarios),
                expected.len(),
                set.names().join(","),
                masks(&expected)
            )));
        }
        validate_distribution("probabilities", &self.probabilities(), expected.len(), PROBABILITY_TOLERANCE)?;
        if let SamplingStrategy::Weighted { probabilities } = &self.strategy {
            let sums = cumulative(probabilities);
            let close = sums.len() == self.cumulative.len()
                && sums.iter().zip(&self.cumulative).all(|(a, b)| (a - b).abs() <= PROBABILITY_TOLERANCE);
            if !close {
                return Err(inconsistent(format!(
                    "cumulative {:?} are not the running sums of the probabilities {probabilities:?}",
                    self.cumulative
                )));
            }
        }
        Ok(())
    }

    /// Draws `n` scenarios independently (with replacement), one per sample.
    pub fn sample_n(&mut self, n: usize) -> Vec<Scenario> {
        (0..n).map(|_| self.sample()).collect()
    }

    /// Replaces the strategy by weighted sampling from `probabilities` (validated as in
    /// [`ScenarioSampler::new`]), keeping the random state: the draws continue the same stream.
    pub fn reweight(&mut self, probabilities: Vec<f64>) -> Result<()> {
        validate_distribution("probabilities", &probabilities, self.scenarios.len(), PROBABILITY_TOLERANCE)?;
        self.cumulative = cumulative(&probabilities);
        self.strategy = SamplingStrategy::Weighted { probabilities };
        Ok(())
    }
}

/// The running sums of a validated (non-empty) distribution, the last forced to 1 so that every
/// draw u < 1 finds a scenario.
fn cumulative(probabilities: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    let mut c: Vec<f64> = probabilities
        .iter()
        .map(|p| {
            acc += p;
            acc
        })
        .collect();
    if let Some(last) = c.last_mut() {
        *last = 1.0;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ModalitySet {
        ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap()
    }

    #[test]
    fn reweight_keeps_the_random_stream() {
        let p = vec![0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.1];
        let mut a = ScenarioSampler::new(&set(), SamplingStrategy::Uniform, 5).unwrap();
        let mut b = ScenarioSampler::new(&set(), SamplingStrategy::Weighted { probabilities: p.clone() }, 5).unwrap();
        a.reweight(p.clone()).unwrap();
        assert_eq!(a.sample_n(200), b.sample_n(200));
        assert_eq!(a.probabilities(), p);
        assert!(a.reweight(vec![0.5, 0.5]).is_err());
    }

    #[test]
    fn same_seed_same_draws_and_state_round_trips() {
        let mut a = ScenarioSampler::new(&set(), SamplingStrategy::Uniform, 7).unwrap();
        let mut b = ScenarioSampler::new(&set(), SamplingStrategy::Uniform, 7).unwrap();
        assert_eq!(a.sample_n(100), b.sample_n(100));
        let saved = serde_json::to_string(&a).unwrap();
        let mut restored: ScenarioSampler = serde_json::from_str(&saved).unwrap();
        assert_eq!(a.sample_n(50), restored.sample_n(50));
    }

    #[test]
    fn weighted_frequencies_follow_probabilities() {
        let p = vec![0.05, 0.1, 0.15, 0.2, 0.25, 0.0, 0.25];
        let mut s = ScenarioSampler::new(&set(), SamplingStrategy::Weighted { probabilities: p.clone() }, 3).unwrap();
        let n = 200_000;
        let mut counts = [0usize; 7];
        let set = set();
        for sc in s.sample_n(n) {
            counts[set.canonical_index(sc).unwrap()] += 1;
        }
        assert_eq!(counts[5], 0, "a zero-probability scenario was drawn");
        // chi-square over the non-zero cells, 5 degrees of freedom: p = 0.001 quantile is 20.5.
        let chi2: f64 = p
            .iter()
            .zip(counts)
            .filter(|(p, _)| **p > 0.0)
            .map(|(p, c)| {
                let e = p * n as f64;
                (c as f64 - e).powi(2) / e
            })
            .sum();
        assert!(chi2 < 20.5, "chi2 = {chi2}, counts = {counts:?}");
    }

    #[test]
    fn fixed_and_full_only() {
        let set = set();
        let nir = set.parse_scenario("nir").unwrap();
        let mut f = ScenarioSampler::new(&set, SamplingStrategy::Fixed { scenario: nir }, 0).unwrap();
        assert!(f.sample_n(10).iter().all(|&s| s == nir));
        let mut full = ScenarioSampler::new(&set, SamplingStrategy::FullOnly, 0).unwrap();
        assert!(full.sample_n(10).iter().all(|s| s.is_full(3)));
        assert_eq!(full.probabilities()[6], 1.0);
    }

    #[test]
    fn a_restored_state_is_checked_against_the_set() {
        let set = set();
        let good = ScenarioSampler::new(&set, SamplingStrategy::Uniform, 1).unwrap();
        good.check_state(&set).unwrap();
        let json = serde_json::to_value(&good).unwrap();
        let weighted = ScenarioSampler::new(&set, SamplingStrategy::Weighted { probabilities: vec![1.0 / 7.0; 7] }, 1);
        let weighted = serde_json::to_value(weighted.unwrap()).unwrap();
        weighted_round_trip(&weighted, &set);
        let mut bad = Vec::new();
        let mut empty = json.clone();
        empty["scenarios"] = serde_json::json!([]);
        bad.push(empty);
        let mut zero = json.clone();
        zero["scenarios"][0] = 0.into();
        bad.push(zero);
        let mut outside = json.clone();
        outside["scenarios"][0] = 0b1000.into();
        bad.push(outside);
        for (i, value) in [(0, -0.5), (1, 1e300), (2, f64::NAN)] {
            let mut w = weighted.clone();
            w["strategy"]["probabilities"][i] = serde_json::json!(value);
            bad.push(w);
        }
        let mut sums = weighted.clone();
        sums["cumulative"][0] = 0.9.into();
        bad.push(sums);
        let mut fixed = json.clone();
        fixed["strategy"] = serde_json::json!({"kind": "fixed", "scenario": 0b10000});
        bad.push(fixed);
        for value in bad {
            // A NaN written by serde_json is `null`, which does not parse: also an error.
            if let Ok(sampler) = serde_json::from_value::<ScenarioSampler>(value.clone()) {
                assert!(sampler.check_state(&set).is_err(), "{value}");
            }
        }
    }

    fn weighted_round_trip(value: &serde_json::Value, set: &ModalitySet) {
        let back: ScenarioSampler = serde_json::from_value(value.clone()).unwrap();
        back.check_state(set).unwrap();
    }

    #[test]
    fn rejects_bad_weights() {
        let bad = [
            vec![0.5; 6],
            vec![0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.1],
            vec![f64::NAN; 7],
            vec![-0.1, 0.3, 0.2, 0.2, 0.2, 0.1, 0.1],
        ];
        for p in bad {
            assert!(
                ScenarioSampler::new(&set(), SamplingStrategy::Weighted { probabilities: p.clone() }, 0).is_err(),
                "{p:?}"
            );
        }
    }
}
