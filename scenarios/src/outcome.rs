//! The record of one seed's run (`RunOutcome`, one JSON line each) and the
//! summary over many seeds. Data only: the CLI decides how it looks.

use crate::scenario::Expectation;
use faultline_protocols::check::{CancelCause, Coverage, Invariant, Violation};
use faultline_protocols::run::RunResult;
use faultline_reports::hist::LogHist;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub scenario: String,
    /// How a command line names the scenario, when not by `scenario` (a file's path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The hash of the scenario file's text: records of different texts do not mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_hash: Option<String>,
    /// The faultline version that ran it.
    #[serde(default)]
    pub version: String,
    pub protocol: String,
    /// The workflow the orders went through (records from before workflows: the shop).
    #[serde(default = "shop")]
    pub workflow: String,
    /// The `--workflow` the run was given, if any: printed commands repeat it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_flag: Option<String>,
    /// The known bug switched on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutant: Option<String>,
    pub seed: u64,
    /// In a sweep, the factor the scenario's fault rates were scaled by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intensity: Option<f64>,
    /// In swarm mode, the fault model this seed drew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<faultline_sim::FaultModel>,
    /// PCT-style change points were added to the plan (see [`crate::pct`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pct: bool,
    /// The reconciler ran beside the protocol.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconcile: bool,
    /// Hex of the trace hash: same scenario, protocol and seed → same value.
    pub trace_hash: String,
    pub violations: Vec<Violation>,
    /// The coverage facts this run showed.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub coverage: BTreeSet<Coverage>,
    /// Judged against the scenario's expectation for this protocol.
    pub verdict: Verdict,
    pub metrics: Metrics,
}

