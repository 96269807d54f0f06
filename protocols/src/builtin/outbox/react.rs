//! What each service does with each event it subscribes to: one local
//! transaction per reaction, through [`consumer::apply`](super::consumer::apply).
//! Compensating events undo earlier steps: a failed payment cancels the order
//! and puts the stock back; a failed shipment also refunds the charge.

use super::choreography::Role;
use super::consumer::{apply, Applied};
use super::{Event, Kind, Member, Service};
use crate::mutant;
use crate::shop::cached;
use crate::shop::declared::{self, did, on_hand, undid};
use crate::shop::order::{self, CANCELLED, COMPLETED, PENDING};
use crate::shop::payment::{self, PaymentReq};
use crate::shop::shipping::{self, Fate};
use crate::shop::{inventory, notification, points, Reply};
use crate::workload::Order;
use faultline_sim::{Op, Value};

pub use super::node::Svc;

/// Applies `event` for `svc`'s service; true once it is applied — now or by an
/// earlier delivery — and may be acked.
pub async fn react(svc: &Svc, event: &Event, role: Role) -> bool {
    let o = &event.order;
    let applied = match (svc.member, role) {
        // One event per order: every line's stock in one local transaction,
        // all or none; a line out of stock rejects the whole order.
        (Member::Shop(Service::Inventory), Role::Act) => {
            let floor = inventory::floor(&svc.ep);
            let take: Vec<Op> = (0u32..)
                .zip(&o.lines)
                .flat_map(|(i, l)| {
                    let [available, sold] = inventory::take(l.sku, l.qty, floor);
                    [Op::Put(inventory::deducted(o.id, i), l.qty.into()), available, sold]
                })
                .collect();
            match apply(svc, event, take, &[Event::new(Kind::StockReserved, o)]).await {
                // Op 3i + 1 is line i's `available`: that line is out of stock.
                Applied::Refused(n) if n % 3 == 1 => {
                    apply(svc, event, vec![], &[Event::new(Kind::StockRejected, o)]).await
                }
                other => other,
            }
        }
        (Member::Shop(Service::Inventory), Role::Undo) => {
            svc.stats.compensation();
            let put_back: Vec<Op> = (0u32..)
                .zip(&o.lines)
                .flat_map(|(i, l)| {
                    let [available, sold] = inventory::put_back(l.sku, l.qty);
                    [Op::Put(inventory::restocked(o.id, i), l.qty.into()), available, sold]
                })
                .collect();
            apply(svc, event, put_back, &[]).await
        }
        (Member::Shop(Service::Payment), Role::Act) => {
            let charge = PaymentReq::Charge { order: o.id, customer: o.customer, amount: o.amount };
            // The charge is idempotent on its own (the gateway's key, the
            // payment's state machine); a timeout is resolved by asking the gateway.
            let next = match payment::handle(svc.store.clone(), svc.ep.clone(), svc.gateway, charge).await {
                Reply::Done => Kind::PaymentSucceeded,
                Reply::Failed(_) => Kind::PaymentFailed,
                Reply::Unknown => return false,
            };
            apply(svc, event, vec![], &[Event::new(next, o)]).await
        }
        // Shipped without some lines (none, mostly): those are restocked and refunded.
        (Member::Shop(Service::Inventory), Role::SettleShort) => {
            let put_back: Vec<Op> = o
                .short_lines()
                .flat_map(|(i, l)| {
                    let [available, sold] = inventory::put_back(l.sku, l.qty);
                    [Op::Put(inventory::restocked(o.id, i), l.qty.into()), available, sold]
                })
                .collect();
            apply(svc, event, put_back, &[]).await
        }
        (Member::Shop(Service::Payment), Role::SettleShort) => {
            for (line, l) in o.short_lines() {
                let key = payment::charge_key(o.id);
                if payment::refund_line(&svc.ep, svc.gateway, &key, line, l.amount).await != Reply::Done {
                    return false;
                }
            }
            apply(svc, event, vec![], &[]).await
        }
        // The bug: nothing to refund, it assumes — the charge came first.
        (Member::Shop(Service::Payment), Role::Undo)
            if mutant::acts(&svc.ep, &mutant::REFUND_SKIPPED_AFTER_CAPTURE) =>
        {
            apply(svc, event, vec![], &[]).await
        }
        (Member::Shop(Service::Payment), Role::Undo) => {
            let refund = PaymentReq::Refund { order: o.id };
            match payment::handle(svc.store.clone(), svc.ep.clone(), svc.gateway, refund).await {
                Reply::Unknown => return false,
                _ => apply(svc, event, vec![], &[]).await,
            }
        }
        (Member::Shop(Service::Shipping), Role::Act) => match ship(svc, event).await {
            Some(applied) => applied,
            None => return false,
        },
        (Member::Shop(Service::Order), Role::Cancel) => {
            svc.stats.compensation();
            finish(svc, event, CANCELLED, &[]).await
        }
        (Member::Shop(Service::Order), Role::Complete) => {
            finish(svc, event, COMPLETED, &[Event::new(Kind::OrderCompleted, o)]).await
        }
        (Member::Shop(Service::Points), Role::After) => {
            let award =
                vec![Op::Put(points::awarded(o.id), o.points.into()), points::credit(o.customer, o.points)];
            apply(svc, event, award, &[]).await
        }
        (Member::Shop(Service::Notification), Role::After) => {
            let notify =
                vec![Op::Put(notification::notified(o.id), 1.into()), notification::count_sent(o.customer)];
            apply(svc, event, notify, &[]).await
        }
        // A declared step: its targets in one local transaction with its
        // record, announcing what came of it before the pivot.
        (Member::Step(n), Role::Act) => {
            let failed = [Event::new(Kind::Failed(n), o)];
            let ops = match cache_takes(svc, n, o).await {
                Ok(Some(ops)) => ops,
                Ok(None) => declared_ops(svc, n, o, Direction::Apply),
                Err(Reply::Failed(_)) => {
                    // Consumed as failed now: no delivery can record the step
                    // any more, so what the lines before took goes back.
                    let applied = apply(svc, event, vec![], &failed).await;
                    if matches!(applied, Applied::Now) {
                        give_back(svc, &declared::targets(&svc.workflow, usize::from(n), o)).await;
                    }
                    return settle(svc, event, applied).await;
                }
                Err(_) => return false,
            };
            let done = [Event::new(Kind::Done(n), o)];
            // Applied before (a redelivery): the takes in the cache are that
            // delivery's, recorded with it.
            match apply(svc, event, ops, &done).await {
                // A take found too little: every other op only records.
                Applied::Refused(_) => apply(svc, event, vec![], &failed).await,
                other => other,
            }
        }
        (Member::Step(n), Role::Undo) => {
            svc.stats.compensation();
            let applied = apply(svc, event, declared_ops(svc, n, o, Direction::Undo), &[]).await;
            let (_, q, sign) = declared::moves(&svc.workflow, usize::from(n));
            let cached = svc.cache.as_ref().is_some_and(|c| c.takes(q, sign));
            if cached && matches!(applied, Applied::Now) {
                give_back(svc, &declared::targets(&svc.workflow, usize::from(n), o)).await;
            }
            applied
        }
        (Member::Step(n), Role::After) => {
            apply(svc, event, declared_ops(svc, n, o, Direction::Apply), &[]).await
        }
        (s, r) => unreachable!("the choreography gives {s:?} no {r:?}"),
    };
    settle(svc, event, applied).await
}

