//! Scene-level access to the real data sets (docs/method.md §8) and the tile view over it.
//!
//! A real data set is a list of large *scenes* (a DSTL image, a Potsdam 6000² tile, a Hunan
//! 256² patch). A reader implements [`SceneSource`]: it lists its scenes with their official
//! split, decodes one scene at its native resolution(s) ([`SceneSource::load`]) and cuts a
//! `[C_m, h, w]` window out of a decoded scene on the label grid ([`SceneSource::window`]),
//! resampling bands of coarser stacks (DSTL M/A/P) on the fly.
//!
//! [`SceneTiles`] turns a source plus a list of scene indices into a [`TileDataset`]: tiles are
//! scene-major (all tiles of scene `s` are contiguous), and decoded scenes are kept in a small
//! LRU cache whose slots are filled once: when rayon asks for many tiles of the same scene at
//! once, one thread decodes and the others wait for it, so a scene is never decoded twice
//! concurrently and never held more than once.
//!
//! ## How `config::open` uses the readers (the contract with config.rs / split.rs)
//!
//! ```text
//! let reader = dstl::open(&cfg)?;                       // Arc<DstlReader>: lists scenes, checks files
//! let assign = /* split.rs */ SceneAssignment { train, val, test };   // indices into reader.scenes()
//! let splits = DataSplits::from_scenes(reader, &assign, cfg.tile_size, cfg.stride, cfg.cache_scenes)?;
//! // splits.train / .val / .test: Arc<dyn TileDataset> of RAW values (f32 of the stored
//! // numbers); normalisation (normalize.rs) wraps them.
//! ```
//!
//! Each reader module also offers `open_splits(&Config, &SceneAssignment) -> Result<DataSplits>`
//! doing exactly these two steps.
//!
//! What every reader shares lives on [`SceneSource`] as provided methods: the size check of a
//! decoded stack against the scene's label grid ([`SceneSource::check_size`]) and the per-scene
//! statistics of `inspect` ([`SceneSource::scene_stats`], from the reader's
//! [`SceneSource::census`]); docs/method.md §8.

use std::path::Path;
use std::sync::{Arc, Mutex};

use lssg_scenario::ModalitySet;
use serde::{Deserialize, Serialize};

use crate::dataset::TileDataset;
use crate::error::{Error, Result};
use crate::inspect::{SceneCensus, SceneStats};
use crate::raster::Raster;
use crate::sample::Sample;

/// The split a data set's own distribution assigns to a scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficialSplit {
    /// Training scenes.
    Train,
    /// Validation scenes.
    Val,
    /// Test scenes.
    Test,
    /// The data set defines no split for this scene (DSTL: k-fold over a permutation).
    Unassigned,
}

impl OfficialSplit {
    /// `train`, `val`, `test` or `-`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
            Self::Unassigned => "-",
        }
    }
}

/// What to do with label values outside the palette / lookup table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffPalette {
    /// Fail with [`Error::OffPalette`] naming the file, the count and the first pixel.
    #[default]
    Error,
    /// Map them to [`crate::IGNORE_INDEX`] (they are still counted, see `inspect`).
    Ignore,
}

/// A band of one of a data set's source stacks, written `stack:band` in configs (`m:6`,
/// `rgbir:3`, `s2:0`); `K` is the reader's stack enum (lower-case names via `FromStr`/`Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[serde(bound(serialize = "K: Clone + std::fmt::Display", deserialize = "K: std::str::FromStr"))]
pub struct StackBand<K> {
    /// The source stack (file kind).
    pub stack: K,
    /// 0-based band index within that stack.
    pub band: usize,
}

impl<K> StackBand<K> {
    /// `stack:band`.
    pub fn new(stack: K, band: usize) -> Self {
        Self { stack, band }
    }
}

impl<K: std::fmt::Display> std::fmt::Display for StackBand<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.stack, self.band)
    }
}

impl<K: std::str::FromStr> TryFrom<String> for StackBand<K> {
    type Error = String;
    fn try_from(text: String) -> std::result::Result<Self, String> {
        let (stack, band) =
            text.split_once(':').ok_or_else(|| format!("band `{text}`: expected `stack:band`, e.g. `m:6`"))?;
        let stack = stack.trim().parse::<K>().map_err(|_| format!("band `{text}`: unknown stack `{stack}`"))?;
        let band = band.trim().parse::<usize>().map_err(|_| format!("band `{text}`: `{band}` is not a band index"))?;
        Ok(Self { stack, band })
    }
}

