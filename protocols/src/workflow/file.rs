//! The TOML form of a workflow, for a team that does not write Rust. Read
//! into spanned raw tables, turned into a [`Workflow`], then checked by the
//! [`rules`]: any error is one line naming the file, the line,
//! the field and the rule.

use super::rules::{self, Field};
use super::{
    Amount, Cache, Dim, Draw, Effect, External, ExternalKind, Initial, Machine, Operation, Participant, Per,
    Quantity, Step, Workflow,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

/// The most a workflow file may hold: far more than any order flow needs.
pub const MAX_BYTES: usize = 256 * 1024;

/// A workflow file that cannot be used, and why, in one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct WorkflowError {
    /// The file, as the user named it.
    pub file: String,
    /// 1-based; 0 when no line is to blame (the file as a whole).
    pub line: usize,
    /// The field, as `operation "charge": amount`; empty for a syntax error.
    pub field: String,
    pub rule: String,
}

impl fmt::Display for WorkflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.field.as_str()) {
            (0, "") => write!(f, "{}: {}", self.file, self.rule),
            (0, field) => write!(f, "{}: {field}: {}", self.file, self.rule),
            (line, "") => write!(f, "{}:{line}: {}", self.file, self.rule),
            (line, field) => write!(f, "{}:{line}: {field}: {}", self.file, self.rule),
        }
    }
}

/// Reads the workflow in `text`, from the file `file` (named in errors).
pub fn parse(file: &str, text: &str) -> Result<Workflow, WorkflowError> {
    let error =
        |line, field: String, rule: String| WorkflowError { file: file.to_string(), line, field, rule };
    if text.len() > MAX_BYTES {
        return Err(error(
            0,
            String::new(),
            format!("{} bytes; a workflow file holds at most {MAX_BYTES}", text.len()),
        ));
    }
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let raw: RawWorkflow = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(s.start));
        error(line, String::new(), e.message().trim().replace('\n', " "))
    })?;
    let mut lines = Lines::default();
    let w = raw
        .into_workflow(&mut lines)
        .map_err(|(at, rule)| error(lines.line(&at, line_of), at.to_string(), rule))?;
    rules::check(&w).map_err(|p| error(lines.line(&p.field, line_of), p.field.to_string(), p.rule))?;
    Ok(w)
}

/// Where each field was read: the byte offset of its value.
#[derive(Default)]
struct Lines(BTreeMap<(&'static str, usize, &'static str), usize>);

impl Lines {
    fn note<T>(&mut self, table: &'static str, index: usize, key: &'static str, v: &Spanned<T>) {
        self.0.insert((table, index, key), v.span().start);
    }

    /// The line of `field`, or of its entry's name, or 0.
    fn line(&self, field: &Field, line_of: impl Fn(usize) -> usize) -> usize {
        let at = |key| self.0.get(&(field.table, field.index, key));
        at(field.key).or_else(|| at("name")).map_or(0, |o| line_of(*o))
    }
}

type Bad = (Field, String);

