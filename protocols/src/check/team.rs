//! A team's own invariants and coverage facts, in Rust: a property over
//! ground truth, written next to its workflow and registered once; the
//! checker runs it on every run of the workflows it names, beside the derived
//! and built-in invariants, and scenarios `[expect]` it by name (a fact:
//! `[require]`). Nothing in faultline changes to add one.

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

/// A team's coverage fact: something that must happen in a scenario's runs
/// for them to mean anything.
pub struct Fact {
    /// Its name in scenarios, records and reports: lowercase, digits, `-`.
    pub name: &'static str,
    /// What it means, in one sentence.
    pub statement: &'static str,
    /// The workflows it is looked for in, by name; empty: every workflow.
    pub workflows: &'static [&'static str],
    /// Whether a run showed it.
    pub seen: fn(&GroundTruth) -> bool,
}

/// Registers the coverage fact `f` (`coverage::register`).
pub fn register_fact(f: &'static Fact) -> Result<super::Coverage, String> {
    super::coverage::register(f)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Coverage;

    // Registered for this test binary's whole process: it judges a workflow
    // no other test runs.
    static SEEN: Fact = Fact {
        name: "tests-own-fact",
        statement: "the test saw it",
        workflows: &["tests-own"],
        seen: |_| true,
    };
    static BUILT_IN: Fact = Fact { name: "node-restarted", statement: "", workflows: &[], seen: |_| true };

    #[test]
    fn a_team_fact_is_named_like_a_built_in_one() {
        assert!(serde_json::from_str::<Coverage>("\"tests-own-fact\"").is_err(), "not registered yet");
        let mine = register_fact(&SEEN).unwrap();
        assert_eq!(register_fact(&SEEN), Ok(mine));
        assert_eq!((mine.name(), mine.statement()), ("tests-own-fact", "the test saw it"));
        assert_eq!(Coverage::parse("tests-own-fact"), Ok(mine));
        assert_eq!(serde_json::from_str::<Coverage>("\"tests-own-fact\"").unwrap(), mine);
        assert_eq!(serde_json::to_string(&mine).unwrap(), "\"tests-own-fact\"");
        assert!(Coverage::all().contains(&mine));
        assert!(register_fact(&BUILT_IN).unwrap_err().contains("built-in"));
        assert!(Coverage::parse("nope").unwrap_err().contains("facts: order-completed"));
    }
}
