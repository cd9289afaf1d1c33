//! What the readers whose stacks all lie on the label grid (Potsdam, Hunan) share: a reader
//! holds [`GridParts`] and decodes a scene into a [`GridScene`] ([`GridReader`]), and gets
//! [`SceneSource`] from them: the listing, modalities and classes from the parts, windows cut
//! without resampling ([`same_grid_window`]) and the `inspect` census.

use std::path::PathBuf;

use lssg_scenario::ModalitySet;

use crate::error::{Error, Result};
use crate::inspect::{SceneCensus, count_labels};
use crate::raster::Raster;
use crate::sample::Sample;
use crate::scene_reader::{OffPalette, SceneInfo, SceneSource, StackPlan, same_grid_window};

/// A decoded scene whose stacks all lie on the label grid: the used stacks at native
/// resolution, in [`StackPlan::stacks`] order, and the labels.
#[derive(Debug)]
pub struct GridScene {
    pub(crate) stacks: Vec<Raster>,
    pub(crate) labels: Vec<u8>,
    /// Label pixels off the palette / lookup (ignored in `labels`).
    pub(crate) off_palette: u64,
    /// Hunan: pixels of lookup class 7; `None` for a data set without it.
    pub(crate) class7: Option<u64>,
    /// Width of the label grid.
    pub(crate) width: usize,
}

/// What a same-grid reader holds besides its configuration.
#[derive(Debug)]
pub(crate) struct GridParts<K> {
    /// The scenes, in a fixed order.
    pub scenes: Vec<SceneInfo>,
    /// The stacks and bands the modality slots need.
    pub plan: StackPlan<K>,
    /// The configured modalities.
    pub set: ModalitySet,
    /// Class names in index order.
    pub class_names: &'static [&'static str],
    /// The configured off-palette policy ([`SceneSource::load`] decodes with it).
    pub off_palette: OffPalette,
}

impl<K> GridParts<K> {
    /// Scene `index`, or [`Error::IndexOutOfRange`].
    pub fn info(&self, index: usize) -> Result<&SceneInfo> {
        self.scenes.get(index).ok_or(Error::IndexOutOfRange { index, len: self.scenes.len() })
    }
}

/// A reader whose stacks all lie on the label grid; [`SceneSource`] comes from its parts and
/// its decoder.
pub(crate) trait GridReader: Send + Sync + 'static {
    /// The reader's stack enum.
    type Stack: Copy + Ord + std::fmt::Display;
    /// The scenes, plan, modalities, classes and policy.
    fn parts(&self) -> &GridParts<Self::Stack>;
    /// Decodes scene `index`; off-palette labels fail under `policy` = error
    /// ([`check_palette`]) and are ignored and counted otherwise.
    fn decode(&self, index: usize, policy: OffPalette) -> Result<GridScene>;
}

impl<R: GridReader> SceneSource for R {
    type Scene = GridScene;

    fn scenes(&self) -> &[SceneInfo] {
        &self.parts().scenes
    }

    fn modalities(&self) -> &ModalitySet {
        &self.parts().set
    }

    fn num_classes(&self) -> usize {
        self.parts().class_names.len()
    }

    fn class_names(&self) -> Vec<String> {
        self.parts().class_names.iter().map(|s| s.to_string()).collect()
    }

    fn load(&self, index: usize) -> Result<GridScene> {
        self.decode(index, self.parts().off_palette)
    }

    fn window(&self, scene: &GridScene, y0: usize, x0: usize, h: usize, w: usize) -> Result<Sample> {
        Ok(same_grid_window(&self.parts().plan, &scene.stacks, &scene.labels, scene.width, (y0, x0, h, w)))
    }

    fn census(&self, index: usize) -> Result<SceneCensus> {
        let scene = self.decode(index, OffPalette::Ignore)?;
        let (class_pixels, ignore_pixels) = count_labels(&scene.labels);
        Ok(SceneCensus {
            channel_means: self.parts().plan.channel_means(&scene.stacks),
            class_pixels,
            ignore_pixels,
            off_palette_pixels: scene.off_palette,
            class7_pixels: scene.class7,
        })
    }
}

/// Under [`OffPalette::Error`], fails with [`Error::OffPalette`] when the label file `path` of
/// a grid `width` pixels wide has `count` off-palette pixels, the first at `first`: its index
/// and how it reads (`code 0`, `rgb(1, 2, 3)`).
pub(crate) fn check_palette(
    policy: OffPalette,
    path: PathBuf,
    count: u64,
    first: Option<(usize, String)>,
    width: usize,
) -> Result<()> {
    match (policy, first) {
        (OffPalette::Error, Some((i, example))) => {
            Err(Error::OffPalette { path, count, example, x: i % width, y: i / width })
        }
        _ => Ok(()),
    }
}
