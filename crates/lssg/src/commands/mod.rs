//! One module per subcommand: each resolves its arguments, calls the library and formats.

pub mod bench;
pub mod config;
pub mod data;
pub mod eval;
pub mod export;
pub mod model;
pub mod model_args;
#[cfg(feature = "predict")]
pub mod predict;
pub mod report;
pub mod run;
pub mod score;
pub mod smooth;
