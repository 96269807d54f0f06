//! A team's own protocol, written only against faultline's public API: a
//! **parallel Saga**. It creates the order, then deducts the stock and charges
//! the customer *at the same time* (the checkout is faster by one round trip),
//! then ships, awards points, notifies and completes. If either branch fails,
//! it waits for the other to be known, then compensates both — refund and
//! restock, each idempotent and safe for a step that never ran — and cancels;
//! a shipment that fails (or that the customer cancelled first) is undone the same way.
//!
//! Its known bug, [`EARLY_CANCEL`], is the classic mistake of this design:
//! when one branch fails, cancel at once and refund only a charge already
//! known to have succeeded — so a charge still in flight lands on a cancelled
//! order.

use faultline_protocols::builtin::txlog::{Drivers, LogState, TxLog};
use faultline_protocols::check::{GroundTruth, Invariant};
use faultline_protocols::mutant::{self, Hunt, Mutant};
use faultline_protocols::protocol::{Deployed, Entry, Resource, Setup, Unsettled};
use faultline_protocols::retry::until_known;
use faultline_protocols::shop::inventory::InventoryReq;
use faultline_protocols::shop::notification::NotifyReq;
use faultline_protocols::shop::order::OrderReq;
use faultline_protocols::shop::payment::PaymentReq;
use faultline_protocols::shop::points::PointsReq;
use faultline_protocols::shop::shipping::ShipReq;
use faultline_protocols::shop::{Binding, PlaceOrder, Reply, Service, Shop, STEP_TIMEOUT};
use faultline_protocols::stats::Stats;
use faultline_protocols::workflow::Workflow;
use faultline_protocols::workload::Order;
use faultline_protocols::{Protocol, Registry};
use faultline_sim::{Endpoint, NodeCtx, NodeId, ReplicaSet, Request, Value, World};
use std::sync::{Arc, Mutex};

/// The protocol, as registered.
pub struct ParallelSaga;

pub mod loyalty;

/// The shipped protocols and this one; and the team's own invariant and
/// coverage fact, registered for every run in this process.
pub fn registry() -> Registry {
    faultline_protocols::check::team::register(&loyalty::POINTS_ONLY_FOR_PAID_ORDERS)
        .expect("a well-formed name no built-in invariant has");
    faultline_protocols::check::team::register_fact(&loyalty::POINTS_TAKEN_BACK)
        .expect("a well-formed name no built-in fact has");
    Registry::builtin().with(&ParallelSaga)
}

/// The bug this design invites: cancel as soon as one branch fails.
pub const EARLY_CANCEL: Mutant = Mutant {
    name: "parallel-saga-early-cancel",
    mechanism: "when one branch fails, the saga cancels at once and refunds only a charge already known to have succeeded; a charge still in flight lands on a cancelled order",
    breaks: &[Invariant::NoDoubleCharge, Invariant::MoneyConservation, Invariant::Agreement],
    hunt: Hunt { scenario: "scarce-stock", within: 20 },
};

/// Where a transaction is, as its log keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Create,
    /// Stock and payment, in parallel.
    Reserve,
    Ship,
    Award,
    Notify,
    Complete,
    /// Refund, restock, cancel.
    Undo,
    Completed,
    Cancelled,
}

const PHASES: [(Phase, &str); 9] = [
    (Phase::Create, "create"),
    (Phase::Reserve, "reserve"),
    (Phase::Ship, "ship"),
    (Phase::Award, "award"),
    (Phase::Notify, "notify"),
    (Phase::Complete, "complete"),
    (Phase::Undo, "undo"),
    (Phase::Completed, "completed"),
    (Phase::Cancelled, "cancelled"),
];

impl LogState for Phase {
    fn encode(self) -> Value {
        Value::from(PHASES.iter().find(|(p, _)| *p == self).expect("every phase has a name").1)
    }

