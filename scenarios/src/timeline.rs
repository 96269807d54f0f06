//! A run's trace as a readable timeline: one line per event, with node names;
//! per node; or as a sequence diagram — all of it, or one order's story.

use faultline_sim::{Event, EventKind, NodeId};
use std::fmt::Write;

pub fn render(events: &[Event], nodes: &[String]) -> String {
    let name = |id: NodeId| -> &str {
        if id == NodeId::WORLD {
            "nemesis"
        } else {
            nodes.get(id.0 as usize).map(String::as_str).unwrap_or("?")
        }
    };
    let width = nodes.iter().map(String::len).max().unwrap_or(7).max(7);
    let mut out = String::new();
    for e in events {
        let what = match &e.kind {
            EventKind::Send { to, call, msg } => {
                format!("→ {:<w$} {msg} #{call}", name(*to), w = width)
            }
            EventKind::Reply { to, call, msg } => {
                format!("↩ {:<w$} {msg} #{call}", name(*to), w = width)
            }
            EventKind::Recv { from, call, msg } => {
                format!("← {:<w$} {msg} #{call}", name(*from), w = width)
            }
            EventKind::Duplicate { to, call, msg } => {
                format!("⇉ {:<w$} {msg} #{call} DUPLICATED", name(*to), w = width)
            }
            EventKind::Drop { from, to, call, msg, reason } => {
                format!("✗ {msg} #{call} {} → {} DROPPED ({reason:?})", name(*from), name(*to))
            }
            EventKind::Timeout { to, call, msg } => {
                format!("⌛ {msg} #{call} to {} TIMED OUT", name(*to))
            }
            EventKind::Crash { unsynced_lost, torn: true } => {
                format!("💥 CRASH (unsynced records lost: {unsynced_lost}, the first one TORN)")
            }
            EventKind::Crash { unsynced_lost, torn: false } => {
                format!("💥 CRASH (unsynced records lost: {unsynced_lost})")
            }
            EventKind::Restart => "RESTART".to_string(),
            EventKind::Failover { store, to, epoch, lost, lost_keys } => {
                let lost = match lost {
                    0 => "it has every committed record".to_string(),
                    n => format!(
                        "{n} committed records LOST with the old primary (keys {})",
                        lost_keys.join(", ")
                    ),
                };
                format!("FAILOVER of {store}: {} promoted, epoch {epoch}; {lost}", name(*to))
            }
            EventKind::FailoverImpossible { store, reason } => {
                format!("FAILOVER of {store} refused: {reason}")
            }
            EventKind::FsyncFailed => "FSYNC FAILED: refusing service until restarted".to_string(),
            EventKind::TornWriteDropped { records } => format!("recovery dropped {records} torn record(s)"),
            EventKind::Resynced { seq } => format!("resynced from the primary's snapshot at seq {seq}"),
            EventKind::DiskFaults { fsync_fail_ppm, torn_ppm, extra_latency_ms: (lo, hi) } => format!(
                "DISK FAULTS now: fsync fails {:.2}%, torn writes {:.0}%, +{lo}..{hi} ms per sync",
                *fsync_fail_ppm as f64 / 1e4,
                *torn_ppm as f64 / 1e4
            ),
            EventKind::Pause => "PAUSE".to_string(),
            EventKind::Resume => "RESUME".to_string(),
            EventKind::Partition { side } => {
                let side: Vec<_> = side.iter().map(|n| name(*n)).collect();
                format!("PARTITION {{{}}} from the rest", side.join(", "))
            }
            EventKind::PartitionHealed { side } => {
                let side: Vec<_> = side.iter().map(|n| name(*n)).collect();
                format!("PARTITION HEALED {{{}}}", side.join(", "))
            }
            EventKind::LinkCut { a, b } => format!("LINK CUT {} ⇹ {}", name(*a), name(*b)),
            EventKind::LinkHealed { a, b } => format!("LINK HEALED {} ⇹ {}", name(*a), name(*b)),
            EventKind::Latency { min_ms, max_ms } => format!("LATENCY now {min_ms}..{max_ms} ms"),
            EventKind::Loss { rate_ppm } => format!("LOSS rate now {:.2}%", *rate_ppm as f64 / 1e4),
            EventKind::Duplication { rate_ppm } => {
                format!("DUPLICATION rate now {:.2}%", *rate_ppm as f64 / 1e4)
            }
            EventKind::HealAll => "HEAL ALL: fault window over".to_string(),
            EventKind::Note { text } => format!("note: {text}"),
            EventKind::DiskLatency { min_ms, max_ms } => {
                format!("DISK LATENCY now +{min_ms}..{max_ms} ms per sync")
            }
            EventKind::ClockSkew { ppm } => format!("CLOCK runs {:+.2}% off", *ppm as f64 / 1e4),
            EventKind::Injected { fault, detail } => format!("{} {detail}", fault.to_uppercase()),
        };
        let _ = writeln!(out, "{:>10.6}s  {:<w$}  {what}", e.at_us as f64 / 1e6, name(e.node), w = width);
    }
    out
}

