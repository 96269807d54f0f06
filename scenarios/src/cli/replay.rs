//! `faultline replay`: one seed again, with its whole trace — as a timeline,
//! per node, or as a sequence diagram with the violated order's messages
//! marked — or with one order's story only (`--order`).

use super::{compact, describe, flags_on, print_expectation, BadInput, Ctx, OneSeed, View};
use crate::outcome::{RunOutcome, Verdict};
use crate::{runner, timeline};
use anyhow::anyhow;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: OneSeed,
    /// Also write one JSON document — the outcome, the nodes, every event — to
    /// FILE (`-`: standard output, instead of the text).
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// How to show the trace: one timeline, per node, or a sequence diagram.
    #[arg(long, value_enum, default_value_t = View::Timeline)]
    pub view: View,
    /// The lifelines of the sequence diagram (default: every node but the
    /// stores; with --order, every node the order's messages touch).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Follow one order: only its messages (stores included) and the faults.
    #[arg(long)]
    pub order: Option<u32>,
}

pub(super) fn replay(ctx: &Ctx, a: Args) -> Result<bool, BadInput> {
    let Args { run, json, view, nodes: lifelines, order } = a;
    let (scenario, variant) = run.load(ctx)?;
    let seed = run.seed;
    let protocol = variant.protocol;
    let (mut outcome, result) = runner::run_seed(&scenario, variant, seed, true);
    outcome.intensity = (run.how.intensity != 1.0).then_some(run.how.intensity);
    let result = match result {
        Ok(r) => r,
        Err(panic) => {
            println!("seed {seed} panicked: {panic}");
            return Ok(false);
        }
    };
    let mut events = result.events.as_deref().unwrap_or_default();
    let story;
    if let Some(id) = order {
        let orders = &result.truth.workload.orders;
        if !orders.iter().any(|o| o.id == id) {
            let ids: Vec<String> = orders.iter().map(|o| o.id.to_string()).collect();
            return Err(anyhow!("no order {id} in this run; its orders are {}", ids.join(", ")).into());
        }
        story = timeline::of_order(events, id);
        events = &story;
    }
    if let Some(path) = &json {
        let doc = serde_json::json!({ "outcome": outcome, "nodes": result.nodes, "events": events });
        crate::output::write_whole(path, format!("{doc}\n").as_bytes())?;
        if path.as_os_str() == "-" {
            return Ok(outcome.verdict != Verdict::Fail);
        }
    }
    println!("{}", describe(&scenario));
    println!(
        "  {}, seed {seed}, trace hash {}",
        flags_on(&scenario, variant, run.how.intensity),
        outcome.trace_hash
    );
    if let Some(model) = &outcome.swarm {
        println!("  swarm model: {}", compact(model));
    }
    match view {
        View::Timeline => print!("\n{}", timeline::render(events, &result.nodes)),
        View::Nodes => print!("\n{}", timeline::by_node(events, &result.nodes)),
        View::Sequence => print!("\n{}", sequence_of(&result, events, &outcome, &lifelines, order)?),
    }
    let m = &outcome.metrics;
    println!(
        "\n{} orders: {} completed, {} cancelled, {} unsettled; simulated {} ms",
        m.orders_submitted, m.orders_completed, m.orders_cancelled, m.orders_unsettled, m.sim_ms
    );
    if outcome.violations.is_empty() {
        println!("no invariant violated");
    } else {
        println!("{} violations:", outcome.violations.len());
        for v in &outcome.violations {
            println!("  {} — {}: {}", v.invariant, v.subject, v.detail);
            if let Some(e) = &v.evidence {
                println!("      evidence ({}): {}", e.cause, e.detail);
            }
        }
    }
    print_expectation(&scenario, protocol);
    if outcome.verdict == Verdict::Expected {
        println!("verdict: expected — every violation is one this scenario explains");
    }
    Ok(outcome.verdict != Verdict::Fail)
}

/// A run's sequence diagram of `events`: `lifelines` (default: every node but
/// the stores; following an order, every node its messages touch), with the
/// violated order's messages marked (or the followed order's).
pub(crate) fn sequence_of(
    result: &faultline_protocols::run::RunResult,
    events: &[faultline_sim::Event],
    outcome: &RunOutcome,
    lifelines: &[String],
    order: Option<u32>,
) -> Result<String, BadInput> {
    use faultline_sim::{EventKind, NodeId};
    let id = |n: &str| result.nodes.iter().position(|x| x == n).map(|i| NodeId(i as u16));
    let show: Vec<_> = if !lifelines.is_empty() {
        let mut show = Vec::new();
        for n in lifelines {
            let valid = result.nodes.join(", ");
            show.push(id(n).ok_or_else(|| anyhow!("unknown node {n:?}; nodes are: {valid}"))?);
        }
        show
    } else if order.is_some() {
        let touched = |n: &NodeId| {
            events.iter().any(|e| {
                e.order.is_some()
                    && (e.node == *n
                        || matches!(e.kind, EventKind::Send { to, .. } | EventKind::Reply { to, .. } if to == *n))
            })
        };
        (0..result.nodes.len() as u16).map(NodeId).filter(touched).collect()
    } else {
        let service = |n: &&String| !n.contains("-db");
        result.nodes.iter().filter(service).filter_map(|n| id(n)).collect()
    };
    // The order to mark: the one followed, else the first violated one.
    let focus = order
        .or_else(|| outcome.violations.iter().find_map(|v| v.subject.strip_prefix("order ")?.parse().ok()));
    let mut out = String::new();
    if let Some(id) = focus {
        out.push_str(&format!("» marks the messages of order {id}\n\n"));
    }
    out.push_str(&timeline::sequence(events, &result.nodes, &show, focus));
    Ok(out)
}
