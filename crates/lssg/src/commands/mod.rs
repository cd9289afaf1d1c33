//! One module per subcommand: each resolves its arguments, calls the library and formats.

pub mod data;
pub mod smooth;
