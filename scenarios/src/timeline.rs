//! A run's trace as a readable timeline: one line per event, with node names;
//! per node; or as a sequence diagram — all of it, or one order's story.

use faultline_sim::{DropReason, Event, EventKind, NodeId};
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
            EventKind::SlowNode { min_ms: 0, max_ms: 0 } => "SLOW no more".to_string(),
            EventKind::SlowNode { min_ms, max_ms } => {
                format!("SLOW: every message to or from here takes {min_ms}..{max_ms} ms")
            }
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
///
/// Folds keep a story on one screen: a request answered before anything else
/// happens is one row (◀──▶, "txn #5 ↩ txn-ok"), so is a reply and its loss,
/// and a retry loop — the same rows again but for their call numbers — is
/// shown once, "×N".
pub fn sequence(events: &[Event], nodes: &[String], show: &[NodeId], focus: Option<u32>) -> String {
    let name = |id: NodeId| nodes.get(id.0 as usize).map(String::as_str).unwrap_or("nemesis");
    // Lifelines share about 110 columns, 8 to 15 each; a name too long is
    // cut but keeps its "-db", so "coordinator" and "coordinator-db" differ.
    let widest = show.iter().map(|n| name(*n).chars().count()).max().unwrap_or(0);
    let col_width = (widest + 1).min(110 / show.len().max(1)).clamp(8, 15);
    let rows = rows(events, show, col_width, focus, &name);
    let mut out = String::new();
    let header: String =
        show.iter().map(|n| format!("{:<col_width$}", short(name(*n), col_width - 1))).collect();
    let _ = writeln!(out, "{:>13}  {header}", "");
    for (row, (block, times)) in fold_repeats(fold_round_trips(rows)) {
        let mark = if row.mine { '»' } else { ' ' };
        let cells: String = row.cells.into_iter().collect();
        let again = match (block, times) {
            (_, 1) => String::new(),
            (1, _) => format!("  ×{times}"),
            _ => format!("  ⟲ these {block} rows ×{times}"),
        };
        let at = row.at_us as f64 / 1e6;
        let _ = writeln!(out, "{mark}{at:>11.6}s  {}  {}{again}", cells.trim_end(), row.label);
    }
    out
}

/// One row of the diagram, before folding.
struct Row {
    at_us: u64,
    mine: bool,
    cells: Vec<char>,
    label: String,
    /// A request (`Some((call, true))`) or a reply (`Some((call, false))`).
    call: Option<(u64, bool)>,
    /// The call this row gave up on.
    timed_out: Option<u64>,
}

