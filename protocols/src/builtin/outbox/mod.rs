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

pub mod choreography;
pub mod consumer;
pub mod node;
pub mod react;
pub mod relay;

pub use choreography::Choreography;
pub use node::{serve, Wiring};

use crate::mutant::{self, Mutant};
use crate::protocol::{CrashPoint, Deployed, Entry, Protocol, Resource, Setup, Unsettled};
use crate::shop::{Body, ServiceBody, Shop};
use crate::truth::GroundTruth;
use crate::workload::Order;
use faultline_sim::{Op, Value, World};
use serde::{Deserialize, Serialize};
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

    pub fn name(self) -> &'static str {
        match self {
            Kind::OrderPlaced => "order-placed",
            Kind::StockReserved => "stock-reserved",
            Kind::StockRejected => "stock-rejected",
            Kind::PaymentSucceeded => "payment-succeeded",
            Kind::PaymentFailed => "payment-failed",
            Kind::OrderShipped => "order-shipped",
            Kind::ShipmentFailed => "shipment-failed",
            Kind::OrderCompleted => "order-completed",
        }
    }

    pub fn producer(self) -> Service {
        match self {
            Kind::OrderPlaced | Kind::OrderCompleted => Service::Order,
            Kind::StockReserved | Kind::StockRejected => Service::Inventory,
            Kind::PaymentSucceeded | Kind::PaymentFailed => Service::Payment,
            Kind::OrderShipped | Kind::ShipmentFailed => Service::Shipping,
        }
    }
}

/// An event: its kind and the order it is about (every consumer needs some of
/// the order's fields, so events carry it whole).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
        serde_json::to_string(self).expect("an event encodes")
    }

    pub fn decode(payload: &str) -> Option<Event> {
        serde_json::from_str(payload).ok()
    }
}

pub fn message_id(order: u32, kind: Kind) -> String {
    format!("{order:06}-{}", kind.name())
}

/// The outbox row of an unsent event; the relay deletes it once published.
pub fn outbox_key(order: u32, kind: Kind) -> String {
    format!("outbox/{order:06}/{}", kind.name())
}

/// The permanent record that the service committed this event — with the
/// broker's store, the ground truth of `no-phantom-events`.
pub fn event_key(order: u32, kind: Kind) -> String {
    format!("event/{order:06}/{}", kind.name())
}

/// The inbox row: the consuming service applied this message.
pub fn inbox_key(order: u32, kind: Kind) -> String {
    format!("inbox/{order:06}/{}", kind.name())
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
        let (broker, broker_db) = world.broker("broker");
        let wiring = Wiring { broker, stats: setup.stats.clone(), choreography: Arc::new(choreography) };
        let body: ServiceBody = Arc::new(move |ctx, service, db, gw| {
            Box::pin(serve(ctx, service, db, gw, wiring.clone())) as Body
        });
        let shop = Shop::deploy_with(world, setup, body);
        Deployed { entry: Entry::new(shop.order, node::Place), shop, stores: vec![], broker: Some(broker_db) }
    }

    fn supports(&self, workflow: &crate::workflow::Workflow) -> Result<(), String> {
        Choreography::of(workflow).map(|_| ())
    }

    /// Stock refused by the inventory's reaction, on its own record: the
    /// consumers answer no one, so no reply says it.
    fn refusal(&self, truth: &GroundTruth, order: u32) -> Option<crate::cancel::CancelCause> {
        let rejected = truth.inventory.contains_key(&event_key(order, Kind::StockRejected));
        rejected.then_some(crate::cancel::CancelCause::OutOfStock)
    }

    /// Events still in an outbox, and messages a subscribed group has not acked.
    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled> {
        let mut out: Vec<_> = (truth.event_ids("outbox/").into_iter())
            .map(|id| Unsettled::new(format!("event {id}"), "still in an outbox, not yet published"))
            .collect();
        let Some(broker) = &truth.broker else { return out };
        let choreography = Choreography::of(&truth.workflow).unwrap_or_else(|e| panic!("{e}"));
        for service in Service::ALL {
            for topic in choreography.topics(service) {
                let Some(messages) = broker.messages.get(topic) else { continue };
                for (seq, id) in messages {
                    let key = (topic.to_string(), service.name().to_string(), *seq);
                    if !broker.acked.contains(&key) {
                        let reason = format!("not yet consumed by {}", service.name());
                        out.push(Unsettled::new(format!("event {id}"), reason));
                    }
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
        ]
    }
}
