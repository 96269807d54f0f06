//! One run, as a report reads it: the fields of a `faultline` JSON line the
//! report uses, and the scenario texts a file of lines carries. Unknown fields
//! are ignored, so newer lines still load. Lines come from anywhere: they are
//! data, bounded in length, and nothing in them is ever opened as a path.

use serde::{Deserialize, Serialize};
use std::io::BufRead;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Record {
    pub scenario: String,
    /// How a command line names the scenario (a file's path), when not by `scenario`.
    pub source: Option<String>,
    /// The hash of the scenario's text ([`content_hash`]), when known.
    pub scenario_hash: Option<String>,
    /// The faultline version that ran it.
    pub version: Option<String>,
    pub protocol: String,
    /// The workflow the orders went through (lines from before workflows: none, the shop).
    pub workflow: Option<String>,
    /// The `--workflow` the run was given, if any.
    pub workflow_flag: Option<String>,
    pub mutant: Option<String>,
    pub seed: u64,
    /// The sweep's fault-intensity factor (1: the scenario as written).
    pub intensity: Option<f64>,
    /// In swarm mode, the fault model the seed drew (only its presence is used).
    pub swarm: Option<serde_json::Value>,
    /// The reconciler ran beside the protocol.
    pub reconcile: bool,
    /// PCT-style change points were added to the plan (`--pct`).
    pub pct: bool,
    pub trace_hash: String,
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
    /// For an expected violation: what in the run excused it.
    pub evidence: Option<Evidence>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Evidence {
    pub cause: String,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Metrics {
    pub orders_submitted: u64,
    pub orders_completed: u64,
    pub orders_cancelled: u64,
    /// Why the cancelled orders ended so (absent in older records: all zero).
    pub cancelled_by: CancelledBy,
    pub messages_sent: u64,
    pub retries: u64,
    pub compensations: u64,
    pub refunds: u64,
    pub discrepancies: u64,
    pub repairs: u64,
    pub heal_ms_p99: f64,
    pub at_risk_dollar_s: f64,
    pub latency_ms: Percentiles,
    pub time_to_consistency_ms: Percentiles,
    /// Every order's latency and time to consistency, bucketed (absent in
    /// records older than these fields: the charts then have no orders).
    pub latency_hist: crate::hist::LogHist,
    pub consistency_hist: crate::hist::LogHist,
    pub longest_inconsistency_ms: f64,
    pub reserved_unit_s: f64,
    pub authorized_cent_s: f64,
    pub locked_s: f64,
}

/// Cancelled orders by cause, as `run` writes them (`cancelled_by`): a fixed
/// set of fields, so a line from elsewhere cannot grow the map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct CancelledBy {
    pub customer: u64,
    pub out_of_stock: u64,
    pub insufficient_funds: u64,
    pub shipment_failed: u64,
    pub lock_conflict: u64,
    pub faults: u64,
}

impl CancelledBy {
    /// (name, orders, whether the business said no), in a fixed order.
    pub fn parts(&self) -> [(&'static str, u64, bool); 6] {
        [
            ("customer", self.customer, true),
            ("out of stock", self.out_of_stock, true),
            ("insufficient funds", self.insufficient_funds, true),
            ("shipment failed", self.shipment_failed, true),
            ("lock conflicts", self.lock_conflict, false),
            ("faults", self.faults, false),
        ]
    }

    /// Cancelled because the business said no.
    pub fn business(&self) -> u64 {
        self.parts().iter().filter(|p| p.2).fold(0u64, |a, p| a.saturating_add(p.1))
    }

    /// Cancelled by the protocol or the faults.
    pub fn protocol(&self) -> u64 {
        self.parts().iter().filter(|p| !p.2).fold(0u64, |a, p| a.saturating_add(p.1))
    }

    pub fn add(&mut self, o: &CancelledBy) {
        self.customer = self.customer.saturating_add(o.customer);
        self.out_of_stock = self.out_of_stock.saturating_add(o.out_of_stock);
        self.insufficient_funds = self.insufficient_funds.saturating_add(o.insufficient_funds);
        self.shipment_failed = self.shipment_failed.saturating_add(o.shipment_failed);
        self.lock_conflict = self.lock_conflict.saturating_add(o.lock_conflict);
        self.faults = self.faults.saturating_add(o.faults);
    }

    /// "out of stock 60%, insufficient funds 30%; lock conflicts 10%" of `of`.
    pub fn shares(&self, of: u64) -> String {
        let each = |business: bool| {
            let parts = self.parts().into_iter().filter(move |p| p.2 == business && p.1 > 0);
            parts
                .map(|(name, n, _)| format!("{name} {:.0}%", 100.0 * n as f64 / of.max(1) as f64))
                .collect::<Vec<_>>()
        };
        let parts: Vec<String> =
            [each(true), each(false)].into_iter().filter(|p| !p.is_empty()).map(|p| p.join(", ")).collect();
        parts.join("; ")
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// The text of a scenario the runs in a file used, carried in the file as a
/// line of its own (`{"scenario_text": {...}}`) so a report can show it
/// without opening anything.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScenarioText {
    pub name: String,
    pub hash: String,
    pub text: String,
}

/// What a sweep set out to run, as the first line of its runs.jsonl
/// (`{"sweep_plan": {...}}`): a report can tell an interrupted sweep's file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepPlan {
    pub runs: u64,
}

/// One line of a file of runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    Run(Box<Record>),
    Text(ScenarioText),
    Plan(SweepPlan),
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    scenario_text: Option<ScenarioText>,
    #[serde(default)]
    sweep_plan: Option<SweepPlan>,
}

/// The longest line read: a run's line is a few KB; anything far longer is
/// not one, and reading it whole could take any amount of memory.
pub const MAX_LINE: usize = 4 << 20;

/// A line that could not be read or parsed, named by origin and line number.
#[derive(Debug)]
pub struct LineError(pub String);

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LineError {}

/// Parses one line (already known not to be blank).
pub fn parse_line(line: &str) -> Result<Line, serde_json::Error> {
    if line.contains("\"scenario_text\"") || line.contains("\"sweep_plan\"") {
        let probe = serde_json::from_str::<Probe>(line)?;
        if let Some(t) = probe.scenario_text {
            return Ok(Line::Text(t));
        }
        if let Some(p) = probe.sweep_plan {
            return Ok(Line::Plan(p));
        }
    }
    Ok(Line::Run(Box::new(serde_json::from_str(line)?)))
}

/// Reads lines from `input` one at a time and hands each to `each`; blank
/// lines are skipped; an error names `origin` and the line. A last line cut
/// off mid-write (no newline, not whole JSON: a killed writer's) is left out,
/// and the result says so. Memory stays bounded by [`MAX_LINE`] whatever the input.
pub fn read(
    input: impl BufRead,
    origin: &str,
    mut each: impl FnMut(Line) -> Result<(), String>,
) -> Result<Read, LineError> {
    let mut input = input.take(u64::MAX);
    let mut buf = Vec::new();
    for number in 1.. {
        buf.clear();
        input.set_limit(MAX_LINE as u64 + 1);
        let n = input.read_until(b'\n', &mut buf).map_err(|e| LineError(format!("{origin}: {e}")))?;
        if n == 0 {
            return Ok(Read { torn: false });
        }
        let at = |msg: String| LineError(format!("{origin}, line {number}: {msg}"));
        if buf.len() > MAX_LINE {
            return Err(at(format!("longer than {} MB: not a run's line", MAX_LINE >> 20)));
        }
        // Only the last line can lack its newline: a write that was cut off.
        let torn = buf.last() != Some(&b'\n');
        let Ok(text) = std::str::from_utf8(&buf) else {
            return match torn {
                true => Ok(Read { torn }),
                false => Err(at("not UTF-8".into())),
            };
        };
        if text.trim().is_empty() {
            continue;
        }
        let line = match parse_line(text.trim()) {
            Ok(line) => line,
            Err(_) if torn => return Ok(Read { torn }),
            Err(e) => return Err(at(e.to_string())),
        };
        each(line).map_err(at)?;
    }
    Ok(Read { torn: false })
}

/// What [`read`] found besides the lines.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Read {
    /// The last line was cut off mid-write and left out.
    pub torn: bool,
}

