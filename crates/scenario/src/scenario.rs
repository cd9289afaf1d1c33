//! Availability scenarios: non-empty subsets of a [`ModalitySet`], their canonical order and
//! their names (docs/method.md §2).
//!
//! Canonical order: by number of available modalities, then lexicographically by modality
//! index. For (rgb, nir, swir): `rgb, nir, swir, rgb+nir, rgb+swir, nir+swir, rgb+nir+swir`,
//! exactly the reference's order. Every file, table and kernel uses this order.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::modality::ModalitySet;

/// A non-empty set of available modalities as a bitmask: bit `i` set ⇔ modality `i` present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scenario(u8);

impl Scenario {
    /// The scenario with mask `mask` for a set of `num_modalities`; the mask must be non-empty
    /// and use only the low `num_modalities` bits.
    pub fn from_mask(mask: u8, num_modalities: usize) -> Result<Self> {
        let limit = (1u16 << num_modalities) - 1;
        if mask == 0 || u16::from(mask) > limit {
            return Err(Error::InvalidScenario {
                scenario: format!("mask {mask:#b}"),
                reason: format!("a mask must be non-empty and below 2^{num_modalities}"),
            });
        }
        Ok(Self(mask))
    }

    /// The scenario where every one of `num_modalities` modalities is available.
    pub fn full(num_modalities: usize) -> Self {
        Self(((1u16 << num_modalities) - 1) as u8)
    }

    /// The raw bitmask.
    pub fn mask(self) -> u8 {
        self.0
    }

    /// Whether modality `index` is available.
    pub fn contains(self, index: usize) -> bool {
        index < 8 && self.0 & (1 << index) != 0
    }

    /// The number of available modalities.
    pub fn count(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether all `num_modalities` modalities are available.
    pub fn is_full(self, num_modalities: usize) -> bool {
        self == Self::full(num_modalities)
    }

    /// The indices of the available modalities, ascending.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        (0..8).filter(move |&i| self.contains(i))
    }

    /// The 0/1 availability row over `num_modalities` modalities (a row of `mask_array`).
    pub fn mask_row(self, num_modalities: usize) -> Vec<u8> {
        (0..num_modalities).map(|i| u8::from(self.contains(i))).collect()
    }

    /// The availability row as f32, ready for a `[B, M]` mask tensor.
    pub fn availability(self, num_modalities: usize) -> Vec<f32> {
        (0..num_modalities).map(|i| if self.contains(i) { 1.0 } else { 0.0 }).collect()
    }
}

impl ModalitySet {
    /// Every scenario in canonical order (S = 2^M − 1 of them, the full set last).
    pub fn scenarios(&self) -> Vec<Scenario> {
        let m = self.len();
        let mut all: Vec<Scenario> = (1..(1u16 << m)).map(|mask| Scenario(mask as u8)).collect();
        // Lexicographic order of the ascending index lists, within each size.
        all.sort_by(|a, b| a.count().cmp(&b.count()).then_with(|| a.indices().cmp(b.indices())));
        all
    }

    /// The full scenario of this set.
    pub fn full_scenario(&self) -> Scenario {
        Scenario::full(self.len())
    }

    /// The position of `scenario` in canonical order.
    ///
    /// A [`Scenario`] is only a mask, so one built for a larger modality set can reach here:
    /// that is an [`Error::ScenarioNotInSet`], not a panic.
    pub fn canonical_index(&self, scenario: Scenario) -> Result<usize> {
        self.scenarios().iter().position(|&s| s == scenario).ok_or_else(|| Error::ScenarioNotInSet {
            mask: scenario.mask(),
            modalities: self.names().join(", "),
            count: self.len(),
        })
    }

    /// The name of a scenario: its modality names joined with `+` in set order.
    pub fn scenario_name(&self, scenario: Scenario) -> String {
        let names = self.names();
        scenario.indices().filter(|&i| i < names.len()).map(|i| names[i]).collect::<Vec<_>>().join("+")
    }

    /// The names of every scenario in canonical order.
    pub fn scenario_names(&self) -> Vec<String> {
        self.scenarios().into_iter().map(|s| self.scenario_name(s)).collect()
    }

    /// The S × M 0/1 matrix of availability rows in canonical order.
    pub fn mask_array(&self) -> Vec<Vec<u8>> {
        self.scenarios().into_iter().map(|s| s.mask_row(self.len())).collect()
    }

