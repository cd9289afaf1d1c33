//! Fast batch loading: [`BatchLoader`] turns a [`TileDataset`] into an iterator of
//! [`Batch`]es per epoch. A background thread decodes the tiles of each batch in parallel
//! (rayon) and fills a bounded crossbeam channel `prefetch` batches ahead of the consumer.
//!
//! Order: without `shuffle` the data set's own order (the reference's fixed order, docs/method.md §5.3);
//! with it, a permutation seeded by (`seed`, `epoch`), so a resumed run sees exactly the
//! order it would have seen. Dropping the iterator stops the thread; errors of the data set
//! arrive as an `Err` item, after which the iterator ends.
//!
//! ```
//! use std::sync::Arc;
//! use lssg_datasets::{BatchLoader, LoaderConfig};
//! use lssg_datasets::synthetic::{SyntheticConfig, SyntheticDataset};
//! let ds = Arc::new(SyntheticDataset::new(SyntheticConfig { tiles: 10, tile_size: 16, ..Default::default() }).unwrap());
//! let loader = BatchLoader::new(ds, LoaderConfig { batch_size: 4, ..Default::default() }).unwrap();
//! let sizes: Vec<usize> = loader.epoch(0).map(|b| b.unwrap().size).collect();
//! assert_eq!(sizes, [4, 4, 2]);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, bounded};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::TileDataset;
use crate::error::{Error, Result};
use crate::sample::{Batch, Sample};

/// How batches are formed and prefetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Samples per batch (≥ 1).
    pub batch_size: usize,
    /// Shuffle every epoch (false = the data set's fixed order, as the reference).
    pub shuffle: bool,
    /// Seed of the per-epoch permutations.
    pub seed: u64,
    /// Batches decoded ahead of the consumer (the bounded queue's depth; 0 = in lock step).
    pub prefetch: usize,
    /// Drop a last batch smaller than `batch_size`.
    pub drop_last: bool,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self { batch_size: 16, shuffle: false, seed: 0, prefetch: 2, drop_last: false }
    }
}

/// Batches of a data set, epoch after epoch.
#[derive(Clone)]
pub struct BatchLoader {
    dataset: Arc<dyn TileDataset>,
    config: LoaderConfig,
}

impl std::fmt::Debug for BatchLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchLoader").field("tiles", &self.dataset.len()).field("config", &self.config).finish()
    }
}

impl BatchLoader {
    /// A loader over `dataset`; a zero `batch_size` is an [`Error::Config`].
    pub fn new(dataset: Arc<dyn TileDataset>, config: LoaderConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::Config {
                field: "loader.batch_size".into(),
                value: "0".into(),
                expected: "at least 1".into(),
            });
        }
        Ok(Self { dataset, config })
    }

    /// The data set.
    pub fn dataset(&self) -> &Arc<dyn TileDataset> {
        &self.dataset
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let (n, b) = (self.dataset.len(), self.config.batch_size);
        if self.config.drop_last { n / b } else { n.div_ceil(b) }
    }

    /// The order in which epoch `epoch` visits the tiles (before cutting into batches).
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.config.shuffle {
            // One ChaCha stream per epoch: epoch e's order never depends on earlier epochs.
            let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
            rng.set_stream(epoch as u64);
            order.shuffle(&mut rng);
        }
        order
    }

    /// The batches of epoch `epoch`, decoded by a background thread.
    pub fn epoch(&self, epoch: usize) -> Batches {
        self.epoch_parts(epoch, |_, n| 0..n)
    }

    /// The batches of epoch `epoch` as [`Self::epoch`] forms them, batch `i` of `n` tiles cut
    /// to the positions `part(i, n)`, and only those tiles decoded: a data-parallel rank's
    /// share of each batch (docs/distributed.md §2). Batches whose part is empty are skipped.
    pub fn epoch_parts(&self, epoch: usize, part: impl Fn(usize, usize) -> std::ops::Range<usize>) -> Batches {
        let order = self.order(epoch);
        let chunks: Vec<Vec<usize>> = order
            .chunks(self.config.batch_size)
            .take(self.num_batches())
            .enumerate()
            .map(|(i, chunk)| chunk[part(i, chunk.len())].to_vec())
            .filter(|chunk| !chunk.is_empty())
            .collect();
        let total = chunks.len();
        let (tx, rx) = bounded(self.config.prefetch);
        let stop = Arc::new(AtomicBool::new(false));
        let (dataset, flag) = (Arc::clone(&self.dataset), Arc::clone(&stop));
        let handle = std::thread::Builder::new().name(format!("lssg-loader-epoch-{epoch}")).spawn(move || {
            for chunk in chunks {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let item = chunk
                    .par_iter()
                    .map(|&i| dataset.sample(i))
                    .collect::<Result<Vec<Sample>>>()
                    .and_then(|samples| Batch::from_samples(&samples, chunk.as_slice()));
                let failed = item.is_err();
                // A send error means the consumer is gone: stop quietly.
                if tx.send(item).is_err() || failed {
                    return;
                }
            }
        });
        match handle {
            Ok(handle) => Batches { rx: Some(rx), handle: Some(handle), stop, remaining: total, spawn_error: None },
            Err(e) => Batches {
                rx: None,
                handle: None,
                stop,
                remaining: total,
                spawn_error: Some(Error::Loader(format!("cannot start the loader thread: {e}"))),
            },
        }
    }
}

