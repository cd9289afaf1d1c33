//! Errors of the data sets crate. Every variant names the file, field or value at fault and
//! what was expected. Add variants with targeted edits; keep them grouped by banner.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading, generating or batching data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- files ----
    /// An I/O operation on a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A required file or directory of a data-set layout is missing.
    #[error("{path}: missing; {hint}")]
    Missing {
        /// The path that should exist.
        path: PathBuf,
        /// What it is and where it comes from.
        hint: String,
    },
    /// A raster file has an unexpected layout (bands, sample type, size) or could not be encoded.
    #[error("{path}: {reason}")]
    Raster {
        /// The file.
        path: PathBuf,
        /// What was wrong (expected vs found).
        reason: String,
    },
    /// GDAL could not open or read a raster; its message is the source.
    #[cfg(feature = "gdal")]
    #[error("{path}: {action}")]
    Gdal {
        /// The file.
        path: PathBuf,
        /// What was being done (`cannot open`, `reading rows 0..256 of band 2`).
        action: String,
        /// GDAL's error.
        source: Box<gdal::errors::GdalError>,
    },
    /// A raster was to be read by a build without GDAL.
    #[error(
        "{path}: reading rasters needs GDAL: build lssg with the `gdal` cargo feature (lssg-datasets/gdal, \
         on by default); without it only the synthetic data sets are available"
    )]
    NoGdal {
        /// The file.
        path: PathBuf,
    },
    /// A modality's rasters hold another number of bands than it has channels.
    #[error("{path}: modality `{modality}` has {got} band(s), the model was trained with {expected}")]
    Bands {
        /// The (first) file of the modality.
        path: PathBuf,
        /// The modality.
        modality: String,
        /// Its channels.
        expected: usize,
        /// Bands given.
        got: usize,
    },
    /// Two rasters of one scene do not cover the same ground (CRS, footprint, or size without
    /// georeferencing).
    #[error("{path} does not match {reference}: {what}")]
    Footprint {
        /// The raster that differs.
        path: PathBuf,
        /// The raster that defines the grid.
        reference: PathBuf,
        /// What differs, with both values.
        what: String,
    },
    /// A JSON file could not be parsed or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A CSV or WKT text field is malformed.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (record) number.
        line: usize,
        /// What was expected.
        reason: String,
    },

    /// A permutation file is not a permutation of 0..n.
    #[error("{path}: not a permutation of 0..{n}: {problem}")]
    NotAPermutation {
        /// The file.
        path: PathBuf,
        /// The number of tiles it must permute.
        n: usize,
        /// The first problem found (length, an out-of-range or a repeated value).
        problem: String,
    },

    // ---- shapes and values ----
    /// Two arrays that must agree in size do not.
    #[error("{what}: expected {expected}, got {got}")]
    Mismatch {
        /// Which arrays or files.
        what: String,
        /// The expected size or count.
        expected: String,
        /// What was found.
        got: String,
    },
    /// A label pixel has a colour or code outside the palette or lookup.
    #[error(
        "{path}: {count} pixels with labels outside the palette (first {example} at x={x}, y={y}); set the config's `off_palette = \"ignore\"` to map them to the ignore index"
    )]
    OffPalette {
        /// The label file.
        path: PathBuf,
        /// How many pixels.
        count: u64,
        /// The first offending value, formatted.
        example: String,
        /// Its column.
        x: usize,
        /// Its row.
        y: usize,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid data config: {field} = {value}: {expected}")]
    Config {
        /// The field.
        field: String,
        /// Its value, formatted.
        value: String,
        /// What is expected instead.
        expected: String,
    },
    /// Tile index out of range.
    #[error("tile index {index} out of range for a data set of {len} tiles")]
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// The number of tiles.
        len: usize,
    },
    /// A modality set error (names, channel counts).
    #[error(transparent)]
    Scenario(#[from] lssg_scenario::Error),
    /// The background loader thread stopped unexpectedly.
    #[error("batch loader stopped: {0}")]
    Loader(String),
}