    /// Parses one scenario: `rgb+nir` (any order, names matched case-insensitively), `all`
    /// (every modality), or a canonical index `0..S`.
    pub fn parse_scenario(&self, text: &str) -> Result<Scenario> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(self.full_scenario());
        }
        if let Ok(index) = text.parse::<usize>() {
            return self.scenarios().get(index).copied().ok_or_else(|| Error::InvalidScenario {
                scenario: text.to_string(),
                reason: format!(
                    "index out of range: there are {} scenarios (0..{})",
                    self.num_scenarios(),
                    self.num_scenarios()
                ),
            });
        }
        let mut mask = 0u8;
        for part in text.split('+') {
            let part = part.trim();
            let index = self.modalities().iter().position(|m| m.name.eq_ignore_ascii_case(part)).ok_or_else(|| {
                Error::UnknownModality {
                    name: part.to_string(),
                    scenario: text.to_string(),
                    known: self.names().join(", "),
                }
            })?;
            if mask & (1 << index) != 0 {
                return Err(Error::InvalidScenario {
                    scenario: text.to_string(),
                    reason: format!("modality {part:?} named twice"),
                });
            }
            mask |= 1 << index;
        }
        Scenario::from_mask(mask, self.len())
    }

    /// Parses a list: `all` / `every` (every scenario, canonical order) or comma-separated scenarios.
    pub fn parse_scenario_list(&self, text: &str) -> Result<Vec<Scenario>> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("every") {
            return Ok(self.scenarios());
        }
        let mut out = Vec::new();
        for part in t.split(',') {
            let s = self.parse_scenario(part)?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rns() -> ModalitySet {
        ModalitySet::from_names(["rgb", "nir", "swir"], 3).unwrap()
    }

    #[test]
    fn canonical_order_matches_reference() {
        assert_eq!(rns().scenario_names(), ["rgb", "nir", "swir", "rgb+nir", "rgb+swir", "nir+swir", "rgb+nir+swir"]);
        assert_eq!(
            rns().mask_array(),
            vec![
                vec![1, 0, 0],
                vec![0, 1, 0],
                vec![0, 0, 1],
                vec![1, 1, 0],
                vec![1, 0, 1],
                vec![0, 1, 1],
                vec![1, 1, 1]
            ]
        );
    }

    #[test]
    fn four_modalities_order_is_by_size_then_lexicographic() {
        let set = ModalitySet::from_names(["a", "b", "c", "d"], 1).unwrap();
        let names = set.scenario_names();
        assert_eq!(names.len(), 15);
        assert_eq!(&names[4..10], ["a+b", "a+c", "a+d", "b+c", "b+d", "c+d"]);
        assert_eq!(&names[10..14], ["a+b+c", "a+b+d", "a+c+d", "b+c+d"]);
        assert_eq!(names[14], "a+b+c+d");
    }

    #[test]
    fn parses_names_indices_and_all() {
        let set = rns();
        assert_eq!(set.scenario_name(set.parse_scenario("nir+rgb").unwrap()), "rgb+nir");
        assert_eq!(set.parse_scenario("RGB+NIR+SWIR").unwrap(), set.full_scenario());
        assert_eq!(set.parse_scenario("all").unwrap(), set.full_scenario());
        assert_eq!(set.scenario_name(set.parse_scenario("5").unwrap()), "nir+swir");
        assert!(matches!(set.parse_scenario("7"), Err(Error::InvalidScenario { .. })));
        assert!(matches!(set.parse_scenario("rgb+sar"), Err(Error::UnknownModality { .. })));
        assert!(matches!(set.parse_scenario("rgb+rgb"), Err(Error::InvalidScenario { .. })));
        assert!(matches!(set.parse_scenario(""), Err(Error::UnknownModality { .. })));
        let list = set.parse_scenario_list("rgb, nir+swir").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(set.parse_scenario_list("all").unwrap().len(), 7);
    }

    #[test]
    fn full_scenario_is_last_and_masks_round_trip() {
        for m in 1..=8 {
            let set = ModalitySet::numbered(m).unwrap();
            let all = set.scenarios();
            assert_eq!(all.len(), set.num_scenarios());
            assert_eq!(*all.last().unwrap(), set.full_scenario());
            for (i, s) in all.iter().enumerate() {
                assert_eq!(set.canonical_index(*s).unwrap(), i);
                assert_eq!(Scenario::from_mask(s.mask(), m).unwrap(), *s);
            }
        }
        assert!(Scenario::from_mask(0, 3).is_err());
        assert!(Scenario::from_mask(8, 3).is_err());
    }

    #[test]
    fn canonical_index_of_a_foreign_scenario_is_a_typed_error() {
        let four = ModalitySet::numbered(4).unwrap();
        let sar_only = four.parse_scenario("m3").unwrap();
        let err = rns().canonical_index(sar_only).unwrap_err();
        assert!(matches!(err, Error::ScenarioNotInSet { mask: 0b1000, count: 3, .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("0b1000") && msg.contains("rgb, nir, swir"), "{msg}");
        // A scenario of a smaller set is a scenario of the larger one too.
        let rgb = rns().parse_scenario("rgb").unwrap();
        assert_eq!(four.canonical_index(rgb).unwrap(), 0);
    }
}