/// The batches of one epoch (an iterator of `Result<Batch>`). Dropping it stops the
/// background thread and waits for it.
pub struct Batches {
    rx: Option<Receiver<Result<Batch>>>,
    handle: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    remaining: usize,
    spawn_error: Option<Error>,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches").field("remaining", &self.remaining).finish()
    }
}

impl Batches {
    /// Ends the iteration and collects the thread; a panic becomes the returned message.
    fn finish(&mut self) -> Option<String> {
        self.remaining = 0;
        self.stop.store(true, Ordering::Relaxed);
        self.rx = None;
        let handle = self.handle.take()?;
        match handle.join() {
            Ok(()) => None,
            Err(payload) => Some(
                payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into()),
            ),
        }
    }
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if let Some(e) = self.spawn_error.take() {
            self.remaining = 0;
            return Some(Err(e));
        }
        if self.remaining == 0 {
            return None;
        }
        let received = self.rx.as_ref()?.recv();
        match received {
            Ok(Ok(batch)) => {
                self.remaining -= 1;
                Some(Ok(batch))
            }
            Ok(Err(e)) => {
                self.finish();
                Some(Err(e))
            }
            Err(_) => {
                // The thread ended before sending every batch: it panicked.
                let why = self.finish().unwrap_or_else(|| "the thread ended early".into());
                Some(Err(Error::Loader(format!("loader thread failed: {why}"))))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining + usize::from(self.spawn_error.is_some())))
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use lssg_scenario::ModalitySet;

    use super::*;
    use crate::sample::ModalityArray;

    /// Tile i is a 2×2 single-channel array filled with i; tile `fail` errors, `panic` panics.
    struct Counting {
        n: usize,
        fail: Option<usize>,
        panic: Option<usize>,
        decoded: AtomicUsize,
        set: ModalitySet,
    }

    impl Counting {
        fn new(n: usize) -> Self {
            Self { n, fail: None, panic: None, decoded: AtomicUsize::new(0), set: ModalitySet::numbered(1).unwrap() }
        }
    }

    impl TileDataset for Counting {
        fn len(&self) -> usize {
            self.n
        }
        fn modalities(&self) -> &ModalitySet {
            &self.set
        }
        fn num_classes(&self) -> usize {
            2
        }
        fn class_names(&self) -> Vec<String> {
            vec!["a".into(), "b".into()]
        }
        fn tile_size(&self) -> (usize, usize) {
            (2, 2)
        }
        fn sample(&self, index: usize) -> Result<Sample> {
            self.decoded.fetch_add(1, Ordering::SeqCst);
            if Some(index) == self.fail {
                return Err(Error::IndexOutOfRange { index, len: 0 });
            }
            if Some(index) == self.panic {
                panic!("tile {index} is cursed");
            }
            let data = vec![index as f32; 4];
            Ok(Sample {
                modalities: vec![ModalityArray { channels: 1, height: 2, width: 2, data }],
                labels: vec![1; 4],
                height: 2,
                width: 2,
            })
        }
    }

    fn indices(loader: &BatchLoader, epoch: usize) -> Vec<Vec<usize>> {
        loader.epoch(epoch).map(|b| b.unwrap().indices).collect()
    }

    #[test]
    fn fixed_order_without_shuffle() {
        let loader =
            BatchLoader::new(Arc::new(Counting::new(7)), LoaderConfig { batch_size: 3, ..Default::default() }).unwrap();
        assert_eq!(loader.num_batches(), 3);
        assert_eq!(indices(&loader, 0), [vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        assert_eq!(indices(&loader, 5), indices(&loader, 0));
        // The batch content is the tiles in that order.
        let b = loader.epoch(0).next().unwrap().unwrap();
        assert_eq!(b.modalities[0], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]);
        let drop = BatchLoader::new(
            Arc::new(Counting::new(7)),
            LoaderConfig { batch_size: 3, drop_last: true, ..Default::default() },
        )
        .unwrap();
        assert_eq!(drop.num_batches(), 2);
        assert_eq!(indices(&drop, 0), [vec![0, 1, 2], vec![3, 4, 5]]);
    }

    #[test]
    fn shuffle_is_a_seeded_per_epoch_permutation() {
        let config = LoaderConfig { batch_size: 4, shuffle: true, seed: 3, ..Default::default() };
        let loader = BatchLoader::new(Arc::new(Counting::new(50)), config.clone()).unwrap();
        let e0: Vec<usize> = indices(&loader, 0).concat();
        let e1: Vec<usize> = indices(&loader, 1).concat();
        let mut sorted = e0.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(e0, e1);
        assert_ne!(e0, sorted);
        // Resume: a fresh loader's epoch 1 equals this one's, without replaying epoch 0.
        let fresh = BatchLoader::new(Arc::new(Counting::new(50)), config.clone()).unwrap();
        assert_eq!(indices(&fresh, 1).concat(), e1);
        let other = BatchLoader::new(Arc::new(Counting::new(50)), LoaderConfig { seed: 4, ..config }).unwrap();
        assert_ne!(indices(&other, 1).concat(), e1);
    }

    #[test]
    fn errors_arrive_as_items_then_the_iterator_ends() {
        let ds = Counting { fail: Some(5), ..Counting::new(12) };
        let loader = BatchLoader::new(Arc::new(ds), LoaderConfig { batch_size: 2, ..Default::default() }).unwrap();
        let items: Vec<Result<Batch>> = loader.epoch(0).collect();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok());
        assert!(matches!(items[2], Err(Error::IndexOutOfRange { index: 5, .. })));
    }

    #[test]
    fn a_panicking_tile_becomes_a_loader_error() {
        let ds = Counting { panic: Some(2), ..Counting::new(6) };
        let loader = BatchLoader::new(Arc::new(ds), LoaderConfig { batch_size: 2, ..Default::default() }).unwrap();
        let items: Vec<Result<Batch>> = loader.epoch(0).collect();
        assert_eq!(items.len(), 2);
        match &items[1] {
            Err(Error::Loader(msg)) => assert!(msg.contains("cursed"), "{msg}"),
            other => panic!("expected a loader error, got {other:?}"),
        }
    }

    #[test]
    fn dropping_the_iterator_stops_the_thread() {
        let ds = Arc::new(Counting::new(10_000));
        let loader =
            BatchLoader::new(ds.clone(), LoaderConfig { batch_size: 10, prefetch: 2, ..Default::default() }).unwrap();
        let mut it = loader.epoch(0);
        assert!(it.next().unwrap().is_ok());
        drop(it); // joins the thread
        let decoded = ds.decoded.load(Ordering::SeqCst);
        // One consumed + at most `prefetch` queued + one being decoded when the send failed.
        assert!(decoded <= 10 * 5, "decoded {decoded} tiles after stopping");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(ds.decoded.load(Ordering::SeqCst), decoded, "the thread kept decoding");
    }

    #[test]
    fn zero_batch_size_and_empty_data_sets() {
        assert!(
            BatchLoader::new(Arc::new(Counting::new(3)), LoaderConfig { batch_size: 0, ..Default::default() }).is_err()
        );
        let empty = BatchLoader::new(Arc::new(Counting::new(0)), LoaderConfig::default()).unwrap();
        assert_eq!(empty.num_batches(), 0);
        assert_eq!(empty.epoch(0).count(), 0);
    }
}