/// Whether an applied reaction may be acked; a refused one is recorded as
/// consumed with no effect first.
async fn settle(svc: &Svc, event: &Event, applied: Applied) -> bool {
    match applied {
        Applied::Now | Applied::Before => true,
        Applied::Unknown => false,
        // The service's own records contradict the event (its store lost writes
        // in a failover): record the message as consumed with no effect, so it
        // is not redelivered forever, and say so. The checker judges the result.
        Applied::Refused(op) => {
            svc.ctx.note(format!("{} refused {} (op {op}): applied nothing", svc.member.name(), event.id()));
            matches!(apply(svc, event, vec![], &[]).await, Applied::Now | Applied::Before)
        }
    }
}

/// Ships the paid order unless its row is decided already (the customer's
/// cancellation got there first), and announces what the row says, in one
/// local transaction guarded by what was read. `None`: try again later.
async fn ship(svc: &Svc, event: &Event) -> Option<Applied> {
    let o = &event.order;
    let fate = shipping::outcome(o);
    if fate == Fate::Shipped && mutant::acts(&svc.ep, &mutant::SHIP_IGNORES_CANCEL) {
        let ops = vec![Op::Put(shipping::key(o.id), fate.name().into())];
        return Some(apply(svc, event, ops, &[Event::new(Kind::OrderShipped, o)]).await);
    }
    for _ in 0..5 {
        let now = svc.store.txn(vec![Op::Get(shipping::key(o.id))]).await.ok()?;
        let (guard, fate) = match now[0].value().and_then(Value::as_text).and_then(Fate::parse) {
            Some(decided) => (Op::Expect(shipping::key(o.id), Some(decided.name().into())), decided),
            None => (Op::InsertIfAbsent(shipping::key(o.id), fate.name().into()), fate),
        };
        let next = match fate {
            Fate::Shipped => Kind::OrderShipped,
            Fate::Failed | Fate::Stopped => Kind::ShipmentFailed,
        };
        match apply(svc, event, vec![guard], &[Event::new(next, o)]).await {
            Applied::Refused(_) => continue, // decided under us: read again
            other => return Some(other),
        }
    }
    None
}

