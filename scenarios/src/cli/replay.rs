//! `faultline replay`: one seed again, with its whole trace — as a timeline,
//! per node, or as a sequence diagram with the violating order's life marked.

use super::{compact, describe, flags, print_expectation, BadInput, Ctx, Format, OneSeed, View};
use crate::outcome::{RunOutcome, Verdict};
use crate::{runner, timeline};
use anyhow::anyhow;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: OneSeed,
    /// Text for people, or one JSON document (the outcome, the nodes, every event).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How to show the trace: one timeline, per node, or a sequence diagram.
    #[arg(long, value_enum, default_value_t = View::Timeline)]
    pub view: View,
    /// The lifelines of the sequence diagram (default: every node but the stores).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
}

pub(super) fn replay(ctx: &Ctx, a: Args) -> Result<bool, BadInput> {
    let Args { run, format, view, nodes: lifelines } = a;
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
    let events = result.events.as_deref().unwrap_or_default();
    if format == Format::Json {
        let doc = serde_json::json!({ "outcome": outcome, "nodes": result.nodes, "events": events });
        println!("{doc}");
        return Ok(outcome.verdict != Verdict::Fail);
    }
    println!("{}", describe(&scenario));
    println!("  {}, seed {seed}, trace hash {}", flags(variant, run.how.intensity), outcome.trace_hash);
    if let Some(model) = &outcome.swarm {
        println!("  swarm model: {}", compact(model));
    }
    match view {
        View::Timeline => print!("\n{}", timeline::render(events, &result.nodes)),
        View::Nodes => print!("\n{}", timeline::by_node(events, &result.nodes)),
        View::Sequence => print!("\n{}", sequence_of(&result, &outcome, &lifelines)?),
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

/// A run's sequence diagram: `lifelines` (default: every node but the stores),
/// with the first violated order's life marked.
pub(crate) fn sequence_of(
    result: &faultline_protocols::run::RunResult,
    outcome: &RunOutcome,
    lifelines: &[String],
) -> Result<String, BadInput> {
    let events = result.events.as_deref().unwrap_or_default();
    let id = |n: &str| result.nodes.iter().position(|x| x == n).map(|i| faultline_sim::NodeId(i as u16));
    let show: Vec<_> = if lifelines.is_empty() {
        let service = |n: &&String| !n.contains("-db");
        result.nodes.iter().filter(service).filter_map(|n| id(n)).collect()
    } else {
        let mut show = Vec::new();
        for n in lifelines {
            let valid = result.nodes.join(", ");
            show.push(id(n).ok_or_else(|| anyhow!("unknown node {n:?}; nodes are: {valid}"))?);
        }
        show
    };
    // The first violated order's life: from submission to its last state write.
    let focus = outcome.violations.iter().find_map(|v| {
        let id: u32 = v.subject.strip_prefix("order ")?.parse().ok()?;
        let o = result.truth.workload.orders.iter().find(|o| o.id == id)?;
        let last = result.truth.order_history.iter().filter(|h| h.1 == id).map(|h| h.0).max();
        Some((o.submit_at_ms * 1000, last.unwrap_or(u64::MAX)))
    });
    let mut out = String::new();
    if let Some((lo, hi)) = focus {
        let hi = if hi == u64::MAX { "the end".to_string() } else { format!("{:.3}s", hi as f64 / 1e6) };
        out.push_str(&format!(
            "» marks the life of the first violated order: {:.3}s to {hi}\n\n",
            lo as f64 / 1e6
        ));
    }
    out.push_str(&timeline::sequence(events, &result.nodes, &show, focus));
    Ok(out)
}