    fn decode(v: &Value) -> Phase {
        let text = v.as_text().unwrap_or_default();
        PHASES
            .iter()
            .find(|(_, n)| *n == text)
            .map(|(p, _)| *p)
            .unwrap_or_else(|| panic!("bad phase {text:?}"))
    }

    fn finished(self) -> bool {
        matches!(self, Phase::Completed | Phase::Cancelled)
    }
}

/// The log's rows: `psaga/{order}` and `psaga-order/{order}` in `coordinator-db`.
const PREFIX: &str = "psaga";

impl Protocol for ParallelSaga {
    fn name(&self) -> &'static str {
        "parallel-saga"
    }

    fn describe(&self) -> &'static str {
        "a team's Saga: stock and payment in parallel, both compensated on any failure"
    }

    fn deploy(&self, world: &mut World, setup: &Setup) -> Deployed {
        let shop = Shop::deploy(world, setup);
        let db = world.store("coordinator-db");
        let (d, s, st) = (db.clone(), shop.clone(), setup.stats.clone());
        let node = world.node("coordinator", move |ctx| serve(ctx, d.clone(), s.clone(), st.clone()));
        Deployed { shop, entry: Entry::new(node, PlaceOrder), stores: vec![db], broker: None }
    }

    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled> {
        let rows = truth.own_rows("coordinator-db", "psaga/");
        let stuck = rows.map(|(k, v)| (k, Phase::decode(v))).filter(|(_, p)| !p.finished());
        stuck.map(|(k, p)| Unsettled::new(k.replace('/', " "), format!("stuck at {p:?}"))).collect()
    }

    fn held(&self, _: Service, _: &str, _: Option<&Value>) -> Option<(Resource, i64)> {
        None // both branches take their effect at once
    }

    /// Its steps are written by hand for the shop's services: a workflow
    /// that declares participants of its own is not for it.
    fn supports(&self, workflow: &Workflow) -> Result<(), String> {
        let bound = faultline_protocols::shop::bind(workflow)?;
        match bound.iter().all(|b| matches!(b, Binding::Shop(_))) {
            true => Ok(()),
            false => Err("parallel-saga drives the shop's services only".into()),
        }
    }

    fn mutants(&self) -> &'static [Mutant] {
        &[EARLY_CANCEL]
    }
}

#[derive(Clone)]
struct Coordinator {
    ep: Arc<Endpoint>,
    log: TxLog,
    shop: Shop,
    stats: Arc<Stats>,
    drivers: Drivers,
}

async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, shop: Shop, stats: Arc<Stats>) {
    let ep = ctx.endpoint().await;
    let log = TxLog::new(ep.clone(), db, stats.clone(), PREFIX);
    let c = Coordinator { ep: ep.clone(), log, shop, stats, drivers: Drivers::default() };
    // Resume every unfinished transaction before taking new orders.
    for (order, phase) in c.log.recover::<Phase>(&ctx).await {
        c.start(order, phase);
    }
    ep.serve(move |PlaceOrder(order), _from| c.clone().place(order));
    std::future::pending::<()>().await
}

impl Coordinator {
    async fn place(self, order: Order) -> Reply {
        self.log.admit(&order, Phase::Create, |phase| self.start(order.clone(), phase)).await
    }

    fn start(&self, order: Order, phase: Phase) {
        self.drivers.start(order.id, self.clone().drive(order, phase));
    }

