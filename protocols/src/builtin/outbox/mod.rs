//! Outbox-driven choreography (Chris Richardson's *transactional outbox* and
//! *idempotent consumer* patterns; Eventuate Tram, Debezium's outbox router).
//!
//! No orchestrator: each service reacts to events. The order service writes the
//! order and an `OrderPlaced` event in one local transaction; inventory reserves
//! stock (or rejects), payment charges (or fails, a timeout resolved by asking
//! the gateway), shipping ships the paid order (or cannot, or finds the
//! customer cancelled first), the order completes or is cancelled, points and
//! the customer's notification follow a shipped order; a failed payment puts
//! the stock back, and a failed shipment puts it back and refunds the charge;
//! an order shipped without some lines has those restocked and refunded. Every reaction is one local transaction that writes its effect, the
//! consumed message's **inbox** row and the next events' **outbox** rows together.
//!
//! - [`choreography`] — who reacts to what, derived from the workflow's steps.
//! - [`relay`] — publishes a service's outbox rows, marking each sent only after
//!   the broker acknowledged it.
//! - [`consumer`] — polls the broker, applies each message once (the inbox), acks.
//! - [`react`] — what each service does with each event.
//! - [`node`] — a service node: relay, consumers and request API together.
//! - [`wire`] — how an event is spelled in an outbox row and a broker message.

pub mod choreography;
pub mod consumer;
pub mod node;
pub mod react;
pub mod relay;
pub mod wire;

pub use choreography::Choreography;
pub use node::{serve, Wiring};

use crate::mutant::{self, Mutant};
use crate::protocol::{CrashPoint, Deployed, Entry, Protocol, Resource, Setup, Unsettled};
use crate::shop::{Body, DeclaredBody, ServiceBody, Shop};
use crate::truth::GroundTruth;
use crate::workload::Order;
use faultline_sim::{Op, Value, World};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;

pub use crate::shop::Service;

/// A service's part in the choreography; its consumer group has its name.
impl Service {
    /// The topic this service's events are published to.
    pub fn topic(self) -> &'static str {
        match self {
            Service::Order => "orders",
            Service::Inventory => "stock",
            Service::Payment => "payments",
            Service::Points => "points",
            Service::Notification => "notifications",
            Service::Shipping => "shipments",
        }
    }
}

/// Who takes part in the choreography: a shop service, or a step at a
/// participant the workflow declares (its node runs one consumer group per
/// declared step; see [`crate::shop::declared`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    Shop(Service),
    /// Declared step `n` of the workflow.
    Step(u8),
}

impl Member {
    /// Its consumer group's name.
    pub fn name(self) -> Cow<'static, str> {
        match self {
            Member::Shop(s) => s.name().into(),
            Member::Step(n) => format!("step-{n}").into(),
        }
    }
}

/// What happened, as the service that made it happen announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    OrderPlaced,
    StockReserved,
    StockRejected,
    PaymentSucceeded,
    PaymentFailed,
    OrderShipped,
    /// The order will not ship: the warehouse could not, or the customer cancelled.
    ShipmentFailed,
    OrderCompleted,
    /// Declared step `n` applied.
    Done(u8),
    /// Declared step `n` was refused: not enough of what it takes.
    Failed(u8),
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::OrderPlaced,
        Kind::StockReserved,
        Kind::StockRejected,
        Kind::PaymentSucceeded,
        Kind::PaymentFailed,
        Kind::OrderShipped,
        Kind::ShipmentFailed,
        Kind::OrderCompleted,
    ];

    pub fn name(self) -> Cow<'static, str> {
        let name = match self {
            Kind::OrderPlaced => "order-placed",
            Kind::StockReserved => "stock-reserved",
            Kind::StockRejected => "stock-rejected",
            Kind::PaymentSucceeded => "payment-succeeded",
            Kind::PaymentFailed => "payment-failed",
            Kind::OrderShipped => "order-shipped",
            Kind::ShipmentFailed => "shipment-failed",
            Kind::OrderCompleted => "order-completed",
            Kind::Done(n) => return format!("step-{n}-done").into(),
            Kind::Failed(n) => return format!("step-{n}-failed").into(),
        };
        name.into()
    }

    pub fn producer(self) -> Member {
        match self {
            Kind::OrderPlaced | Kind::OrderCompleted => Member::Shop(Service::Order),
            Kind::StockReserved | Kind::StockRejected => Member::Shop(Service::Inventory),
            Kind::PaymentSucceeded | Kind::PaymentFailed => Member::Shop(Service::Payment),
            Kind::OrderShipped | Kind::ShipmentFailed => Member::Shop(Service::Shipping),
            Kind::Done(n) | Kind::Failed(n) => Member::Step(n),
        }
    }

    /// The topic its producer publishes it to.
    pub fn topic(self) -> Cow<'static, str> {
        match self.producer() {
            Member::Shop(s) => s.topic().into(),
            Member::Step(n) => format!("step-{n}").into(),
        }
    }
}

