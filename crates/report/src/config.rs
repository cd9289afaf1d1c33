//! What a report computes: metrics, method pairs and bootstrap settings (docs/report.md §4).

use lssg_core::MetricId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The pairs every group gets when it has both methods: `(a, b)` reports `a − b`.
pub const DEFAULT_PAIRS: [(&str, &str); 2] = [("guided", "uniform"), ("guided", "lora")];

/// Settings of a report; every field has a default, unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Metrics to report (each group leads with its cells' primary metric). Default: all four.
    pub metrics: Vec<MetricId>,
    /// Pairs `(a, b)` reported as `a − b` in addition to [`DEFAULT_PAIRS`].
    pub pairs: Vec<(String, String)>,
    /// Resamples of every bootstrap (seeds and tiles). Default 2000.
    pub bootstrap_resamples: usize,
    /// Seed of every bootstrap, so intervals are reproducible. Default 0.
    pub bootstrap_seed: u64,
    /// Coverage of the percentile intervals, in (0, 1). Default 0.95.
    pub confidence: f64,
    /// Whether to draw the plots (PNG and SVG, also inlined in the HTML). Default true.
    pub plots: bool,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            metrics: MetricId::ALL.to_vec(),
            pairs: Vec::new(),
            bootstrap_resamples: 2000,
            bootstrap_seed: 0,
            confidence: 0.95,
            plots: true,
        }
    }
}

/// A setting the report cannot work with.
#[derive(Debug, Error, PartialEq)]
#[error("report config: {field} = {value}: {message}")]
pub struct ConfigError {
    /// The field.
    pub field: &'static str,
    /// Its value, printed.
    pub value: String,
    /// What is wrong.
    pub message: String,
}

impl ReportConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let error = |field, value: String, message: &str| Err(ConfigError { field, value, message: message.into() });
        if self.metrics.is_empty() {
            return error("metrics", "[]".into(), "at least one metric is needed");
        }
        if self.bootstrap_resamples == 0 {
            return error("bootstrap_resamples", "0".into(), "at least one resample is needed");
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return error("confidence", self.confidence.to_string(), "must lie strictly between 0 and 1");
        }
        if let Some((a, b)) = self.pairs.iter().find(|(a, b)| a == b) {
            return error("pairs", format!("({a}, {b})"), "a method cannot be paired with itself");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_fields_and_unknown_ones_are_refused() {
        let c: ReportConfig = serde_json::from_str(r#"{"bootstrap_seed": 3}"#).unwrap();
        assert_eq!(c, ReportConfig { bootstrap_seed: 3, ..ReportConfig::default() });
        assert!(serde_json::from_str::<ReportConfig>(r#"{"seed": 3}"#).is_err());
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn bad_values_name_the_field() {
        let c = ReportConfig { confidence: 1.0, ..ReportConfig::default() };
        assert_eq!(c.validate().unwrap_err().field, "confidence");
        let c = ReportConfig { metrics: Vec::new(), ..ReportConfig::default() };
        assert_eq!(c.validate().unwrap_err().field, "metrics");
        // A metric name outside MetricId does not parse.
        let err = serde_json::from_str::<ReportConfig>(r#"{"metrics": ["iou"]}"#).unwrap_err().to_string();
        assert!(err.contains("iou") && err.contains("soft_jaccard"), "{err}");
    }
}
