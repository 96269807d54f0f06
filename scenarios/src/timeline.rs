//! A run's trace as a readable timeline: one line per event, with node names.

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
