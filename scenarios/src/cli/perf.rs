//! `faultline bench perf`: the speed of faultline itself, in one process and
//! one run — madsim's RPC floor; per built-in workflow, each protocol's
//! message rate against it, seeds and simulated seconds per wall second, cost
//! as the workload grows and the 10,000-order flash sale; `--jobs 2` against
//! `--jobs 1`, and peak memory (see [`crate::perf`]). Every number but the
//! flash sales' is the best of [`BEST_OF`] runs, taken in rounds (see
//! [`measure`]); the rates are all taken before the big runs.

use super::{BadInput, Ctx};
use crate::outcome::RunOutcome;
use crate::perf;
use crate::scenario::Scenario;
use anyhow::anyhow;
use faultline_protocols::workflow::builtin;
use faultline_protocols::ProtocolRef;
use serde_json::json;
use std::path::PathBuf;

/// Round trips of the floor measurement.
const PINGS: u64 = 100_000;
/// Each rate is the best of this many runs, one a round: a rate is the work
/// over the least wall time it took, what the machine's noise cannot add to.
const BEST_OF: usize = 5;
/// Workload factors of the scaling rows, at the same arrival rate.
const FACTORS: [u32; 4] = [1, 4, 16, 64];
/// The fewest seeds a scaling cell runs (unless `--seeds` is fewer). A
/// seed draws each SKU's stock once, so however large, seeds differ in how
/// many orders get past stock and how many messages they send: 24 ×64
/// seeds of outbox on the marketplace sent 61× to 83× a ×1 seed's, so a
/// cell of three seeds was off by ±4.5% from the workload alone — half of
/// what separates ×64 from its 70× mark. Twelve halve that.
const MIN_SEEDS: u64 = 12;

