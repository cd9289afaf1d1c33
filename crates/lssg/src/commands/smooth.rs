//! `lssg smooth`: per-scenario distortion scores → the probabilities file (docs/method.md §4).
//!
//! Resolves the scores (`--distortion` or `--distortion-file`), the modality set
//! (`--modalities`, or `m0, m1, …` inferred from the count) and the smoothing config, calls
//! [`lssg_smoothing::smooth`] and prints the probabilities file as JSON, writes it atomically
//! to `--out`, and/or prints an aligned table (`--table`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lssg_core::{Descriptor, Preference};
use lssg_scenario::{ModalitySet, ProbabilitiesFile};
use lssg_smoothing::{Sigma, Smoothed, SmoothingConfig};

/// Arguments of `lssg smooth`.
#[derive(Debug, clap::Args)]
pub struct SmoothArgs {
    /// Distortion scores D, comma separated, canonical scenario order (2^M - 1 values, the full
    /// scenario last), e.g. 0.8,1.2,1.5,0.3,0.4,0.6,0.0.
    #[arg(
        long,
        value_name = "D,D,...",
        allow_hyphen_values = true,
        required_unless_present = "distortion_file",
        conflicts_with = "distortion_file"
    )]
    pub distortion: Option<String>,
    /// Read the scores from a JSON file holding a list of numbers instead.
    #[arg(long, value_name = "FILE")]
    pub distortion_file: Option<PathBuf>,
    /// Modality names, comma separated, in set order (default: m0, m1, … inferred from the
    /// number of scores).
    #[arg(long, value_name = "NAMES")]
    pub modalities: Option<String>,
    /// RBF bandwidth: a number > 0 or "median" [default: 1.0].
    #[arg(long, allow_hyphen_values = true)]
    pub sigma: Option<Sigma>,
    /// Ridge of the solve (K + lambda I) y = U, >= 0 [default: 0.001].
    #[arg(long, allow_hyphen_values = true)]
    pub lambda: Option<f64>,
    /// Softmax temperature factor [default: 0.5].
    #[arg(long, allow_hyphen_values = true)]
    pub tau: Option<f64>,
    /// Weight of the softmax against the uniform floor, in [0, 1] [default: 0.5].
    #[arg(long, allow_hyphen_values = true)]
    pub gamma: Option<f64>,
    /// Utility scale, U = alpha * D, > 0 [default: 1.0].
    #[arg(long, allow_hyphen_values = true)]
    pub alpha: Option<f64>,
    /// distorted-first (the reference: higher distortion, higher probability) or faithful-first
    /// [default: distorted-first].
    #[arg(long)]
    pub preference: Option<Preference>,
    /// Kernel descriptor: scores (the reference) or masks (availability rows, Hamming distance)
    /// [default: scores].
    #[arg(long)]
    pub descriptor: Option<Descriptor>,
    /// Write the probabilities file here (atomically) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print an aligned table (scenario, D, r, z, softmax, p) instead of the JSON.
    #[arg(long)]
    pub table: bool,
}

impl SmoothArgs {
    /// The smoothing config: the reference values, overridden by the given flags.
    fn config(&self) -> SmoothingConfig {
        let d = SmoothingConfig::default();
        SmoothingConfig {
            alpha: self.alpha.unwrap_or(d.alpha),
            sigma: self.sigma.unwrap_or(d.sigma),
            lambda: self.lambda.unwrap_or(d.lambda),
            tau: self.tau.unwrap_or(d.tau),
            gamma: self.gamma.unwrap_or(d.gamma),
            preference: self.preference.unwrap_or(d.preference),
            descriptor: self.descriptor.unwrap_or(d.descriptor),
        }
    }

    /// The scores from `--distortion` or `--distortion-file` (clap enforces exactly one).
    fn distortion(&self) -> anyhow::Result<Vec<f64>> {
        match (&self.distortion, &self.distortion_file) {
            (Some(text), _) => parse_list(text),
            (None, Some(path)) => read_list(path),
            (None, None) => anyhow::bail!("give the scores with --distortion or --distortion-file"),
        }
    }

