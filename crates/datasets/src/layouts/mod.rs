//! Writers of the real on-disk layouts (docs/method.md §8), filled with synthetic scenes: `lssg data synth`.
//!
//! Scene `i` is `generate_scene(&SyntheticConfig { seed, .. }, i, size, size)`, converted to
//! what the real data set stores (file names, band counts, sample types, planar or chunky,
//! colour labels, raw codes, WKT polygons) so the real readers run on realistic volumes:
//!
//! * [`potsdam`]: RGBIR u8 chunky (RGB-tagged, one extra sample), DSM f32, colour labels and
//!   noBoundary labels (1-pixel class boundaries black); tiles named after the real 38.
//! * [`hunan`]: s2 13 × u16, s1 2 × f32 (dB), topo 2 × f32 (elevation, slope), raw land-cover
//!   codes including 11 (lookup class 7) and 255 (no data); splits train/val/test.
//! * [`dstl`]: three_band 3 × u16 planar (11-bit), M 8 × u16 at size/4, A 8 × u16 at size/25,
//!   P 1 × u16, `grid_sizes.csv` and `train_wkt_v4.csv` with rectangles traced from the label
//!   map (pixel runs merged down rows), which fill back to the same mask at pixel centres.
//!
//! Each writer has a pure `render_*` step (arrays in memory, used by the round-trip tests) and
//! writes files atomically. `synthetic.json` in the root records the options.

pub mod dstl;
pub mod hunan;
pub mod potsdam;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::inspect::{InspectReport, ModalityStats, SceneStats, count_labels};
use crate::synthetic::{CLASS_NAMES, SceneArrays, SyntheticConfig, generate_scene};

/// The on-disk layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// ISPRS Potsdam.
    Potsdam,
    /// Hunan.
    Hunan,
    /// DSTL raw Kaggle layout.
    Dstl,
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "potsdam" => Ok(Self::Potsdam),
            "hunan" => Ok(Self::Hunan),
            "dstl" => Ok(Self::Dstl),
            _ => Err(format!("unknown layout `{s}`: expected potsdam, hunan or dstl")),
        }
    }
}

/// Options of `lssg data synth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthOptions {
    /// The layout.
    pub layout: Layout,
    /// Number of scenes.
    pub tiles: usize,
    /// Scene side in pixels (the label grid).
    pub size: usize,
    /// Generator seed.
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self { layout: Layout::Potsdam, tiles: 4, size: 256, seed: 0 }
    }
}

impl SynthOptions {
    /// The generator configuration of the scenes.
    pub fn generator(&self) -> SyntheticConfig {
        SyntheticConfig { seed: self.seed, tile_size: self.size, tiles: self.tiles, ..Default::default() }
    }

    fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: String, expected: &str| Error::Config {
            field: field.into(),
            value,
            expected: expected.into(),
        };
        if self.tiles == 0 {
            return Err(bad("tiles", "0".into(), "≥ 1"));
        }
        if self.layout == Layout::Potsdam && self.tiles > potsdam::TILE_IDS.len() {
            return Err(bad("tiles", self.tiles.to_string(), "at most 38 (the real Potsdam tiles)"));
        }
        if !(8..=8192).contains(&self.size) {
            return Err(bad("size", self.size.to_string(), "8 to 8192 pixels"));
        }
        Ok(())
    }
}

/// What `synth` wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthReport {
    /// The root written.
    pub root: PathBuf,
    /// The options.
    pub options: SynthOptions,
    /// Scene ids, in generation order.
    pub scenes: Vec<String>,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// The scene `index` of the options' generator.
pub fn scene(options: &SynthOptions, index: usize) -> SceneArrays {
    generate_scene(&options.generator(), index as u64, options.size, options.size)
}

/// Writes `options.tiles` synthetic scenes in the real layout `options.layout` under `out`.
pub fn synth(out: &Path, options: &SynthOptions) -> Result<SynthReport> {
    options.validate()?;
    let written: Vec<(String, Vec<PathBuf>)> = match options.layout {
        Layout::Potsdam => (0..options.tiles)
            .into_par_iter()
            .map(|i| potsdam::write_tile(out, i, &scene(options, i)))
            .collect::<Result<_>>()?,
        Layout::Hunan => (0..options.tiles)
            .into_par_iter()
            .map(|i| hunan::write_patch(out, i, &scene(options, i)))
            .collect::<Result<_>>()?,
        Layout::Dstl => dstl::write_all(out, options)?,
    };
    let meta = out.join("synthetic.json");
    let json = serde_json::to_vec_pretty(options).map_err(|source| Error::Json { path: meta.clone(), source })?;
    write_file(&meta, &json)?;
    let mut files = 1;
    let mut bytes = json.len() as u64;
    let mut scenes = Vec::with_capacity(written.len());
    for (id, paths) in written {
        files += paths.len();
        for p in &paths {
            bytes += std::fs::metadata(p).map_err(|source| Error::Io { path: p.clone(), source })?.len();
        }
        scenes.push(id);
    }
    Ok(SynthReport { root: out.to_path_buf(), options: options.clone(), scenes, files, bytes })
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    lssg_scenario::io::write_atomic(path, bytes).map_err(|e| match e {
        lssg_scenario::Error::Io { path, source } => Error::Io { path, source },
        other => Error::Io { path: path.to_path_buf(), source: std::io::Error::other(other.to_string()) },
    })
}

/// Quantises `v` to an integer range with rounding and clamping.
#[inline]
pub(crate) fn quantise(v: f32, scale: f32, offset: f32, max: f32) -> f32 {
    (v * scale + offset).round().clamp(0.0, max)
}

/// `inspect` of a synthetic root: the scenes of its `synthetic.json` (written by `synth`), or
/// of the default options when there is none, straight from the generator.
pub fn inspect_synthetic(root: &Path) -> Result<InspectReport> {
    let meta = root.join("synthetic.json");
    let options: SynthOptions = if meta.is_file() {
        let bytes = std::fs::read(&meta).map_err(|source| Error::Io { path: meta.clone(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json { path: meta.clone(), source })?
    } else {
        SynthOptions::default()
    };
    options.validate()?;
    let scenes = (0..options.tiles)
        .into_par_iter()
        .map(|i| {
            let s = scene(&options, i);
            let stats = |name: &str, m: &crate::ModalityArray| ModalityStats {
                name: name.into(),
                bands: m.channels,
                mean: (0..m.channels)
                    .map(|c| m.channel(c).iter().map(|&v| f64::from(v)).sum::<f64>() / (s.height * s.width) as f64)
                    .collect(),
            };
            let (class_pixels, ignore_pixels) = count_labels(&s.labels);
            SceneStats {
                id: format!("scene_{i:04}"),
                split: "-".into(),
                width: s.width,
                height: s.height,
                modalities: vec![stats("optical", &s.optical), stats("sar", &s.sar), stats("height", &s.dsm)],
                class_pixels,
                ignore_pixels,
                off_palette_pixels: 0,
                class7_pixels: None,
            }
        })
        .collect();
    let names = CLASS_NAMES.iter().enumerate().map(|(k, n)| (k as u8, n.to_string())).collect();
    Ok(InspectReport::from_scenes("synthetic", names, scenes))
}
