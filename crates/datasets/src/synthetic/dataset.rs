//! [`SyntheticDataset`]: the synthetic world as a [`TileDataset`] whose tiles are rendered on
//! demand from (seed, index), raw (un-normalised; wrap it in
//! [`Normalized`](crate::Normalized) or open it through [`crate::open`]).

use std::cell::RefCell;

use lssg_scenario::ModalitySet;

use super::render::{RenderScratch, Renderer};
use super::{CLASS_NAMES, ModalityKind, SyntheticConfig, TILE_ORIGINS, origin};
use crate::dataset::TileDataset;
use crate::error::{Error, Result};
use crate::sample::Sample;

thread_local! {
    // One set of layout buffers per thread, so rendering a tile allocates only its output.
    static SCRATCH: RefCell<RenderScratch> = RefCell::new(RenderScratch::default());
}

/// `config.tiles` tiles of `config.tile_size²` pixels, each generated when asked for.
#[derive(Debug, Clone)]
pub struct SyntheticDataset {
    config: SyntheticConfig,
    renderer: Renderer,
    kinds: Vec<ModalityKind>,
    modalities: ModalitySet,
    positive: Option<u8>,
}

impl SyntheticDataset {
    /// Validates `config` and builds the data set.
    pub fn new(config: SyntheticConfig) -> Result<Self> {
        config.validate()?;
        let kinds = config.kinds()?;
        let modalities = config.modality_set()?;
        let positive = config.positive_class.as_deref().and_then(|p| CLASS_NAMES.iter().position(|c| *c == p));
        Ok(Self { renderer: Renderer::new(&config), config, kinds, modalities, positive: positive.map(|p| p as u8) })
    }

    /// The configuration.
    pub fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// The world pixel of tile `index`'s top-left corner.
    pub fn tile_origin(&self, index: usize) -> (i64, i64) {
        origin(self.config.seed, TILE_ORIGINS, index as u64)
    }
}

impl TileDataset for SyntheticDataset {
    fn len(&self) -> usize {
        self.config.tiles
    }

    fn modalities(&self) -> &ModalitySet {
        &self.modalities
    }

    fn num_classes(&self) -> usize {
        if self.positive.is_some() { 1 } else { CLASS_NAMES.len() }
    }

    fn class_names(&self) -> Vec<String> {
        match self.positive {
            Some(p) => vec![CLASS_NAMES[p as usize].to_string()],
            None => CLASS_NAMES.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn tile_size(&self) -> (usize, usize) {
        (self.config.tile_size, self.config.tile_size)
    }

    fn sample(&self, index: usize) -> Result<Sample> {
        if index >= self.config.tiles {
            return Err(Error::IndexOutOfRange { index, len: self.config.tiles });
        }
        let (x0, y0) = self.tile_origin(index);
        let n = self.config.tile_size;
        let (modalities, mut labels) =
            SCRATCH.with(|s| self.renderer.render(x0, y0, n, n, &self.kinds, &mut s.borrow_mut()));
        if let Some(p) = self.positive {
            labels.iter_mut().for_each(|l| *l = u8::from(*l == p));
        }
        Ok(Sample { modalities, labels, height: n, width: n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(tiles: usize) -> SyntheticConfig {
        SyntheticConfig { tiles, tile_size: 32, ..Default::default() }
    }

    #[test]
    fn same_seed_same_tiles_and_tiles_are_independent() {
        let a = SyntheticDataset::new(small(10)).unwrap();
        let b = SyntheticDataset::new(small(10)).unwrap();
        // Generate b's tiles in another order (and others in between): tile 7 is the same.
        for i in (0..7).rev() {
            b.sample(i).unwrap();
        }
        assert_eq!(a.sample(7).unwrap(), b.sample(7).unwrap());
        // Tile content does not depend on the number of tiles either.
        let c = SyntheticDataset::new(small(100)).unwrap();
        assert_eq!(a.sample(3).unwrap(), c.sample(3).unwrap());
        assert_ne!(a.sample(3).unwrap(), a.sample(4).unwrap());
        let other = SyntheticDataset::new(SyntheticConfig { seed: 1, ..small(10) }).unwrap();
        assert_ne!(a.sample(3).unwrap(), other.sample(3).unwrap());
    }

    #[test]
    fn shapes_and_modalities() {
        let ds = SyntheticDataset::new(small(2)).unwrap();
        assert_eq!(ds.modalities().names(), ["optical", "sar", "height"]);
        assert_eq!(ds.modalities().channels(), [4, 2, 1]);
        assert_eq!(ds.num_classes(), 7);
        assert_eq!(ds.class_names().len(), 7);
        let s = ds.sample(1).unwrap();
        assert_eq!((s.height, s.width), (32, 32));
        for (m, c) in s.modalities.iter().zip([4, 2, 1]) {
            assert_eq!((m.channels, m.height, m.width, m.data.len()), (c, 32, 32, c * 32 * 32));
            assert!(m.data.iter().all(|v| v.is_finite()));
        }
        assert!(matches!(ds.sample(2), Err(Error::IndexOutOfRange { index: 2, len: 2 })));
    }

    #[test]
    fn subset_of_modalities_and_binary_task() {
        let c = SyntheticConfig {
            modalities: vec!["height".into(), "optical".into()],
            positive_class: Some("crops".into()),
            ..small(3)
        };
        let ds = SyntheticDataset::new(c).unwrap();
        let full = SyntheticDataset::new(small(3)).unwrap();
        let (s, f) = (ds.sample(0).unwrap(), full.sample(0).unwrap());
        assert_eq!(s.modalities[0], f.modalities[2]);
        assert_eq!(s.modalities[1], f.modalities[0]);
        assert_eq!(ds.num_classes(), 1);
        assert_eq!(ds.class_names(), ["crops"]);
        for (b, l) in s.labels.iter().zip(&f.labels) {
            assert_eq!(*b, u8::from(*l == 2));
        }
    }

    #[test]
    fn every_class_is_present_over_a_few_tiles() {
        let ds = SyntheticDataset::new(SyntheticConfig { tiles: 64, ..Default::default() }).unwrap();
        let mut counts = [0usize; 7];
        for i in 0..64 {
            for &l in &ds.sample(i).unwrap().labels {
                counts[l as usize] += 1;
            }
        }
        let total: usize = counts.iter().sum();
        for (k, &n) in counts.iter().enumerate() {
            assert!(n as f64 / total as f64 > 0.02, "class {} only {n} of {total}: {counts:?}", CLASS_NAMES[k]);
        }
    }
}
