//! The network's fault state: which nodes are up, which links are cut, the
//! latency range and the loss and duplication rates. Drops are decided here so
//! that every one of them lands in the trace with its reason.

use crate::trace::{DropReason, NodeId};
use std::net::{IpAddr, Ipv4Addr};

/// Nodes live at 10.0.x.y, derived from their index (madsim wants an
/// address per node, though faultline's messages do not use madsim's sockets).
pub(crate) fn addr_of(id: NodeId) -> IpAddr {
    let [hi, lo] = (id.0 + 1).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(10, 0, hi, lo))
}

/// At most 64 nodes, so sets of nodes are bitmasks and a link check is two shifts.
pub(crate) const MAX_NODES: usize = 64;

/// One way the network can be cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Every link between the nodes of the mask and the others.
    Side(u64),
    /// The one link between two nodes, both ways.
    Link(NodeId, NodeId),
}

impl Cut {
    fn cuts(self, a: NodeId, b: NodeId) -> bool {
        match self {
            Cut::Side(side) => ((side >> a.0) ^ (side >> b.0)) & 1 == 1,
            Cut::Link(x, y) => (a, b) == (x, y) || (a, b) == (y, x),
        }
    }
}

#[derive(Debug)]
pub(crate) struct NetState {
    /// Bit i set: node i is running (not crashed).
    up: u64,
    /// Active cuts, by id.
    partitions: Vec<(u64, Cut)>,
    next_partition: u64,
    /// One-way latency, in µs: drawn per message from its order's stream.
    pub latency_us: (u64, u64),
    /// Slow nodes (gray failures): their one-way latency in µs, and the
    /// share of messages spared it. A message to or from one takes the
    /// slowest range that applies.
    pub slow: Vec<(NodeId, Slow)>,
    pub loss_rate: f64,
    pub dup_rate: f64,
    /// Targeted message faults, armed and not yet fired.
    pub targets: Vec<Target>,
}

/// A slow node's latency: the range, in µs, and the share of messages spared.
#[derive(Clone, Copy, Debug)]
pub struct Slow {
    pub range_us: (u64, u64),
    pub spared: f64,
}

/// Which messages a targeted fault counts: those matching every field given.
#[derive(Clone, Debug)]
pub struct Aim {
    pub from: Option<NodeId>,
    pub to: Option<NodeId>,
    pub label: Option<String>,
    /// Sent for this order (see [`crate::order`]).
    pub order: Option<u32>,
}

impl Aim {
    fn matches(&self, from: NodeId, to: NodeId, label: &str, order: Option<u32>) -> bool {
        self.from.is_none_or(|f| f == from)
            && self.to.is_none_or(|t| t == to)
            && self.label.as_deref().is_none_or(|l| l == label)
            && self.order.is_none_or(|o| Some(o) == order)
    }
}

/// A [`crate::Fault::Message`] or [`crate::Fault::OrderMessage`], armed: it
/// fires on the `left`-th matching message.
#[derive(Debug)]
pub(crate) struct Target {
    pub aim: Aim,
    /// Matching messages still to let pass, this one included.
    pub left: u32,
    pub nth: u32,
    pub action: crate::MessageAction,
    pub ms: u64,
}

impl NetState {
    pub fn new(nodes: usize, latency_us: (u64, u64)) -> Self {
        assert!(nodes <= MAX_NODES, "a world has at most {MAX_NODES} nodes, got {nodes}");
        let up = if nodes == 64 { u64::MAX } else { (1u64 << nodes) - 1 };
        NetState {
            up,
            partitions: Vec::new(),
            next_partition: 0,
            latency_us,
            slow: Vec::new(),
            loss_rate: 0.0,
            dup_rate: 0.0,
            targets: Vec::new(),
        }
    }

    pub fn set_up(&mut self, id: NodeId, up: bool) {
        if up {
            self.up |= 1 << id.0;
        } else {
            self.up &= !(1 << id.0);
        }
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.up & (1 << id.0) != 0
    }

    /// Counts a message sent from `from` to `to` labelled `label` for `order`
    /// against every armed target; the ones that fire on it are disarmed and
    /// returned. Every message passes here: with nothing armed, or nothing
    /// firing, it allocates nothing.
    pub fn target(&mut self, from: NodeId, to: NodeId, label: &str, order: Option<u32>) -> Vec<Target> {
        let mut fired = false;
        for t in self.targets.iter_mut().filter(|t| t.aim.matches(from, to, label, order)) {
            t.left = t.left.saturating_sub(1);
            fired |= t.left == 0;
        }
        if !fired {
            return Vec::new();
        }
        let (fired, armed) = std::mem::take(&mut self.targets).into_iter().partition(|t| t.left == 0);
        self.targets = armed;
        fired
    }

