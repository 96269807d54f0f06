//! The rules every workflow passes, whether read from a file or built in
//! Rust: names resolve, each operation moves what it says, and every engine
//! can run the steps — each step before the pivot can be undone, none after
//! it can be refused. A broken rule names the field it is about.

use super::machine::{ORDER, ORDER_FATES};
use super::{Effect, Per, Workflow};
use std::fmt;

/// Where in a workflow a rule broke: `operation "charge": amount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The kind of entry (`participant`, `quantity`, `operation`, `step`,
    /// `machine`, `external`), or `workflow` for a top-level field.
    pub table: &'static str,
    /// Which entry of that kind, from 0 in declaration order.
    pub index: usize,
    /// The entry's name, as declared.
    pub name: String,
    /// The field within it.
    pub key: &'static str,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.table {
            "workflow" => f.write_str(self.key),
            table => write!(f, "{table} {:?}: {}", self.name, self.key),
        }
    }
}

/// A broken rule: where, and what the rule is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct Problem {
    pub field: Field,
    pub rule: String,
}

/// Checks `w`; the first broken rule, in declaration order.
pub fn check(w: &Workflow) -> Result<(), Problem> {
    let fail = |table, index, name: &str, key, rule: String| {
        Err(Problem { field: Field { table, index, name: name.to_string(), key }, rule })
    };
    if let Some(rule) = bad_name(&w.name) {
        return fail("workflow", 0, "", "name", rule);
    }
    // Names: well-formed and unique within their kind.
    let kinds: [(&'static str, Vec<&str>); 6] = [
        ("participant", w.participants.iter().map(|p| p.name.as_str()).collect()),
        ("quantity", w.quantities.iter().map(|q| q.name.as_str()).collect()),
        ("external", w.externals.iter().map(|e| e.name.as_str()).collect()),
        ("operation", w.operations.iter().map(|o| o.name.as_str()).collect()),
        ("step", w.steps.iter().map(|s| s.name.as_str()).collect()),
        ("machine", w.machines.iter().map(|m| m.name.as_str()).collect()),
    ];
    for (table, names) in &kinds {
        for (i, name) in names.iter().enumerate() {
            if let Some(rule) = bad_name(name) {
                return fail(table, i, name, "name", rule);
            }
            if names[..i].contains(name) {
                return fail(table, i, name, "name", format!("a second {table} named {name:?}"));
            }
        }
    }
    let participants = || list(w.participants.iter().map(|p| &p.name));
    let known = |name: &str| w.participant(name).is_some();
    if w.participants.is_empty() {
        return fail("workflow", 0, "", "participant", "a workflow needs at least one participant".into());
    }
    // Participants and their stores are nodes too: no name may be taken twice.
    for (i, e) in w.externals.iter().enumerate() {
        if known(&e.name) {
            return fail("external", i, &e.name, "name", format!("{:?} is a participant's name", e.name));
        }
    }
    for (i, q) in w.quantities.iter().enumerate() {
        if !known(&q.at) {
            let rule = format!("unknown participant {:?}; participants: {}", q.at, participants());
            return fail("quantity", i, &q.name, "at", rule);
        }
        if q.key.is_empty() {
            return fail("quantity", i, &q.name, "key", "a quantity is kept per sku or per customer".into());
        }
        if let Some(c) = q.cache {
            let rule = if !q.never_negative {
                Some("a cache checks takes against what it holds: a cached quantity is never_negative".into())
            } else if !(1..=60_000).contains(&c.sync_ms) {
                Some(format!("sync_ms = {}: the store is synced every 1 to 60000 ms", c.sync_ms))
            } else {
                c.aof_sync_ms
                    .filter(|ms| !(1..=60_000).contains(ms))
                    .map(|ms| format!("aof_sync_ms = {ms}: the log is synced every 1 to 60000 ms"))
            };
            if let Some(rule) = rule {
                return fail("quantity", i, &q.name, "cache", rule);
            }
            if let Some(other) = w.quantities[..i].iter().find(|o| o.at == q.at && o.cache.is_some()) {
                let rule = format!(
                    "{} keeps {} in its cache already: one cached quantity per participant",
                    q.at, other.name
                );
                return fail("quantity", i, &q.name, "cache", rule);
            }
        }
    }
    for (i, o) in w.operations.iter().enumerate() {
        let at = |key, rule| fail("operation", i, &o.name, key, rule);
        if !known(&o.at) {
            return at("at", format!("unknown participant {:?}; participants: {}", o.at, participants()));
        }
        match &o.effect {
            Effect::Take { quantity, amount } | Effect::Give { quantity, amount } => {
                let verb = o.effect.verb();
                let Some(q) = w.quantity(quantity) else {
                    let rule = format!(
                        "{verb} moves a quantity: unknown quantity {quantity:?}; quantities: {}",
                        list(w.quantities.iter().map(|q| &q.name))
                    );
                    return at("quantity", rule);
                };
                if q.at != o.at {
                    let rule =
                        format!("{quantity} is kept by {}, not {}: an operation moves its own", q.at, o.at);
                    return at("quantity", rule);
                }
                if o.per == Per::Order {
                    if let Some(d) = q.key.iter().find(|d| d.per_line()) {
                        let rule = format!(
                            "{quantity} is kept per {}, which only an order line says: per = \"line\"",
                            d.name()
                        );
                        return at("per", rule);
                    }
                    if amount.per_line() {
                        return at("amount", format!("{amount} is a line's: per = \"line\""));
                    }
                }
            }
            Effect::Charge { party, amount } => {
                if w.external(party).is_none() {
                    let rule = format!(
                        "charge is paid at an external party: unknown party {party:?}; externals: {}",
                        list(w.externals.iter().map(|e| &e.name))
                    );
                    return at("party", rule);
                }
                if o.per == Per::Order && amount.per_line() {
                    return at("amount", format!("{amount} is a line's: per = \"line\""));
                }
            }
            Effect::Record { fact, .. } => {
                if let Some(rule) = bad_name(fact) {
                    return at("fact", rule);
                }
                if o.reversible {
                    return at("reversible", "a record cannot be undone".into());
                }
            }
        }
    }
    if w.steps.is_empty() {
        return fail("workflow", 0, "", "step", "a workflow needs at least one step".into());
    }
    if let Some(i) = w.steps.iter().enumerate().filter(|(_, s)| s.pivot).nth(1).map(|(i, _)| i) {
        return fail(
            "step",
            i,
            &w.steps[i].name,
            "pivot",
            "a second pivot: after the first, the order only goes forward".into(),
        );
    }
    let pivot = w.pivot();
    for (i, s) in w.steps.iter().enumerate() {
        let Some(o) = w.operation(&s.operation) else {
            let rule = format!(
                "unknown operation {:?}; operations: {}",
                s.operation,
                list(w.operations.iter().map(|o| &o.name))
            );
            return fail("step", i, &s.name, "operation", rule);
        };
        let before = pivot.is_none_or(|p| i < p);
        if before && !o.reversible {
            let rule = match pivot {
                Some(p) => format!(
                    "{} cannot be undone, but a step before the pivot ({}) must be: an engine undoes it when a later step fails",
                    o.name, w.steps[p].name
                ),
                None => format!(
                    "{} cannot be undone, and with no pivot every step must be: mark the step after which the order only goes forward with pivot = true",
                    o.name
                ),
            };
            return fail("step", i, &s.name, "operation", rule);
        }
        if pivot.is_some_and(|p| i > p) && o.effect.refusable() {
            let rule = format!(
                "{} can be refused ({}), but a step after the pivot can only be retried: move it before the pivot",
                o.name,
                o.effect.verb()
            );
            return fail("step", i, &s.name, "operation", rule);
        }
    }
    if let Some(until) = &w.cancel_until {
        if !w.steps.iter().any(|s| &s.name == until) {
            let rule = format!("unknown step {until:?}; steps: {}", list(w.steps.iter().map(|s| &s.name)));
            return fail("workflow", 0, "", "cancel_until", rule);
        }
    }
    machines(w)
}

fn machines(w: &Workflow) -> Result<(), Problem> {
    let fail = |index, name: &str, key, rule: String| {
        Err(Problem { field: Field { table: "machine", index, name: name.to_string(), key }, rule })
    };
    for (i, m) in w.machines.iter().enumerate() {
        if w.participant(&m.at).is_none() {
            let rule = format!(
                "unknown participant {:?}; participants: {}",
                m.at,
                list(w.participants.iter().map(|p| &p.name))
            );
            return fail(i, &m.name, "at", rule);
        }
        for (n, s) in m.states.iter().enumerate() {
            if let Some(rule) = bad_name(s) {
                return fail(i, &m.name, "states", rule);
            }
            if m.states[..n].contains(s) {
                return fail(i, &m.name, "states", format!("{s:?} twice"));
            }
        }
        let unknown = |s: &String| !m.states.contains(s);
        let states = || list(m.states.iter());
        for (key, named) in [("start", &m.start), ("final", &m.finals)] {
            if let Some(s) = named.iter().find(|s| unknown(s)) {
                return fail(i, &m.name, key, format!("unknown state {s:?}; states: {}", states()));
            }
        }
        if m.start.is_empty() {
            return fail(i, &m.name, "start", "a record must start in some state".into());
        }
        for (a, b) in &m.edges {
            if let Some(s) = [a, b].into_iter().find(|s| unknown(s)) {
                return fail(i, &m.name, "edges", format!("unknown state {s:?}; states: {}", states()));
            }
            if m.finals.contains(a) {
                return fail(i, &m.name, "edges", format!("{a} → {b} leaves {a}, a final state"));
            }
        }
    }
    let Some(i) = w.machines.iter().position(|m| m.name == ORDER) else {
        let rule =
            format!("no order machine: declare one named {ORDER:?} with states {}", ORDER_FATES.join(", "));
        return Err(Problem {
            field: Field { table: "workflow", index: 0, name: String::new(), key: "machine" },
            rule,
        });
    };
    let m = &w.machines[i];
    if let Some(fate) = ORDER_FATES.into_iter().find(|f| !m.states.iter().any(|s| s == f)) {
        let rule = format!("the order machine needs the state {fate:?}: every participant agrees on it");
        return fail(i, &m.name, "states", rule);
    }
    Ok(())
}

/// Why `name` cannot name anything, if it cannot: names become node and
/// store names, keys and command-line words.
/// What is wrong with `name` as a name of anything declared (a participant,
/// a step, a team's invariant), if anything.
pub(crate) fn bad_name(name: &str) -> Option<String> {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    match name {
        "" => Some("a name cannot be empty".into()),
        _ if name.len() > 32 => Some(format!("{name:?} is longer than 32 characters")),
        _ if !name.chars().all(ok) || name.starts_with('-') => {
            Some(format!("{name:?}: names are lowercase letters, digits and '-'"))
        }
        _ => None,
    }
}

fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    match names.is_empty() {
        true => "none".into(),
        false => names.join(", "),
    }
}
