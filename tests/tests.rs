//! CLI and end-to-end tests of the `lssg` binary, one test binary (ripgrep's layout).
//! Each area of the CLI adds one `mod` line below.

#[macro_use]
mod util;
