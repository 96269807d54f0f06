//! `faultline list`: the scenarios, protocols, invariants, mutants and fault
//! points this binary knows. One category prints one row per item, name first.

use super::{BadInput, Ctx, What};
use crate::scenario::{Scenario, CATALOG};
use anyhow::anyhow;
use faultline_protocols::check::{Cause, Coverage, Invariant};

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
    if show(What::Protocols) {
        section("protocols:");
        for p in ctx.registry.all() {
            println!("{indent}{:<20} {}", p.name(), p.describe());
        }
    }
    if show(What::Invariants) {
        section("invariants:");
        for i in Invariant::ALL {
            println!("{indent}{:<22} {}", i.name(), i.statement());
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
        for f in Coverage::ALL {
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