/// Moves a pending order to `to`.
async fn finish(svc: &Svc, event: &Event, to: &str, emits: &[Event]) -> Applied {
    let key = order::key(event.order.id);
    let ops = vec![Op::Expect(key.clone(), Some(PENDING.into())), Op::Put(key, to.into())];
    apply(svc, event, ops, emits).await
}

/// Declared step `n`'s takes of `o`, through its participant's cache if the
/// quantity is kept in one (`None`: it is not): the ops recording them.
async fn cache_takes(svc: &Svc, n: u8, o: &Order) -> Result<Option<Vec<Op>>, Reply> {
    let w = &svc.workflow;
    let (step, q, sign) = declared::moves(w, usize::from(n));
    let Some(cache) = svc.cache.as_ref().filter(|c| c.takes(q, sign)) else { return Ok(None) };
    let mut ops = Vec::new();
    for t in declared::targets(w, usize::from(n), o) {
        ops.push(Op::Put(did(step, t.order, t.line), t.amount.into()));
        ops.extend(cache.take(&svc.store, &svc.ep, &t).await?);
    }
    Ok(Some(ops))
}

/// Gives back in the participant's cache what the takes for `targets` took.
async fn give_back(svc: &Svc, targets: &[declared::Target]) {
    if let Some(c) = &svc.cache {
        for t in targets {
            c.give_back(&svc.ep, t).await;
        }
    }
}

/// Which way a declared step's ops go.
enum Direction {
    Apply,
    Undo,
}

/// The ops of declared step `n` for every target of `o`: apply — its record
/// and its move, a take no lower than the floor — or undo — put back what the
/// act moved (an undo follows a later step's failure, so the act ran; the
/// inbox makes each happen once).
fn declared_ops(svc: &Svc, n: u8, o: &Order, way: Direction) -> Vec<Op> {
    let w = &svc.workflow;
    let (step, q, sign) = declared::moves(w, usize::from(n));
    let floor = declared::floor(&svc.ep, sign);
    let ops = |t: declared::Target| match way {
        Direction::Apply => [
            Op::Put(did(step, t.order, t.line), t.amount.into()),
            Op::Incr { key: on_hand(q, &t.key), by: sign * t.amount, floor },
        ],
        Direction::Undo => [
            Op::Put(undid(step, t.order, t.line), t.amount.into()),
            Op::Incr { key: on_hand(q, &t.key), by: -sign * t.amount, floor: i64::MIN },
        ],
    };
    let cached = svc.cache.as_ref().is_some_and(|c| c.takes(q, sign));
    let forget = |t: &declared::Target| cached.then(|| Op::Delete(cached::intent(q, t)));
    let targets = declared::targets(w, usize::from(n), o);
    let mut all: Vec<Op> = targets.iter().flat_map(forget).collect();
    all.extend(targets.into_iter().flat_map(ops));
    all
}
