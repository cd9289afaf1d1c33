//! The errors of whole-scene prediction; each names the file, field or value concerned.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while predicting a scene.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tiling or blending parameter is out of range.
    #[error("invalid {field} = {value}: expected {expected}")]
    Config {
        /// The parameter (`tile`, `overlap`, `batch`, …).
        field: String,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A raster could not be opened or read (missing, unreadable, truncated, a band count or
    /// footprint that does not fit): the data sets' raster layer's error, naming the file.
    #[error(transparent)]
    Raster(#[from] lssg_datasets::Error),
    /// An output could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The scenario or modality list is not usable.
    #[error("{0}")]
    Modality(String),
    /// An available modality has no raster.
    #[error("modality `{0}` is listed in --available but no raster was given for it")]
    MissingInput(String),
    /// A scenario could not be parsed.
    #[error(transparent)]
    Scenario(#[from] lssg_scenario::Error),
    /// The model failed (shape or libtorch error).
    #[error(transparent)]
    Model(#[from] lssg_backbones::Error),
    /// libtorch raised an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// The network's logits are NaN or infinite over pixels that have data: its weights (or
    /// arithmetic) are unusable, and the maps would be silently wrong.
    #[error(
        "{scene}: the network's logits are NaN or infinite at {pixels} pixel(s) with data of the \
         {tile} × {tile} window at x {x0}, y {y0}"
    )]
    NonFiniteLogits {
        /// The scene (its rasters).
        scene: String,
        /// The window's column.
        x0: usize,
        /// The window's row.
        y0: usize,
        /// The window's side.
        tile: usize,
        /// Pixels of the window with data and a non-finite logit.
        pixels: usize,
    },
    /// A buffer had an unexpected size (an internal invariant, reported rather than panicking).
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// The buffer.
        what: String,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
}

impl Error {
    /// Names the scene of a [`Error::NonFiniteLogits`] (other errors name their files).
    pub fn in_scene(self, name: &str) -> Self {
        match self {
            Error::NonFiniteLogits { x0, y0, tile, pixels, .. } => {
                Error::NonFiniteLogits { scene: name.to_string(), x0, y0, tile, pixels }
            }
            e => e,
        }
    }

    /// A [`Error::Config`].
    pub fn config(field: &str, value: impl ToString, expected: &str) -> Self {
        Self::Config { field: field.into(), value: value.to_string(), expected: expected.into() }
    }
}
