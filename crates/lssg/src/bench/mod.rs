//! `lssg bench`: grids of data sets × models × methods × seeds × override axes (docs/bench.md).
//! [`file`] reads the bench file, [`overrides`] types its `section.key=value` edits and the
//! stages each reaches, [`grid`] expands it into cells (pretraining cells shared by the
//! methods), [`execute`] runs cells in this process, [`jobs`] in several, and [`slurm`]
//! writes the array script that runs them on a cluster. `lssg report` (the `lssg-report`
//! crate) aggregates the cells' `cell.json` files.

pub mod execute;
pub mod file;
pub mod grid;
pub mod jobs;
pub mod overrides;
pub mod record;
pub mod slurm;

pub use execute::{Bench, CellOutcome, CellStatus, REPORT_CONFIG, describe};
pub use file::BenchFile;
pub use grid::{Cell, CellKind, Grid};
pub use overrides::{Override, Stage, Stages};
