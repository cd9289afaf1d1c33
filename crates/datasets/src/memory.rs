//! A data set held in memory: tiles given as [`Sample`]s, or random ones for benchmarks
//! (`lssg model bench`, docs/speed.md §2), where decoding must not be what is measured.

use lssg_core::seed::SplitMix64;
use lssg_scenario::ModalitySet;

use crate::dataset::TileDataset;
use crate::error::{Error, Result};
use crate::sample::{ModalityArray, Sample};

/// Tiles in memory; `sample(i)` returns a copy of tile `i`.
#[derive(Debug, Clone)]
pub struct MemoryDataset {
    set: ModalitySet,
    num_classes: usize,
    samples: Vec<Sample>,
    size: (usize, usize),
}

impl MemoryDataset {
    /// A data set of `samples`, which must be non-empty, of one size, with one array of the
    /// set's channel count per modality and labels `< num_classes` (0/1 when binary) or 255.
    pub fn new(set: ModalitySet, num_classes: usize, samples: Vec<Sample>) -> Result<Self> {
        let first = samples.first().ok_or_else(|| Error::Config {
            field: "memory tiles".into(),
            value: "0".into(),
            expected: "at least one tile".into(),
        })?;
        let size = (first.height, first.width);
        let top = num_classes.max(2) as u8;
        for (i, s) in samples.iter().enumerate() {
            let channels: Vec<usize> = s.modalities.iter().map(|m| m.channels).collect();
            let expected = set.channels();
            if channels != expected || (s.height, s.width) != size || s.labels.len() != size.0 * size.1 {
                return Err(Error::Mismatch {
                    what: format!("memory tile {i}: channels, size, labels"),
                    expected: format!("channels {expected:?}, {}×{}, {} labels", size.0, size.1, size.0 * size.1),
                    got: format!("channels {channels:?}, {}×{}, {} labels", s.height, s.width, s.labels.len()),
                });
            }
            if let Some(bad) = s.labels.iter().find(|&&l| l >= top && l != crate::IGNORE_INDEX) {
                return Err(Error::Config {
                    field: format!("memory tile {i} label"),
                    value: bad.to_string(),
                    expected: format!("< {top} or {} (ignore)", crate::IGNORE_INDEX),
                });
            }
        }
        Ok(Self { set, num_classes, samples, size })
    }

    /// `n` tiles of `size`², values uniform in [-1, 1) and labels uniform over the classes,
    /// a function of `seed` alone (SplitMix64).
    pub fn random(set: ModalitySet, num_classes: usize, n: usize, size: usize, seed: u64) -> Result<Self> {
        let mut rng = SplitMix64::new(seed);
        let mut next = move || rng.next_u64();
        let classes = num_classes.max(2) as u64;
        let samples = (0..n)
            .map(|_| {
                let modalities = set
                    .channels()
                    .into_iter()
                    .map(|channels| {
                        let mut a = ModalityArray::zeros(channels, size, size);
                        a.data.iter_mut().for_each(|v| *v = (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0);
                        a
                    })
                    .collect();
                let labels = (0..size * size).map(|_| (next() % classes) as u8).collect();
                Sample { modalities, labels, height: size, width: size }
            })
            .collect();
        Self::new(set, num_classes, samples)
    }
}

impl TileDataset for MemoryDataset {
    fn len(&self) -> usize {
        self.samples.len()
    }
    fn modalities(&self) -> &ModalitySet {
        &self.set
    }
    fn num_classes(&self) -> usize {
        self.num_classes
    }
    fn class_names(&self) -> Vec<String> {
        (0..self.num_classes).map(|k| format!("class {k}")).collect()
    }
    fn tile_size(&self) -> (usize, usize) {
        self.size
    }
    fn sample(&self, index: usize) -> Result<Sample> {
        self.samples.get(index).cloned().ok_or(Error::IndexOutOfRange { index, len: self.samples.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tiles_are_seeded_and_checked() {
        let set = ModalitySet::from_pairs([("a", 3), ("b", 1)]).unwrap();
        let d = MemoryDataset::random(set.clone(), 6, 3, 8, 7).unwrap();
        assert_eq!((d.len(), d.tile_size(), d.num_classes()), (3, (8, 8), 6));
        let (s, again) = (d.sample(2).unwrap(), MemoryDataset::random(set.clone(), 6, 3, 8, 7).unwrap());
        assert_eq!(s.modalities[0].data, again.sample(2).unwrap().modalities[0].data);
        assert!(s.modalities[1].data.iter().all(|v| (-1.0..1.0).contains(v)));
        assert!(s.labels.iter().all(|&l| l < 6));
        assert!(d.sample(3).is_err());
        let mut bad = s.clone();
        bad.labels[0] = 9;
        let e = MemoryDataset::new(set, 6, vec![bad]).unwrap_err();
        assert!(e.to_string().contains("label = 9"), "{e}");
    }
}
