//! The answer first: one row per protocol, over every scenario of the report
//! — which invariants it held and which it broke where, what share of orders
//! completed, how slow, how long until consistent, what it held and what it
//! sent — and one generated sentence per protocol stating the trade-off.

use crate::summary::{Group, Summary};
use std::collections::BTreeMap;

/// One protocol over every scenario, at the report's base intensity.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub protocol: String,
    /// Scenarios where every run passed, or whose violations were all explained.
    pub held_on: usize,
    pub scenarios: usize,
    /// Broken invariant → the scenarios where a run broke it unexplained.
    pub broken: BTreeMap<String, Vec<String>>,
    /// Runs whose violations the scenario's declared causes explained.
    pub explained: usize,
    /// Completed orders over submitted ones.
    pub completed_share: f64,
    /// Completed orders over those the business accepted (submitted less
    /// those the customer, the stock, the funds or the warehouse refused).
    pub completed_of_accepted: f64,
    /// Completed orders over what the same seeds completed without faults,
    /// where the report has intensity 0 for every scenario of the row.
    pub completed_of_fault_free: Option<f64>,
    /// Why the rest were cancelled, summed over the row's runs.
    pub cancelled_by: crate::record::CancelledBy,
    pub submitted: u64,
    pub cancelled: u64,
    /// Median over scenarios of each scenario's median p50.
    pub latency_p50_ms: f64,
    /// The worst scenario's p99, and that scenario.
    pub latency_p99_ms: (f64, String),
    pub ttc_p99_ms: (f64, String),
    pub messages_per_order: f64,
    /// Stock held in reservations, money on hold, locks: per order submitted.
    pub reserved_unit_s: f64,
    pub held_dollar_s: f64,
    pub locked_s: f64,
}

/// Every protocol's row, in the report's protocol order.
pub fn rows(s: &Summary) -> Vec<Row> {
    s.protocols.iter().filter_map(|p| row(s, p)).collect()
}

fn row(s: &Summary, protocol: &str) -> Option<Row> {
    let groups: Vec<(&String, &Group)> =
        s.groups.iter().filter(|((_, p), _)| p == protocol).map(|((sc, _), g)| (sc, g)).collect();
    if groups.is_empty() {
        return None;
    }
    let mut broken: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (sc, g) in &groups {
        for inv in g.failing_invariants.keys() {
            broken.entry(inv.clone()).or_default().push((*sc).clone());
        }
    }
    let submitted: u64 = groups.iter().map(|(_, g)| g.submitted).sum();
    let per_order =
        |f: fn(&Group) -> f64| groups.iter().map(|(_, g)| f(g)).sum::<f64>() / submitted.max(1) as f64;
    let worst = |f: fn(&Group) -> f64| {
        groups
            .iter()
            .map(|(sc, g)| (f(g), (*sc).clone()))
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
            .unwrap_or_default()
    };
    let completed: u64 = groups.iter().map(|(_, g)| g.completed).sum();
    let mut cancelled_by = crate::record::CancelledBy::default();
    groups.iter().for_each(|(_, g)| cancelled_by.add(&g.cancelled_by));
    // The same seeds at intensity 0, where the report has them for every scenario.
    let fault_free = groups.iter().map(|(sc, g)| {
        let points = s.by_intensity.get(&((*sc).clone(), protocol.to_string()))?;
        let (_, share, _) = points.iter().find(|(i, ..)| *i == 0.0)?;
        Some(share * g.submitted as f64)
    });
    let fault_free: Option<f64> = fault_free.sum();
    let mut p50: Vec<f64> = groups.iter().map(|(_, g)| g.latency_p50).collect();
    p50.sort_by(f64::total_cmp);
    Some(Row {
        protocol: protocol.to_string(),
        held_on: groups.iter().filter(|(_, g)| g.fail == 0).count(),
        scenarios: groups.len(),
        broken,
        explained: groups.iter().map(|(_, g)| g.expected).sum(),
        completed_share: completed as f64 / submitted.max(1) as f64,
        completed_of_accepted: completed as f64
            / submitted.saturating_sub(cancelled_by.business()).max(1) as f64,
        completed_of_fault_free: fault_free.filter(|_| s.base != 0.0).map(|f| completed as f64 / f.max(1.0)),
        cancelled_by,
        submitted,
        cancelled: groups.iter().map(|(_, g)| g.cancelled).sum(),
        latency_p50_ms: p50[p50.len() / 2],
        latency_p99_ms: worst(|g| g.latency_p99),
        ttc_p99_ms: worst(|g| g.ttc_p99),
        messages_per_order: per_order(|g| g.messages_per_order * g.submitted as f64),
        reserved_unit_s: per_order(|g| g.reserved_unit_s),
        held_dollar_s: per_order(|g| g.held_dollar_s),
        locked_s: per_order(|g| g.locked_s),
    })
}

