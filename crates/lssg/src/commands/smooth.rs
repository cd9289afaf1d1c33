//! `lssg smooth`: distortion scores → probabilities file (SPEC §4). Filled by the foundation issue.

/// Arguments of `lssg smooth`.
#[derive(Debug, clap::Args)]
pub struct SmoothArgs {}

/// Runs `lssg smooth`.
pub fn run(_args: SmoothArgs) -> anyhow::Result<()> {
    anyhow::bail!("lssg smooth is not implemented yet")
}
