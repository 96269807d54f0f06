//! One run, as a report reads it: the fields of a `faultline` JSON line the
//! report uses. Unknown fields are ignored, so newer lines still load.

use serde::Deserialize;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Record {
    pub scenario: String,
    pub protocol: String,
    pub mutant: Option<String>,
    pub seed: u64,
    /// The sweep's fault-intensity factor (1: the scenario as written).
    pub intensity: Option<f64>,
    /// In swarm mode, the fault model the seed drew (only its presence is used).
    pub swarm: Option<serde_json::Value>,
    pub violations: Vec<Violation>,
    /// `pass`, `expected` or `fail`.
    pub verdict: String,
    pub metrics: Metrics,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Violation {
    pub invariant: String,
    pub subject: String,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Metrics {
    pub orders_submitted: u64,
    pub orders_completed: u64,
    pub orders_cancelled: u64,
    pub messages_sent: u64,
    pub retries: u64,
    pub compensations: u64,
    pub latency_ms: Percentiles,
    pub time_to_consistency_ms: Percentiles,
    pub longest_inconsistency_ms: f64,
    pub reserved_unit_s: f64,
    pub authorized_cent_s: f64,
    pub locked_s: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Parses JSON lines; an error names the line. Blank lines are skipped.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str(line).map_err(|e| format!("{origin}, line {}: {e}", i + 1))?;
        out.push(r);
    }
    Ok(out)
}

impl Record {
    pub fn intensity(&self) -> f64 {
        self.intensity.unwrap_or(1.0)
    }
}