fn shop() -> String {
    faultline_protocols::workflow::builtin::DEFAULT.to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No invariant violated.
    Pass,
    /// Only invariants the scenario expects this protocol to break.
    Expected,
    /// An invariant the scenario does not expect to break.
    Fail,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub orders_submitted: u64,
    pub orders_completed: u64,
    pub orders_cancelled: u64,
    pub orders_unsettled: u64,
    /// Why the cancelled orders ended so: the business (customer, stock,
    /// funds, shipment) or the protocol and the faults.
    #[serde(default)]
    pub cancelled_by: BTreeMap<CancelCause, u64>,
    pub messages_sent: u64,
    pub messages_dropped: u64,
    pub retries: u64,
    pub compensations: u64,
    /// Refunds the payment gateway booked (money returned after a charge).
    #[serde(default)]
    pub refunds: u64,
    /// With the reconciler: the discrepancies it found (order × kind), the
    /// repairs it made, found-to-repaired times, and money found wrong times
    /// how long it stayed so.
    #[serde(default)]
    pub discrepancies: u64,
    #[serde(default)]
    pub repairs: u64,
    /// What it found and could not repair: left for a person.
    #[serde(default)]
    pub left_for_a_person: u64,
    #[serde(default)]
    pub heal_ms_p50: f64,
    #[serde(default)]
    pub heal_ms_p99: f64,
    #[serde(default)]
    pub at_risk_dollar_s: f64,
    pub sim_ms: u64,
    pub latency_ms: Percentiles,
    /// Submission to the last write any service made for the order.
    pub time_to_consistency_ms: Percentiles,
    /// Every order's latency and time to consistency, bucketed: what a
    /// report adds up across runs to show distributions over orders.
    #[serde(default)]
    pub latency_hist: LogHist,
    #[serde(default)]
    pub consistency_hist: LogHist,
    /// The longest time two services could disagree about an order.
    pub longest_inconsistency_ms: f64,
    /// Stock held in reservations, in unit·seconds.
    pub reserved_unit_s: f64,
    /// Customers' money held by authorizations, in cent·seconds.
    pub authorized_cent_s: f64,
    /// Row locks held (2PC), in lock·seconds.
    #[serde(default)]
    pub locked_s: f64,
    /// How often each fault kind fired in this run (from the trace).
    pub faults: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles; all zero for no samples.
    pub fn of(samples: &[f64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let rank = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Percentiles { p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: s[s.len() - 1] }
    }
}

const FAULT_EVENTS: [&str; 19] = [
    "crash",
    "restart",
    "pause",
    "partition",
    "link-cut",
    "latency",
    "loss",
    "duplication",
    "failover",
    "failover-impossible",
    "fsync-failed",
    "torn-write-dropped",
    "callback-lost",
    "callback-duplicated",
    "clock-skew",
    "disk-latency",
    "targeted",
    "targeted-missed",
    "slow-node",
];

impl RunOutcome {
    pub fn new(
        scenario: &str,
        protocol: &str,
        seed: u64,
        expected: Option<&Expectation>,
        r: &RunResult,
    ) -> RunOutcome {
        let count = |k: &str| r.counts.get(k).copied().unwrap_or(0);
        let states = r.truth.orders.values().filter_map(|v| v.as_text());
        let (mut completed, mut cancelled) = (0, 0);
        for s in states {
            match s {
                "completed" => completed += 1,
                "cancelled" => cancelled += 1,
                _ => {}
            }
        }
        let submitted = r.truth.workload.orders.len() as u64;
        let journal = r.truth.journal.clone().unwrap_or_default();
        let heal = Percentiles::of(&journal.heal_ms(&r.truth));
        let metrics = Metrics {
            orders_submitted: submitted,
            orders_completed: completed,
            orders_cancelled: cancelled,
            orders_unsettled: submitted - completed - cancelled,
            cancelled_by: r.cancel_causes.values().fold(BTreeMap::new(), |mut by, c| {
                *by.entry(*c).or_default() += 1;
                by
            }),
            messages_sent: count("send") + count("reply") + count("duplicate"),
            messages_dropped: r.counts.iter().filter(|(k, _)| k.starts_with("drop-")).map(|(_, v)| v).sum(),
            retries: r.retries,
            compensations: r.compensations,
            refunds: r.truth.ledger.iter().filter(|e| e.amount < 0).count() as u64,
            discrepancies: journal.found(),
            repairs: journal.repaired(),
            left_for_a_person: journal.for_a_person().count() as u64,
            heal_ms_p50: heal.p50,
            heal_ms_p99: heal.p99,
            at_risk_dollar_s: journal.at_risk_dollar_s(&r.truth, r.sim_ms),
            sim_ms: r.sim_ms,
            latency_ms: Percentiles::of(&r.latencies_ms),
            time_to_consistency_ms: Percentiles::of(&r.consistency_ms),
            latency_hist: LogHist::of(&r.latencies_ms),
            consistency_hist: LogHist::of(&r.consistency_ms),
            longest_inconsistency_ms: r.inconsistency_ms.iter().copied().fold(0.0, f64::max),
            reserved_unit_s: r.reserved_unit_s,
            authorized_cent_s: r.authorized_cent_s,
            locked_s: r.locked_s,
            faults: FAULT_EVENTS.iter().filter(|k| count(k) > 0).map(|k| (k.to_string(), count(k))).collect(),
        };
        let verdict = if r.violations.is_empty() {
            Verdict::Pass
        } else if r.violations.iter().all(|v| expected.is_some_and(|e| e.excuses(v))) {
            Verdict::Expected
        } else {
            Verdict::Fail
        };
        RunOutcome {
            scenario: scenario.to_string(),
            protocol: protocol.to_string(),
            workflow: shop(),
            workflow_flag: None,
            mutant: None,
            swarm: None,
            pct: false,
            reconcile: false,
            intensity: None,
            seed,
            trace_hash: format!("{:016x}", r.trace_hash),
            source: None,
            scenario_hash: None,
            version: env!("CARGO_PKG_VERSION").to_string(),
            violations: r.violations.clone(),
            coverage: r.coverage.clone(),
            verdict,
            metrics,
        }
    }

    /// A run that panicked: it fails, with the panic as its one violation.
    pub fn panicked(scenario: &str, protocol: &str, seed: u64, message: &str) -> RunOutcome {
        let violation = Violation {
            invariant: Invariant::NoPanic,
            subject: "simulation".into(),
            detail: message.to_string(),
            evidence: None,
        };
        RunOutcome {
            scenario: scenario.to_string(),
            protocol: protocol.to_string(),
            workflow: shop(),
            workflow_flag: None,
            mutant: None,
            swarm: None,
            pct: false,
            reconcile: false,
            intensity: None,
            seed,
            trace_hash: String::new(),
            source: None,
            scenario_hash: None,
            version: env!("CARGO_PKG_VERSION").to_string(),
            violations: vec![violation],
            coverage: BTreeSet::new(),
            verdict: Verdict::Fail,
            metrics: Metrics::default(),
        }
    }

    /// The distinct invariants this run violated, in catalogue order.
    pub fn broken(&self) -> Vec<Invariant> {
        Invariant::all().into_iter().filter(|i| self.violations.iter().any(|v| v.invariant == *i)).collect()
    }
}

/// Totals over many seeds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub seeds: u64,
    /// Seeds that broke an invariant the scenario does not expect to break.
    pub failing_seeds: Vec<u64>,
    /// Seeds that broke only expected invariants.
    pub expected_seeds: u64,
    /// Per invariant, in catalogue order: (invariant, violations, seeds that violated it).
    pub by_invariant: Vec<(Invariant, u64, u64)>,
    pub orders_submitted: u64,
    pub orders_completed: u64,
    pub orders_cancelled: u64,
    pub orders_unsettled: u64,
    pub cancelled_by: BTreeMap<CancelCause, u64>,
    pub messages_sent: u64,
    pub retries: u64,
    pub compensations: u64,
    pub refunds: u64,
    /// The runs had the reconciler beside the protocol.
    pub reconciled: bool,
    pub discrepancies: u64,
    pub repairs: u64,
    pub left_for_a_person: u64,
    /// Percentiles of the seeds' p99 found-to-repaired times (seeds with repairs).
    pub heal_p99_ms: Percentiles,
    pub at_risk_dollar_s: f64,
    pub sim_ms: u64,
    pub faults: BTreeMap<String, u64>,
    /// Per coverage fact, the seeds that showed it.
    pub coverage: BTreeMap<Coverage, u64>,
    /// Percentiles of the seeds' p99 time to consistency.
    pub consistency_p99_ms: Percentiles,
    /// The longest inconsistency window of any order of any seed.
    pub longest_inconsistency_ms: f64,
    pub reserved_unit_s: f64,
    pub authorized_cent_s: f64,
    pub locked_s: f64,
    /// Percentiles of the seeds' per-order p50 latencies.
    pub latency_p50_ms: Percentiles,
    /// Percentiles of the seeds' per-order p99 latencies: the tail a reviewer cares about.
    pub latency_p99_ms: Percentiles,
}

