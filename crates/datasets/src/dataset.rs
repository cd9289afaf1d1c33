//! The interface every data source implements, and what the trainer and scorer use.

use lssg_scenario::ModalitySet;

use crate::error::Result;
use crate::sample::Sample;

/// A random-access collection of equally sized tiles of one split.
///
/// `sample(i)` decodes tile `i`; implementations are cheap to share across threads (rayon
/// decodes tiles of a batch in parallel) and hold no scene in memory more than once.
pub trait TileDataset: Send + Sync {
    /// Number of tiles.
    fn len(&self) -> usize;
    /// Whether there are no tiles.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The modalities (names and channel counts) in the order of `Sample::modalities`.
    fn modalities(&self) -> &ModalitySet;
    /// Number of classes of the task (1 for a binary task, whose labels are 0/1).
    fn num_classes(&self) -> usize;
    /// Class names, `num_classes()` of them (for a binary task, the positive class).
    fn class_names(&self) -> Vec<String>;
    /// Tile height and width.
    fn tile_size(&self) -> (usize, usize);
    /// Decodes tile `index` (normalised, as the model sees it).
    fn sample(&self, index: usize) -> Result<Sample>;
}

/// A view of another data set ([`crate::Subset`], [`crate::Normalized`]): its own tiles, the
/// viewed set's modalities, classes and tile size. Every view is a [`TileDataset`].
pub(crate) trait TileView: Send + Sync {
    /// The viewed data set.
    fn base(&self) -> &dyn TileDataset;
    /// Number of tiles of the view.
    fn view_len(&self) -> usize;
    /// Decodes tile `index` of the view.
    fn view_sample(&self, index: usize) -> Result<Sample>;
}

impl<V: TileView> TileDataset for V {
    fn len(&self) -> usize {
        self.view_len()
    }
    fn modalities(&self) -> &ModalitySet {
        self.base().modalities()
    }
    fn num_classes(&self) -> usize {
        self.base().num_classes()
    }
    fn class_names(&self) -> Vec<String> {
        self.base().class_names()
    }
    fn tile_size(&self) -> (usize, usize) {
        self.base().tile_size()
    }
    fn sample(&self, index: usize) -> Result<Sample> {
        self.view_sample(index)
    }
}