pub(super) fn perf(ctx: &Ctx, seeds: u64, json: Option<PathBuf>) -> Result<(), BadInput> {
    if seeds == 0 || seeds > 100_000 {
        return Err(anyhow!("--seeds {seeds}: from 1 to 100000").into());
    }
    let load = |n: &str| Scenario::load(n, &ctx.registry).map_err(|e| anyhow!(e));
    let (crash, everything) = (load("crash-restart")?, load("everything")?);
    let text = include_str!("../../scale/flash-sale-10k.toml");
    let big = Scenario::parse(text, "flash-sale-10k.toml", &ctx.registry).map_err(|e| anyhow!(e))?;
    // Every built-in workflow, the shop first, with the protocols that drive it.
    let mut plans: Vec<Plan> = Vec::new();
    for w in builtin::all() {
        let on = |s: &Scenario| s.clone().with_workflow(&w.name).map_err(|e| anyhow!(e));
        let runs: Vec<_> = ctx.registry.all().iter().copied().filter(|p| p.supports(w).is_ok()).collect();
        plans.push((w.name.clone(), on(&crash)?, on(&everything)?, on(&big)?, runs));
    }
    let saga = ctx.registry.get("saga").map_err(|e| anyhow!(e))?;
    let Measured { floor, one, two, rates, scale, flash_runs } = measure(&plans, &crash, saga, seeds);
    let (mut rates, mut scale, mut flash_runs) =
        (rates.into_iter(), scale.into_iter(), flash_runs.into_iter());
    println!(
        "madsim RPC floor: {floor:.0} messages/s (one thread, {PINGS} round trips, best of {BEST_OF})\n"
    );
    let (mut protocols, mut scaling, mut flash) = (Vec::new(), Vec::new(), Vec::new());
    for (name, _, _, _, runs) in &plans {
        println!("== workflow {name}\n");
        println!(
            "{:<9} {:>12} {:>7} {:>9} {:>10} {:>12} {:>9} {:>10}",
            "protocol", "messages/s", "ratio", "seeds/s", "sim s/s", "everything", "seeds/s", "sim s/s"
        );
        for p in runs {
            let (c, e) = rates.next().expect("a row per protocol and workflow");
            println!(
                "{:<9} {:>12.0} {:>7.2} {:>9.1} {:>10.0} {:>12.0} {:>9.1} {:>10.0}",
                p.name(),
                c.msgs_per_s,
                c.msgs_per_s / floor,
                c.seeds_per_s,
                c.sim_s_per_wall_s,
                e.msgs_per_s,
                e.seeds_per_s,
                e.sim_s_per_wall_s
            );
            protocols.push(json!({
                "workflow": name,
                "name": p.name(),
                "msgs_per_s": c.msgs_per_s,
                "ratio": c.msgs_per_s / floor,
                "seeds_per_s": c.seeds_per_s,
                "sim_s_per_wall_s": c.sim_s_per_wall_s,
                "everything": e,
                "spread": c.spread,
            }));
        }
        println!("\nscaling: crash-restart with ×k orders, customers and stock, arriving at the same rate:");
        println!(
            "wall time per seed over ×1's; below it, the messages a seed sent, wall time per message, and the share\n\
             of orders completed"
        );
        println!("{:<9} {}", "protocol", FACTORS.map(|k| format!("{:>10}", format!("×{k}"))).join(""));
        // The widest spread of a cell's runs: what the machine's noise did to this table.
        let mut widest: Option<(f64, &str, u32)> = None;
        for p in runs {
            let mut base = None;
            let mut rows = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
            for k in FACTORS {
                let r = scale.next().expect("a cell per protocol, workflow and factor");
                let (wall, msgs) = (1.0 / r.seeds_per_s, r.msgs_per_s / r.seeds_per_s);
                let (wall1, msgs1) = *base.get_or_insert((wall, msgs));
                let (ratio, work) = (wall / wall1, msgs / msgs1);
                if widest.is_none_or(|(s, _, _)| r.spread > s) {
                    widest = Some((r.spread, p.name(), k));
                }
                for (row, x) in rows.iter_mut().zip([ratio, work, ratio / work, r.completed_share]) {
                    row.push(format!("{x:>10.2}"));
                }
                scaling.push(json!({ "workflow": name, "protocol": p.name(), "orders_factor": k,
                                     "wall_per_seed_ratio": ratio, "wall_per_seed_s": wall,
                                     "msgs_per_seed_ratio": work, "wall_per_msg_ratio": ratio / work,
                                     "completed_share": r.completed_share, "spread": r.spread }));
            }
            let [per_seed, messages, per_message, completed] = rows.map(|r| r.join(""));
            println!(
                "{:<9} {per_seed}\n{:<9} {messages}\n{:<9} {per_message}\n{:<9} {completed}",
                p.name(),
                "  msgs",
                "  per msg",
                "  done"
            );
        }
        if let Some((spread, name, k)) = widest {
            let up_to = (spread - 1.0) * 100.0;
            println!("the {BEST_OF} runs of a cell differed by up to {up_to:.0}% ({name} ×{k})");
        }
        println!("\nflash-sale-10k (10,000 orders in 10 s with crashes), one seed, one thread:");
        for p in runs {
            let (wall, o) = flash_runs.next().expect("a flash sale per protocol and workflow");
            println!(
                "  {:<9} {wall:>6.1} s wall, {:?}, {} messages",
                p.name(),
                o.verdict,
                o.metrics.messages_sent
            );
            flash.push(json!({ "workflow": name, "protocol": p.name(), "wall_s": wall, "verdict": o.verdict,
                               "sim_s": o.metrics.sim_ms as f64 / 1e3 }));
        }
        println!();
    }
    let rss = perf::peak_rss_mb();
    println!(
        "\n--jobs 2 vs --jobs 1 (saga, crash-restart): {:.2}× ({two:.0} vs {one:.0} seeds/s)",
        two / one
    );
    if let Some(mb) = rss {
        println!("peak resident memory: {mb:.0} MB");
    }
    println!("\nratio: messages/s over the floor; sim s/s: simulated seconds per wall second, one thread;");
    println!("scaling: wall time per seed over the ×1 column's; msgs: messages sent per seed over ×1's (the");
    println!("workload's own growth); per msg: wall time per message over ×1's (the simulator's); done: the");
    println!("share of orders completed: it moves with the size (×1 has a handful of units per SKU), and a");
    println!("completed order takes every step, so messages per order move with it.");
    if let Some(path) = json {
        let doc = json!({
            "floor_msgs_per_s": floor,
            "protocols": protocols,
            "scaling": scaling,
            "jobs2_speedup": two / one,
            "flash_sale_10k": flash,
            "peak_rss_mb": rss,
        });
        let text = serde_json::to_string_pretty(&doc).expect("numbers serialize");
        crate::output::write_whole(&path, text.as_bytes())?;
    }
    Ok(())
}