fn rows<'a>(
    events: &[Event],
    show: &[NodeId],
    col_width: usize,
    focus: Option<u32>,
    name: &dyn Fn(NodeId) -> &'a str,
) -> Vec<Row> {
    let col = |id: NodeId| show.iter().position(|n| *n == id);
    let mut rows = Vec::new();
    for e in events {
        let mut cells = vec![' '; show.len() * col_width];
        for i in 0..show.len() {
            cells[i * col_width] = '│';
        }
        let (mut call_of, mut timed_out) = (None, None);
        let label = match &e.kind {
            EventKind::Send { to, call, msg } | EventKind::Reply { to, call, msg } => {
                let (Some(a), Some(b)) = (col(e.node), col(*to)) else { continue };
                let request = matches!(e.kind, EventKind::Send { .. });
                arrow(&mut cells, a * col_width, b * col_width, if request { '─' } else { '┄' });
                call_of = Some((*call, request));
                format!("{msg} #{call}")
            }
            EventKind::Drop { from, to, call, msg, reason } => {
                let (Some(a), Some(b)) = (col(*from), col(*to)) else { continue };
                // A reply lost on arrival (late, cut off) is one row, not two.
                if rows.last().is_some_and(|r: &Row| r.call == Some((*call, false))) {
                    rows.pop();
                }
                // A reply to a call that already timed out goes with the timeout.
                if let (DropReason::Late, Some(gave_up)) =
                    (reason, rows.iter_mut().rev().find(|r| r.timed_out == Some(*call)))
                {
                    let at = e.at_us as f64 / 1e6;
                    gave_up.label = format!("{} (its {msg} came at {at:.3}s)", gave_up.label);
                    continue;
                }
                arrow(&mut cells, a * col_width, b * col_width, '╌');
                cells[b * col_width] = '✗';
                format!("{msg} #{call} lost ({reason:?})")
            }
            EventKind::Timeout { to, call, msg } => {
                let Some(a) = col(e.node) else { continue };
                cells[a * col_width] = '⌛';
                timed_out = Some(*call);
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
            EventKind::SlowNode { min_ms, max_ms } => {
                let Some(a) = col(e.node) else { continue };
                cells[a * col_width] = '~';
                match (min_ms, max_ms) {
                    (0, 0) => format!("{} slow no more", name(e.node)),
                    _ => format!("{} slow: {min_ms}..{max_ms} ms a message", name(e.node)),
                }
            }
            EventKind::Injected { fault, detail } => {
                let Some(a) = col(e.node) else { continue };
                cells[a * col_width] = '!';
                format!("{fault} {detail}")
            }
            _ => continue,
        };
        let mine = focus.is_some() && e.order == focus;
        rows.push(Row { at_us: e.at_us, mine, cells, label, call: call_of, timed_out });
    }
    rows
}

/// A request whose reply is the very next row becomes one row.
fn fold_round_trips(rows: Vec<Row>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    for row in rows {
        if let (Some((call, false)), Some(last)) = (row.call, out.last_mut()) {
            if last.call == Some((call, true)) {
                let reply = row.label.split(" #").next().unwrap_or("");
                last.label = format!("{} ↩ {reply}", last.label);
                last.mine |= row.mine;
                last.call = None;
                // The request's own end gets a head too: ◀──▶.
                if let Some(tail) = last.cells.iter().position(|c| *c == '─') {
                    if last.cells.get(tail.wrapping_sub(1)) == Some(&'│') {
                        last.cells[tail] = '◀';
                    } else if let Some(end) = last.cells.iter().rposition(|c| *c == '─') {
                        last.cells[end] = '▶';
                    }
                }
                continue;
            }
        }
        out.push(row);
    }
    out
}

/// Runs of the same block of rows (1 to 4 rows, equal but for call numbers
/// and times) are shown once; its last row says (block size, times run).
fn fold_repeats(rows: Vec<Row>) -> Vec<(Row, (usize, usize))> {
    let key = |r: &Row| (r.cells.clone(), without_calls(&r.label), r.mine);
    let mut out: Vec<(Row, (usize, usize))> = Vec::new();
    let mut i = 0;
    let mut rows: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    while i < rows.len() {
        let best = (1..=4)
            .map(|k| {
                let same = |a: usize, b: usize| match (&rows.get(a), &rows.get(b)) {
                    (Some(Some(x)), Some(Some(y))) => key(x) == key(y),
                    _ => false,
                };
                let mut times = 1;
                while (0..k).all(|j| same(i + j, i + times * k + j)) {
                    times += 1;
                }
                (k, times)
            })
            .filter(|(_, times)| *times > 1)
            .max_by_key(|(k, times)| (k * (times - 1), usize::MAX - k));
        let (k, times) = best.unwrap_or((1, 1));
        for j in 0..k {
            let row = rows[i + j].take().expect("each row is taken once");
            out.push((row, (k, if j + 1 == k { times } else { 1 })));
        }
        i += k * times;
    }
    out
}

/// A label with its call numbers taken out: "txn #70 to x timed out" → "txn to x timed out".
fn without_calls(label: &str) -> String {
    let call = |w: &&str| w.strip_prefix('#').is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
    label.split(' ').filter(|w| !call(w)).collect::<Vec<_>>().join(" ")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, node: u16, kind: EventKind) -> Event {
        Event { at_us: ms * 1000, node: NodeId(node), order: Some(7), kind }
    }

    fn diagram(events: &[Event]) -> Vec<String> {
        let nodes = ["svc".to_string(), "svc-db".to_string()];
        let text = sequence(events, &nodes, &[NodeId(0), NodeId(1)], Some(7));
        text.lines().skip(1).map(str::to_string).collect()
    }

    #[test]
    fn an_answered_request_is_one_row() {
        let (svc, db) = (NodeId(0), NodeId(1));
        let rows = diagram(&[
            at(1, 0, EventKind::Send { to: db, call: 5, msg: "txn" }),
            at(2, 1, EventKind::Reply { to: svc, call: 5, msg: "txn-ok" }),
        ]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert!(
            rows[0].contains("◀") && rows[0].contains("▶") && rows[0].ends_with("txn #5 ↩ txn-ok"),
            "{rows:?}"
        );
    }

    #[test]
    fn a_retry_loop_is_shown_once_with_its_count() {
        let db = NodeId(1);
        let mut events = Vec::new();
        for (i, call) in [10, 11, 12].into_iter().enumerate() {
            let t = i as u64 * 200;
            events.push(at(t, 0, EventKind::Send { to: db, call, msg: "txn" }));
            events.push(at(t + 150, 0, EventKind::Timeout { to: db, call, msg: "txn" }));
        }
        let rows = diagram(&events);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows[0].ends_with("txn #10"), "the first attempt stands for all: {rows:?}");
        assert!(rows[1].ends_with("⟲ these 2 rows ×3"), "{rows:?}");
    }

    #[test]
    fn a_late_reply_goes_with_its_timeout() {
        let (svc, db) = (NodeId(0), NodeId(1));
        let rows = diagram(&[
            at(1, 0, EventKind::Send { to: db, call: 5, msg: "txn" }),
            at(1001, 0, EventKind::Timeout { to: db, call: 5, msg: "txn" }),
            at(3000, 1, EventKind::Reply { to: svc, call: 5, msg: "txn-ok" }),
            at(
                3001,
                0,
                EventKind::Drop { from: db, to: svc, call: 5, msg: "txn-ok", reason: DropReason::Late },
            ),
        ]);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows[1].ends_with("txn #5 to svc-db timed out (its txn-ok came at 3.001s)"), "{rows:?}");
    }

    #[test]
    fn different_rows_are_not_folded() {
        let db = NodeId(1);
        let rows = diagram(&[
            at(1, 0, EventKind::Send { to: db, call: 5, msg: "txn" }),
            at(2, 0, EventKind::Send { to: db, call: 6, msg: "txn" }),
            at(3, 0, EventKind::Send { to: db, call: 7, msg: "commit" }),
        ]);
        assert_eq!(rows.len(), 2, "two alike fold, the third differs: {rows:?}");
        assert!(rows[0].ends_with("txn #5  ×2") && rows[1].ends_with("commit #7"), "{rows:?}");
    }
}
