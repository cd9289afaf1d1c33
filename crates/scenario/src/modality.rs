//! Named modalities and the ordered set of them a model is trained on (docs/method.md §2).
//!
//! The order of the set fixes the bit of each modality in a [`Scenario`](crate::Scenario)
//! mask and therefore the canonical scenario order.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest number of modalities: 2^8 − 1 = 255 scenarios.
pub const MAX_MODALITIES: usize = 8;

/// One input modality: a name (`rgb`, `sar`, …) and its channel count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modality {
    /// Name used in scenario names (`rgb+nir`) and files.
    pub name: String,
    /// Number of channels (bands) of this modality's input array.
    pub channels: usize,
}

/// An ordered set of 1..=8 distinctly named modalities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Modality>", into = "Vec<Modality>")]
pub struct ModalitySet {
    modalities: Vec<Modality>,
}

impl ModalitySet {
    /// Validates names (non-empty, no `+`/`,`, distinct), channel counts (≥ 1) and the count (1..=8).
    pub fn new(modalities: Vec<Modality>) -> Result<Self> {
        if modalities.is_empty() || modalities.len() > MAX_MODALITIES {
            return Err(Error::ModalityCount { got: modalities.len(), max: MAX_MODALITIES });
        }
        for (i, m) in modalities.iter().enumerate() {
            let valid = !m.name.is_empty() && m.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid || m.name == "all" {
                return Err(Error::ModalityName { name: m.name.clone() });
            }
            if m.channels == 0 {
                return Err(Error::ZeroChannels { name: m.name.clone() });
            }
            if modalities[..i].iter().any(|o| o.name == m.name) {
                return Err(Error::DuplicateModality { name: m.name.clone() });
            }
        }
        Ok(Self { modalities })
    }

    /// A set from `(name, channels)` pairs.
    pub fn from_pairs<S: Into<String>>(pairs: impl IntoIterator<Item = (S, usize)>) -> Result<Self> {
        Self::new(pairs.into_iter().map(|(name, channels)| Modality { name: name.into(), channels }).collect())
    }

    /// A set of names, each with `channels` channels.
    pub fn from_names<S: Into<String>>(names: impl IntoIterator<Item = S>, channels: usize) -> Result<Self> {
        Self::from_pairs(names.into_iter().map(|n| (n, channels)))
    }

    /// The default names `m0, m1, …` for `count` modalities of one channel each.
    pub fn numbered(count: usize) -> Result<Self> {
        Self::from_names((0..count).map(|i| format!("m{i}")), 1)
    }

    /// The number of modalities M.
    pub fn len(&self) -> usize {
        self.modalities.len()
    }

    /// Always false: a set has at least one modality.
    pub fn is_empty(&self) -> bool {
        self.modalities.is_empty()
    }

    /// The number of scenarios S = 2^M − 1.
    pub fn num_scenarios(&self) -> usize {
        (1usize << self.len()) - 1
    }

    /// The modalities in set order.
    pub fn modalities(&self) -> &[Modality] {
        &self.modalities
    }

    /// The names in set order.
    pub fn names(&self) -> Vec<&str> {
        self.modalities.iter().map(|m| m.name.as_str()).collect()
    }

    /// The channel count of every modality, in set order.
    pub fn channels(&self) -> Vec<usize> {
        self.modalities.iter().map(|m| m.channels).collect()
    }

    /// The index of the modality called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.modalities.iter().position(|m| m.name == name)
    }
}

impl TryFrom<Vec<Modality>> for ModalitySet {
    type Error = Error;
    fn try_from(modalities: Vec<Modality>) -> Result<Self> {
        Self::new(modalities)
    }
}

impl From<ModalitySet> for Vec<Modality> {
    fn from(set: ModalitySet) -> Self {
        set.modalities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sets() {
        assert!(matches!(ModalitySet::from_names(Vec::<String>::new(), 1), Err(Error::ModalityCount { got: 0, .. })));
        assert!(matches!(ModalitySet::numbered(9), Err(Error::ModalityCount { got: 9, .. })));
        assert!(matches!(ModalitySet::from_names(["a+b"], 1), Err(Error::ModalityName { .. })));
        assert!(matches!(ModalitySet::from_names(["all"], 1), Err(Error::ModalityName { .. })));
        assert!(matches!(ModalitySet::from_names(["a", "a"], 1), Err(Error::DuplicateModality { .. })));
        assert!(matches!(ModalitySet::from_pairs([("a", 0)]), Err(Error::ZeroChannels { .. })));
    }

    #[test]
    fn counts_scenarios() {
        assert_eq!(ModalitySet::numbered(3).unwrap().num_scenarios(), 7);
        assert_eq!(ModalitySet::numbered(8).unwrap().num_scenarios(), 255);
    }

    #[test]
    fn serde_round_trip_validates() {
        let set = ModalitySet::from_pairs([("rgb", 3), ("sar", 2)]).unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(serde_json::from_str::<ModalitySet>(&json).unwrap(), set);
        assert!(serde_json::from_str::<ModalitySet>(r#"[{"name":"a","channels":0}]"#).is_err());
    }
}