fn field(table: &'static str, index: usize, name: &Spanned<String>, key: &'static str) -> Field {
    Field { table, index, name: name.get_ref().clone(), key }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: Spanned<String>,
    #[serde(default)]
    about: String,
    #[serde(default)]
    cancel_until: Option<Spanned<String>>,
    #[serde(default)]
    participant: Vec<RawParticipant>,
    #[serde(default)]
    quantity: Vec<RawQuantity>,
    #[serde(default)]
    external: Vec<RawExternal>,
    #[serde(default)]
    operation: Vec<RawOperation>,
    #[serde(default)]
    step: Vec<RawStep>,
    #[serde(default)]
    machine: Vec<RawMachine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParticipant {
    name: Spanned<String>,
    #[serde(default)]
    about: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuantity {
    name: Spanned<String>,
    at: Spanned<String>,
    key: Spanned<Vec<String>>,
    #[serde(default)]
    never_negative: bool,
    initial: Spanned<RawNumber>,
    #[serde(default)]
    cache: Option<Spanned<RawCache>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    sync_ms: u64,
    #[serde(default)]
    aof_sync_ms: Option<u64>,
}

/// A number, or the name of one.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawNumber {
    Int(i64),
    Name(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExternal {
    name: Spanned<String>,
    kind: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperation {
    name: Spanned<String>,
    at: Spanned<String>,
    #[serde(default)]
    per: Option<Spanned<String>>,
    take: Option<Spanned<RawMove>>,
    give: Option<Spanned<RawMove>>,
    charge: Option<Spanned<RawCharge>>,
    record: Option<Spanned<RawRecord>>,
    reversible: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMove {
    quantity: Option<Spanned<String>>,
    amount: Spanned<RawNumber>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCharge {
    party: Spanned<String>,
    amount: Spanned<RawNumber>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    fact: Spanned<String>,
    #[serde(default)]
    refusals: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Spanned<String>,
    operation: Spanned<String>,
    #[serde(default)]
    pivot: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    name: Spanned<String>,
    at: Spanned<String>,
    states: Spanned<Vec<String>>,
    start: Spanned<Vec<String>>,
    #[serde(default)]
    edges: Option<Spanned<Vec<(String, String)>>>,
    #[serde(default, rename = "final")]
    finals: Option<Spanned<Vec<String>>>,
}

impl RawWorkflow {
    /// The value the file declares; what the rules check comes after.
    fn into_workflow(self, lines: &mut Lines) -> Result<Workflow, Bad> {
        lines.note("workflow", 0, "name", &self.name);
        if let Some(c) = &self.cancel_until {
            lines.note("workflow", 0, "cancel_until", c);
        }
        let participants = (self.participant.into_iter().enumerate())
            .map(|(i, p)| {
                lines.note("participant", i, "name", &p.name);
                Participant { name: p.name.into_inner(), about: p.about }
            })
            .collect();
        let mut quantities = Vec::new();
        for (i, q) in self.quantity.into_iter().enumerate() {
            lines.note("quantity", i, "name", &q.name);
            lines.note("quantity", i, "at", &q.at);
            lines.note("quantity", i, "key", &q.key);
            lines.note("quantity", i, "initial", &q.initial);
            let bad = |key, rule| (field("quantity", i, &q.name, key), rule);
            let mut key = Vec::new();
            for d in q.key.get_ref() {
                let Some(dim) = Dim::ALL.into_iter().find(|x| x.name() == d) else {
                    let names: Vec<_> = Dim::ALL.iter().map(|d| d.name()).collect();
                    return Err(bad("key", format!("unknown key {d:?}; keys: {}", names.join(", "))));
                };
                key.push(dim);
            }
            let initial = match q.initial.get_ref() {
                RawNumber::Int(n) => Initial::Value(*n),
                RawNumber::Name(n) => match Draw::ALL.into_iter().find(|d| d.name() == n) {
                    Some(d) => Initial::Drawn(d),
                    None => {
                        let names: Vec<_> = Draw::ALL.iter().map(|d| d.name()).collect();
                        let rule = format!(
                            "{n:?}: a number, or a workload range to draw from: {}",
                            names.join(", ")
                        );
                        return Err(bad("initial", rule));
                    }
                },
            };
            if let Some(c) = &q.cache {
                lines.note("quantity", i, "cache", c);
            }
            let cache = q.cache.map(|c| {
                let c = c.into_inner();
                Cache { sync_ms: c.sync_ms, aof_sync_ms: c.aof_sync_ms }
            });
            let (name, at) = (q.name.into_inner(), q.at.into_inner());
            let never_negative = q.never_negative;
            quantities.push(Quantity { name, at, key, never_negative, initial, cache });
        }
        let mut externals = Vec::new();
        for (i, e) in self.external.into_iter().enumerate() {
            lines.note("external", i, "name", &e.name);
            lines.note("external", i, "kind", &e.kind);
            let Some(kind) = ExternalKind::ALL.into_iter().find(|k| k.name() == e.kind.get_ref()) else {
                let names: Vec<_> = ExternalKind::ALL.iter().map(|k| k.name()).collect();
                let rule = format!("unknown kind {:?}; kinds: {}", e.kind.get_ref(), names.join(", "));
                return Err((field("external", i, &e.name, "kind"), rule));
            };
            externals.push(External { name: e.name.into_inner(), kind });
        }
        let mut operations = Vec::new();
        for (i, o) in self.operation.into_iter().enumerate() {
            operations.push(o.into_operation(i, lines)?);
        }
        let steps = (self.step.into_iter().enumerate())
            .map(|(i, s)| {
                lines.note("step", i, "name", &s.name);
                lines.note("step", i, "operation", &s.operation);
                if let Some(p) = &s.pivot {
                    lines.note("step", i, "pivot", p);
                }
                let pivot = s.pivot.is_some_and(|p| *p.get_ref());
                Step { name: s.name.into_inner(), operation: s.operation.into_inner(), pivot }
            })
            .collect();
        let machines = (self.machine.into_iter().enumerate())
            .map(|(i, m)| {
                lines.note("machine", i, "name", &m.name);
                lines.note("machine", i, "at", &m.at);
                lines.note("machine", i, "states", &m.states);
                lines.note("machine", i, "start", &m.start);
                if let Some(e) = &m.edges {
                    lines.note("machine", i, "edges", e);
                }
                if let Some(f) = &m.finals {
                    lines.note("machine", i, "final", f);
                }
                Machine {
                    name: m.name.into_inner(),
                    at: m.at.into_inner(),
                    states: m.states.into_inner(),
                    start: m.start.into_inner(),
                    edges: m.edges.map(Spanned::into_inner).unwrap_or_default(),
                    finals: m.finals.map(Spanned::into_inner).unwrap_or_default(),
                }
            })
            .collect();
        Ok(Workflow {
            name: self.name.into_inner(),
            about: self.about,
            participants,
            quantities,
            externals,
            operations,
            steps,
            cancel_until: self.cancel_until.map(Spanned::into_inner),
            machines,
        })
    }
}

impl RawOperation {
    fn into_operation(self, i: usize, lines: &mut Lines) -> Result<Operation, Bad> {
        lines.note("operation", i, "name", &self.name);
        lines.note("operation", i, "at", &self.at);
        let bad = |key, rule: String| (field("operation", i, &self.name, key), rule);
        let per = match &self.per {
            None => Per::Order,
            Some(p) => {
                lines.note("operation", i, "per", p);
                match p.get_ref().as_str() {
                    "order" => Per::Order,
                    "line" => Per::Line,
                    other => return Err(bad("per", format!("{other:?}: per is \"order\" or \"line\""))),
                }
            }
        };
        let amount = |a: &Spanned<RawNumber>, lines: &mut Lines| {
            lines.note("operation", i, "amount", a);
            match a.get_ref() {
                RawNumber::Int(n) if *n > 0 => Ok(Amount::Fixed(*n)),
                RawNumber::Int(n) => Err(bad("amount", format!("{n}: a fixed amount is above zero"))),
                RawNumber::Name(n) => Amount::parse(n).ok_or_else(|| {
                    let names: Vec<_> = Amount::NAMES.iter().map(|(n, _)| *n).collect();
                    bad(
                        "amount",
                        format!(
                            "unknown amount {n:?}; a number, `line.amount - N%` or one of {}",
                            names.join(", ")
                        ),
                    )
                }),
            }
        };
        let effects =
            [self.take.is_some(), self.give.is_some(), self.charge.is_some(), self.record.is_some()];
        if effects.iter().filter(|e| **e).count() != 1 {
            let rule = "an operation has exactly one effect: take, give, charge or record".to_string();
            return Err(bad("name", rule));
        }
        let moved = |verb, m: &Spanned<RawMove>, lines: &mut Lines| {
            lines.note("operation", i, verb, m);
            let Some(q) = &m.get_ref().quantity else {
                return Err(bad(
                    verb,
                    format!(
                        "{verb} moves a quantity: name it, as {verb} = {{ quantity = \"…\", amount = … }}"
                    ),
                ));
            };
            lines.note("operation", i, "quantity", q);
            Ok((q.get_ref().clone(), amount(&m.get_ref().amount, lines)?))
        };
        let effect = if let Some(m) = &self.take {
            let (quantity, amount) = moved("take", m, lines)?;
            Effect::Take { quantity, amount }
        } else if let Some(m) = &self.give {
            let (quantity, amount) = moved("give", m, lines)?;
            Effect::Give { quantity, amount }
        } else if let Some(c) = &self.charge {
            lines.note("operation", i, "charge", c);
            lines.note("operation", i, "party", &c.get_ref().party);
            Effect::Charge {
                party: c.get_ref().party.get_ref().clone(),
                amount: amount(&c.get_ref().amount, lines)?,
            }
        } else {
            let r = self.record.as_ref().expect("one effect, counted above");
            lines.note("operation", i, "record", r);
            lines.note("operation", i, "fact", &r.get_ref().fact);
            Effect::Record {
                fact: r.get_ref().fact.get_ref().clone(),
                refusals: r.get_ref().refusals.clone(),
            }
        };
        if let Some(r) = &self.reversible {
            lines.note("operation", i, "reversible", r);
        }
        let reversible =
            self.reversible.as_ref().map_or(!matches!(effect, Effect::Record { .. }), |r| *r.get_ref());
        Ok(Operation { name: self.name.into_inner(), at: self.at.into_inner(), per, effect, reversible })
    }
}