/// Parses JSON lines held in memory, keeping the runs; an error names the line.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    read(text.as_bytes(), origin, |line| {
        if let Line::Run(r) = line {
            out.push(*r);
        }
        Ok(())
    })
    .map_err(|e| e.0)?;
    Ok(out)
}

/// FNV-1a 64 of `bytes`, in hex: a specified function, so the same scenario
/// text has the same hash on every machine and toolchain.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Record {
    pub fn intensity(&self) -> f64 {
        self.intensity.unwrap_or(1.0)
    }

    /// What identifies the run: two records with the same key are the same run
    /// (same version, scenario text, variant and seed) and, the simulation
    /// being deterministic, must have the same trace hash.
    pub fn key(&self) -> String {
        key(
            self.version.as_deref().unwrap_or(""),
            (&self.scenario, self.scenario_hash.as_deref().unwrap_or("")),
            self.variant(),
            self.intensity(),
            self.seed,
        )
    }

    pub fn variant(&self) -> Variant<'_> {
        Variant {
            protocol: &self.protocol,
            mutant: self.mutant.as_deref(),
            swarm: self.swarm.is_some(),
            reconcile: self.reconcile,
            pct: self.pct,
        }
    }

    /// How tables name what ran: `saga`, `saga +reconcile`, or with a
    /// mutant `tcc (tcc-no-hang-guard)` — a row of its own, never mixed into
    /// the protocol's.
    pub fn label(&self) -> String {
        label(&self.protocol, self.mutant.as_deref(), self.reconcile)
    }
}

/// A protocol's name in a table, with its mutant and the reconciler if they ran.
pub fn label(protocol: &str, mutant: Option<&str>, reconcile: bool) -> String {
    let reconciled = match reconcile {
        true => format!("{protocol} +reconcile"),
        false => protocol.to_string(),
    };
    match mutant {
        Some(m) => format!("{reconciled} ({m})"),
        None => reconciled,
    }
}

/// What ran, beside the scenario and the seed: the protocol and how.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Variant<'a> {
    pub protocol: &'a str,
    pub mutant: Option<&'a str>,
    pub swarm: bool,
    pub reconcile: bool,
    pub pct: bool,
}

/// The key of a run (see [`Record::key`]), from its parts.
pub fn key(version: &str, (scenario, hash): (&str, &str), v: Variant, intensity: f64, seed: u64) -> String {
    let Variant { protocol, mutant, swarm, reconcile, pct } = v;
    let mutant = mutant.unwrap_or("");
    format!(
        "{version}\u{0}{scenario}\u{0}{hash}\u{0}{protocol}\u{0}{mutant}\u{0}{intensity}\u{0}{swarm}\u{0}{reconcile}\u{0}{pct}\u{0}{seed}"
    )
}