/// The same events grouped by node: each node's own story, in time order.
pub fn by_node(events: &[Event], nodes: &[String]) -> String {
    let mut out = String::new();
    let mut ids: Vec<NodeId> = (0..nodes.len() as u16).map(NodeId).collect();
    ids.push(NodeId::WORLD);
    for id in ids {
        let mine: Vec<Event> = events.iter().filter(|e| e.node == id).cloned().collect();
        if mine.is_empty() {
            continue;
        }
        let title = if id == NodeId::WORLD { "nemesis" } else { &nodes[id.0 as usize] };
        let _ = writeln!(out, "── {title} ({} events)", mine.len());
        out.push_str(&render(&mine, nodes));
    }
    out
}

/// One order's story: the events done for it (its messages, stores
/// included, and its notes) and the faults around them, which were done for
/// no order — a crash, a partition, a failover is part of every story.
pub fn of_order(events: &[Event], order: u32) -> Vec<Event> {
    let message = |k: &EventKind| {
        matches!(
            k,
            EventKind::Send { .. }
                | EventKind::Recv { .. }
                | EventKind::Reply { .. }
                | EventKind::Duplicate { .. }
                | EventKind::Drop { .. }
                | EventKind::Timeout { .. }
                | EventKind::Note { .. }
        )
    };
    let mine = |e: &&Event| e.order == Some(order) || (e.order.is_none() && !message(&e.kind));
    events.iter().filter(mine).cloned().collect()
}

/// A message sequence diagram in text: one lifeline per node in `show`, a row
/// per message between them (─▶ request, ┄▶ reply), per loss or timeout (✗, ⌛)
/// and per crash, restart or pause (X, R, P). Rows done for the order `focus`
/// (the violated one) are marked with `»`, message by message.
pub fn sequence(events: &[Event], nodes: &[String], show: &[NodeId], focus: Option<u32>) -> String {
    let name = |id: NodeId| nodes.get(id.0 as usize).map(String::as_str).unwrap_or("nemesis");
    // Lifelines share about 110 columns, 8 to 15 each; a name too long is
    // cut but keeps its "-db", so "coordinator" and "coordinator-db" differ.
    let widest = show.iter().map(|n| name(*n).chars().count()).max().unwrap_or(0);
    let col_width = (widest + 1).min(110 / show.len().max(1)).clamp(8, 15);
    let col = |id: NodeId| show.iter().position(|n| *n == id);
    let mut out = String::new();
    let header: String =
        show.iter().map(|n| format!("{:<col_width$}", short(name(*n), col_width - 1))).collect();
    let _ = writeln!(out, "{:>13}  {header}", "");
    for e in events {
        let mut cells = vec![' '; show.len() * col_width];
        for i in 0..show.len() {
            cells[i * col_width] = '│';
        }
        let label = match &e.kind {
            EventKind::Send { to, call, msg } | EventKind::Reply { to, call, msg } => {
                let (Some(a), Some(b)) = (col(e.node), col(*to)) else { continue };
                let dash = if matches!(e.kind, EventKind::Send { .. }) { '─' } else { '┄' };
                arrow(&mut cells, a * col_width, b * col_width, dash);
                format!("{msg} #{call}")
            }
            EventKind::Drop { from, to, call, msg, reason } => {
                let (Some(a), Some(b)) = (col(*from), col(*to)) else { continue };
                arrow(&mut cells, a * col_width, b * col_width, '╌');
                cells[b * col_width] = '✗';
                format!("{msg} #{call} lost ({reason:?})")
            }
            EventKind::Timeout { to, call, msg } => {
                let Some(a) = col(e.node) else { continue };
                cells[a * col_width] = '⌛';
                format!("{msg} #{call} to {} timed out", name(*to))
            }
            EventKind::Crash { .. } | EventKind::Restart | EventKind::Pause | EventKind::Resume => {
                let Some(a) = col(e.node) else { continue };
                let (mark, what) = match e.kind {
                    EventKind::Crash { .. } => ('X', "crash"),
                    EventKind::Restart => ('R', "restart"),
                    EventKind::Pause => ('P', "pause"),
                    _ => ('r', "resume"),
                };
                cells[a * col_width] = mark;
                format!("{} {what}", name(e.node))
            }
            EventKind::Injected { fault, detail } => {
                let Some(a) = col(e.node) else { continue };
                cells[a * col_width] = '!';
                format!("{fault} {detail}")
            }
            _ => continue,
        };
        let mark = if focus.is_some() && e.order == focus { '»' } else { ' ' };
        let row: String = cells.into_iter().collect();
        let _ = writeln!(out, "{mark}{:>11.6}s  {}  {label}", e.at_us as f64 / 1e6, row.trim_end());
    }
    out
}

fn truncate(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// `name` in at most `n` characters, keeping a store's "-db" suffix.
fn short(name: &str, n: usize) -> String {
    if name.chars().count() <= n {
        return name.to_string();
    }
    match name.strip_suffix("-db") {
        Some(base) if n > 4 => format!("{}-db", truncate(base, n - 3)),
        _ => truncate(name, n).to_string(),
    }
}

/// Draws an arrow from column `a` to column `b` (either direction).
fn arrow(cells: &mut [char], a: usize, b: usize, dash: char) {
    let (lo, hi) = (a.min(b), a.max(b));
    for c in cells.iter_mut().take(hi).skip(lo + 1) {
        *c = dash;
    }
    if b > a {
        cells[b - 1] = '▶';
    } else {
        cells[b + 1] = '◀';
    }
}
