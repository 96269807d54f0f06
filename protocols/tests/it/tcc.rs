//! TCC: the branch barriers (repeat, empty rollback, hanging) on the inventory,
//! points and payment branches, and the protocol end to end.

use faultline_protocols::builtin::tcc::{self, TccReq};
use faultline_protocols::protocol::Setup;
use faultline_protocols::shop::gateway::GatewayConfig;
use faultline_protocols::shop::{inventory, points};
use faultline_protocols::shop::{Failure, Reply, Shop};
use faultline_protocols::workload::WorkloadSpec;
use faultline_sim::store::{self, Table};
use faultline_sim::{NodeId, Request, Value, World, WorldConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One call to a TCC branch's service, as a test script step.
#[derive(Clone)]
enum Call {
    Inventory(TccReq),
    Points(TccReq),
    Payment(TccReq),
}

struct Outcome {
    replies: Vec<Reply>,
    inventory: Table,
    points: Table,
    held: i64,
    balance: i64,
}

/// Runs `script` against a shop with TCC's participants, one call after the other, with no faults.
fn script(calls: Vec<Call>) -> Outcome {
    let mut world = World::new(1, WorldConfig::default());
    let workload = WorkloadSpec {
        orders: 0,
        skus: 1,
        stock: (10, 10),
        customers: 1,
        balance: (10_000, 10_000),
        ..Default::default()
    }
    .generate(1);
    let gateway = GatewayConfig::default();
    let workflow = faultline_protocols::workflow::builtin::shop();
    let setup =
        Setup { workflow: &workflow, workload: &workload, gateway: &gateway, stats: Default::default() };
    let shop = Shop::deploy_with(&mut world, &setup, Arc::new(tcc::participants));
    let replies = Arc::new(Mutex::new(Vec::new()));
    let (r, s) = (replies.clone(), shop.clone());
    world.node("driver", move |ctx| {
        let (replies, shop, calls) = (r.clone(), s.clone(), calls.clone());
        async move {
            let ep = ctx.endpoint().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            async fn call<R: Request<Response = Reply>>(
                ep: &faultline_sim::Endpoint,
                to: NodeId,
                req: R,
            ) -> Reply {
                ep.call(to, req, Duration::from_secs(2)).await.expect("no faults, no timeouts")
            }
            for c in calls {
                let reply = match c {
                    Call::Inventory(req) => call(&ep, shop.inventory, req).await,
                    Call::Points(req) => call(&ep, shop.points, req).await,
                    Call::Payment(req) => call(&ep, shop.payment, req).await,
                };
                replies.lock().unwrap().push(reply);
            }
            std::future::pending::<()>().await
        }
    });
    world.run(async { tokio::time::sleep(Duration::from_secs(5)).await });
    let sim = world.sim();
    let ledger = shop.ledger.lock().unwrap();
    let out = Outcome {
        replies: replies.lock().unwrap().clone(),
        inventory: store::recover(&sim.disk(shop.inventory_db.primary())),
        points: store::recover(&sim.disk(shop.points_db.primary())),
        held: ledger.held(),
        balance: ledger.balances[0],
    };
    out
}

fn int(t: &Table, k: &str) -> i64 {
    t.get(k).and_then(Value::as_int).unwrap_or(0)
}

const O: u32 = 7;
fn try_stock() -> Call {
    Call::Inventory(TccReq::StockTry { order: O, line: 0, sku: 0, qty: 3 })
}
fn confirm_stock() -> Call {
    Call::Inventory(TccReq::StockConfirm { order: O, line: 0, sku: 0 })
}
fn cancel_stock() -> Call {
    Call::Inventory(TccReq::StockCancel { order: O, line: 0, sku: 0, qty: 3 })
}

#[test]
fn tcc_barrier_repeated_phases_change_nothing() {
    let out = script(vec![try_stock(), try_stock(), confirm_stock(), confirm_stock()]);
    assert_eq!(out.replies, vec![Reply::Done; 4]);
    let inv = &out.inventory;
    assert_eq!(int(inv, &inventory::available(0)), 7, "reserved once");
    assert_eq!(int(inv, &inventory::reserved(0)), 0);
    assert_eq!(int(inv, &inventory::sold(0)), 3, "sold once");
}

#[test]
fn tcc_barrier_repeated_cancel_releases_once() {
    let out = script(vec![try_stock(), cancel_stock(), cancel_stock()]);
    assert_eq!(out.replies, vec![Reply::Done; 3]);
    assert_eq!(int(&out.inventory, &inventory::available(0)), 10);
    assert_eq!(int(&out.inventory, &inventory::reserved(0)), 0);
}

/// A Cancel after the Confirm — a coordinator that lost its decision in a
/// failover — is refused: putting the sold units back into the reservation
/// count would let another order's Confirm find its reservation gone.
#[test]
fn tcc_barrier_a_cancel_after_the_confirm_undoes_nothing() {
    // Another order holds 3 units of the same SKU, so the count has them to lose.
    let other = |req: fn(u32) -> TccReq| Call::Inventory(req(O + 1));
    let try_other = other(|order| TccReq::StockTry { order, line: 0, sku: 0, qty: 3 });
    let confirm_other = other(|order| TccReq::StockConfirm { order, line: 0, sku: 0 });
    let out = script(vec![try_other, try_stock(), confirm_stock(), cancel_stock(), confirm_other]);
    let refused = Reply::Failed(Failure::Inconsistent);
    assert_eq!(out.replies, vec![Reply::Done, Reply::Done, Reply::Done, refused, Reply::Done]);
    let inv = &out.inventory;
    assert_eq!(int(inv, &inventory::available(0)), 4, "nothing put back");
    assert_eq!(int(inv, &inventory::reserved(0)), 0);
    assert_eq!(int(inv, &inventory::sold(0)), 6, "both orders sold");
}

#[test]
fn tcc_barrier_empty_rollback_releases_nothing_and_a_hanging_try_is_refused() {
    let out = script(vec![cancel_stock(), try_stock()]);
    assert_eq!(out.replies, vec![Reply::Done, Reply::Failed(Failure::Compensated)]);
    assert_eq!(int(&out.inventory, &inventory::available(0)), 10, "nothing released, nothing taken");
    assert_eq!(int(&out.inventory, &inventory::reserved(0)), 0, "nothing held forever");
}

#[test]
fn tcc_barrier_points_and_payment_branches() {
    let out = script(vec![
        Call::Points(TccReq::PointsCancel { order: O, customer: 0 }),
        Call::Points(TccReq::PointsTry { order: O, customer: 0, points: 5 }),
        Call::Payment(TccReq::PayCancel { order: O }),
        Call::Payment(TccReq::PayTry { order: O, customer: 0, amount: 500 }),
        Call::Points(TccReq::PointsTry { order: O + 1, customer: 0, points: 5 }),
        Call::Points(TccReq::PointsConfirm { order: O + 1, customer: 0 }),
        Call::Points(TccReq::PointsConfirm { order: O + 1, customer: 0 }),
        Call::Payment(TccReq::PayTry { order: O + 1, customer: 0, amount: 500 }),
        Call::Payment(TccReq::PayTry { order: O + 1, customer: 0, amount: 500 }),
        Call::Payment(TccReq::PayConfirm { order: O + 1 }),
        Call::Payment(TccReq::PayConfirm { order: O + 1 }),
    ]);
    let compensated = Reply::Failed(Failure::Compensated);
    assert_eq!(out.replies[..4], [Reply::Done, compensated, Reply::Done, compensated], "hang guards");
    assert!(out.replies[4..].iter().all(|r| *r == Reply::Done), "{:?}", out.replies);
    assert_eq!(int(&out.points, &points::pending(0)), 0);
    assert_eq!(int(&out.points, &points::balance(0)), 5, "granted once");
    assert_eq!(out.held, 0, "no hold left behind");
    assert_eq!(out.balance, 10_000 - 500, "captured once, and the voided order never held");
}

#[test]
fn tcc_end_to_end_holds_stock_only_while_it_decides() {
    use faultline_protocols::builtin::{saga::Saga, tcc::Tcc};
    use faultline_protocols::run::{run, RunSpec};
    use faultline_protocols::ProtocolRef;
    let spec = |protocol| RunSpec {
        seed: 3,
        protocol,
        workflow: faultline_protocols::workflow::builtin::shop(),
        workload: WorkloadSpec::default().generate(3),
        plan: faultline_sim::FaultPlan::default(),
        fault_window_ms: 0,
        settle_ms: 60_000,
        world: WorldConfig::default(),
        gateway: GatewayConfig::default(),
        crash_points: Default::default(),
        mutant: None,
        reconcile: None,
    };
    let (tcc, saga) = (run(&spec(&Tcc as ProtocolRef)), run(&spec(&Saga as ProtocolRef)));
    assert!(tcc.violations.is_empty() && saga.violations.is_empty());
    assert!(tcc.reserved_unit_s > 0.0, "TCC reserves before it sells");
    assert_eq!(saga.reserved_unit_s, 0.0, "the Saga sells at once and restocks on failure");
    assert!(tcc.authorized_cent_s > 0.0, "TCC holds money before it captures");
    assert_eq!(saga.authorized_cent_s, 0.0, "the Saga charges at once");
    assert_eq!(tcc.truth.held, 0, "and nothing stays on hold");
    assert_eq!(int(&tcc.truth.inventory, &inventory::reserved(0)), 0, "and nothing stays reserved");
    for r in [&tcc, &saga] {
        assert_eq!(r.consistency_ms.len(), 20, "every order measured");
        assert!(r.inconsistency_ms.iter().all(|w| *w > 0.0), "an order spans several services' writes");
    }
}
