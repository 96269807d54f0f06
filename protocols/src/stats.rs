//! What protocols report about their own work (retries, compensations) and what
//! the client saw (when each order was first submitted). Metrics only: the
//! checker never trusts these, it reads ground truth.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Stats {
    retries: AtomicU64,
    compensations: AtomicU64,
    cancels_accepted: AtomicU64,
    cancels_refused: AtomicU64,
    submitted_us: Mutex<BTreeMap<u32, u64>>,
}

impl Stats {
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    pub fn compensation(&self) {
        self.compensations.fetch_add(1, Ordering::Relaxed);
    }
    /// A customer's cancellation was answered: accepted, or refused as shipped.
    pub fn cancellation(&self, accepted: bool) {
        let counter = if accepted { &self.cancels_accepted } else { &self.cancels_refused };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Cancellations (accepted, refused).
    pub fn cancellations(&self) -> (u64, u64) {
        (self.cancels_accepted.load(Ordering::Relaxed), self.cancels_refused.load(Ordering::Relaxed))
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn compensations(&self) -> u64 {
        self.compensations.load(Ordering::Relaxed)
    }
    /// Records the first submission of an order; later ones are retries.
    pub fn submitted(&self, order: u32, at_us: u64) {
        self.submitted_us.lock().unwrap().entry(order).or_insert(at_us);
    }
    pub fn submit_times(&self) -> BTreeMap<u32, u64> {
        self.submitted_us.lock().unwrap().clone()
    }
}
