//! `lssg config check FILE [--set …]`: validate a run configuration and print it resolved.

use std::path::PathBuf;

use lssg::config::RunConfig;

/// `lssg config …`.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a run configuration and print the resolved config (every default filled in).
    Check {
        /// The run configuration (TOML).
        file: PathBuf,
        /// Override a config value (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        overrides: Vec<String>,
    },
}

/// Runs `lssg config …`.
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { file, overrides } => {
            let config = RunConfig::load(&file, &overrides)?;
            print!("{}", config.to_toml());
            Ok(())
        }
    }
}