impl<K: std::fmt::Display> From<StackBand<K>> for String {
    fn from(b: StackBand<K>) -> String {
        b.to_string()
    }
}

/// A configured modality: its name and the stack bands that form its channels, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(serialize = "K: Clone + std::fmt::Display", deserialize = "K: std::str::FromStr"))]
pub struct ModalitySlot<K> {
    /// Modality name (`rgb`, `nir`, …).
    pub name: String,
    /// Its channels.
    pub bands: Vec<StackBand<K>>,
}

impl<K> ModalitySlot<K> {
    /// A slot from a name and `(stack, band)` pairs.
    pub fn new(name: &str, bands: impl IntoIterator<Item = (K, usize)>) -> Self {
        Self { name: name.to_string(), bands: bands.into_iter().map(|(s, b)| StackBand::new(s, b)).collect() }
    }
}

/// The [`ModalitySet`] of configured slots (validates names and channel counts).
pub fn modality_set<K>(slots: &[ModalitySlot<K>]) -> Result<ModalitySet> {
    Ok(ModalitySet::from_pairs(slots.iter().map(|s| (s.name.clone(), s.bands.len())))?)
}

/// Which bands of which stacks the configured slots need, and where each slot channel lives
/// among the decoded bands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackPlan<K> {
    /// Each stack used, with the sorted distinct bands to decode from it.
    pub stacks: Vec<(K, Vec<usize>)>,
    /// Per slot, per channel: (position in `stacks`, position in that stack's band list).
    pub slots: Vec<Vec<(usize, usize)>>,
}

impl<K: Copy + Ord + std::fmt::Display> StackPlan<K> {
    /// The plan of `slots`; `bands_of(stack)` is the stack's band count in the real layout,
    /// and a band past it is a [`Error::Config`].
    pub fn new(slots: &[ModalitySlot<K>], bands_of: impl Fn(K) -> usize) -> Result<Self> {
        let mut stacks: Vec<(K, Vec<usize>)> = Vec::new();
        for slot in slots {
            for sb in &slot.bands {
                if sb.band >= bands_of(sb.stack) {
                    return Err(Error::Config {
                        field: format!("modalities.{}.bands", slot.name),
                        value: sb.to_string(),
                        expected: format!("a band of `{}` in 0..{}", sb.stack, bands_of(sb.stack)),
                    });
                }
                match stacks.iter_mut().find(|(k, _)| *k == sb.stack) {
                    Some((_, bands)) => bands.push(sb.band),
                    None => stacks.push((sb.stack, vec![sb.band])),
                }
            }
        }
        stacks.sort_by_key(|(k, _)| *k);
        for (_, bands) in &mut stacks {
            bands.sort_unstable();
            bands.dedup();
        }
        let slots = slots
            .iter()
            .map(|slot| {
                slot.bands
                    .iter()
                    .map(|sb| {
                        let si = stacks.iter().position(|(k, _)| *k == sb.stack).expect("stack collected above");
                        let bi = stacks[si].1.binary_search(&sb.band).expect("band collected above");
                        (si, bi)
                    })
                    .collect()
            })
            .collect();
        Ok(Self { stacks, slots })
    }

    /// Whether `stack` is used.
    pub fn uses(&self, stack: K) -> bool {
        self.stacks.iter().any(|(k, _)| *k == stack)
    }

    /// Per slot, per channel: the mean of its band over `stacks` (decoded in the order of
    /// [`StackPlan::stacks`]) at native resolution, as `inspect` reports it.
    pub fn channel_means(&self, stacks: &[Raster]) -> Vec<Vec<f64>> {
        self.slots.iter().map(|chans| chans.iter().map(|&(s, b)| stacks[s].band_mean(b)).collect()).collect()
    }
}

/// One scene of a real data set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SceneInfo {
    /// The data set's id (`6120_2_2`, `2_10`, `000123`).
    pub id: String,
    /// Its official split.
    pub split: OfficialSplit,
    /// Width of the label grid in pixels.
    pub width: usize,
    /// Height of the label grid in pixels.
    pub height: usize,
}

