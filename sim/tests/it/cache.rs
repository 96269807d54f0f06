//! The cache node: a take is check-and-decrement in one step, a crash loses
//! what memory held, and an append-only log synced every second keeps exactly
//! what its last sync reached. Each test is a script run by a client node.

use faultline_sim::cache::{CacheConfig, CacheOutcome, CacheReq, CacheRsp};
use faultline_sim::{Endpoint, NodeId, World, WorldConfig};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Script =
    Arc<dyn Fn(Arc<Endpoint>, NodeId) -> Pin<Box<dyn Future<Output = Vec<CacheRsp>>>> + Send + Sync>;

/// Runs `script` on a client node against a cache named `cache`; returns what
/// it collected and the trace hash.
fn run(seed: u64, config: CacheConfig, script: Script) -> (Vec<CacheRsp>, u64) {
    let mut world = World::new(seed, WorldConfig::default());
    let cache = world.cache("cache", config);
    let got: Arc<Mutex<Vec<CacheRsp>>> = Arc::default();
    let out = got.clone();
    world.node("client", move |ctx| {
        let (script, out) = (script.clone(), out.clone());
        async move {
            let ep = ctx.endpoint().await;
            tokio::time::sleep(Duration::from_millis(10)).await; // the cache binds its endpoint
            let answers = script(ep, cache).await;
            *out.lock().unwrap() = answers;
            std::future::pending::<()>().await
        }
    });
    let sim = world.sim().clone();
    world.run(async { tokio::time::sleep(Duration::from_secs(10)).await });
    let hash = sim.trace().hash();
    let answers = got.lock().unwrap().clone();
    (answers, hash)
}

async fn call(ep: &Endpoint, cache: NodeId, req: CacheReq) -> CacheRsp {
    ep.call(cache, req, Duration::from_millis(500)).await.expect("no faults: every call is answered")
}

fn load(n: i64) -> CacheReq {
    CacheReq::Load { entries: vec![("stock/hot".into(), n)] }
}

fn get() -> CacheReq {
    CacheReq::Get { key: "stock/hot".into() }
}

fn take() -> CacheReq {
    CacheReq::Take { key: "stock/hot".into(), by: 1, token: None, run_id: None }
}

/// Crashes the cache and starts it again at once.
fn crash_and_restart(ep: &Endpoint, cache: NodeId) {
    ep.sim().crash(cache);
    ep.sim().restart(cache);
}

#[test]
fn cache_concurrent_takes_never_oversell() {
    let script: Script = Arc::new(|ep, cache| {
        Box::pin(async move {
            call(&ep, cache, load(10)).await;
            // 25 buyers at once against 10 units.
            let buyers: Vec<_> = (0..25)
                .map(|_| {
                    let ep = ep.clone();
                    tokio::spawn(async move { call(&ep, cache, take()).await })
                })
                .collect();
            let mut answers = Vec::new();
            for b in buyers {
                answers.push(b.await.unwrap());
            }
            answers.push(call(&ep, cache, get()).await);
            answers
        })
    });
    let (answers, _) = run(1, CacheConfig::default(), script);
    let taken = answers.iter().filter(|a| matches!(a.outcome, CacheOutcome::Taken { .. })).count();
    let refused = answers.iter().filter(|a| matches!(a.outcome, CacheOutcome::NotEnough { .. })).count();
    assert_eq!((taken, refused), (10, 15));
    assert_eq!(answers.last().unwrap().outcome, CacheOutcome::Value(Some(0)));
}

#[test]
fn cache_a_crash_without_a_log_loses_everything_and_the_run_id_says_so() {
    let script: Script = Arc::new(|ep, cache| {
        Box::pin(async move {
            let mut a = vec![call(&ep, cache, load(5)).await, call(&ep, cache, take()).await];
            tokio::time::sleep(Duration::from_secs(2)).await;
            crash_and_restart(&ep, cache);
            tokio::time::sleep(Duration::from_millis(50)).await;
            a.push(call(&ep, cache, get()).await);
            a.push(call(&ep, cache, take()).await);
            a
        })
    });
    let (a, _) = run(2, CacheConfig::default(), script);
    assert_eq!(a[1], CacheRsp { run_id: 1, outcome: CacheOutcome::Taken { left: 4 } });
    assert_eq!(a[2], CacheRsp { run_id: 2, outcome: CacheOutcome::Value(None) }, "memory is gone");
    assert_eq!(a[3].outcome, CacheOutcome::NotEnough { have: None }, "nothing to sell until rebuilt");
}

