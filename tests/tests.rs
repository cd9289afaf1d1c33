//! CLI and end-to-end tests of the `lssg` binary, one test binary (ripgrep's layout).
// Each module is one area of the CLI.