/// A real data set seen scene by scene.
pub trait SceneSource: Send + Sync + 'static {
    /// A decoded scene (native-resolution stacks and the label map), as cached.
    type Scene: Send + Sync + 'static;

    /// The scenes, in a fixed order (sorted by id).
    fn scenes(&self) -> &[SceneInfo];
    /// The configured modalities, in `Sample::modalities` order.
    fn modalities(&self) -> &ModalitySet;
    /// Number of classes (1 for a binary task).
    fn num_classes(&self) -> usize;
    /// Class names, `num_classes()` of them.
    fn class_names(&self) -> Vec<String>;
    /// Decodes scene `index` (all files it needs, label map included).
    fn load(&self, index: usize) -> Result<Self::Scene>;
    /// Cuts the `h × w` window at row `y0`, column `x0` of the label grid out of a decoded
    /// scene: raw values as f32, labels as class indices.
    fn window(&self, scene: &Self::Scene, y0: usize, x0: usize, h: usize, w: usize) -> Result<Sample>;
    /// Decodes scene `index` for `inspect` and measures it: label values off the palette are
    /// counted, not rejected, whatever the configured policy.
    fn census(&self, index: usize) -> Result<SceneCensus>;

    /// The `inspect` statistics of scene `index`: the reader's [`SceneSource::census`] with the
    /// scene's id, split and size and the configured modalities' names.
    fn scene_stats(&self, index: usize) -> Result<SceneStats> {
        let census = self.census(index)?;
        let scenes = self.scenes();
        let info = scenes.get(index).ok_or(Error::IndexOutOfRange { index, len: scenes.len() })?;
        Ok(SceneStats::from_census(info, self.modalities(), census))
    }

    /// Fails with [`Error::Mismatch`] unless `raster`, decoded from `path`, has the size of the
    /// label grid of scene `info`. Every stack a reader crops without resampling must lie on
    /// that grid: windows are cut from it at label-grid coordinates.
    fn check_size(&self, path: &Path, raster: &Raster, info: &SceneInfo) -> Result<()> {
        if (raster.width, raster.height) != (info.width, info.height) {
            return Err(Error::Mismatch {
                what: format!("{}: size of scene {}", path.display(), info.id),
                expected: format!("{} × {} (the scene's label grid)", info.width, info.height),
                got: format!("{} × {}", raster.width, raster.height),
            });
        }
        Ok(())
    }
}

/// Which scenes (indices into [`SceneSource::scenes`]) form each split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SceneAssignment {
    /// Training scenes.
    pub train: Vec<usize>,
    /// Validation scenes.
    pub val: Vec<usize>,
    /// Test scenes.
    pub test: Vec<usize>,
}

impl SceneAssignment {
    /// The official assignment: scenes by their [`OfficialSplit`] (unassigned ones are left out).
    pub fn official(scenes: &[SceneInfo]) -> Self {
        let pick = |s: OfficialSplit| scenes.iter().enumerate().filter(|(_, i)| i.split == s).map(|(k, _)| k).collect();
        Self { train: pick(OfficialSplit::Train), val: pick(OfficialSplit::Val), test: pick(OfficialSplit::Test) }
    }
}

/// Window origins along one axis: `0, stride, …` plus a last window flush with the end, so the
/// whole extent is covered (the last two may overlap). Empty when `extent < size`.
pub fn window_starts(extent: usize, size: usize, stride: usize) -> Vec<usize> {
    if extent < size || size == 0 || stride == 0 {
        return Vec::new();
    }
    let mut starts: Vec<usize> = (0..=extent - size).step_by(stride).collect();
    if *starts.last().expect("extent >= size gives one start") != extent - size {
        starts.push(extent - size);
    }
    starts
}

/// A cache slot: filled once by whichever thread gets its lock first.
type Slot<T> = Arc<Mutex<Option<Arc<T>>>>;

/// Tiles of a list of scenes, with an LRU cache of decoded scenes. Values are raw (f32 of the
/// stored numbers); labels are class indices with [`crate::IGNORE_INDEX`].
pub struct SceneTiles<S: SceneSource> {
    source: Arc<S>,
    scenes: Vec<usize>,
    /// Per listed scene, the index of its first tile; one more entry: the total.
    offsets: Vec<usize>,
    /// Per listed scene, its tile origins along y and x.
    grids: Vec<(Vec<usize>, Vec<usize>)>,
    tile_size: usize,
    capacity: usize,
    /// Most recently used last.
    cache: Mutex<Vec<(usize, Slot<S::Scene>)>>,
}