impl Row {
    /// "held all 7" or "broke no-double-charge (callback-chaos), agreement (…)".
    pub fn invariants(&self) -> String {
        if self.broken.is_empty() {
            return match self.scenarios {
                1 => "held every invariant on its one scenario".to_string(),
                n => format!("held every invariant on all {n} scenarios"),
            };
        }
        let broken: Vec<String> =
            self.broken.iter().map(|(inv, where_)| format!("{inv} ({})", where_.join(", "))).collect();
        format!("broke {}", broken.join("; "))
    }

    /// What it holds while orders are in flight, per order, or "nothing".
    pub fn resources(&self) -> String {
        let mut parts = Vec::new();
        if self.reserved_unit_s > 0.0 {
            parts.push(format!("{:.2} unit·s of stock", self.reserved_unit_s));
        }
        if self.held_dollar_s > 0.0 {
            parts.push(format!("${:.2}·s on hold", self.held_dollar_s));
        }
        if self.locked_s > 0.0 {
            parts.push(format!("{:.2} lock·s", self.locked_s));
        }
        match parts.is_empty() {
            true => "nothing".into(),
            false => parts.join(", "),
        }
    }

    /// Whether the runs said why orders were cancelled (older records did not).
    fn split_known(&self) -> bool {
        self.cancelled_by.business() + self.cancelled_by.protocol() == self.cancelled
    }

    /// The completion column: against what the business would have
    /// completed, with the share of all orders beside it.
    pub fn completion(&self) -> String {
        let all = self.completed_share * 100.0;
        match (self.completed_of_fault_free, self.split_known()) {
            (Some(f), _) => format!("{:.0}% of fault-free ({all:.0}% of all)", f * 100.0),
            (None, true) => {
                format!("{:.0}% of accepted ({all:.0}% of all)", self.completed_of_accepted * 100.0)
            }
            (None, false) => format!("{all:.0}% of all"),
        }
    }

    /// What the completion is measured against, and what cancelled the rest.
    fn completion_sentence(&self) -> String {
        let all = self.completed_share * 100.0;
        let against = match self.completed_of_fault_free {
            Some(f) => format!("{:.0}% of what the same seeds completed without faults", f * 100.0),
            None if self.split_known() => {
                format!("{:.0}% of the orders the business accepted", self.completed_of_accepted * 100.0)
            }
            None => return format!("It completed {all:.0}% of orders"),
        };
        let rest = match self.split_known() && self.cancelled > 0 {
            true => format!("; cancelled: {}", self.cancelled_by.shares(self.submitted)),
            false => String::new(),
        };
        format!("It completed {against} ({all:.0}% of all orders{rest})")
    }

    /// The trade-off in one sentence, in numbers.
    pub fn sentence(&self) -> String {
        let explained = match self.explained {
            0 => String::new(),
            n => format!(" ({n} runs' violations explained by the scenarios' declared causes)"),
        };
        format!(
            "{} {}{explained}. {}; latency p50 {:.0} ms, p99 up to {:.0} ms \
             (on {}); consistent again within {:.0} ms at p99 (worst on {}); {:.1} messages per order; \
             per order it held {}.",
            self.protocol,
            self.invariants(),
            self.completion_sentence(),
            self.latency_p50_ms,
            self.latency_p99_ms.0,
            self.latency_p99_ms.1,
            self.ttc_p99_ms.0,
            self.ttc_p99_ms.1,
            self.messages_per_order,
            self.resources()
        )
    }
}