/// An event: its kind and the order it is about (every consumer needs some of
/// the order's fields, so events carry it whole).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: Kind,
    pub order: Order,
}

impl Event {
    pub fn new(kind: Kind, order: &Order) -> Event {
        Event { kind, order: order.clone() }
    }

    /// The message id: the same for every attempt to publish this event, so the
    /// broker and the consumers' inboxes can tell a repeat.
    pub fn id(&self) -> String {
        message_id(self.order.id, self.kind)
    }

    pub fn encode(&self) -> String {
        wire::encode(self)
    }

    pub fn decode(payload: &str) -> Option<Event> {
        wire::decode(payload)
    }
}

pub fn message_id(order: u32, kind: Kind) -> String {
    spelt("", order, '-', kind)
}

/// `{prefix}{order:06}{sep}{kind's name}`: spelt several times a message,
/// so without the formatter.
fn spelt(prefix: &str, order: u32, sep: char, kind: Kind) -> String {
    let mut key = crate::id::key(prefix, order);
    key.push(sep);
    key.push_str(&kind.name());
    key
}

/// The outbox row of an unsent event; the relay deletes it once published.
pub fn outbox_key(order: u32, kind: Kind) -> String {
    spelt("outbox/", order, '/', kind)
}

/// The order and kind of the event an outbox row's key names.
pub fn outbox_row(key: &str) -> Option<(u32, Kind)> {
    let (order, kind) = key.strip_prefix("outbox/")?.split_once('/')?;
    Some((order.parse().ok()?, Kind::parse(kind)?))
}

/// The permanent record that the service committed this event — with the
/// broker's store, the ground truth of `no-phantom-events`.
pub fn event_key(order: u32, kind: Kind) -> String {
    spelt("event/", order, '/', kind)
}

/// The inbox row: the consuming service applied this message.
pub fn inbox_key(order: u32, kind: Kind) -> String {
    spelt("inbox/", order, '/', kind)
}

/// The ops that emit `event` from inside a local transaction: its permanent
/// record and its outbox row, committed with the business change or not at all.
pub fn emit(event: &Event) -> [Op; 2] {
    let payload = event.encode();
    [
        Op::Put(event_key(event.order.id, event.kind), payload.clone().into()),
        Op::Put(outbox_key(event.order.id, event.kind), payload.into()),
    ]
}

/// The outbox choreography, as the harness sees it.
pub struct Outbox;