impl<S: SceneSource> SceneTiles<S> {
    /// Tiles `tile_size²` every `stride` pixels of each listed scene (scenes smaller than a tile
    /// contribute none), keeping at most `cache_scenes` (≥ 1) decoded scenes.
    pub fn new(
        source: Arc<S>,
        scenes: Vec<usize>,
        tile_size: usize,
        stride: usize,
        cache_scenes: usize,
    ) -> Result<Self> {
        if tile_size == 0 {
            return Err(Error::Config { field: "tile_size".into(), value: "0".into(), expected: "≥ 1".into() });
        }
        if stride == 0 {
            return Err(Error::Config { field: "stride".into(), value: "0".into(), expected: "≥ 1".into() });
        }
        let all = source.scenes();
        let mut offsets = vec![0];
        let mut grids = Vec::with_capacity(scenes.len());
        for &s in &scenes {
            let info = all.get(s).ok_or(Error::IndexOutOfRange { index: s, len: all.len() })?;
            let ys = window_starts(info.height, tile_size, stride);
            let xs = window_starts(info.width, tile_size, stride);
            offsets.push(offsets.last().copied().unwrap_or(0) + ys.len() * xs.len());
            grids.push((ys, xs));
        }
        Ok(Self {
            source,
            scenes,
            offsets,
            grids,
            tile_size,
            capacity: cache_scenes.max(1),
            cache: Mutex::new(Vec::new()),
        })
    }

    /// The reader behind the tiles.
    pub fn source(&self) -> &Arc<S> {
        &self.source
    }

    /// For tile `index`: the scene index (into `source().scenes()`) and its window origin (y, x).
    pub fn locate(&self, index: usize) -> Result<(usize, usize, usize)> {
        let len = self.len();
        if index >= len {
            return Err(Error::IndexOutOfRange { index, len });
        }
        // offsets is non-decreasing; the scene is the last k with offsets[k] <= index.
        let k = self.offsets.partition_point(|&o| o <= index) - 1;
        let local = index - self.offsets[k];
        let (ys, xs) = &self.grids[k];
        Ok((self.scenes[k], ys[local / xs.len()], xs[local % xs.len()]))
    }

    /// The decoded scene `scene`, from the cache or decoded now (once, even under contention).
    fn scene(&self, scene: usize) -> Result<Arc<S::Scene>> {
        let slot = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pos) = cache.iter().position(|(s, _)| *s == scene) {
                let entry = cache.remove(pos);
                let slot = entry.1.clone();
                cache.push(entry);
                slot
            } else {
                let slot: Slot<S::Scene> = Arc::new(Mutex::new(None));
                cache.push((scene, slot.clone()));
                if cache.len() > self.capacity {
                    cache.remove(0);
                }
                slot
            }
        };
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let decoded = Arc::new(self.source.load(scene)?);
        *guard = Some(decoded.clone());
        Ok(decoded)
    }
}

