//! lssg-report: aggregates finished benchmark cells (`cell.json`, written by `lssg bench`):
//! statistics over seeds and test tiles, plots, and `report.{md,csv,json,html}`. No libtorch.
//! The statistics and the output files are described in docs/report.md.

pub mod aggregate;
pub mod config;
pub mod load;
pub mod metric;
pub mod pairs;
pub mod record;
pub mod stats;
pub mod tile_bootstrap;

pub use aggregate::{GroupKey, GroupReport, MEAN_ROW, Report, build_report};
pub use config::ReportConfig;
pub use load::{Loaded, Problem, load_cells};
pub use record::{CELL_FILE, CellKey, CellRecord, Curve, CurvePoint, Distribution, ScenarioRecord, TileRecord};
