//! What a wall-clock second buys: madsim's own RPC as the floor, each
//! protocol's message rate against it, seeds and simulated seconds per wall
//! second, how the cost grows with the workload, and what a second job adds —
//! all measured in one process and one run, so ratios compare like with like.

use crate::outcome::RunOutcome;
use crate::runner::{self, Variant};
use crate::scenario::Scenario;
use faultline_protocols::ProtocolRef;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages a second of madsim's own RPC between two nodes, one thread: the
/// floor every protocol is measured against. madsim's `rpc` feature is off
/// here (it pulls in bincode 1.x), so its few lines are repeated as it runs
/// them in simulation: the request on the request type's tag with a random
/// reply tag, a task spawned per request, the caller under a timeout.
pub fn madsim_rpc_floor(pings: u64) -> f64 {
    const REQUEST: u64 = 0x7069_6e67;
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
    let server: SocketAddr = "10.0.0.1:1".parse().expect("an address");
    let start = Instant::now();
    rt.block_on(async move {
        let h = madsim::runtime::Handle::current();
        h.create_node().ip(server.ip()).build().spawn(async move {
            let ep = Arc::new(madsim::net::Endpoint::bind(server).await.expect("bind"));
            loop {
                let (msg, from) = ep.recv_from_raw(REQUEST).await.expect("receive");
                let (reply_tag, i) = *msg.downcast::<(u64, u64)>().expect("a ping");
                let ep = ep.clone();
                madsim::task::spawn(async move {
                    ep.send_to_raw(from, reply_tag, Box::new(i)).await.expect("reply");
                });
            }
        });
        let client = h.create_node().ip("10.0.0.2".parse().expect("an address")).build();
        client
            .spawn(async move {
                madsim::time::sleep(Duration::from_millis(1)).await;
                let ep = madsim::net::Endpoint::bind("10.0.0.2:1").await.expect("bind");
                for i in 0..pings {
                    let call = async {
                        let reply_tag = madsim::rand::random::<u64>();
                        ep.send_to_raw(server, REQUEST, Box::new((reply_tag, i))).await.expect("send");
                        ep.recv_from_raw(reply_tag).await.expect("answer")
                    };
                    madsim::time::timeout(Duration::from_secs(1), call).await.expect("no timeouts");
                }
            })
            .await
            .expect("the client ends");
    });
    (2 * pings) as f64 / start.elapsed().as_secs_f64()
}

/// One protocol's rates on one scenario, one thread.
#[derive(Clone, Debug, Serialize)]
pub struct Rates {
    pub msgs_per_s: f64,
    pub seeds_per_s: f64,
    pub sim_s_per_wall_s: f64,
    /// The share of the orders that completed: a completed order takes every
    /// step, so where it grows with the workload, so do messages per order.
    pub completed_share: f64,
    /// Of the runs [`best`] chose from, the fastest's rate over the slowest's
    /// (1 for one run): how much the machine moved while it measured.
    pub spread: f64,
}

/// Runs `seeds` seeds on one thread and measures them.
pub fn rates(scenario: &Scenario, protocol: ProtocolRef, seeds: u64) -> Rates {
    let start = Instant::now();
    let outcomes = runner::run_seeds(scenario, Variant::from(protocol), 0..seeds, 1, |_| {});
    let wall = start.elapsed().as_secs_f64();
    let messages: u64 = outcomes.iter().map(|o| o.metrics.messages_sent).sum();
    let sim_s: f64 = outcomes.iter().map(|o| o.metrics.sim_ms as f64 / 1e3).sum();
    let orders: u64 = outcomes.iter().map(|o| o.metrics.orders_submitted).sum();
    let completed: u64 = outcomes.iter().map(|o| o.metrics.orders_completed).sum();
    Rates {
        msgs_per_s: messages as f64 / wall,
        seeds_per_s: seeds as f64 / wall,
        sim_s_per_wall_s: sim_s / wall,
        completed_share: completed as f64 / orders.max(1) as f64,
        spread: 1.0,
    }
}

/// The run with the highest message rate of `runs` (at least one), with
/// the spread of all of them.
pub fn best(runs: Vec<Rates>) -> Rates {
    let slowest = runs.iter().map(|r| r.msgs_per_s).fold(f64::INFINITY, f64::min);
    let best = runs.into_iter().max_by(|a, b| a.msgs_per_s.total_cmp(&b.msgs_per_s));
    let best = best.expect("at least one run");
    Rates { spread: best.msgs_per_s / slowest, ..best }
}

/// `scenario` with `factor` times the orders, customers and stock, arriving
/// over `factor` times the window at the same rate, faults running as long.
pub fn scaled(scenario: &Scenario, factor: u32) -> Scenario {
    let mut s = scenario.clone();
    let w = &mut s.workload;
    w.orders *= factor;
    w.customers *= factor;
    w.stock = (w.stock.0 * i64::from(factor), w.stock.1 * i64::from(factor));
    w.arrival_ms *= u64::from(factor);
    s.fault_window_ms *= u64::from(factor);
    s.settle_ms = s.settle_ms.max(s.fault_window_ms);
    s
}

/// Seed 0 of `scenario`, alone: its wall time in seconds, and its outcome.
pub fn one_seed(scenario: &Scenario, protocol: ProtocolRef) -> (f64, RunOutcome) {
    let start = Instant::now();
    let (outcome, _) = runner::run_seed(scenario, protocol, 0, false);
    (start.elapsed().as_secs_f64(), outcome)
}

/// Seeds a second of `scenario` with `jobs` worker threads.
pub fn seeds_per_s(scenario: &Scenario, protocol: ProtocolRef, seeds: u64, jobs: usize) -> f64 {
    let start = Instant::now();
    runner::run_seeds(scenario, Variant::from(protocol), 0..seeds, jobs, |_| {});
    seeds as f64 / start.elapsed().as_secs_f64()
}

/// This process's peak resident memory, in MB (Linux; `None` elsewhere).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The best run is the fastest, and its spread is the fastest over the slowest.
    #[test]
    fn the_best_run_carries_the_spread_of_all() {
        let run = |msgs_per_s| Rates {
            msgs_per_s,
            seeds_per_s: 1.0,
            sim_s_per_wall_s: 1.0,
            completed_share: 0.0,
            spread: 1.0,
        };
        let fastest = best([90.0, 120.0, 100.0].map(run).to_vec());
        assert_eq!(fastest.msgs_per_s, 120.0);
        assert!((fastest.spread - 120.0 / 90.0).abs() < 1e-12);
        assert_eq!(best(vec![fastest]).spread, 1.0, "one run has no spread");
    }
}