impl Protocol for Outbox {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn describe(&self) -> &'static str {
        "choreography: services react to events sent through outboxes, applied once through inboxes"
    }

    fn deploy(&self, world: &mut World, setup: &Setup) -> Deployed {
        // Only built-in workflows reach here, and each binds (a test holds them to it).
        let choreography = Choreography::of(setup.workflow).unwrap_or_else(|e| panic!("{e}"));
        // Every consumer group is known before the first publish: the broker
        // may delete what all of a topic's groups acknowledged.
        let mut subscriptions = faultline_sim::broker::Subscriptions::new();
        for member in choreography.members() {
            for topic in choreography.topics(member) {
                subscriptions.entry(topic).or_default().insert(member.name().into_owned());
            }
        }
        let (broker, broker_db) = world.broker_for("broker", subscriptions);
        let wiring = Wiring {
            broker,
            stats: setup.stats.clone(),
            choreography: Arc::new(choreography),
            workflow: setup.workflow.clone(),
        };
        let w = wiring.clone();
        let body: ServiceBody =
            Arc::new(move |ctx, service, db, gw| Box::pin(serve(ctx, service, db, gw, w.clone())) as Body);
        let declared: DeclaredBody = Arc::new(move |ctx, participant, db, gw| {
            Box::pin(node::serve_declared(ctx, participant, db, gw, wiring.clone())) as Body
        });
        let shop = Shop::deploy_with_declared(world, setup, body, declared);
        Deployed { entry: Entry::new(shop.order, node::Place), shop, stores: vec![], broker: Some(broker_db) }
    }

    /// Stock refused by the inventory's reaction, on its own record: the
    /// consumers answer no one, so no reply says it.
    fn refusal(&self, truth: &GroundTruth, order: u32) -> Option<crate::cancel::CancelCause> {
        let rejected = truth.inventory.contains_key(&event_key(order, Kind::StockRejected));
        // A declared step's refusal: `step-N-failed` in its participant's store.
        let mut prefix = crate::id::key("event/", order);
        prefix.push('/');
        let refused = |t: &faultline_sim::store::Table| t.rows(&prefix).any(|(k, _)| k.ends_with("-failed"));
        let not_enough = truth.declared.values().any(refused);
        (rejected.then_some(crate::cancel::CancelCause::OutOfStock))
            .or(not_enough.then_some(crate::cancel::CancelCause::NotEnough))
    }

    /// Events still in an outbox, and messages a subscribed group has not acked.
    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled> {
        let mut out: Vec<_> = (truth.event_ids("outbox/").into_iter())
            .map(|id| Unsettled::new(format!("event {id}"), "still in an outbox, not yet published"))
            .collect();
        let Some(broker) = &truth.broker else { return out };
        let choreography = Choreography::of(&truth.workflow).unwrap_or_else(|e| panic!("{e}"));
        let none = std::collections::BTreeSet::new();
        for member in choreography.members() {
            let group = member.name();
            for topic in choreography.topics(member) {
                let Some(messages) = broker.messages.get(&topic) else { continue };
                let acked = broker.acked.get(&topic).and_then(|groups| groups.get(group.as_ref()));
                let acked = acked.unwrap_or(&none);
                for (_, id) in messages.iter().filter(|(seq, _)| !acked.contains(seq)) {
                    let reason = format!("not yet consumed by {group}");
                    out.push(Unsettled::new(format!("event {id}"), reason));
                }
            }
        }
        out
    }

    fn held(&self, _: Service, _: &str, _: Option<&Value>) -> Option<(Resource, i64)> {
        None // each reaction takes its effect at once
    }

    fn crash_points(&self) -> &'static [CrashPoint] {
        &[CrashPoint {
            name: relay::AFTER_PUBLISH,
            place: "outbox relay: the broker acknowledged a publish, the row is not yet marked sent",
        }]
    }

    fn mutants(&self) -> &'static [Mutant] {
        &[
            mutant::OUTBOX_DUAL_WRITE,
            mutant::OUTBOX_MARK_BEFORE_ACK,
            mutant::CONSUMER_NO_INBOX,
            mutant::PAYMENT_NO_IDEMPOTENCY_KEY,
            mutant::STOCK_CHECK_OFF_BY_ONE,
            mutant::SHIP_IGNORES_CANCEL,
            mutant::CANCEL_REFUNDS_EACH_REQUEST,
            mutant::PARTIAL_REFUND_ROUNDING,
            mutant::DECLARED_TAKE_UNCHECKED,
            mutant::CACHE_REBUILT_FROM_STORE_ALONE,
            mutant::CACHE_SYNC_NOT_IDEMPOTENT,
            mutant::REFUND_SKIPPED_AFTER_CAPTURE,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_row_names_its_order_and_kind() {
        for (order, kind) in [(0, Kind::OrderPlaced), (12, Kind::Done(3)), (4_000_000, Kind::Failed(0))] {
            assert_eq!(outbox_row(&outbox_key(order, kind)), Some((order, kind)));
        }
        for bad in
            ["outbox/12", "event/000012/order-placed", "outbox/x/order-placed", "outbox/000012/nothing"]
        {
            assert_eq!(outbox_row(bad), None, "{bad:?}");
        }
    }
}
