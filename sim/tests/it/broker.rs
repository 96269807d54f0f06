//! The broker: durable publish, at-least-once delivery with duplicates, per-key
//! order, consumer groups, reordering across keys, and surviving a broker crash.

use super::world::at;
use faultline_sim::broker::{BrokerClient, BrokerConfig};
use faultline_sim::{Fault, FaultPlan, World, WorldConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MESSAGES: u32 = 40;
const KEYS: u32 = 4;

/// (key, payload, attempt) per group, in delivery order.
type Log = Arc<Mutex<BTreeMap<String, Vec<(u32, u32, u32)>>>>;

struct Run {
    deliveries: BTreeMap<String, Vec<(u32, u32, u32)>>,
    counts: BTreeMap<&'static str, u64>,
}

/// A producer publishes 40 messages over 4 keys; each group consumes them. A
/// consumer "crashes before acking" the first delivery of every 5th message.
fn run(seed: u64, config: BrokerConfig, plan: FaultPlan, groups: &[&'static str]) -> Run {
    let mut world = World::new(seed, WorldConfig { broker: config, ..WorldConfig::default() });
    let (broker, _) = world.broker("broker");
    world.node("producer", move |ctx| async move {
        let b = BrokerClient::new(ctx.endpoint().await, broker, Duration::from_millis(200));
        for i in 0..MESSAGES {
            let (id, key) = (format!("m{i}"), format!("k{}", i % KEYS));
            while !b.publish("orders", &id, &key, &i.to_string()).await {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        std::future::pending::<()>().await
    });
    let log: Log = Arc::default();
    for &group in groups {
        let log = log.clone();
        world.node(&format!("consumer-{group}"), move |ctx| {
            let log = log.clone();
            async move {
                let b = BrokerClient::new(ctx.endpoint().await, broker, Duration::from_millis(500));
                loop {
                    for d in b.poll("orders", group, 8).await.unwrap_or_default() {
                        let (key, payload): (u32, u32) =
                            (d.key[1..].parse().unwrap(), d.payload.parse().unwrap());
                        log.lock()
                            .unwrap()
                            .entry(group.to_string())
                            .or_default()
                            .push((key, payload, d.attempt));
                        if d.attempt == 1 && payload % 5 == 0 {
                            continue; // "crashed" before the ack: the broker must redeliver
                        }
                        b.ack("orders", group, d.seq).await;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
    }
    let sim = world.sim().clone();
    world.run(async {
        faultline_sim::nemesis::run(sim.clone(), plan, 2_000).await;
        tokio::time::sleep(Duration::from_secs(4)).await;
    });
    let deliveries = log.lock().unwrap().clone();
    let counts = sim.trace().counts().clone();
    Run { deliveries, counts }
}

/// Checks at-least-once and per-key order for one group; returns the duplicates.
fn check_group(group: &str, d: &[(u32, u32, u32)]) -> usize {
    let mut firsts: Vec<u32> = d.iter().map(|(_, p, _)| *p).collect();
    firsts.sort();
    firsts.dedup();
    assert_eq!(firsts, (0..MESSAGES).collect::<Vec<_>>(), "{group}: every message delivered");
    for key in 0..KEYS {
        let mut seen: Vec<u32> = d.iter().filter(|(k, _, _)| *k == key).map(|(_, p, _)| *p).collect();
        seen.dedup(); // a redelivery comes before the key's next message
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{group}: key {key} out of order: {seen:?}");
    }
    d.len() - MESSAGES as usize
}

#[test]
fn broker_delivers_at_least_once_in_key_order_with_duplicates() {
    for seed in 0..5 {
        let r = run(seed, BrokerConfig::default(), FaultPlan::default(), &["g"]);
        let dups = check_group("g", &r.deliveries["g"]);
        assert_eq!(dups, (MESSAGES / 5) as usize, "seed {seed}: exactly the unacked ones come again");
        let again = r.deliveries["g"].iter().filter(|(_, _, attempt)| *attempt == 2).count();
        assert_eq!(again, dups);
    }
}

#[test]
fn broker_consumer_groups_each_get_everything() {
    let r = run(1, BrokerConfig::default(), FaultPlan::default(), &["billing", "shipping"]);
    check_group("billing", &r.deliveries["billing"]);
    check_group("shipping", &r.deliveries["shipping"]);
}

#[test]
fn broker_crash_forgets_leases_and_redelivers() {
    let plan = FaultPlan {
        events: vec![
            at(150, Fault::Crash { node: "broker".into(), restart_after_ms: 300 }),
            at(700, Fault::Crash { node: "broker-db".into(), restart_after_ms: 300 }),
        ],
    };
    let mut extra = 0;
    for seed in 0..5 {
        let r = run(seed, BrokerConfig::default(), plan.clone(), &["g"]);
        assert_eq!(r.counts["crash"], 2);
        let dups = check_group("g", &r.deliveries["g"]);
        assert!(dups >= (MESSAGES / 5) as usize, "seed {seed}: {dups} duplicates");
        extra += dups - (MESSAGES / 5) as usize;
    }
    assert!(extra > 0, "the crashes caused redeliveries beyond the unacked ones");
}

#[test]
fn broker_reorders_across_keys_only_when_asked() {
    let inversions = |r: &Run| {
        let firsts: Vec<u32> = r.deliveries["g"].iter().filter(|d| d.2 == 1).map(|d| d.1).collect();
        firsts.windows(2).filter(|w| w[0] > w[1]).count()
    };
    let plain = run(2, BrokerConfig::default(), FaultPlan::default(), &["g"]);
    let shuffled =
        run(2, BrokerConfig { reorder: true, ..BrokerConfig::default() }, FaultPlan::default(), &["g"]);
    check_group("g", &shuffled.deliveries["g"]);
    assert!(
        inversions(&shuffled) > inversions(&plain),
        "reordering shows: {} vs {}",
        inversions(&shuffled),
        inversions(&plain)
    );
}

/// A long poll answers as soon as something is there for its group: a
/// redelivery when the lease runs out (500 ms), a publish to its own topic at
/// once — and a publish to another topic does not wake it (it answers at
/// LONG_POLL, empty).
#[test]
fn broker_long_poll_answers_at_a_leases_end_or_its_own_topics_publish() {
    let mut world = World::new(3, WorldConfig::default());
    let (broker, _) = world.broker("broker");
    // (what, ms it took, how many messages)
    type Seen = Arc<Mutex<Vec<(&'static str, u64, usize)>>>;
    let seen: Seen = Arc::default();
    let log = seen.clone();
    world.node("consumer", move |ctx| {
        let log = log.clone();
        async move {
            let b = BrokerClient::new(ctx.endpoint().await, broker, Duration::from_millis(200));
            tokio::time::sleep(Duration::from_millis(10)).await;
            while !b.publish("orders", "m1", "k1", "1").await {}
            let first = b.poll("orders", "g", 8).await.unwrap_or_default();
            let start = tokio::time::Instant::now();
            let ms = |start: tokio::time::Instant| start.elapsed().as_millis() as u64;
            log.lock().unwrap().push(("first", 0, first.len()));
            // Not acked: the next (long) poll gets it again when its lease ends.
            let again = b.poll("orders", "g", 8).await.unwrap_or_default();
            log.lock().unwrap().push(("redelivered", ms(start), again.len()));
            b.ack("orders", "g", again[0].seq).await;
            // While a long poll on "orders" waits, a publish to `topic` 100 ms in.
            let poll_during_publish = |what: &'static str, topic: &'static str, id: &'static str| {
                let (b, log) = (b.clone(), log.clone());
                async move {
                    let publisher = b.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        while !publisher.publish(topic, id, "k1", "x").await {}
                    });
                    let start = tokio::time::Instant::now();
                    let got = b.poll("orders", "g", 8).await.unwrap_or_default();
                    log.lock().unwrap().push((what, ms(start), got.len()));
                }
            };
            // A quiet topic's poll: another topic's publish does not end it;
            // its own topic's publish ends it at once.
            poll_during_publish("quiet", "payments", "p1").await;
            poll_during_publish("published", "orders", "m2").await;
            std::future::pending::<()>().await
        }
    });
    world.run(async { tokio::time::sleep(Duration::from_secs(5)).await });
    let seen = seen.lock().unwrap().clone();
    let at = |what: &str| seen.iter().find(|s| s.0 == what).map(|s| (s.1, s.2)).unwrap();
    assert_eq!(at("first").1, 1, "{seen:?}");
    let (ms, n) = at("redelivered");
    assert!(n == 1 && (450..700).contains(&ms), "the lease's end, not LONG_POLL: {seen:?}");
    let (ms, n) = at("quiet");
    assert!(n == 0 && ms >= 1000, "another topic's publish does not wake it: {seen:?}");
    let (ms, n) = at("published");
    assert!(n == 1 && (100..200).contains(&ms), "its own topic's publish does: {seen:?}");
}

/// A broker told its subscriptions deletes the messages every group
/// acknowledged — and only those: the ids and acks stay, a message one group
/// has not acknowledged stays, and after a crash (the index rebuilt from
/// what is left) a republished id is still dropped and new messages get new
/// sequence numbers.
#[test]
fn broker_retention_deletes_only_what_every_group_acknowledged() {
    use faultline_sim::broker::{Contents, Subscriptions};
    let mut world = World::new(4, WorldConfig::default());
    let subscriptions: Subscriptions =
        [("orders".to_string(), ["fast", "slow"].map(String::from).into())].into();
    let (broker, db) = world.broker_for("broker", subscriptions);
    world.node("producer", move |ctx| async move {
        let b = BrokerClient::new(ctx.endpoint().await, broker, Duration::from_millis(200));
        tokio::time::sleep(Duration::from_millis(10)).await;
        for i in 0..10 {
            while !b.publish("orders", &format!("m{i}"), &format!("k{i}"), "x").await {}
        }
        // After the broker's crash and restart: two repeats at once of
        // messages retention deleted (ids the restarted broker learns only
        // when their publishes fail), and a new one.
        tokio::time::sleep(Duration::from_millis(4000)).await;
        let again = |id: &'static str, key: &'static str| {
            let b = b.clone();
            tokio::spawn(async move { while !b.publish("orders", id, key, "x").await {} })
        };
        let (m3, m4) = (again("m3", "k3"), again("m4", "k4"));
        m3.await.unwrap();
        m4.await.unwrap();
        while !b.publish("orders", "m10", "k10", "x").await {}
        std::future::pending::<()>().await
    });
    for (group, acks) in [("fast", 10), ("slow", 6)] {
        world.node(&format!("consumer-{group}"), move |ctx| async move {
            let b = BrokerClient::new(ctx.endpoint().await, broker, Duration::from_millis(200));
            let mut acked = 0;
            loop {
                for d in b.poll("orders", group, 16).await.unwrap_or_default() {
                    // "slow" acks the first six messages only.
                    if acked < acks && d.id != "m10" {
                        b.ack("orders", group, d.seq).await;
                        acked += 1;
                    }
                }
            }
        });
    }
    let sim = world.sim().clone();
    let plan =
        FaultPlan { events: vec![at(3000, Fault::Crash { node: "broker".into(), restart_after_ms: 300 })] };
    let table = |sim: &faultline_sim::Sim| faultline_sim::store::recover(&sim.disk(db.primary()));
    let before = world.run({
        let sim = sim.clone();
        async move {
            faultline_sim::nemesis::run(sim.clone(), plan, 3_500).await;
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            table(&sim)
        }
    });
    let kept = |t: &faultline_sim::store::Table| t.rows("msg/").count();
    let c = Contents::read(&before);
    // 11 distinct ids (m3 and m4 republished once), each with its own sequence number.
    let ids: Vec<&String> = c.messages["orders"].values().collect();
    assert_eq!(ids.len(), 11, "{ids:?}");
    assert_eq!(c.messages["orders"].keys().copied().collect::<Vec<_>>(), (1..=11).collect::<Vec<_>>());
    // Only what both groups acknowledged is gone: slow left 4 of the first
    // ten unacknowledged, and nobody acked m10 — at most those 5 payloads stay.
    let left = kept(&before);
    assert!((1..=5).contains(&left), "{left} payloads kept");
    assert_eq!(c.acked["orders"]["fast"].len(), 10);
}