impl<S: SceneSource> TileDataset for SceneTiles<S> {
    fn len(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    fn modalities(&self) -> &ModalitySet {
        self.source.modalities()
    }

    fn num_classes(&self) -> usize {
        self.source.num_classes()
    }

    fn class_names(&self) -> Vec<String> {
        self.source.class_names()
    }

    fn tile_size(&self) -> (usize, usize) {
        (self.tile_size, self.tile_size)
    }

    fn sample(&self, index: usize) -> Result<Sample> {
        let (scene, y0, x0) = self.locate(index)?;
        let decoded = self.scene(scene)?;
        self.source.window(&decoded, y0, x0, self.tile_size, self.tile_size)
    }
}

/// Rows `y0..y0 + h`, columns `x0..x0 + w` of a row-major label map `width` pixels wide.
pub fn label_window(labels: &[u8], width: usize, y0: usize, x0: usize, h: usize, w: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(h * w);
    for r in y0..y0 + h {
        out.extend_from_slice(&labels[r * width + x0..][..w]);
    }
    out
}

/// The `h × w` window at (`y0`, `x0`) of a decoded scene whose stacks all lie on the label
/// grid: one array per slot of `plan`, each channel copied from its `(stack, band)`.
pub fn same_grid_window<K>(
    plan: &StackPlan<K>,
    stacks: &[crate::raster::Raster],
    labels: &[u8],
    width: usize,
    (y0, x0, h, w): (usize, usize, usize, usize),
) -> Sample {
    let modalities = plan
        .slots
        .iter()
        .map(|chans| {
            let mut m = crate::sample::ModalityArray::zeros(chans.len(), h, w);
            for (c, &(s, b)) in chans.iter().enumerate() {
                stacks[s].copy_window(b, y0, x0, h, w, &mut m.data[c * h * w..(c + 1) * h * w]);
            }
            m
        })
        .collect();
    Sample { modalities, labels: label_window(labels, width, y0, x0, h, w), height: h, width: w }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::sample::ModalityArray;

    struct Counting {
        scenes: Vec<SceneInfo>,
        set: ModalitySet,
        loads: AtomicUsize,
    }

    impl SceneSource for Counting {
        type Scene = usize;
        fn scenes(&self) -> &[SceneInfo] {
            &self.scenes
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
        fn load(&self, index: usize) -> Result<usize> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            Ok(index)
        }
        fn window(&self, scene: &usize, y0: usize, x0: usize, h: usize, w: usize) -> Result<Sample> {
            let v = (*scene * 1000 + y0 * 10 + x0) as f32;
            let mut m = ModalityArray::zeros(1, h, w);
            m.data.fill(v);
            Ok(Sample { modalities: vec![m], labels: vec![0; h * w], height: h, width: w })
        }
        fn census(&self, index: usize) -> Result<SceneCensus> {
            let info = self.scenes.get(index).ok_or(Error::IndexOutOfRange { index, len: self.scenes.len() })?;
            Ok(SceneCensus {
                channel_means: vec![vec![index as f64]],
                class_pixels: [(0, (info.width * info.height) as u64)].into(),
                ignore_pixels: 0,
                off_palette_pixels: 1,
                class7_pixels: None,
            })
        }
    }

    fn source() -> Arc<Counting> {
        let info = |id: &str, split, width, height| SceneInfo { id: id.into(), split, width, height };
        Arc::new(Counting {
            scenes: vec![
                info("a", OfficialSplit::Train, 10, 10),
                info("b", OfficialSplit::Test, 7, 4),
                info("c", OfficialSplit::Train, 3, 3),
            ],
            set: ModalitySet::from_pairs([("x", 1)]).unwrap(),
            loads: AtomicUsize::new(0),
        })
    }

    #[test]
    fn window_starts_cover_the_extent() {
        assert_eq!(window_starts(10, 4, 4), vec![0, 4, 6]);
        assert_eq!(window_starts(8, 4, 4), vec![0, 4]);
        assert_eq!(window_starts(3, 4, 4), Vec::<usize>::new());
        assert_eq!(window_starts(10, 4, 3), vec![0, 3, 6]);
    }

    #[test]
    fn tiles_are_scene_major_and_scenes_decode_once() {
        use rayon::prelude::*;
        let src = source();
        let tiles = SceneTiles::new(src.clone(), vec![0, 1, 2], 4, 4, 2).unwrap();
        // scene a: 3×3 tiles, b: 1×2 (x 0,3), c: none.
        assert_eq!(tiles.len(), 11);
        assert_eq!(tiles.locate(0).unwrap(), (0, 0, 0));
        assert_eq!(tiles.locate(4).unwrap(), (0, 4, 4));
        assert_eq!(tiles.locate(10).unwrap(), (1, 0, 3));
        assert!(matches!(tiles.locate(11), Err(Error::IndexOutOfRange { index: 11, len: 11 })));
        let samples: Vec<Sample> = (0..11).into_par_iter().map(|i| tiles.sample(i).unwrap()).collect();
        assert_eq!(samples[10].modalities[0].data[0], 1003.0);
        // Parallel tiles of scene 0 share one decode; scene 1 one more.
        assert_eq!(src.loads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn provided_scene_stats_name_the_scene_and_its_modalities() {
        let src = source();
        let stats = src.scene_stats(1).unwrap();
        assert_eq!((stats.id.as_str(), stats.split.as_str(), stats.width, stats.height), ("b", "test", 7, 4));
        assert_eq!(stats.modalities.len(), 1);
        assert_eq!((stats.modalities[0].name.as_str(), stats.modalities[0].bands), ("x", 1));
        assert_eq!(stats.modalities[0].mean, [1.0]);
        assert_eq!((stats.class_pixels[&0], stats.off_palette_pixels), (28, 1));
        assert!(matches!(src.scene_stats(3), Err(Error::IndexOutOfRange { index: 3, len: 3 })));
    }

    #[test]
    fn provided_size_check_names_file_scene_and_sizes() {
        use crate::raster::RasterData;
        let src = source();
        let info = &src.scenes()[1];
        let on_grid = Raster::new(7, 4, 1, RasterData::U8(vec![0; 28])).unwrap();
        src.check_size(Path::new("b.tif"), &on_grid, info).unwrap();
        let off = Raster::new(4, 7, 1, RasterData::U8(vec![0; 28])).unwrap();
        let err = src.check_size(Path::new("b.tif"), &off, info).unwrap_err();
        assert!(matches!(&err, Error::Mismatch { what, got, .. } if what.contains("b.tif") && got == "4 × 7"), "{err}");
    }

    #[test]
    fn official_assignment_follows_the_scene_splits() {
        let a = SceneAssignment::official(source().scenes());
        assert_eq!(a, SceneAssignment { train: vec![0, 2], val: vec![], test: vec![1] });
    }
}
