//! lssg-report: aggregates finished benchmark cells (docs/bench.md): statistics over seeds and
//! test tiles, plots, and `report.{md,csv,json,html}`. No libtorch: cells are read from their
//! `cell.json` records.

pub mod record;

pub use record::{CELL_FILE, CellKey, CellRecord, Curve, CurvePoint, Distribution, ScenarioRecord, TileRecord};
