//! CLI and end-to-end tests of the `lssg` binary, one test binary (ripgrep's layout).
//! Each area of the CLI adds one `mod` line below.

// Not every helper is used by every area's tests.
#[macro_use]
#[allow(dead_code, unused_macros)]
mod util;

// `lssg smooth`: SPEC §4 end to end.
mod smooth;

// `lssg model summary | bench`: SPEC §7.
mod model;

// `lssg data synth` / `lssg data inspect`: SPEC §8 layouts.
mod data;

// `lssg run | score | eval | config check`: the method end to end (SPEC §1–§6).
mod run;
