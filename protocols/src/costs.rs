//! What a protocol's work cost — how long services disagreed about each
//! order, stock reserved and locks held over time — folded from the shop's
//! stores' commits as they happen: the simulator keeps no history of them.

use crate::protocol::{ProtocolRef, Resource};
use crate::shop::{Service, Shop};
use faultline_sim::store::{Commit, RowKey};
use faultline_sim::NodeId;
use std::collections::BTreeMap;

/// The costs read so far from the acknowledged commits of the shop's stores
/// (not the protocol's own: agreement is between services). What counts as
/// held is the protocol's to say ([`crate::Protocol::held`]).
pub(crate) struct CostFold {
    protocol: ProtocolRef,
    /// Each member of a replica set, with its service: a row is the same row
    /// whichever member was primary when it was written.
    services: BTreeMap<NodeId, Service>,
    /// Per order, its first and last write, µs.
    span: BTreeMap<u32, (u64, u64)>,
    /// Reserved units and held locks, stepped at commits; per service and
    /// key, so the payment's and the points' customer locks are different rows.
    levels: BTreeMap<(Resource, Service, RowKey), i64>,
    units: Area,
    locked: Area,
}

/// A run's costs, per order and over the run.
pub(crate) struct Costs {
    pub consistency_ms: Vec<f64>,
    pub inconsistency_ms: Vec<f64>,
    pub write_spans: Vec<(u32, u64, u64)>,
    pub reserved_unit_s: f64,
    pub locked_s: f64,
}

impl CostFold {
    pub fn new(protocol: ProtocolRef, shop: &Shop) -> CostFold {
        let services = Service::ALL
            .into_iter()
            .flat_map(|service| shop.db(service).members.iter().map(move |m| (*m, service)))
            .collect();
        CostFold {
            protocol,
            services,
            span: BTreeMap::new(),
            levels: BTreeMap::new(),
            units: Area::default(),
            locked: Area::default(),
        }
    }

    pub fn commit(&mut self, c: &Commit) {
        let Some(service) = self.services.get(&c.store).copied() else { return };
        for (k, v) in &c.writes {
            // The relay's mark-sent is bookkeeping, not a service changing its mind.
            if let Some(id) = order_of(k).filter(|_| !k.starts_with("outbox/")) {
                let e = self.span.entry(id).or_insert((c.at_us, c.at_us));
                e.0 = e.0.min(c.at_us);
                e.1 = e.1.max(c.at_us);
            }
            if let Some((resource, now)) = self.protocol.held(service, k, v.as_ref()) {
                let before = self.levels.insert((resource, service, k.clone()), now).unwrap_or(0);
                let area = match resource {
                    Resource::ReservedStock => &mut self.units,
                    Resource::RowLock => &mut self.locked,
                };
                area.step(c.at_us, now - before);
            }
        }
    }

    /// The costs of a run that ended at `end_ms`, its orders submitted at `submitted` (µs).
    pub fn costs(&self, submitted: &BTreeMap<u32, u64>, end_ms: u64) -> Costs {
        let span = &self.span;
        let consistency = span
            .iter()
            .filter_map(|(id, (_, last))| Some(last.saturating_sub(*submitted.get(id)?) as f64 / 1e3))
            .collect();
        let inconsistency = span.values().map(|(first, last)| (last - first) as f64 / 1e3).collect();
        Costs {
            consistency_ms: consistency,
            inconsistency_ms: inconsistency,
            write_spans: span.iter().map(|(id, (first, last))| (*id, *first, *last)).collect(),
            reserved_unit_s: self.units.seconds(end_ms * 1000),
            locked_s: self.locked.seconds(end_ms * 1000),
        }
    }
}

/// The order a shop row belongs to: `order/000012`, `pay/000012`,
/// `barrier/000012/inventory/try`, … — every per-order key is `{kind}/{id:06}…`
/// (see [`crate::id::Padded`]).
fn order_of(key: &str) -> Option<u32> {
    let id = key.split('/').nth(1)?;
    (id.len() == 6).then(|| id.parse().ok()).flatten()
}

/// A level that steps at commits, integrated over time: reserved units, held locks.
#[derive(Clone, Default)]
struct Area {
    level: i64,
    last_us: u64,
    level_us: f64,
}

impl Area {
    fn step(&mut self, at_us: u64, by: i64) {
        self.level_us += self.level as f64 * at_us.saturating_sub(self.last_us) as f64;
        self.last_us = self.last_us.max(at_us);
        self.level += by;
    }

    /// The area up to `end_us`, in level·seconds.
    fn seconds(&self, end_us: u64) -> f64 {
        let mut area = self.clone();
        area.step(end_us, 0);
        area.level_us / 1e6
    }
}

/// The area under a step function `(µs, level)`, up to `end_us`, in level·seconds.
pub(crate) fn held_over_time(steps: &[(u64, i64)], end_us: u64) -> f64 {
    let mut area = 0.0;
    for (i, (at, level)) in steps.iter().enumerate() {
        let until = steps.get(i + 1).map_or(end_us, |(next, _)| *next);
        area += *level as f64 * until.saturating_sub(*at) as f64;
    }
    area / 1e6
}