    /// The modality set: `--modalities`, or `m0, m1, …` inferred from `count`.
    fn modality_set(&self, count: usize) -> anyhow::Result<ModalitySet> {
        match &self.modalities {
            Some(names) => {
                let names: Vec<&str> = names.split(',').map(str::trim).collect();
                ModalitySet::from_names(names, 1).context("--modalities")
            }
            None => lssg_smoothing::modalities_for_count(count)
                .context("cannot infer the modalities from the number of scores (or pass --modalities)"),
        }
    }
}

/// `0.8, 1.2,…` → numbers, naming the position and text of anything that is not one.
fn parse_list(text: &str) -> anyhow::Result<Vec<f64>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .enumerate()
        .map(|(i, part)| {
            let part = part.trim();
            part.parse::<f64>().with_context(|| format!("--distortion: value {i} {part:?} is not a number"))
        })
        .collect()
}

/// A JSON list of numbers from `path`.
fn read_list(path: &Path) -> anyhow::Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the distortion file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON list of numbers, e.g. [0.8, 1.2, 0.0]", path.display()))
}

/// The aligned table: scenario, D, r, z, softmax, p, then the parameters used.
fn table(set: &ModalitySet, config: &SmoothingConfig, out: &Smoothed) -> String {
    let names = set.scenario_names();
    let width = names.iter().map(String::len).max().unwrap_or(0).max("scenario".len());
    let mut s =
        format!("{:<width$}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}\n", "scenario", "D", "r", "z", "softmax", "p");
    for (k, name) in names.iter().enumerate() {
        s += &format!(
            "{name:<width$}  {:>10.6}  {:>10.6}  {:>10.6}  {:>10.6}  {:>10.6}\n",
            out.distortion[k], out.scores[k], out.normalized[k], out.softmax[k], out.probabilities[k]
        );
    }
    let heuristic = if config.sigma == Sigma::Median { " (median heuristic)" } else { "" };
    s += &format!(
        "sigma {}{heuristic}, lambda {}, tau {}, gamma {}, alpha {}, {}, {}\n",
        out.sigma, config.lambda, config.tau, config.gamma, config.alpha, config.preference, config.descriptor
    );
    s
}

/// Runs `lssg smooth`.
pub fn run(args: SmoothArgs, quiet: bool) -> anyhow::Result<()> {
    let distortion = args.distortion()?;
    let set = args.modality_set(distortion.len())?;
    let config = args.config();
    let smoothed = lssg_smoothing::smooth(&distortion, &set, &config).context("smoothing failed")?;
    let file: ProbabilitiesFile = smoothed.to_probabilities_file(&set, &config, "cli", "", "", 0);

    let mut stdout = std::io::stdout().lock();
    if let Some(path) = &args.out {
        file.write(path).with_context(|| format!("cannot write {}", path.display()))?;
        if !quiet {
            eprintln!("lssg: wrote {} ({} scenarios)", path.display(), file.scenario_names.len());
        }
    }
    if args.table {
        stdout.write_all(table(&set, &config, &smoothed).as_bytes())?;
    } else if args.out.is_none() {
        // Serialise first so a closed pipe surfaces as the io::Error main recognises.
        let json = serde_json::to_string_pretty(&file)?;
        writeln!(stdout, "{json}")?;
    }
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(parse_list("0.5, 1,2e-1").unwrap(), vec![0.5, 1.0, 0.2]);
        assert!(parse_list("1,,2").unwrap_err().to_string().contains("value 1"));
        assert!(parse_list("1,abc").unwrap_err().to_string().contains("\"abc\""));
        assert!(parse_list(" ").unwrap().is_empty());
        assert!(parse_list("nan").unwrap()[0].is_nan());
    }
}
