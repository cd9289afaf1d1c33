//! The named options a probabilities file records (docs/method.md §3.4, §4): which score was
//! smoothed and how. lssg-smoothing and lssg-scoring configure with them; the file
//! (lssg-scenario's `ProbabilitiesFile`) records them by these names, so a file names only
//! options that exist.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which scenarios get more probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preference {
    /// Higher distortion ⇒ higher probability; the full scenario gets the least (the reference).
    #[default]
    DistortedFirst,
    /// Lower distortion ⇒ higher probability (z is negated before the softmax).
    FaithfulFirst,
}

/// What the smoothing kernel compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Descriptor {
    /// X = D as an S × 1 matrix: the kernel is over the 1-D scores (the reference).
    #[default]
    Scores,
    /// X = the S × M availability rows: the kernel is over squared Hamming distances.
    Masks,
}

/// Which per-scenario score a distribution is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreKind {
    /// The latent distortion D (the paper's).
    #[default]
    Latent,
    /// The task-loss increase T (docs/method.md §3.4).
    Task,
}

impl ScoreKind {
    /// Whether this is the latent distortion (the probabilities file leaves `score` out then,
    /// as the reference's files do).
    pub fn is_latent(&self) -> bool {
        *self == Self::Latent
    }
}

/// Implements `as_str`, `Display` and `FromStr` from one table of kebab-case names.
macro_rules! named_enum {
    ($ty:ident, $what:literal, $expected:literal, $($variant:ident => $name:literal),+) => {
        impl $ty {
            /// The kebab-case name used in configs, files and on the command line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = Error;
            /// The name in any case.
            fn from_str(s: &str) -> Result<Self> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($name => Ok(Self::$variant),)+
                    _ => Err(Error::UnknownName { what: $what, value: s.to_string(), expected: $expected }),
                }
            }
        }
    };
}

named_enum!(Preference, "preference", "\"distorted-first\" or \"faithful-first\"",
    DistortedFirst => "distorted-first", FaithfulFirst => "faithful-first");
named_enum!(Descriptor, "descriptor", "\"scores\" or \"masks\"", Scores => "scores", Masks => "masks");
named_enum!(ScoreKind, "score", "\"latent\" or \"task\"", Latent => "latent", Task => "task");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case_and_serialise_as_displayed() {
        assert_eq!("Faithful-First".parse::<Preference>().unwrap(), Preference::FaithfulFirst);
        assert_eq!("masks".parse::<Descriptor>().unwrap(), Descriptor::Masks);
        assert_eq!("task".parse::<ScoreKind>().unwrap(), ScoreKind::Task);
        let err = "best".parse::<Preference>().unwrap_err();
        assert_eq!(err.to_string(), r#"invalid preference "best": expected "distorted-first" or "faithful-first""#);
        assert!("hamming".parse::<Descriptor>().is_err());
        for (json, name) in [
            (serde_json::to_string(&Preference::FaithfulFirst).unwrap(), Preference::FaithfulFirst.to_string()),
            (serde_json::to_string(&Descriptor::Scores).unwrap(), Descriptor::Scores.to_string()),
            (serde_json::to_string(&ScoreKind::Task).unwrap(), ScoreKind::Task.to_string()),
        ] {
            assert_eq!(json, format!("\"{name}\""));
        }
        assert!(serde_json::from_str::<ScoreKind>(r#""loss""#).is_err());
        assert!(ScoreKind::default().is_latent() && !ScoreKind::Task.is_latent());
    }
}
