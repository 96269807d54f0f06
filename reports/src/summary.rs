//! Runs grouped for the tables and charts: per scenario and protocol at the
//! base fault intensity, per intensity for the intensity chart, and every
//! violation class with its seeds.

use crate::record::Record;
use std::collections::BTreeMap;

/// One protocol on one scenario, over its seeds.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub runs: usize,
    pub pass: usize,
    pub expected: usize,
    pub fail: usize,
    /// Violations per invariant (failing runs only), for the verdict table.
    pub failing_invariants: BTreeMap<String, usize>,
    pub submitted: u64,
    pub completed: u64,
    pub cancelled: u64,
    pub cancelled_by: crate::record::CancelledBy,
    /// Medians over seeds of each seed's percentile.
    pub latency_p50: f64,
    pub latency_p90: f64,
    pub latency_p99: f64,
    pub ttc_p99: f64,
    pub longest_inconsistency_ms: f64,
    pub messages_per_order: f64,
    pub retries: u64,
    pub compensations: u64,
    /// Refunds the gateway booked, summed over seeds.
    pub refunds: u64,
    /// The reconciler ran in these runs.
    pub reconcile: bool,
    /// The reconciler's repairs, summed over seeds.
    pub repairs: u64,
    /// The worst seed's p99 time to heal, ms.
    pub heal_p99_ms: f64,
    /// Money found wrong times how long it stayed wrong, summed over seeds.
    pub at_risk_dollar_s: f64,
    pub reserved_unit_s: f64,
    pub held_dollar_s: f64,
    pub locked_s: f64,
    /// Per seed: median latency and p99 time to consistency, for the CDFs.
    pub seed_latency_p50: Vec<f64>,
    pub seed_ttc_p99: Vec<f64>,
    /// Every order's latency and time to consistency, over all seeds.
    pub latency_hist: crate::hist::LogHist,
    pub ttc_hist: crate::hist::LogHist,
    /// The group's lowest seed, to draw a typical run over time.
    pub first: Option<RunRef>,
}

/// One run, as far as running it again needs: the seed and the flags.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRef {
    pub seed: u64,
    pub protocol: String,
    pub mutant: Option<String>,
    pub intensity: f64,
    pub swarm: bool,
    pub reconcile: bool,
    pub pct: bool,
}

impl RunRef {
    fn of(r: &Record) -> RunRef {
        RunRef {
            seed: r.seed,
            protocol: r.protocol.clone(),
            mutant: r.mutant.clone(),
            intensity: r.intensity(),
            swarm: r.swarm.is_some(),
            reconcile: r.reconcile,
            pct: r.pct,
        }
    }
}

impl ViolationClass {
    /// The class's first seed, to run again.
    pub fn run(&self, seed: u64) -> RunRef {
        RunRef {
            seed,
            protocol: self.protocol.clone(),
            mutant: self.mutant.clone(),
            intensity: self.intensity.as_deref().and_then(|i| i.parse().ok()).unwrap_or(1.0),
            swarm: self.swarm,
            reconcile: self.reconcile,
            pct: self.pct,
        }
    }
}

/// (fault intensity, completed share of orders, median p99 latency in ms).
pub type IntensityPoint = (f64, f64, f64);

/// A kind of violation: the same invariant broken by the same protocol (and
/// mutant) on the same scenario, with every seed that showed it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ViolationClass {
    pub scenario: String,
    /// How a command line names the scenario, when not by its name (a file path).
    pub source: Option<String>,
    pub protocol: String,
    pub mutant: Option<String>,
    /// The `--workflow` the runs were given, if any.
    pub workflow_flag: Option<String>,
    pub invariant: String,
    /// `fail` or `expected`.
    pub verdict: String,
    /// The fault intensity the runs had (`--intensity`), if not 1.
    pub intensity: Option<String>,
    /// Whether the runs were swarm runs (`--swarm`).
    pub swarm: bool,
    /// Whether the reconciler ran (`--reconcile`).
    pub reconcile: bool,
    /// Whether the runs had PCT-style change points (`--pct`).
    pub pct: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub scenarios: Vec<String>,
    /// The workflows the runs' orders went through, in the order first seen.
    pub workflows: Vec<String>,
    pub protocols: Vec<String>,
    /// The fault intensity the tables show (1 if it was run).
    pub base: f64,
    pub intensities: Vec<f64>,
    pub groups: BTreeMap<(String, String), Group>,
    /// (scenario, protocol) → one point per intensity.
    pub by_intensity: BTreeMap<(String, String), Vec<IntensityPoint>>,
    /// Each class with its seeds.
    pub violations: BTreeMap<ViolationClass, Seeds>,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The seeds of one violation class: how many, and the lowest few with the
/// first violation's subject and detail — all a report shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seeds {
    pub count: usize,
    /// Up to [`Seeds::KEPT`] seeds, ascending.
    pub first: Vec<(u64, String)>,
}

impl Seeds {
    pub const KEPT: usize = 20;

    fn add(&mut self, seed: u64, detail: String) {
        self.count += 1;
        let at = self.first.partition_point(|(s, _)| *s < seed);
        if at < Self::KEPT {
            self.first.insert(at, (seed, detail));
            self.first.truncate(Self::KEPT);
        }
    }
}

/// One group's runs as they stream in: sums, and a few numbers per seed.
#[derive(Default)]
struct Acc {
    g: Group,
    messages: u64,
    p50: Vec<f64>,
    p90: Vec<f64>,
    p99: Vec<f64>,
    ttc: Vec<f64>,
}