#[test]
fn cache_a_log_synced_every_second_keeps_what_the_last_sync_reached() {
    let script: Script = Arc::new(|ep, cache| {
        Box::pin(async move {
            call(&ep, cache, load(5)).await; // ~0 s
            tokio::time::sleep(Duration::from_millis(1_300)).await; // a sync ran at ~1 s
            let mut a = vec![call(&ep, cache, take()).await]; // ~1.3 s: not synced yet
            crash_and_restart(&ep, cache); // before the sync at ~2.3 s (the new life's first)
            tokio::time::sleep(Duration::from_millis(50)).await;
            a.push(call(&ep, cache, get()).await);
            a.push(call(&ep, cache, take()).await);
            tokio::time::sleep(Duration::from_millis(1_500)).await; // this take is synced
            crash_and_restart(&ep, cache);
            tokio::time::sleep(Duration::from_millis(50)).await;
            a.push(call(&ep, cache, get()).await);
            a
        })
    });
    let aof = CacheConfig { aof_sync_ms: Some(1_000) };
    let (a, _) = run(3, aof, script);
    assert_eq!(a[0].outcome, CacheOutcome::Taken { left: 4 });
    assert_eq!(
        a[1],
        CacheRsp { run_id: 2, outcome: CacheOutcome::Value(Some(5)) },
        "the unsynced take is lost"
    );
    assert_eq!(a[2].outcome, CacheOutcome::Taken { left: 4 });
    assert_eq!(
        a[3],
        CacheRsp { run_id: 3, outcome: CacheOutcome::Value(Some(4)) },
        "the synced take is kept"
    );
}

#[test]
fn cache_runs_are_a_function_of_the_seed() {
    let script: Script = Arc::new(|ep, cache| {
        Box::pin(async move {
            call(&ep, cache, load(3)).await;
            let mut a = Vec::new();
            for _ in 0..5 {
                a.push(call(&ep, cache, take()).await);
            }
            a
        })
    });
    let aof = CacheConfig { aof_sync_ms: Some(1_000) };
    let (a1, h1) = run(9, aof, script.clone());
    let (a2, h2) = run(9, aof, script.clone());
    let (_, h3) = run(10, aof, script);
    assert_eq!((a1, h1), (a2, h2));
    assert_ne!(h1, h3, "another seed draws other latencies");
}

#[test]
fn cache_a_token_takes_once_and_returns_once_and_a_life_loads_once() {
    let script: Script = Arc::new(|ep, cache| {
        Box::pin(async move {
            let take = |token: &str, run_id| CacheReq::Take {
                key: "stock/hot".into(),
                by: 2,
                token: Some(token.into()),
                run_id: Some(run_id),
            };
            let back = |token: &str| CacheReq::Return { token: token.into() };
            let mut a = vec![call(&ep, cache, load(5)).await];
            a.push(call(&ep, cache, take("order-1", 1)).await);
            a.push(call(&ep, cache, take("order-1", 1)).await);
            a.push(call(&ep, cache, take("order-2", 7)).await);
            a.push(call(&ep, cache, back("order-1")).await);
            a.push(call(&ep, cache, back("order-1")).await);
            a.push(call(&ep, cache, take("order-3", 1)).await);
            a.push(call(&ep, cache, load(5)).await);
            a.push(call(&ep, cache, back("order-3")).await);
            a.push(call(&ep, cache, get()).await);
            a
        })
    });
    let (a, _) = run(4, CacheConfig::default(), script);
    let outcomes: Vec<_> = a.into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            CacheOutcome::Done(1),
            CacheOutcome::Taken { left: 3 },
            CacheOutcome::Already,
            CacheOutcome::Stale,
            CacheOutcome::Returned(Some(5)),
            CacheOutcome::Returned(None),
            CacheOutcome::Taken { left: 3 },
            CacheOutcome::Already,
            CacheOutcome::Returned(Some(5)),
            CacheOutcome::Value(Some(5)),
        ]
    );
}

#[test]
fn cache_the_first_load_of_a_new_life_replaces_what_the_log_replayed() {
    let script: Script = Arc::new(|ep, cache| {
        Box::pin(async move {
            let take =
                CacheReq::Take { key: "stock/hot".into(), by: 1, token: Some("a".into()), run_id: None };
            call(&ep, cache, load(5)).await;
            call(&ep, cache, take).await;
            tokio::time::sleep(Duration::from_millis(1_500)).await; // synced
            crash_and_restart(&ep, cache);
            tokio::time::sleep(Duration::from_millis(50)).await;
            vec![
                call(&ep, cache, get()).await,
                call(&ep, cache, load(9)).await,
                call(&ep, cache, CacheReq::Return { token: "a".into() }).await,
                call(&ep, cache, get()).await,
            ]
        })
    });
    let (a, _) = run(5, CacheConfig { aof_sync_ms: Some(1_000) }, script);
    let outcomes: Vec<_> = a.into_iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        vec![
            CacheOutcome::Value(Some(4)),
            CacheOutcome::Done(1),
            CacheOutcome::Returned(None),
            CacheOutcome::Value(Some(9)),
        ],
        "replayed, then replaced: the old life's take is forgotten"
    );
}
