//! Independent random streams. Every draw comes from the stream of what it is
//! for — one link's messages for one order, one node's backoffs for one order,
//! one disk — and is a pure function of the seed, the stream and how many draws
//! that stream gave before. Removing an order or a fault from a run leaves every
//! other stream as it was, so everyone else's timing stays put: what lets a
//! shrinker cut a broad run down without the failure slipping away.

use crate::trace::NodeId;
use std::sync::Mutex;

/// What a draw is for, on `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// A message to this node: its latency, loss and duplication.
    Message { to: NodeId },
    /// A retry's backoff jitter.
    Backoff,
    /// A webhook's misbehaviour (loss, duplication, delay).
    Callback,
    /// An fsync's latency and failure.
    Sync,
    /// A crash's torn write.
    Crash,
    /// The order a broker hands a batch out in.
    Delivery,
}

/// One draw: 64 uniformly distributed bits, with the two uses faultline has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw(pub u64);

impl Draw {
    /// True with probability `p`.
    pub fn chance(self, p: f64) -> bool {
        // 53 bits: exactly representable, so p = 1.0 is always true.
        p > 0.0 && ((self.0 >> 11) as f64) < p * (1u64 << 53) as f64
    }

    /// A value in `lo..=hi` (`lo` when the range is empty).
    pub fn within(self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        // Multiply-shift: unbiased enough for timings, one draw whatever the range.
        lo + ((u128::from(self.0) * u128::from(hi - lo + 1)) >> 64) as u64
    }
}

/// A stream of one order (or of no order): whose draws, for what.
type Key = (NodeId, Purpose);

/// Each of one order's streams: its base (what its draws are mixed from) and
/// how many draws it has given. Only looked up, never iterated: a hash map
/// with rustc's fixed-key hasher — cheap for small keys, and even the layout
/// is the same every run.
type Drawn = rustc_hash::FxHashMap<Key, (u64, u64)>;

/// Orders numbered below this keep their streams in a vector by number; the
/// rest (a protocol may name any order) in a map.
const DENSE_ORDERS: u32 = 1 << 20;

/// Every stream's draws so far, grouped by order: an order's streams sit
/// together, warm while it runs. (One map over all streams — a flash sale
/// has hundreds of thousands — missed the cache at every message once a run
/// had a few thousand orders.)
#[derive(Debug, Default)]
struct ByOrder {
    none: Drawn,
    dense: Vec<Drawn>,
    sparse: rustc_hash::FxHashMap<u32, Drawn>,
}

impl ByOrder {
    fn of(&mut self, order: Option<u32>) -> &mut Drawn {
        match order {
            None => &mut self.none,
            Some(o) if o < DENSE_ORDERS => crate::dense::slot(&mut self.dense, o as usize, Drawn::default),
            Some(o) => self.sparse.entry(o).or_default(),
        }
    }
}

/// The run's streams: how many draws each has given.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    seed: u64,
    drawn: Mutex<ByOrder>,
}

impl Streams {
    pub fn new(seed: u64) -> Streams {
        Streams { seed, drawn: Mutex::default() }
    }

    /// The next `N` draws of `node`'s stream for `purpose` and `order`, in
    /// one step: the same values as `N` single draws, for one lookup (every
    /// message takes four).
    pub fn draws<const N: usize>(&self, node: NodeId, purpose: Purpose, order: Option<u32>) -> [Draw; N] {
        let (stream, before) = {
            let mut drawn = self.drawn.lock().unwrap();
            let (base, n) = drawn.of(order).entry((node, purpose)).or_insert_with(|| {
                let base = self.base(node, purpose, order);
                (base, 0)
            });
            *n += N as u64;
            (*base, *n - N as u64)
        };
        std::array::from_fn(|i| Draw(mix(stream ^ (before + 1 + i as u64))))
    }

    /// What the draws of `node`'s stream for `purpose` and `order` are mixed
    /// from: worked out once, when the stream gives its first draw.
    fn base(&self, node: NodeId, purpose: Purpose, order: Option<u32>) -> u64 {
        let (kind, peer) = match purpose {
            Purpose::Message { to } => (1, u64::from(to.0)),
            Purpose::Backoff => (2, 0),
            Purpose::Callback => (3, 0),
            Purpose::Sync => (4, 0),
            Purpose::Crash => (5, 0),
            Purpose::Delivery => (6, 0),
        };
        let order = order.map_or(0, |o| u64::from(o) + 1);
        let mut stream = mix(self.seed ^ 0x7374_7265_616d_0000);
        for part in [u64::from(node.0), kind, peer, order] {
            stream = mix(stream ^ part);
        }
        stream
    }

    /// The next draw of `node`'s stream for `purpose` and `order`.
    pub fn draw(&self, node: NodeId, purpose: Purpose, order: Option<u32>) -> Draw {
        let [d] = self.draws(node, purpose, order);
        d
    }

    pub fn clear(&self) {
        *self.drawn.lock().unwrap() = ByOrder::default();
    }
}

/// SplitMix64's finaliser: every input bit flips about half the output bits.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_does_not_depend_on_the_others() {
        let (a, b) = (Streams::new(7), Streams::new(7));
        let link = Purpose::Message { to: NodeId(2) };
        let first: Vec<_> = (0..5).map(|_| a.draw(NodeId(1), link, Some(3))).collect();
        assert_eq!(
            Streams::new(7).draws::<5>(NodeId(1), link, Some(3)).to_vec(),
            first,
            "in one step, the same"
        );
        // b draws for other orders, links and purposes in between: order 3's stream is unmoved.
        let second: Vec<_> = (0..5)
            .map(|i| {
                b.draw(NodeId(1), link, Some(10 + i));
                b.draw(NodeId(1), Purpose::Backoff, Some(3));
                b.draw(NodeId(1), link, Some(3))
            })
            .collect();
        assert_eq!(first, second);
        assert_ne!(first[0], first[1], "successive draws differ");
        assert_ne!(first[0], Streams::new(8).draw(NodeId(1), link, Some(3)), "the seed matters");
        // An order numbered past the dense ones keeps its streams as well.
        let far = Some(u32::MAX);
        let (x, y) = (a.draw(NodeId(1), link, far), a.draw(NodeId(1), link, far));
        assert_eq!([x, y], Streams::new(7).draws::<2>(NodeId(1), link, far));
    }

    #[test]
    fn draws_map_into_their_ranges_evenly() {
        let s = Streams::new(1);
        let draws: Vec<_> = (0..10_000).map(|_| s.draw(NodeId(0), Purpose::Sync, None)).collect();
        assert!(draws.iter().all(|d| (10..=20).contains(&d.within(10, 20))));
        assert_eq!(Draw(u64::MAX).within(5, 5), 5);
        let hits = draws.iter().filter(|d| d.chance(0.25)).count();
        assert!((2_200..2_800).contains(&hits), "{hits} of 10000 at p = 0.25");
        assert!(draws.iter().all(|d| d.chance(1.0) && !d.chance(0.0)));
        let low = draws.iter().filter(|d| d.within(0, 9) < 5).count();
        assert!((4_600..5_400).contains(&low), "{low} of 10000 in the lower half");
    }
}
