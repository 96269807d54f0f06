//! `faultline bench perf`: the speed of faultline itself, in one process and
//! one run — madsim's RPC floor; per built-in workflow, each protocol's
//! message rate against it, seeds and simulated seconds per wall second, cost
//! as the workload grows and the 10,000-order flash sale; `--jobs 2` against
//! `--jobs 1`, and peak memory (see [`crate::perf`]).

use super::{BadInput, Ctx};
use crate::perf;
use crate::scenario::Scenario;
use anyhow::anyhow;
use faultline_protocols::workflow::builtin;
use serde_json::json;
use std::path::PathBuf;

/// Round trips of the floor measurement.
const PINGS: u64 = 100_000;
/// Workload factors of the scaling rows, at the same arrival rate.
const FACTORS: [u32; 4] = [1, 4, 16, 64];

pub(super) fn perf(ctx: &Ctx, seeds: u64, json: Option<PathBuf>) -> Result<(), BadInput> {
    if seeds == 0 || seeds > 100_000 {
        return Err(anyhow!("--seeds {seeds}: from 1 to 100000").into());
    }
    let load = |n: &str| Scenario::load(n, &ctx.registry).map_err(|e| anyhow!(e));
    let (crash, everything) = (load("crash-restart")?, load("everything")?);
    let floor = perf::madsim_rpc_floor(PINGS);
    // First, before the big runs below leave the heap large and scattered.
    let saga = ctx.registry.get("saga").map_err(|e| anyhow!(e))?;
    // Three times the seeds: a thread per seed, and a second job's share of
    // the start and the tail, should not be what is measured.
    perf::seeds_per_s(&crash, saga, seeds, 2); // warm up: caches, allocator, page faults
    let one = perf::seeds_per_s(&crash, saga, 3 * seeds, 1);
    let two = perf::seeds_per_s(&crash, saga, 3 * seeds, 2);
    println!("madsim RPC floor: {floor:.0} messages/s (one thread, {PINGS} round trips)\n");
    let (mut protocols, mut scaling, mut flash) = (Vec::new(), Vec::new(), Vec::new());
    let text = include_str!("../../scale/flash-sale-10k.toml");
    let big = Scenario::parse(text, "flash-sale-10k.toml", &ctx.registry).map_err(|e| anyhow!(e))?;
    // Every built-in workflow, the shop first: the same rows for each, with
    // the protocols that drive it.
    for w in builtin::all() {
        let on = |s: &Scenario| s.clone().with_workflow(&w.name).map_err(|e| anyhow!(e));
        let (crash, everything, big) = (on(&crash)?, on(&everything)?, on(&big)?);
        let runs: Vec<_> = ctx.registry.all().iter().copied().filter(|p| p.supports(w).is_ok()).collect();
        println!("== workflow {}\n", w.name);
        println!(
            "{:<9} {:>12} {:>7} {:>9} {:>10} {:>12} {:>9} {:>10}",
            "protocol", "messages/s", "ratio", "seeds/s", "sim s/s", "everything", "seeds/s", "sim s/s"
        );
        for p in &runs {
            let c = perf::rates(&crash, *p, seeds);
            let e = perf::rates(&everything, *p, seeds.div_ceil(4));
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
                "workflow": w.name,
                "name": p.name(),
                "msgs_per_s": c.msgs_per_s,
                "ratio": c.msgs_per_s / floor,
                "seeds_per_s": c.seeds_per_s,
                "sim_s_per_wall_s": c.sim_s_per_wall_s,
                "everything": e,
            }));
        }
        println!("\nscaling: crash-restart with ×k orders, customers and stock, arriving at the same rate");
        println!("{:<9} {}", "protocol", FACTORS.map(|k| format!("{:>10}", format!("×{k}"))).join(""));
        for p in &runs {
            let mut base = None;
            let mut cells = Vec::new();
            for k in FACTORS {
                // Fewer seeds as runs grow, at least one: wall time per seed.
                let n = (seeds / u64::from(k)).max(1);
                let wall = 1.0 / perf::seeds_per_s(&perf::scaled(&crash, k), *p, n, 1);
                let ratio = wall / *base.get_or_insert(wall);
                cells.push(format!("{ratio:>10.1}"));
                scaling.push(json!({ "workflow": w.name, "protocol": p.name(), "orders_factor": k,
                                     "wall_per_seed_ratio": ratio, "wall_per_seed_s": wall }));
            }
            println!("{:<9} {}", p.name(), cells.join(""));
        }
        println!("\nflash-sale-10k (10,000 orders in 10 s with crashes), one seed, one thread:");
        for p in &runs {
            let start = std::time::Instant::now();
            let (o, _) = crate::runner::run_seed(&big, *p, 0, false);
            let wall = start.elapsed().as_secs_f64();
            println!(
                "  {:<9} {wall:>6.1} s wall, {:?}, {} messages",
                p.name(),
                o.verdict,
                o.metrics.messages_sent
            );
            flash.push(
                json!({ "workflow": w.name, "protocol": p.name(), "wall_s": wall, "verdict": o.verdict,
                               "sim_s": o.metrics.sim_ms as f64 / 1e3 }),
            );
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
    println!("scaling: wall time per seed over the ×1 row's.");
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