/// Builds a [`Summary`] one record at a time, keeping no record: memory grows
/// with groups and a few numbers per run, never with the runs' violations.
#[derive(Default)]
pub struct SummaryBuilder {
    s: Summary,
    per: BTreeMap<(String, String, u64), Acc>,
}

impl SummaryBuilder {
    pub fn add(&mut self, r: &Record) {
        let s = &mut self.s;
        if !s.scenarios.contains(&r.scenario) {
            s.scenarios.push(r.scenario.clone());
        }
        let workflow = r.workflow.clone().unwrap_or_else(|| "shop".into());
        if !s.workflows.contains(&workflow) {
            s.workflows.push(workflow);
        }
        // A protocol with the reconciler is a row of its own: "saga +reconcile".
        let label = r.label();
        if !s.protocols.contains(&label) {
            s.protocols.push(label.clone());
        }
        if !s.intensities.iter().any(|i| *i == r.intensity()) {
            s.intensities.push(r.intensity());
        }
        let mut classes = std::collections::BTreeSet::new();
        for v in r.violations.iter().filter(|_| r.verdict != "pass") {
            let class = ViolationClass {
                scenario: r.scenario.clone(),
                source: r.source.clone(),
                protocol: r.protocol.clone(),
                mutant: r.mutant.clone(),
                workflow_flag: r.workflow_flag.clone(),
                invariant: v.invariant.clone(),
                verdict: r.verdict.clone(),
                intensity: (r.intensity() != 1.0).then(|| r.intensity().to_string()),
                swarm: r.swarm.is_some(),
                reconcile: r.reconcile,
                pct: r.pct,
            };
            if classes.insert(class.clone()) {
                let evidence = match &v.evidence {
                    Some(e) if r.verdict == "expected" => format!(" — because {}: {}", e.cause, e.detail),
                    _ => String::new(),
                };
                s.violations
                    .entry(class)
                    .or_default()
                    .add(r.seed, format!("{}: {}{evidence}", v.subject, v.detail));
            }
        }
        let acc = self.per.entry((r.scenario.clone(), label, r.intensity().to_bits())).or_default();
        let g = &mut acc.g;
        g.runs += 1;
        if g.first.as_ref().is_none_or(|f| r.seed < f.seed) {
            g.first = Some(RunRef::of(r));
        }
        match r.verdict.as_str() {
            "pass" => g.pass += 1,
            "expected" => g.expected += 1,
            _ => {
                g.fail += 1;
                for v in &r.violations {
                    *g.failing_invariants.entry(v.invariant.clone()).or_default() += 1;
                }
            }
        }
        let m = &r.metrics;
        g.submitted += m.orders_submitted;
        g.completed += m.orders_completed;
        g.cancelled += m.orders_cancelled;
        g.cancelled_by.add(&m.cancelled_by);
        acc.messages += m.messages_sent;
        g.retries += m.retries;
        g.compensations += m.compensations;
        g.refunds += m.refunds;
        g.reconcile |= r.reconcile;
        g.repairs += m.repairs;
        g.heal_p99_ms = g.heal_p99_ms.max(m.heal_ms_p99);
        g.at_risk_dollar_s += m.at_risk_dollar_s;
        g.reserved_unit_s += m.reserved_unit_s;
        g.held_dollar_s += m.authorized_cent_s / 100.0;
        g.locked_s += m.locked_s;
        g.longest_inconsistency_ms = g.longest_inconsistency_ms.max(m.longest_inconsistency_ms);
        g.latency_hist.merge(&m.latency_hist);
        g.ttc_hist.merge(&m.consistency_hist);
        acc.p50.push(m.latency_ms.p50);
        acc.p90.push(m.latency_ms.p90);
        acc.p99.push(m.latency_ms.p99);
        acc.ttc.push(m.time_to_consistency_ms.p99);
    }

    pub fn finish(self) -> Summary {
        let mut s = self.s;
        s.intensities.sort_by(f64::total_cmp);
        s.base = s
            .intensities
            .iter()
            .copied()
            .min_by(|a, b| (a - 1.0).abs().total_cmp(&(b - 1.0).abs()))
            .unwrap_or(1.0);
        for ((scenario, protocol, bits), acc) in self.per {
            let Acc { mut g, messages, mut p50, mut p90, mut p99, mut ttc } = acc;
            g.messages_per_order = messages as f64 / g.submitted.max(1) as f64;
            g.seed_latency_p50 = p50.clone();
            g.seed_ttc_p99 = ttc.clone();
            g.latency_p50 = median(&mut p50);
            g.latency_p90 = median(&mut p90);
            g.latency_p99 = median(&mut p99);
            g.ttc_p99 = median(&mut ttc);
            let share = g.completed as f64 / g.submitted.max(1) as f64;
            let key = (scenario, protocol);
            s.by_intensity.entry(key.clone()).or_default().push((f64::from_bits(bits), share, g.latency_p99));
            if f64::from_bits(bits) == s.base {
                s.groups.insert(key, g);
            }
        }
        for points in s.by_intensity.values_mut() {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        s
    }
}

impl Summary {
    pub fn of(records: &[Record]) -> Summary {
        let mut b = SummaryBuilder::default();
        for r in records {
            b.add(r);
        }
        b.finish()
    }
}
