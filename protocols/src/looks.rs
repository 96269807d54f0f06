//! What a deployment remembers from one look at ground truth to the next, so
//! a settle poll costs what changed since the last look, not the run's
//! history: a seed that never settles looks hundreds of times.

use crate::truth::History;
use faultline_sim::broker::Contents;
use faultline_sim::store::Table;
use faultline_sim::{ReplicaSet, Sim, Value};
use std::sync::Arc;

/// The incremental readers behind [`crate::truth::GroundTruth::collect`].
#[derive(Default)]
pub(crate) struct Looks {
    pub orders: HistoryLog,
    pub payments: HistoryLog,
    pub shipments: HistoryLog,
    pub broker: BrokerLook,
}

/// Acknowledged writes to the rows `{prefix}{order:06}` of one store, in
/// commit order, kept up to date from the simulator's commits: each look
/// reads only the commits since the last.
#[derive(Default)]
pub(crate) struct HistoryLog {
    /// How many of the simulator's commits were read.
    seen: usize,
    /// ((time µs, place in its log), order, new state), in commit order.
    writes: Vec<((u64, u64), u32, Option<String>)>,
}

impl HistoryLog {
    pub fn read(&mut self, sim: &Sim, set: &ReplicaSet, prefix: &str) -> Vec<History> {
        let commits = sim.commits();
        if self.seen > commits.len() {
            *self = HistoryLog::default(); // the commits were released: start over
        }
        let old = self.writes.len();
        for c in commits[self.seen..].iter().filter(|c| set.members.contains(&c.store)) {
            self.writes.extend(c.writes.iter().filter_map(|(k, v)| {
                let id = k.strip_prefix(prefix)?.parse().ok()?;
                Some(((c.at_us, c.seq), id, v.as_ref().and_then(Value::as_text).map(str::to_string)))
            }));
        }
        self.seen = commits.len();
        // Acknowledgements can come out of commit order (semi-sync releases
        // waiting writes together, one sync makes a group durable at once); the
        // history is the commit order: by time, then by place in the log. A
        // stable sort of the sorted old writes followed by the new orders ties
        // as one of all of them in arrival would; usually there is nothing to sort.
        let at = |(at, ..): &((u64, u64), u32, Option<String>)| *at;
        if !self.writes[old.saturating_sub(1)..].is_sorted_by_key(at) {
            self.writes.sort_by_key(at);
        }
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
