//! CLI and end-to-end tests of the `lssg` binary, one test binary (ripgrep's layout).
//! Each area of the CLI adds one `mod` line below.

// Not every helper is used by every area's tests.
#[macro_use]
#[allow(dead_code, unused_macros)]
mod util;

// `lssg smooth`: docs/method.md §4 end to end.
mod smooth;

// `lssg model summary | bench | check-device`: docs/method.md §7, docs/gpu.md §3.
mod model;

// `lssg data synth` / `lssg data inspect`: docs/method.md §8 layouts.
mod data;

// `lssg run | score | eval | config check`: the method end to end (docs/method.md §1–§6).
mod run;

// `lssg predict`: whole scenes under missing modalities (docs/predict.md §8).
mod predict;

// `lssg export`: TorchScript and ONNX run outside lssg (docs/export.md).
mod export;

// `lssg bench`: grids of cells (docs/bench.md).
mod bench;

// `lssg bench --emit-slurm` on a real single-node Slurm (docs/bench.md §5).
mod slurm;

// `lssg run --nproc N` and ranks from launcher variables: data-parallel on Gloo (docs/distributed.md).
mod distributed;

// What lssg reads back is checked: config check, damaged states, --restart-stage, NaN weights
// (docs/reliability.md).
mod reliability;

// Seeded mutation tests of every parser and file lssg reads back (docs/reliability.md §4).
mod fuzz;
#[allow(dead_code)]
mod mutate;

// libtorch's BLAS symbols resolve to libtorch, not to lssg-smoothing's OpenBLAS.
mod blas;

// scripts/readme-tables: the README's measured tables from run outputs.
mod readme_tables;