    /// The one-way latency, in ns, of a message from `a` to `b` with latency
    /// draw `d`: from the base range, or a slow end's — unless the message is
    /// one of those spared, decided by the same draw's other bits.
    pub fn latency_ns(&self, a: NodeId, b: NodeId, d: crate::stream::Draw) -> u64 {
        let slow = self.slow.iter().filter(|(n, _)| *n == a || *n == b);
        let spared = |s: &Slow| crate::stream::Draw(d.0.rotate_left(32)).chance(s.spared);
        let (lo, hi) = (slow.filter(|(_, s)| !spared(s)))
            .fold(self.latency_us, |(lo, hi), (_, s)| (lo.max(s.range_us.0), hi.max(s.range_us.1)));
        d.within(lo * 1000, hi * 1000)
    }

    pub fn link_cut(&self, a: NodeId, b: NodeId) -> bool {
        self.partitions.iter().any(|&(_, cut)| cut.cuts(a, b))
    }

    /// Why a message from `from` to `to` cannot be sent now, if it cannot.
    pub fn blocked(&self, from: NodeId, to: NodeId) -> Option<DropReason> {
        if !self.is_up(to) {
            Some(DropReason::NodeDown)
        } else if self.link_cut(from, to) {
            Some(DropReason::Partition)
        } else {
            None
        }
    }

    pub fn add_partition(&mut self, cut: Cut) -> u64 {
        let id = self.next_partition;
        self.next_partition += 1;
        self.partitions.push((id, cut));
        id
    }

    /// Returns the cut, if it was still active.
    pub fn remove_partition(&mut self, id: u64) -> Option<Cut> {
        let pos = self.partitions.iter().position(|&(p, _)| p == id)?;
        Some(self.partitions.remove(pos).1)
    }

    pub fn clear_partitions(&mut self) -> Vec<Cut> {
        self.partitions.drain(..).map(|(_, cut)| cut).collect()
    }
}

pub(crate) fn mask_of(nodes: &[NodeId]) -> u64 {
    nodes.iter().fold(0, |m, n| m | (1 << n.0))
}

pub(crate) fn nodes_of(mask: u64) -> Vec<NodeId> {
    (0..64u16).filter(|i| mask & (1 << i) != 0).map(NodeId).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct() {
        let addrs: std::collections::BTreeSet<IpAddr> = (0..64u16).map(|i| addr_of(NodeId(i))).collect();
        assert_eq!(addrs.len(), 64);
    }

    #[test]
    fn partition_cuts_exactly_the_crossing_links() {
        let mut net = NetState::new(4, (0, 0));
        let p = net.add_partition(Cut::Side(mask_of(&[NodeId(0), NodeId(1)])));
        assert!(!net.link_cut(NodeId(0), NodeId(1)), "same side stays connected");
        assert!(!net.link_cut(NodeId(2), NodeId(3)), "other side stays connected");
        assert!(net.link_cut(NodeId(0), NodeId(2)));
        assert!(net.link_cut(NodeId(3), NodeId(1)));
        assert_eq!(net.blocked(NodeId(0), NodeId(2)), Some(DropReason::Partition));
        net.set_up(NodeId(1), false);
        assert_eq!(net.blocked(NodeId(0), NodeId(1)), Some(DropReason::NodeDown));
        assert_eq!(net.remove_partition(p), Some(Cut::Side(0b11)));
        assert!(!net.link_cut(NodeId(0), NodeId(2)));
        assert_eq!(net.remove_partition(p), None);
    }

    #[test]
    fn a_link_cut_cuts_one_link_both_ways() {
        let mut net = NetState::new(3, (0, 0));
        net.add_partition(Cut::Link(NodeId(0), NodeId(2)));
        assert!(net.link_cut(NodeId(0), NodeId(2)));
        assert!(net.link_cut(NodeId(2), NodeId(0)));
        assert!(!net.link_cut(NodeId(0), NodeId(1)));
        assert!(!net.link_cut(NodeId(1), NodeId(2)));
    }
}
