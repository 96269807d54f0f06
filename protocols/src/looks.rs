//! What a deployment remembers from one look at ground truth to the next, so
//! a settle poll costs what changed since the last look, not the run's
//! history: a seed that never settles looks hundreds of times.

use crate::shop::Shop;
use crate::truth::History;
use faultline_sim::broker::Contents;
use faultline_sim::store::{Commit, Table};
use faultline_sim::{NodeId, ReplicaSet, Value};
use std::sync::Arc;

/// The incremental readers behind [`crate::truth::GroundTruth::collect`].
pub(crate) struct Looks {
    pub orders: HistoryLog,
    pub payments: HistoryLog,
    pub shipments: HistoryLog,
    pub broker: BrokerLook,
}

impl Looks {
    pub fn new(shop: &Shop) -> Looks {
        Looks {
            orders: HistoryLog::new(&shop.order_db, "order/"),
            payments: HistoryLog::new(&shop.payment_db, "pay/"),
            shipments: HistoryLog::new(&shop.shipping_db, "ship/"),
            broker: BrokerLook::default(),
        }
    }

    /// Takes in a store's acknowledged commit, as it happens.
    pub fn commit(&mut self, c: &Commit) {
        for log in [&mut self.orders, &mut self.payments, &mut self.shipments] {
            log.commit(c);
        }
    }
}

/// Acknowledged writes to the rows `{prefix}{order:06}` of one store, in
/// commit order, taken in as each commit happens: the simulator keeps no
/// history of commits, and each look reads what is here.
pub(crate) struct HistoryLog {
    /// The store's replica set: a row is the same row whichever member wrote it.
    members: Vec<NodeId>,
    prefix: &'static str,
    /// ((time µs, place in its log), order, new state), in commit order up to
    /// `read`, the writes the last look read; in arrival order after.
    writes: Vec<((u64, u64), u32, Option<String>)>,
    read: usize,
}

impl HistoryLog {
    fn new(set: &ReplicaSet, prefix: &'static str) -> HistoryLog {
        HistoryLog { members: set.members.clone(), prefix, writes: Vec::new(), read: 0 }
    }

    fn commit(&mut self, c: &Commit) {
        if !self.members.contains(&c.store) {
            return;
        }
        self.writes.extend(c.writes.iter().filter_map(|(k, v)| {
            let id = k.strip_prefix(self.prefix)?.parse().ok()?;
            Some(((c.at_us, c.seq), id, v.as_ref().and_then(Value::as_text).map(str::to_string)))
        }));
    }

    pub fn read(&mut self) -> Vec<History> {
        // Acknowledgements can come out of commit order (semi-sync releases
        // waiting writes together, one sync makes a group durable at once); the
        // history is the commit order: by time, then by place in the log. A
        // stable sort of the sorted old writes followed by the new orders ties
        // as one of all of them in arrival would; usually there is nothing to sort.
        let at = |(at, ..): &((u64, u64), u32, Option<String>)| *at;
        if !self.writes[self.read.saturating_sub(1)..].is_sorted_by_key(at) {
            self.writes.sort_by_key(at);
        }
        self.read = self.writes.len();
        self.writes.iter().map(|((at, _), id, state)| (*at, *id, state.clone())).collect()
    }
}

/// The broker's contents as last read, with the table they were read from.
#[derive(Default)]
pub(crate) struct BrokerLook {
    last: Option<(Table, Arc<Contents>)>,
}

impl BrokerLook {
    /// The contents of `table`: the last look's brought up to date by the rows
    /// that changed (a recovered table shares its unchanged nodes with the
    /// one before), or read afresh when they cannot be.
    pub fn read(&mut self, table: Table) -> Arc<Contents> {
        let updated = self
            .last
            .take()
            .and_then(|(before, mut c)| Arc::make_mut(&mut c).update(&before, &table).then_some(c));
        let contents = updated.unwrap_or_else(|| Arc::new(Contents::read(&table)));
        self.last = Some((table, contents.clone()));
        contents
    }
}
