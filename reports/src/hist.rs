//! A mergeable log-scale histogram of per-order times. Each run records its
//! orders' latencies in one; a report adds runs' histograms together, so its
//! distributions are over orders — not over seed medians — in bounded memory,
//! and the slices of a sharded sweep merge to the same result in any order.
//! (Records are untrusted: counts saturate and buckets are clamped.)

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counts per bucket; bucket `b` holds times in `(2^((b−1−OFFSET)/8), 2^((b−OFFSET)/8)]`
/// ms: eight buckets per doubling (≤ 9 % wide), from ~1 µs up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogHist(BTreeMap<u16, u64>);

/// Bucket of 1 ms.
const OFFSET: f64 = 80.0;
/// The last bucket: 2^60 ms. Beyond it (or a hostile key), times count there.
const LAST: u16 = 80 + 8 * 60;

impl LogHist {
    /// A histogram of `samples` (ms).
    pub fn of(samples: &[f64]) -> LogHist {
        let mut h = LogHist::default();
        for ms in samples {
            h.record(*ms);
        }
        h
    }

    pub fn record(&mut self, ms: f64) {
        let b = (8.0 * ms.max(1e-3).log2()).ceil() + OFFSET;
        let b = b.clamp(0.0, f64::from(LAST)) as u16;
        let n = self.0.entry(b).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &LogHist) {
        for (b, c) in &other.0 {
            let n = self.0.entry(*b).or_insert(0);
            *n = n.saturating_add(*c);
        }
    }

    pub fn count(&self) -> u64 {
        self.0.values().fold(0u64, |a, c| a.saturating_add(*c))
    }

    /// The upper edge of bucket `b`, in ms.
    fn edge(b: u16) -> f64 {
        2f64.powf((f64::from(b.min(LAST)) - OFFSET) / 8.0)
    }

    /// The cumulative distribution: (upper edge in ms, share of samples at
    /// or below it), one point per non-empty bucket.
    pub fn cdf(&self) -> Vec<(f64, f64)> {
        let total = self.count().max(1) as f64;
        let mut seen = 0u64;
        self.0
            .iter()
            .map(|(b, c)| {
                seen = seen.saturating_add(*c);
                (Self::edge(*b), seen as f64 / total)
            })
            .collect()
    }

    /// The `q` quantile (0..=1), to within a bucket; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        let want = (q.clamp(0.0, 1.0) * self.count() as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (b, c) in &self.0 {
            seen = seen.saturating_add(*c);
            if seen >= want {
                return Self::edge(*b);
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket_and_merging_is_adding() {
        let samples: Vec<f64> = (1..=1000).map(f64::from).collect();
        let h = LogHist::of(&samples);
        assert_eq!(h.count(), 1000);
        for (q, want) in [(0.5, 500.0), (0.99, 990.0), (1.0, 1000.0)] {
            let got = h.quantile(q);
            assert!(got >= want && got <= want * 1.091, "q{q}: {got} for {want}");
        }
        let (a, b) = (LogHist::of(&samples[..300]), LogHist::of(&samples[300..]));
        let mut merged = b.clone();
        merged.merge(&a);
        assert_eq!(merged, h, "merged in any order, the same histogram");
        assert_eq!(h.cdf().last().map(|p| p.1), Some(1.0));
        assert_eq!(LogHist::default().quantile(0.5), 0.0);
    }

    #[test]
    fn hostile_values_stay_in_range() {
        let mut h = LogHist::of(&[f64::NAN, f64::INFINITY, -5.0, 0.0, 1e300]);
        h.merge(&LogHist(BTreeMap::from([(u16::MAX, u64::MAX), (0, u64::MAX)])));
        assert_eq!(h.count(), u64::MAX, "saturates, never overflows");
        assert!(h.cdf().iter().all(|(x, y)| x.is_finite() && (0.0..=1.0).contains(y)));
    }
}
