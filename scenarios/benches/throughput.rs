//! Message throughput, measured against madsim's own RPC in the same run.
//!
//! `cargo bench --bench throughput` prints messages per wall-clock second for:
//! 1. madsim `Endpoint` ping-pong (the transport faultline builds on);
//! 2. madsim's own RPC (`call_timeout`) — the baseline: faultline is held to at
//!    least a third of it on real protocol work;
//! 3. faultline's typed, traced RPC on a trivial handler;
//! 4. the whole Saga on the `calm` and `crash-restart` scenarios (stores,
//!    disks, gateway, checker included), one thread.
//!
//! Each is printed with its ratio to the baseline measured in the same round
//! (median of five rounds). Wall time is measured outside the simulation,
//! where `Instant` is real.

use faultline_protocols::{builtin::saga::Saga, Registry};
use faultline_scenarios::runner::run_seeds;
use faultline_scenarios::scenario::Scenario;
use faultline_sim::{Message, Request, World, WorldConfig};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PINGS: u64 = 200_000;

/// Messages per second of a client and a server on two madsim nodes, `PINGS` round trips.
fn madsim_pair<S, C>(server: impl FnOnce(SocketAddr) -> S, client: impl FnOnce(SocketAddr) -> C) -> f64
where
    S: std::future::Future<Output = ()> + Send + 'static,
    C: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
    let addr: SocketAddr = "10.0.0.1:1".parse().unwrap();
    let (server, client) = (server(addr), client(addr));
    let start = Instant::now();
    rt.block_on(async move {
        let h = madsim::runtime::Handle::current();
        h.create_node().ip(addr.ip()).build().spawn(server);
        let c = h.create_node().ip("10.0.0.2".parse().unwrap()).build();
        c.spawn(async move {
            madsim::time::sleep(Duration::from_millis(1)).await;
            client.await
        })
        .await
        .unwrap();
    });
    (2 * PINGS) as f64 / start.elapsed().as_secs_f64()
}

fn madsim_pingpong() -> f64 {
    madsim_pair(
        |addr| async move {
            let ep = madsim::net::Endpoint::bind(addr).await.unwrap();
            loop {
                let (msg, from) = ep.recv_from_raw(1).await.unwrap();
                ep.send_to_raw(from, 2, msg).await.unwrap();
            }
        },
        |server| async move {
            let ep = madsim::net::Endpoint::bind("10.0.0.2:1").await.unwrap();
            for i in 0..PINGS {
                ep.send_to_raw(server, 1, Box::new(i)).await.unwrap();
                ep.recv_from_raw(2).await.unwrap();
            }
        },
    )
}

/// madsim's own RPC: the floor `faultline bench perf` measures too.
fn madsim_rpc() -> f64 {
    faultline_scenarios::perf::madsim_rpc_floor(PINGS)
}

#[derive(Clone, Serialize)]
struct Ping(u64);
impl Message for Ping {
    fn label(&self) -> &'static str {
        "ping"
    }
}
impl Request for Ping {
    type Response = Ping;
}

fn faultline_rpc() -> f64 {
    let mut world = World::new(1, WorldConfig::default());
    let server = world.node("server", |ctx| async move {
        ctx.endpoint().await.serve(|Ping(i): Ping, _| async move { Ping(i) });
        std::future::pending::<()>().await
    });
    let start = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    world.node("client", move |ctx| {
        let d = d.clone();
        async move {
            let ep = ctx.endpoint().await;
            for i in 0..PINGS {
                ep.call(server, Ping(i), Duration::from_secs(1)).await.expect("no faults, no timeouts");
            }
            d.store(true, std::sync::atomic::Ordering::Relaxed);
            std::future::pending::<()>().await
        }
    });
    world.run(async move {
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (2 * PINGS) as f64 / start.elapsed().as_secs_f64()
}

fn saga(scenario: &str, seeds: u64) -> (f64, f64) {
    let s = Scenario::load(scenario, &Registry::builtin()).unwrap();
    let start = Instant::now();
    let outcomes = run_seeds(&s, &Saga as faultline_protocols::ProtocolRef, 0..seeds, 1, |_| {});
    let wall = start.elapsed().as_secs_f64();
    let messages: u64 = outcomes.iter().map(|o| o.metrics.messages_sent).sum();
    (messages as f64 / wall, seeds as f64 / wall)
}

/// Rounds of the whole set: each round measures the baseline and every
/// workload back to back, so a ratio compares runs made under the same load;
/// the median round is reported (this machine's speed drifts between rounds).
const ROUNDS: usize = 5;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let names = [
        "madsim Endpoint ping-pong",
        "madsim RPC call_timeout (baseline)",
        "faultline traced RPC ping-pong",
        "saga on calm",
        "saga on crash-restart",
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut seeds_per_sec = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        let (calm, calm_seeds) = saga("calm", 150);
        let (crash, crash_seeds) = saga("crash-restart", 150);
        seeds_per_sec[0].push(calm_seeds);
        seeds_per_sec[1].push(crash_seeds);
        let round = [madsim_pingpong(), madsim_rpc(), faultline_rpc(), calm, crash];
        for (i, r) in round.iter().enumerate() {
            rates[i].push(*r);
            ratios[i].push(r / round[1]);
        }
    }
    println!("{:<44} {:>12} {:>8}", "workload (one thread, median of 5 rounds)", "messages/s", "ratio");
    for (i, name) in names.iter().enumerate() {
        let label = match i {
            3 => format!("{name} ({:.0} seeds/s)", median(seeds_per_sec[0].clone())),
            4 => format!("{name} ({:.0} seeds/s)", median(seeds_per_sec[1].clone())),
            _ => name.to_string(),
        };
        println!("{label:<44} {:>12.0} {:>8.2}", median(rates[i].clone()), median(ratios[i].clone()));
    }
}
