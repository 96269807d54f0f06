//! A team's own invariants, in Rust: a property over ground truth, written
//! next to its workflow and registered once; the checker runs it on every run
//! of the workflows it names, beside the derived and built-in invariants, and
//! scenarios `[expect]` it by name. Nothing in faultline changes to add one.

use super::{Findings, GroundTruth};
use crate::invariant::{self, Invariant};
use std::sync::RwLock;

/// A team's invariant.
pub struct Property {
    /// Its name in scenarios, records and reports: lowercase, digits, `-`.
    pub name: &'static str,
    /// What it states, in one sentence.
    pub statement: &'static str,
    /// The workflows it judges, by name; empty: every workflow.
    pub workflows: &'static [&'static str],
    /// What breaks it in a run: (subject, what is wrong), each.
    pub check: fn(&GroundTruth) -> Vec<(String, String)>,
}

static REGISTERED: RwLock<Vec<&'static Property>> = RwLock::new(Vec::new());

/// Registers `p`: the checker runs it from now on, and its name parses.
pub fn register(p: &'static Property) -> Result<Invariant, String> {
    let named = invariant::register(p.name, p.statement)?;
    let mut all = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|q| q.name == p.name) {
        all.push(p);
    }
    Ok(named)
}

/// The registered properties that judge `workflow`.
pub fn judging(workflow: &str) -> Vec<&'static Property> {
    let all = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    all.iter().copied().filter(|p| p.workflows.is_empty() || p.workflows.contains(&workflow)).collect()
}

pub(super) fn check(g: &GroundTruth, out: &mut Findings) {
    for p in judging(&g.workflow.name) {
        for (subject, detail) in (p.check)(g) {
            out.add(Invariant::Team(p.name), subject, detail);
        }
    }
}

/// Where the registered property `name` judges, for `list`: ", on W, V" or "".
pub fn judging_names(name: &str) -> String {
    let all = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    match all.iter().find(|p| p.name == name) {
        Some(p) if !p.workflows.is_empty() => format!(", on {}", p.workflows.join(", ")),
        _ => String::new(),
    }
}
