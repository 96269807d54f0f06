//! Clock skew: each node's timers run fast or slow within the bound, from the
//! seed, and a timeout measured by a fast clock fires early.

use faultline_sim::{Message, Request, World, WorldConfig};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Serialize)]
struct Slow;
impl Message for Slow {
    fn label(&self) -> &'static str {
        "slow"
    }
}
impl Request for Slow {
    type Response = Slow;
}

/// The server answers after 90 ms of simulated time; the client waits 100 ms by
/// its own clock. Returns the client's clock rate and whether the call timed out.
fn call_slow_server(seed: u64) -> (f64, bool) {
    let mut world =
        World::new(seed, WorldConfig { clock_skew: 0.3, latency_us: (0, 1), ..WorldConfig::default() });
    let server = world.node("server", |ctx| async move {
        ctx.endpoint().await.serve(|_: Slow, _| async {
            tokio::time::sleep(Duration::from_millis(90)).await;
            Slow
        });
        std::future::pending::<()>().await
    });
    let timed_out = Arc::new(AtomicBool::new(false));
    let t = timed_out.clone();
    let client = world.node("client", move |ctx| {
        let t = t.clone();
        async move {
            let ep = ctx.endpoint().await;
            tokio::time::sleep(Duration::from_millis(10)).await; // the server binds first
            let r = ep.call(server, Slow, Duration::from_millis(100)).await;
            t.store(r.is_err(), Ordering::Relaxed);
            std::future::pending::<()>().await
        }
    });
    world.run(async { tokio::time::sleep(Duration::from_secs(1)).await });
    let rate = 1.0 / world.sim().real(client, Duration::from_secs(1)).as_secs_f64();
    (rate, timed_out.load(Ordering::Relaxed))
}

#[test]
fn clock_skew_makes_fast_clocks_time_out_early() {
    let (mut early, mut patient) = (0, 0);
    for seed in 0..40 {
        let (rate, timed_out) = call_slow_server(seed);
        assert!((0.7..=1.3).contains(&rate), "seed {seed}: rate {rate} within the bound");
        // 100 ms on the client's clock is 100/rate ms of simulated time; the
        // answer comes after 90 ms plus a few ms of network and timer ticks.
        if rate > 100.0 / 89.0 {
            assert!(timed_out, "seed {seed}: a clock {rate:.3}x fast gives up before 90 ms");
            early += 1;
        } else if rate < 100.0 / 98.0 {
            assert!(!timed_out, "seed {seed}: a clock {rate:.3}x waits past 90 ms");
            patient += 1;
        }
    }
    assert!(early > 0 && patient > 0, "both sides seen: {early} early, {patient} patient");
}

#[test]
fn clock_rates_are_a_function_of_the_seed() {
    assert_eq!(call_slow_server(7), call_slow_server(7));
    assert_ne!(call_slow_server(7).0, call_slow_server(8).0);
}