/// One workflow's scenarios — crash-restart, everything, the flash sale —
/// and the protocols that drive it.
type Plan = (String, Scenario, Scenario, Scenario, Vec<ProtocolRef>);

/// Everything `bench perf` measured, in the order it prints: rates per
/// (workflow, protocol), scaling cells per (workflow, protocol, factor),
/// flash sales per (workflow, protocol).
struct Measured {
    floor: f64,
    one: f64,
    two: f64,
    rates: Vec<(perf::Rates, perf::Rates)>,
    scale: Vec<perf::Rates>,
    flash_runs: Vec<(f64, RunOutcome)>,
}

/// Takes every measurement, in the order (and for the reasons) its body says.
fn measure(plans: &[Plan], crash: &Scenario, saga: ProtocolRef, seeds: u64) -> Measured {
    let cells: Vec<_> =
        plans.iter().flat_map(|(_, c, e, _, runs)| runs.iter().map(move |p| (c, e, *p))).collect();
    let scale_cells: Vec<_> = plans
        .iter()
        .flat_map(|(_, crash, _, _, runs)| runs.iter().flat_map(move |p| FACTORS.map(|k| (crash, *p, k))))
        .map(|(crash, p, k)| {
            // Fewer seeds as runs grow, at least MIN_SEEDS: wall time per seed.
            let n = (seeds / u64::from(k)).max(MIN_SEEDS.min(seeds));
            (perf::scaled(crash, k), p, n)
        })
        .collect();
    let flashes = plans.iter().map(|(_, _, _, _, runs)| runs.len()).sum::<usize>();
    let total = BEST_OF * (3 + 2 * cells.len() + scale_cells.len()) + flashes;
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, eta {eta}").expect("template"),
    );
    // Warm up first (caches, allocator, page faults): the floor must not pay
    // for what the protocols' rows do not.
    perf::seeds_per_s(crash, saga, seeds, 2);
    // Each number is the best of BEST_OF runs taken in rounds — every cell
    // once, then every cell again — so a cell's runs are a minute or more
    // apart, not back to back: a burst of a shared machine's noise slows
    // some of them, not all. The rates (and the floor they are over) come
    // first, before the big runs below leave the heap large and scattered.
    // Three times the seeds for --jobs: a thread per seed, and a second job's
    // share of the start and the tail, should not be what is measured.
    let (mut floor, mut one, mut two) = (Vec::new(), Vec::new(), Vec::new());
    let mut rates: Vec<(Vec<_>, Vec<_>)> = cells.iter().map(|_| Default::default()).collect();
    for _ in 0..BEST_OF {
        floor.push(perf::madsim_rpc_floor(PINGS));
        one.push(perf::seeds_per_s(crash, saga, 3 * seeds, 1));
        two.push(perf::seeds_per_s(crash, saga, 3 * seeds, 2));
        bar.inc(3);
        for ((crash, everything, p), (c, e)) in cells.iter().zip(&mut rates) {
            c.push(perf::rates(crash, *p, seeds));
            e.push(perf::rates(everything, *p, seeds.div_ceil(4)));
            bar.inc(2);
        }
    }
    let mut scale: Vec<Vec<_>> = scale_cells.iter().map(|_| Vec::new()).collect();
    for _ in 0..BEST_OF {
        for ((scenario, p, n), runs) in scale_cells.iter().zip(&mut scale) {
            runs.push(perf::rates(scenario, *p, *n));
            bar.inc(1);
        }
    }
    let mut flash_runs = Vec::new();
    for (_, _, _, big, runs) in plans {
        for p in runs {
            flash_runs.push(perf::one_seed(big, *p));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let max = |runs: Vec<f64>| runs.into_iter().fold(f64::MIN, f64::max);
    Measured {
        floor: max(floor),
        one: max(one),
        two: max(two),
        rates: rates.into_iter().map(|(c, e)| (perf::best(c), perf::best(e))).collect(),
        scale: scale.into_iter().map(perf::best).collect(),
        flash_runs,
    }
}