impl Summary {
    pub fn of(outcomes: &[RunOutcome]) -> Summary {
        let mut b = SummaryBuilder::default();
        outcomes.iter().for_each(|o| b.add(o));
        b.finish()
    }
}

/// A [`Summary`] built one outcome at a time, keeping only the few numbers per
/// seed that percentiles need.
#[derive(Default)]
pub struct SummaryBuilder {
    s: Summary,
    p50s: Vec<f64>,
    p99s: Vec<f64>,
    ttc: Vec<f64>,
    heal: Vec<f64>,
}

impl SummaryBuilder {
    pub fn add(&mut self, o: &RunOutcome) {
        let s = &mut self.s;
        if s.by_invariant.is_empty() {
            s.by_invariant = Invariant::all().into_iter().map(|i| (i, 0, 0)).collect();
        }
        s.seeds += 1;
        match o.verdict {
            Verdict::Pass => {}
            Verdict::Expected => s.expected_seeds += 1,
            Verdict::Fail => s.failing_seeds.push(o.seed),
        }
        for invariant in o.broken() {
            let e = s.by_invariant.iter_mut().find(|e| e.0 == invariant).expect("every invariant");
            e.1 += o.violations.iter().filter(|v| v.invariant == invariant).count() as u64;
            e.2 += 1;
        }
        let m = &o.metrics;
        s.orders_submitted += m.orders_submitted;
        s.orders_completed += m.orders_completed;
        s.orders_cancelled += m.orders_cancelled;
        s.orders_unsettled += m.orders_unsettled;
        for (c, n) in &m.cancelled_by {
            *s.cancelled_by.entry(*c).or_default() += n;
        }
        s.messages_sent += m.messages_sent;
        s.retries += m.retries;
        s.compensations += m.compensations;
        s.refunds += m.refunds;
        s.reconciled |= o.reconcile;
        s.discrepancies += m.discrepancies;
        s.repairs += m.repairs;
        s.left_for_a_person += m.left_for_a_person;
        s.at_risk_dollar_s += m.at_risk_dollar_s;
        if m.repairs > 0 {
            self.heal.push(m.heal_ms_p99);
        }
        s.sim_ms += m.sim_ms;
        for (k, v) in &m.faults {
            *s.faults.entry(k.clone()).or_insert(0) += v;
        }
        for fact in &o.coverage {
            *s.coverage.entry(*fact).or_insert(0) += 1;
        }
        s.longest_inconsistency_ms = s.longest_inconsistency_ms.max(m.longest_inconsistency_ms);
        s.reserved_unit_s += m.reserved_unit_s;
        s.authorized_cent_s += m.authorized_cent_s;
        s.locked_s += m.locked_s;
        self.p50s.push(m.latency_ms.p50);
        self.p99s.push(m.latency_ms.p99);
        self.ttc.push(m.time_to_consistency_ms.p99);
    }

    pub fn finish(mut self) -> Summary {
        if self.s.by_invariant.is_empty() {
            self.s.by_invariant = Invariant::all().into_iter().map(|i| (i, 0, 0)).collect();
        }
        self.s.heal_p99_ms = Percentiles::of(&self.heal);
        self.s.latency_p50_ms = Percentiles::of(&self.p50s);
        self.s.consistency_p99_ms = Percentiles::of(&self.ttc);
        self.s.latency_p99_ms = Percentiles::of(&self.p99s);
        self.s
    }
}

impl Summary {
    /// Of `required`, the facts no seed showed.
    pub fn missing(&self, required: &[Coverage]) -> Vec<Coverage> {
        required.iter().copied().filter(|f| !self.coverage.contains_key(f)).collect()
    }
}

/// "business 10 (out-of-stock 6, customer 4); protocol and faults 2 (faults 2)",
/// or "none" when nothing was cancelled.
pub fn cancel_split(by: &BTreeMap<CancelCause, u64>) -> String {
    let part = |business: bool, name: &str| {
        let of: Vec<_> = by.iter().filter(|(c, n)| c.business() == business && **n > 0).collect();
        let total: u64 = of.iter().map(|(_, n)| **n).sum();
        let each: Vec<_> = of.iter().map(|(c, n)| format!("{c} {n}")).collect();
        (total > 0).then(|| format!("{name} {total} ({})", each.join(", ")))
    };
    let parts: Vec<_> =
        [part(true, "business"), part(false, "protocol and faults")].into_iter().flatten().collect();
    match parts.is_empty() {
        true => "none".into(),
        false => parts.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&xs);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&[7.0]).p50, 7.0);
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }
}
