//! `faultline list`: the scenarios, workflows, protocols, invariants, mutants
//! and fault points this binary knows. One category prints one row per item, name first.

use super::{BadInput, Ctx, What};
use crate::scenario::{Scenario, CATALOG};
use anyhow::anyhow;
use faultline_protocols::check::{Cause, Coverage, Invariant};
use faultline_protocols::shop::Service;
use faultline_protocols::workflow::{builtin, Initial, Workflow};

#[derive(clap::Args)]
pub struct Args {
    /// Only this part of the catalogue (default: all of it).
    #[arg(value_enum)]
    pub what: Option<What>,
}

pub(super) fn list(ctx: &Ctx, Args { what }: Args) -> Result<(), BadInput> {
    let show = |w: What| what.is_none() || what.map(|x| x as u8) == Some(w as u8);
    // With one category asked for, rows only: easy to read by a script.
    let (indent, head) = if what.is_some() { ("", false) } else { ("  ", true) };
    let section = |title: &str| {
        if head {
            println!("{title}");
        }
    };
    if show(What::Scenarios) {
        section("scenarios:");
        for (name, text) in CATALOG {
            let s = Scenario::parse(text, name, &ctx.registry).map_err(|e| anyhow!(e))?;
            println!("{indent}{name:<20} {}", s.description);
        }
    }
    if show(What::Workflows) {
        section("workflows (a scenario's `workflow`):");
        for w in builtin::all() {
            println!("{indent}{:<20} {}", w.name, w.about);
            for line in workflow_rows(w) {
                println!("{indent}{:<20} {line}", "");
            }
        }
    }
    if show(What::Protocols) {
        section("protocols:");
        for p in ctx.registry.all() {
            println!("{indent}{:<20} {}", p.name(), p.describe());
        }
    }
    if show(What::Invariants) {
        section("invariants:");
        for i in Invariant::all() {
            let team = match i {
                Invariant::Team(name) => {
                    let on = faultline_protocols::check::team::judging_names(name);
                    format!(" (the team's own{on})")
                }
                _ => String::new(),
            };
            println!("{indent}{:<22} {}{team}", i.name(), i.statement());
        }
    }
    if show(What::Mutants) {
        section("mutants (--mutant NAME):");
        for (m, protocols) in ctx.registry.mutants() {
            let ps: Vec<_> = protocols.iter().map(|p| p.name()).collect();
            let breaks: Vec<_> = m.breaks.iter().map(|i| i.name()).collect();
            println!("{indent}{:<34} [{}] {}", m.name, ps.join(", "), m.mechanism);
            println!("{indent}{:<34} breaks: {}", "", breaks.join(" / "));
        }
    }
    if show(What::FaultPoints) {
        section("fault points ([crash_points] in a scenario):");
        for p in ctx.registry.crash_points() {
            println!("{indent}{:<28} {}", p.name, p.place);
        }
    }
    if show(What::Coverage) {
        section("coverage facts ([require] in a scenario):");
        for f in Coverage::all() {
            println!("{indent}{:<22} {}", f.name(), f.statement());
        }
    }
    if show(What::Causes) {
        section("causes ([expect.PROTOCOL] causes, excused only with evidence from the run):");
        for c in Cause::ALL {
            println!("{indent}{:<22} {}", c.name(), c.statement());
        }
    }
    Ok(())
}

/// A workflow's shape, a few lines: who takes part, what they keep, the steps.
fn workflow_rows(w: &Workflow) -> Vec<String> {
    let participants: Vec<_> = w.participants.iter().map(|p| p.name.as_str()).collect();
    let externals: Vec<_> = w.externals.iter().map(|e| format!("{} ({})", e.name, e.kind.name())).collect();
    let quantities: Vec<_> = w
        .quantities
        .iter()
        .map(|q| {
            let key: Vec<_> = q.key.iter().map(|d| d.name()).collect();
            let initial = match q.initial {
                Initial::Value(n) => n.to_string(),
                Initial::Drawn(d) => format!("drawn from {}", d.name()),
            };
            let floor = if q.never_negative { ", never negative" } else { "" };
            let cache = match q.cache {
                Some(c) => format!(
                    ", in a cache in front of {}-db: taken there first, synced every {} ms, {}",
                    q.at,
                    c.sync_ms,
                    c.aof_sync_ms
                        .map_or("memory only".to_string(), |ms| format!("logged and synced every {ms} ms"))
                ),
                None => String::new(),
            };
            format!("{}[{}] at {} ({initial}{floor}{cache})", q.name, key.join(", "), q.at)
        })
        .collect();
    let cancel = match &w.cancel_until {
        Some(step) => format!("; customers may cancel until {step}"),
        None => String::new(),
    };
    let mut rows = vec![
        format!("participants: {}; external: {}", participants.join(", "), externals.join(", ")),
        format!("quantities: {}", quantities.join(", ")),
        format!("steps: {}{cancel}", super::steps(w)),
    ];
    // What the checker derives from the declarations, beside the shop's own.
    let declared: Vec<_> = w.participants.iter().filter(|p| Service::named(&p.name).is_none()).collect();
    if !declared.is_empty() {
        let kept: Vec<_> = w
            .quantities
            .iter()
            .filter(|q| declared.iter().any(|p| p.name == q.at))
            .map(|q| q.name.as_str())
            .collect();
        let names: Vec<_> = declared.iter().map(|p| p.name.as_str()).collect();
        rows.push(format!(
            "declared participants: {} — checked by quantity-conservation over {} and agreement over their steps",
            names.join(", "),
            kept.join(", ")
        ));
    }
    if let Err(e) = faultline_protocols::reconcile::supports(w) {
        rows.push(format!("reconciler: not run ({e})"));
    }
    // What each engine makes of each operation: derived, never declared.
    for o in &w.operations {
        let d = o.derived();
        let undo = d.undo.unwrap_or_else(|| "none: it cannot be undone".into());
        rows.push(format!("{} at {}: {}; undo: {undo}", o.name, o.at, d.action));
        rows.push(format!("  hold: {}; confirm: {}; release: {}", d.hold, d.confirm, d.release));
    }
    rows
}
