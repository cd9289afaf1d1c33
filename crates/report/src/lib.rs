//! lssg-report: aggregates finished benchmark cells (`cell.json`, written by `lssg bench`):
//! statistics over seeds and test tiles, plots, and `report.{md,csv,json,html}`. No libtorch.
//! The statistics and the output files are described in docs/report.md.
//!
//! One call does everything: [`report`]`(cells_dir, out_dir, &ReportConfig::default())`.

pub mod aggregate;
pub mod config;
pub mod csv;
pub mod diagnostic;
pub mod distribution;
pub mod html;
pub mod load;
pub mod maps;
pub mod pairs;
pub mod plot_curves;
pub mod plot_diagnostic;
pub mod plot_maps;
pub mod plot_panels;
pub mod plot_profile;
pub mod plot_scores;
pub mod plot_trajectory;
pub mod plots;
pub mod protocol_tables;
pub mod protocols;
pub mod record;
pub mod score_tables;
pub mod stats;
pub mod summary;
pub mod tables;
pub mod tile_bootstrap;
pub mod trajectory;
pub mod write;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use aggregate::{GroupKey, GroupReport, MEAN_ROW, MethodReport, Report, WORST_ROW, build_report};
pub use config::{ConfigError, ReportConfig};
pub use diagnostic::{
    Correlation, CorrelationSummary, Diagnostic, DiagnosticReport, SCORE_PAIRS, Score, diagnose, spearman,
};
pub use distribution::DistributionReport;
pub use load::{LoadError, Loaded, Problem, load_cells};
pub use pairs::{PairReport, PairRow};
pub use protocols::ProtocolRow;
pub use record::{Band, CELL_FILE, CellKey, CellRecord, Curve, CurvePoint, Distribution, ScenarioRecord, TileRecord};
pub use stats::Interval;
pub use summary::{BASELINE, BaselineComparison, SummaryLine};
pub use tile_bootstrap::{TileBootstrap, TileMetric, WeightedInterval, tile_bootstrap, tile_bootstrap_weighted};
pub use trajectory::{EpochSampling, SeedTrajectory, Trajectory};
pub use write::{WriteError, write_report};

/// Why no report was written.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The cells directory could not be searched.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An output file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What [`report`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// Every file written.
    pub written: Vec<PathBuf>,
    /// The number of cells included.
    pub cells: usize,
    /// The cell files left out.
    pub problems: Vec<Problem>,
}

/// Loads every `cell.json` under `cells_dir`, computes the report under `config` and writes
/// its files into `out_dir` (docs/report.md §6).
pub fn report(cells_dir: &Path, out_dir: &Path, config: &ReportConfig) -> Result<ReportSummary, ReportError> {
    config.validate()?;
    let loaded = load_cells(cells_dir)?;
    let report = build_report(&loaded, config)?;
    let written = write_report(&report, out_dir)?;
    Ok(ReportSummary { written, cells: report.cells.len(), problems: report.problems })
}