    async fn drive(self, o: Order, mut phase: Phase) {
        let s = self.shop.clone();
        while !phase.finished() {
            let next = match phase {
                Phase::Create => match self.step(s.order, OrderReq::Create(o.clone())).await {
                    Reply::Done => Phase::Reserve,
                    _ => Phase::Undo,
                },
                Phase::Reserve => self.reserve(&o).await,
                Phase::Ship => match self.step(s.shipping, ShipReq::Ship(o.clone())).await {
                    Reply::Done => {
                        // Shipped without some lines: refund and restock those.
                        for (line, l) in o.short_lines() {
                            self.step(
                                s.payment,
                                PaymentReq::RefundLine { order: o.id, line, amount: l.amount },
                            )
                            .await;
                            self.step(s.inventory, InventoryReq::Restock { order: o.id, line, sku: l.sku })
                                .await;
                        }
                        Phase::Award
                    }
                    _ => Phase::Undo,
                },
                Phase::Award => {
                    let req = PointsReq::Award { order: o.id, customer: o.customer, points: o.points };
                    self.step(s.points, req).await;
                    Phase::Notify
                }
                Phase::Notify => {
                    self.step(s.notification, NotifyReq::Notify { order: o.id, customer: o.customer }).await;
                    Phase::Complete
                }
                Phase::Complete => {
                    self.step(s.order, OrderReq::Complete(o.id)).await;
                    Phase::Completed
                }
                Phase::Undo => {
                    self.stats.compensation();
                    self.step(s.payment, PaymentReq::Refund { order: o.id }).await;
                    self.restock(&o).await;
                    self.step(s.order, OrderReq::Cancel(o.id)).await;
                    Phase::Cancelled
                }
                Phase::Completed | Phase::Cancelled => unreachable!("the loop stops at a final phase"),
            };
            phase = self.log.persist(&o, phase, next).await;
        }
    }

    /// Deducts and charges at once; both must succeed.
    async fn reserve(&self, o: &Order) -> Phase {
        let s = &self.shop;
        let charge = PaymentReq::Charge { order: o.id, customer: o.customer, amount: o.amount };
        if mutant::acts(&self.ep, &EARLY_CANCEL) {
            return self.reserve_early_cancel(o, charge).await;
        }
        let (stock, charge) = tokio::join!(self.deduct(o), self.step(s.payment, charge));
        match (stock, charge) {
            (Reply::Done, Reply::Done) => Phase::Ship,
            _ => Phase::Undo,
        }
    }

    /// The bug: the first failure cancels, without waiting for the other
    /// branch; only a charge that already succeeded is refunded.
    async fn reserve_early_cancel(&self, o: &Order, charge: PaymentReq) -> Phase {
        let s = self.shop.clone();
        let charged = Arc::new(Mutex::new(None));
        let (me, c) = (self.clone(), charged.clone());
        // Spawned on the order's behalf: its messages stay the order's.
        let charging = faultline_sim::order::spawn(async move {
            let reply = me.step(s.payment, charge).await;
            *c.lock().unwrap() = Some(reply);
            reply
        });
        if self.deduct(o).await == Reply::Done {
            if charging.await.ok() == Some(Reply::Done) {
                return Phase::Ship;
            }
            self.restock(o).await;
        } else if *charged.lock().unwrap() == Some(Reply::Done) {
            self.step(self.shop.payment, PaymentReq::Refund { order: o.id }).await;
        }
        self.step(self.shop.order, OrderReq::Cancel(o.id)).await;
        Phase::Cancelled
    }

    /// The stock of every line, one step each; the first line that fails fails it.
    async fn deduct(&self, o: &Order) -> Reply {
        for (line, l) in (0u32..).zip(&o.lines) {
            let req = InventoryReq::Deduct { order: o.id, line, sku: l.sku, qty: l.qty };
            if self.step(self.shop.inventory, req).await != Reply::Done {
                return Reply::Failed(faultline_protocols::shop::Failure::OutOfStock);
            }
        }
        Reply::Done
    }

    /// Puts back every line (a line never deducted is barred from a late deduction).
    async fn restock(&self, o: &Order) {
        for (line, l) in (0u32..).zip(&o.lines) {
            self.step(self.shop.inventory, InventoryReq::Restock { order: o.id, line, sku: l.sku }).await;
        }
    }

    /// One step, retried until its outcome is known (every step is idempotent).
    async fn step<R: Request<Response = Reply> + Clone>(&self, to: NodeId, req: R) -> Reply {
        let call = || async { self.ep.call(to, req.clone(), STEP_TIMEOUT).await.unwrap_or(Reply::Unknown) };
        until_known(&self.ep, &self.stats, call).await
    }
}
