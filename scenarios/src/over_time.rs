//! Runs over time for the report's Jepsen-style chart: one seed of a
//! scenario run again for each protocol, keeping each order's submission and
//! latency and the fault windows of its plan.

use crate::runner::{self, Variant};
use crate::scenario::Scenario;
use faultline_reports::Timeline;

/// `seed` of `scenario` under each of `variants`, over time.
pub fn timelines(scenario: &Scenario, variants: &[Variant], seed: u64) -> Vec<Timeline> {
    variants.iter().filter_map(|v| timeline(scenario, *v, seed)).collect()
}

fn timeline(scenario: &Scenario, variant: Variant, seed: u64) -> Option<Timeline> {
    let spec = runner::spec(scenario, variant, seed, false);
    let faults = spec
        .plan
        .events
        .iter()
        .map(|e| {
            let from = e.at_ms as f64 / 1e3;
            // A crash lasts until its restart; a failover is an instant.
            let ms = e.fault.duration_ms().unwrap_or(0);
            (e.fault.name().to_string(), from, from + ms as f64 / 1e3)
        })
        .collect();
    let (_, result) = runner::run_seed(scenario, variant, seed, false);
    let r = result.ok()?;
    let orders = (r.order_times.iter())
        .map(|(_, at, done)| (*at as f64 / 1e6, done.map(|d| (d - at) as f64 / 1e3)))
        .collect();
    let window_s = scenario.fault_window_ms as f64 / 1e3;
    let protocol = faultline_reports::record::label(variant.protocol.name(), variant.reconcile);
    Some(Timeline { protocol, seed, orders, faults, window_s })
}
