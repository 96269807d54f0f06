//! The report as HTML (one self-contained file: inline CSS and SVG, no
//! scripts, no fetches) and as Markdown (tables, charts as SVG files beside
//! it). Every string that comes from a run or a scenario file is escaped.

use crate::summary::{Summary, ViolationClass};
use crate::Provenance;
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for Markdown prose and table cells: every character with a
/// meaning in Markdown is backslash-escaped, `<` and `>` become entities, and
/// control characters (line breaks, terminal escapes) become spaces.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // `!` and parentheses mean something only around a `[`, escaped here.
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text as a Markdown code span: fenced by more backticks than it contains in
/// a row, so no backtick in it can end the span; control characters become spaces.
pub fn code(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}\
td.pass{background:#d9f2d9}td.fail{background:#f8d0d0}td.expected{background:#fcebc4}td.none{background:#eee}\
.charts svg{max-width:100%;height:auto;border:1px solid #eee;margin:.5em 0}\
code,pre{background:#f6f6f6;font-size:.85em}pre{padding:.6em;overflow-x:auto}";

/// `word` as one shell word: as is when plainly safe, else single-quoted, so
/// a name from a record from elsewhere can never become a second command.
/// Control characters (a newline, an escape sequence) become `?`: a printed
/// command stays one line, and a terminal shows it as it is.
pub fn shell_word(word: &str) -> String {
    let word: String = word.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./,=:+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word;
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Commands that replay and shrink a seed of a class.
fn commands(c: &ViolationClass, seed: u64) -> (String, String) {
    let intensity = c.intensity.as_ref().map(|i| format!(" --intensity {i}")).unwrap_or_default();
    let flag = |on: bool, name: &str| if on { format!(" --{name}") } else { String::new() };
    let swarm = [flag(c.swarm, "swarm"), flag(c.pct, "pct"), flag(c.reconcile, "reconcile")].concat();
    let scenario = shell_word(c.source.as_deref().unwrap_or(&c.scenario));
    let protocol = shell_word(&c.protocol);
    let mutant = c.mutant.as_ref().map(|m| format!(" --mutant {}", shell_word(m))).unwrap_or_default();
    let workflow =
        c.workflow_flag.as_ref().map(|w| format!(" --workflow {}", shell_word(w))).unwrap_or_default();
    let tail = format!("{scenario} --protocol {protocol}{intensity}{mutant}{swarm}{workflow} --seed {seed}");
    (format!("faultline replay {tail}"), format!("faultline shrink {tail}"))
}

fn verdict_cell(s: &Summary, scenario: &str, protocol: &str) -> (&'static str, String) {
    match s.groups.get(&(scenario.to_string(), protocol.to_string())) {
        None => ("none", "—".into()),
        Some(g) if g.fail > 0 => {
            let inv: Vec<String> = g.failing_invariants.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
            ("fail", format!("fail: {} of {} seeds ({})", g.fail, g.runs, inv.join(", ")))
        }
        Some(g) if g.expected > 0 => ("expected", format!("expected: {} of {} seeds", g.expected, g.runs)),
        Some(g) => ("pass", format!("pass ({} seeds)", g.runs)),
    }
}

const COLUMNS: [&str; 19] = [
    "protocol",
    "seeds",
    "completed",
    "cancelled: business + protocol",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "ttc p99 ms",
    "longest window ms",
    "msgs/order",
    "retries",
    "compensations",
    "refunds",
    "reserved unit·s",
    "held $·s",
    "locks s",
    "repairs",
    "heal p99 ms",
    "at risk $·s",
];

/// The comparison's columns: the reconciler's three only when some runs had it.
fn columns(s: &Summary) -> &'static [&'static str] {
    match s.groups.values().any(|g| g.reconcile) {
        true => &COLUMNS,
        false => &COLUMNS[..COLUMNS.len() - 3],
    }
}

fn row(s: &Summary, scenario: &str, protocol: &str) -> Option<Vec<String>> {
    let g = s.groups.get(&(scenario.to_string(), protocol.to_string()))?;
    let mut cells = vec![
        protocol.to_string(),
        g.runs.to_string(),
        g.completed.to_string(),
        match g.cancelled_by.business() + g.cancelled_by.protocol() == g.cancelled {
            true => format!("{} + {}", g.cancelled_by.business(), g.cancelled_by.protocol()),
            false => format!("{} (no split: older records)", g.cancelled),
        },
        format!("{:.1}", g.latency_p50),
        format!("{:.1}", g.latency_p90),
        format!("{:.1}", g.latency_p99),
        format!("{:.1}", g.ttc_p99),
        format!("{:.1}", g.longest_inconsistency_ms),
        format!("{:.1}", g.messages_per_order),
        g.retries.to_string(),
        g.compensations.to_string(),
        g.refunds.to_string(),
        format!("{:.1}", g.reserved_unit_s),
        format!("{:.0}", g.held_dollar_s),
        format!("{:.1}", g.locked_s),
        if g.reconcile { g.repairs.to_string() } else { "—".into() },
        if g.reconcile { format!("{:.0}", g.heal_p99_ms) } else { "—".into() },
        if g.reconcile { format!("{:.1}", g.at_risk_dollar_s) } else { "—".into() },
    ];
    cells.truncate(columns(s).len());
    Some(cells)
}

pub fn html(s: &Summary, charts: &[(String, String)], p: &Provenance) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline report</title><style>{CSS}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>faultline report</h1>");
    let runs: usize = s.groups.values().map(|g| g.runs).sum();
    let _ = writeln!(
        h,
        "<p>{} scenarios × {} protocols; {runs} runs at fault intensity {}.</p>",
        s.scenarios.len(),
        s.protocols.len(),
        s.base
    );
    let decision = crate::decision::rows(s);
    let _ = writeln!(h, "<h2 id=\"answer\">The answer</h2>\n<p>{}</p>", esc(&on_workflows(s)));
    let _ = writeln!(h, "<table class=\"decision\"><tr>");
    for c in DECISION {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    let _ = writeln!(h, "</tr>");
    for r in &decision {
        let class = if r.broken.is_empty() { "pass" } else { "fail" };
        let cells = decision_cells(r);
        let _ = write!(h, "<tr><td>{}</td><td class=\"{class}\">{}</td>", esc(&cells[0]), esc(&cells[1]));
        for c in &cells[2..] {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table>\n<ul class=\"tradeoffs\">");
    for r in &decision {
        let _ = writeln!(h, "<li>{}</li>", esc(&r.sentence()));
    }
    let _ = writeln!(h, "</ul>");
    let _ = writeln!(h, "<h2>Verdicts</h2>\n<table><tr><th>protocol</th>");
    for sc in &s.scenarios {
        let _ = write!(h, "<th>{}</th>", esc(sc));
    }
    let _ = writeln!(h, "</tr>");
    for pr in &s.protocols {
        let _ = write!(h, "<tr><td>{}</td>", esc(pr));
        for sc in &s.scenarios {
            let (class, text) = verdict_cell(s, sc, pr);
            let _ = write!(h, "<td class=\"{class}\">{}</td>", esc(&text));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table>");
    let _ = writeln!(h, "<h2>Comparison per scenario</h2>");
    for sc in &s.scenarios {
        let _ = writeln!(h, "<h3>{}</h3>\n<table><tr>", esc(sc));
        for c in columns(s) {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        let _ = writeln!(h, "</tr>");
        for pr in &s.protocols {
            if let Some(cells) = row(s, sc, pr) {
                let cells: Vec<String> = cells.iter().map(|c| format!("<td>{}</td>", esc(c))).collect();
                let _ = writeln!(h, "<tr>{}</tr>", cells.join(""));
            }
        }
        let _ = writeln!(h, "</table>");
    }
    let _ = writeln!(h, "<h2>Charts</h2>\n<div class=\"charts\">");
    for (_, svg) in charts {
        // plotters writes an XML declaration-free <svg> element: inline as is.
        let _ = writeln!(h, "{svg}");
    }
    let _ = writeln!(h, "</div>\n<h2>Violations</h2>");
    if s.violations.is_empty() {
        let _ = writeln!(h, "<p>No run broke an invariant.</p>");
    }
    for (c, seeds) in &s.violations {
        let mutant = c.mutant.as_ref().map(|m| format!(" with mutant {m}")).unwrap_or_default();
        let _ = writeln!(
            h,
            "<h3>{} — {} on {}{} ({}, {} seeds)</h3>",
            esc(&c.invariant),
            esc(&c.protocol),
            esc(&c.scenario),
            esc(&mutant),
            esc(&c.verdict),
            seeds.count
        );
        let list: Vec<String> = seeds.first.iter().map(|(seed, _)| seed.to_string()).collect();
        let more = match seeds.count > list.len() {
            true => format!(" … and {} more", seeds.count - list.len()),
            false => String::new(),
        };
        let _ = writeln!(h, "<p>seeds: {}{more}</p>", list.join(", "));
        if let Some((seed, detail)) = seeds.first.first() {
            let (replay, shrink) = commands(c, *seed);
            // An expected class's seed breaks nothing it should keep: nothing to shrink.
            let commands = match c.verdict == "fail" {
                true => format!("{}\n{}", esc(&replay), esc(&shrink)),
                false => esc(&replay),
            };
            let _ = writeln!(h, "<p>first: {}</p><pre>{commands}</pre>", esc(detail));
            let protocol = crate::record::label(&c.protocol, c.mutant.as_deref(), c.reconcile);
            let key = (c.scenario.clone(), protocol, c.mutant.clone(), c.invariant.clone());
            if let Some(diagram) = p.counterexamples.get(&key) {
                let _ = writeln!(
                    h,
                    "<details><summary>shrunk counterexample: sequence diagram</summary><pre>{}</pre></details>",
                    esc(diagram)
                );
            }
        }
    }
    let _ = writeln!(h, "<h2>How this report was made</h2>");
    let _ = writeln!(h, "<pre>{}</pre>\n<p>faultline {}</p>", esc(&p.command), esc(&p.version));
    for (name, text) in &p.scenarios {
        let _ = writeln!(h, "<details><summary>{}</summary><pre>{}</pre></details>", esc(name), esc(text));
    }
    h.push_str("</body></html>\n");
    h
}

/// The workflow the answer compares the protocols on.
fn on_workflows(s: &Summary) -> String {
    match s.workflows.as_slice() {
        [one] => format!("The protocols compared on the {one} workflow."),
        many => {
            format!("The protocols compared on the workflows {} (runs of each together).", many.join(", "))
        }
    }
}

/// The decision table's columns.
const DECISION: [&str; 8] = [
    "protocol",
    "invariants",
    "completed",
    "p50 ms",
    "p99 ms (worst)",
    "ttc p99 ms",
    "msgs/order",
    "held per order",
];

fn decision_cells(r: &crate::decision::Row) -> Vec<String> {
    let invariants = match r.broken.is_empty() {
        true if r.scenarios == 1 => "held all, on 1 scenario".to_string(),
        true => format!("held all, on {} scenarios", r.scenarios),
        false => format!("held on {} of {}; {}", r.held_on, r.scenarios, r.invariants()),
    };
    vec![
        r.protocol.clone(),
        invariants,
        r.completion(),
        format!("{:.0}", r.latency_p50_ms),
        format!("{:.0} ({})", r.latency_p99_ms.0, r.latency_p99_ms.1),
        format!("{:.0} ({})", r.ttc_p99_ms.0, r.ttc_p99_ms.1),
        format!("{:.1}", r.messages_per_order),
        r.resources(),
    ]
}

pub fn markdown(s: &Summary, charts: &[(String, String)], p: &Provenance) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# faultline report\n");
    let decision = crate::decision::rows(s);
    let _ = writeln!(m, "## The answer\n\n{}\n", md(&on_workflows(s)));
    let _ = writeln!(m, "| {} |", DECISION.join(" | "));
    let _ = writeln!(m, "|---|---|{}", "---:|".repeat(DECISION.len() - 3) + "---|");
    for r in &decision {
        let cells: Vec<String> = decision_cells(r).iter().map(|c| md(c)).collect();
        let _ = writeln!(m, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(m);
    for r in &decision {
        let _ = writeln!(m, "- {}", md(&r.sentence()));
    }
    let _ = writeln!(m, "\nThe full report, with per-scenario tables, charts and every violation's commands, is `report.html` beside this file.\n");
    let _ = writeln!(m, "## Verdicts\n");
    let _ =
        writeln!(m, "| protocol | {} |", s.scenarios.iter().map(|x| md(x)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(m, "|---|{}", "---|".repeat(s.scenarios.len()));
    for pr in &s.protocols {
        let cells: Vec<String> = s.scenarios.iter().map(|sc| md(&verdict_cell(s, sc, pr).1)).collect();
        let _ = writeln!(m, "| {} | {} |", md(pr), cells.join(" | "));
    }
    let _ = writeln!(m, "\n## Comparison per scenario");
    for sc in &s.scenarios {
        let _ = writeln!(m, "\n### {}\n", md(sc));
        let _ = writeln!(m, "| {} |", columns(s).join(" | "));
        let _ = writeln!(m, "|---|{}", "---:|".repeat(columns(s).len() - 1));
        for pr in &s.protocols {
            if let Some(cells) = row(s, sc, pr) {
                let cells: Vec<String> = cells.iter().map(|c| md(c)).collect();
                let _ = writeln!(m, "| {} |", cells.join(" | "));
            }
        }
    }
    let _ = writeln!(m, "\n## Charts\n");
    for (name, _) in charts {
        let _ = writeln!(m, "![{}]({name})\n", md(name));
    }
    let _ = writeln!(m, "## Violations\n");
    for (c, seeds) in &s.violations {
        let first = seeds.first.first().map(|(seed, _)| commands(c, *seed).0).unwrap_or_default();
        let _ = writeln!(
            m,
            "- **{}** — {} on {} ({}): {} seeds; {}",
            md(&c.invariant),
            md(&c.protocol),
            md(&c.scenario),
            md(&c.verdict),
            seeds.count,
            code(&first)
        );
    }
    let _ = writeln!(m, "\nMade by {} (faultline {}).", code(&p.command), md(&p.version));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_word_is_one_word_on_one_line() {
        assert_eq!(shell_word("catalog/calm.toml"), "catalog/calm.toml");
        assert_eq!(shell_word("my file"), "'my file'");
        assert_eq!(shell_word("x; rm -rf ~"), "'x; rm -rf ~'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("a\nb\x1b[31m"), "'a?b?[31m'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn markdown_escapes_hostile_names() {
        let hostile = "a`b|c*d_e[f](g)<h>\x1b[31m#i\nj";
        let escaped = md(hostile);
        assert_eq!(escaped, "a\\`b\\|c\\*d\\_e\\[f\\](g)&lt;h&gt; \\[31m\\#i j");
        assert!(!escaped.chars().any(char::is_control));
        assert_eq!(code("run x"), "`run x`");
        assert_eq!(code("a `b` c"), "``a `b` c``");
        assert_eq!(code("``x"), "``` ``x ```");
        assert_eq!(code("a\x1bb"), "`a b`");
    }
}
