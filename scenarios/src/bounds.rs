//! The documented range of every number in a scenario file: what a run can
//! take without overflow, an allocation that cannot succeed, or a run that
//! never ends. [`check`] names the first field out of range and the rule.

use crate::scenario::Scenario;
use faultline_sim::{Fault, TimedFault};

/// Simulated durations and instants (windows, deadlines, fault lengths): 1 h.
pub const MAX_MS: u64 = 3_600_000;
/// One-way message, callback and disk latencies: 1 min.
pub const MAX_LATENCY_MS: u64 = 60_000;
/// Orders, customers and SKUs in one workload.
pub const MAX_ORDERS: u32 = 1_000_000;
pub const MAX_CUSTOMERS: u32 = 1_000_000;
pub const MAX_SKUS: u32 = 1_000_000;
/// Units of stock per SKU.
pub const MAX_STOCK: i64 = 1_000_000_000;
/// A customer's balance, in cents.
pub const MAX_BALANCE: i64 = 1_000_000_000_000_000;
/// A unit price, in cents, and units per order: their product times the
/// orders stays far inside an i64 of cents.
pub const MAX_PRICE: i64 = 10_000_000;
pub const MAX_QTY: i64 = 10_000;
/// Lines in one order (each of a different SKU).
pub const MAX_LINES: u32 = 64;
/// Faults drawn per minute of fault window, per kind.
pub const MAX_RATE_PER_MIN: f64 = 120.0;
/// Events in an explicit plan, and nodes or stores a model may target.
pub const MAX_PLAN_EVENTS: usize = 100_000;
pub const MAX_TARGETS: usize = 1_000;
/// How many times one crash point may fire.
pub const MAX_CRASH_POINT_FIRINGS: u32 = 1_000;

/// A field out of its range: which, and the rule it breaks.
#[derive(Debug, PartialEq)]
pub struct Broken {
    /// The field's path in the file (`faults.loss_rate`, `plan.3.at_ms`).
    pub field: String,
    pub rule: String,
}

fn broken<T>(field: impl Into<String>, rule: String) -> Result<T, Broken> {
    Err(Broken { field: field.into(), rule })
}

fn at_most(field: &str, value: u64, max: u64) -> Result<(), Broken> {
    match value <= max {
        true => Ok(()),
        false => broken(field, format!("{value} is more than {max}")),
    }
}

fn range(field: &str, (lo, hi): (u64, u64), max: u64) -> Result<(), Broken> {
    if lo > hi {
        return broken(field, format!("[{lo}, {hi}] is not a range (low > high)"));
    }
    at_most(field, hi, max)
}

fn in_range(field: &str, (lo, hi): (i64, i64), min: i64, max: i64) -> Result<(), Broken> {
    if lo > hi {
        return broken(field, format!("[{lo}, {hi}] is not a range (low > high)"));
    }
    if lo < min || hi > max {
        return broken(field, format!("[{lo}, {hi}] is not within {min} to {max}"));
    }
    Ok(())
}

fn probability(field: &str, p: f64) -> Result<(), Broken> {
    match (0.0..=1.0).contains(&p) {
        true => Ok(()),
        false => broken(field, format!("{p:?} is not a probability (0 to 1)")),
    }
}

fn per_min(field: &str, r: f64) -> Result<(), Broken> {
    match (0.0..=MAX_RATE_PER_MIN).contains(&r) {
        true => Ok(()),
        false => broken(field, format!("{r:?} is not a rate from 0 to {MAX_RATE_PER_MIN} per minute")),
    }
}

/// The first number of `s` out of its documented range, if any.
pub fn check(s: &Scenario) -> Result<(), Broken> {
    at_most("fault_window_ms", s.fault_window_ms, MAX_MS)?;
    at_most("settle_ms", s.settle_ms, MAX_MS)?;
    if let Some(r) = &s.reconcile {
        // A pass at least every 10 ms would be the reconciler drowning the shop.
        if !(10..=MAX_MS).contains(&r.interval_ms) {
            return broken(
                "reconcile.interval_ms",
                format!("{} is not within 10 to {MAX_MS}", r.interval_ms),
            );
        }
        at_most("reconcile.after_ms", r.after_ms, MAX_MS)?;
    }
    if !(0.0..0.9).contains(&s.clock_skew) {
        return broken("clock_skew", format!("{:?} is not a drift bound in [0, 0.9)", s.clock_skew));
    }
    range("latency_ms", s.latency_ms, MAX_LATENCY_MS)?;
    let deadline = s.fault_window_ms + s.settle_ms;
    workload(s, deadline)?;
    let f = &s.faults;
    for (field, p) in [
        ("faults.loss_rate", f.loss_rate),
        ("faults.duplicate_rate", f.duplicate_rate),
        ("faults.fsync_fail_rate", f.fsync_fail_rate),
        ("faults.torn_write_rate", f.torn_write_rate),
        ("faults.slow_node_spared", f.slow_node_spared),
        ("gateway.callback_loss_rate", s.gateway.callback_loss_rate),
        ("gateway.callback_dup_rate", s.gateway.callback_dup_rate),
    ] {
        probability(field, p)?;
    }
    for (field, r) in [
        ("faults.spike_rate_per_min", f.spike_rate_per_min),
        ("faults.partition_rate_per_min", f.partition_rate_per_min),
        ("faults.link_cut_rate_per_min", f.link_cut_rate_per_min),
        ("faults.crash_rate_per_min", f.crash_rate_per_min),
        ("faults.pause_rate_per_min", f.pause_rate_per_min),
        ("faults.failover_rate_per_min", f.failover_rate_per_min),
        ("faults.disk_spike_rate_per_min", f.disk_spike_rate_per_min),
        ("faults.slow_node_rate_per_min", f.slow_node_rate_per_min),
    ] {
        per_min(field, r)?;
    }
    for (field, r, max) in [
        ("faults.spike_latency_ms", f.spike_latency_ms, MAX_LATENCY_MS),
        ("faults.spike_ms", f.spike_ms, MAX_MS),
        ("faults.partition_ms", f.partition_ms, MAX_MS),
        ("faults.link_cut_ms", f.link_cut_ms, MAX_MS),
        ("faults.restart_after_ms", f.restart_after_ms, MAX_MS),
        ("faults.pause_ms", f.pause_ms, MAX_MS),
        ("faults.disk_latency_ms", f.disk_latency_ms, MAX_LATENCY_MS),
        ("faults.disk_spike_latency_ms", f.disk_spike_latency_ms, MAX_LATENCY_MS),
        ("faults.disk_spike_ms", f.disk_spike_ms, MAX_MS),
        ("faults.slow_node_latency_ms", f.slow_node_latency_ms, MAX_LATENCY_MS),
        ("faults.slow_node_ms", f.slow_node_ms, MAX_MS),
        ("gateway.callback_delay_ms", s.gateway.callback_delay_ms, MAX_LATENCY_MS),
    ] {
        range(field, r, max)?;
    }
    for (field, list) in [("faults.targets", &f.targets), ("faults.failover_targets", &f.failover_targets)] {
        at_most(field, list.len() as u64, MAX_TARGETS as u64)?;
    }
    at_most("replication.detection_ms", s.replication.detection_ms, MAX_MS)?;
    if s.broker.visibility_ms == 0 {
        return broken("broker.visibility_ms", "0: a message would be redelivered at once, forever".into());
    }
    at_most("broker.visibility_ms", s.broker.visibility_ms, MAX_MS)?;
    if s.broker.partitions == 0 {
        return broken("broker.partitions", "0: a topic needs at least one partition".into());
    }
    at_most("broker.partitions", u64::from(s.broker.partitions), 1024)?;
    for (point, n) in &s.crash_points {
        at_most(&format!("crash_points.{point}"), u64::from(*n), u64::from(MAX_CRASH_POINT_FIRINGS))?;
    }
    if let Some(plan) = &s.plan {
        at_most("plan", plan.len() as u64, MAX_PLAN_EVENTS as u64)?;
        for (i, e) in plan.iter().enumerate() {
            event(i, e, s.fault_window_ms)?;
        }
    }
    Ok(())
}

fn workload(s: &Scenario, deadline: u64) -> Result<(), Broken> {
    let w = &s.workload;
    at_most("workload.orders", u64::from(w.orders), u64::from(MAX_ORDERS))?;
    at_most("workload.customers", u64::from(w.customers), u64::from(MAX_CUSTOMERS))?;
    at_most("workload.skus", u64::from(w.skus), u64::from(MAX_SKUS))?;
    in_range("workload.stock", w.stock, 0, MAX_STOCK)?;
    in_range("workload.balance", w.balance, 0, MAX_BALANCE)?;
    in_range("workload.price", w.price, 1, MAX_PRICE)?;
    in_range("workload.qty", w.qty, 1, MAX_QTY)?;
    let lines = (i64::from(w.lines.0), i64::from(w.lines.1));
    in_range("workload.lines", lines, 1, i64::from(MAX_LINES))?;
    at_most("workload.arrival_ms", w.arrival_ms, MAX_MS)?;
    probability("workload.cancel_rate", w.cancel_rate)?;
    at_most("workload.cancel_within_ms", w.cancel_within_ms, MAX_MS)?;
    probability("workload.undeliverable_rate", w.undeliverable_rate)?;
    let last_arrival = match &s.explicit_workload {
        Some(e) => explicit(e)?,
        None => w.arrival_ms,
    };
    // An order submitted at or after the deadline cannot settle: every seed
    // would fail eventual-settlement for the scenario's sake, not the protocol's.
    if w.orders > 0 && last_arrival >= deadline {
        let field =
            if s.explicit_workload.is_some() { "explicit_workload.orders" } else { "workload.arrival_ms" };
        return broken(
            field,
            format!(
                "orders arrive until {last_arrival} ms, not before the settle deadline \
                 (fault_window_ms + settle_ms = {deadline} ms)"
            ),
        );
    }
    Ok(())
}

/// Checks an explicit workload's numbers; returns when its last order arrives.
fn explicit(e: &faultline_protocols::workload::Workload) -> Result<u64, Broken> {
    at_most("explicit_workload.orders", e.orders.len() as u64, u64::from(MAX_ORDERS))?;
    at_most("explicit_workload.balances", e.balances.len() as u64, u64::from(MAX_CUSTOMERS))?;
    at_most("explicit_workload.stock", e.stock.len() as u64, u64::from(MAX_SKUS))?;
    for (field, values, max) in [
        ("explicit_workload.balances", &e.balances, MAX_BALANCE),
        ("explicit_workload.stock", &e.stock, MAX_STOCK),
        ("explicit_workload.prices", &e.prices, MAX_PRICE),
    ] {
        if let Some(v) = values.iter().find(|v| !(0..=max).contains(*v)) {
            return broken(field, format!("{v} is not within 0 to {max}"));
        }
    }
    let mut last = 0;
    for o in &e.orders {
        let field = format!("explicit_workload.orders (order {})", o.id);
        if o.lines.len() > MAX_LINES as usize {
            return broken(field, format!("{} lines; at most {MAX_LINES}", o.lines.len()));
        }
        if let Some(l) = o.lines.iter().find(|l| !(1..=MAX_QTY).contains(&l.qty)) {
            return broken(field, format!("qty {} is not within 1 to {MAX_QTY}", l.qty));
        }
        if let Some(l) = o.lines.iter().find(|l| !(0..=MAX_PRICE * MAX_QTY).contains(&l.amount)) {
            return broken(
                field,
                format!("line amount {} is not within 0 to {}", l.amount, MAX_PRICE * MAX_QTY),
            );
        }
        let max = MAX_PRICE * MAX_QTY * MAX_LINES as i64;
        if !(0..=max).contains(&o.amount) || !(0..=max).contains(&o.points) {
            return broken(field, format!("amount and points are within 0 to {max}"));
        }
        at_most(&field, o.submit_at_ms, MAX_MS)?;
        at_most(&field, o.cancel_after_ms.unwrap_or(0), MAX_MS)?;
        last = last.max(o.submit_at_ms);
    }
    Ok(last)
}

fn event(i: usize, e: &TimedFault, window: u64) -> Result<(), Broken> {
    let field = format!("plan.{i} ({})", e.fault.name());
    // Faults act only within the window: one after it would be dropped unseen.
    if e.at_ms > window {
        return broken(field, format!("at_ms {} is after the fault window ({window} ms)", e.at_ms));
    }
    if let Some(d) = e.fault.duration_ms() {
        at_most(&field, d, MAX_MS)?;
    }
    match &e.fault {
        Fault::Latency { min_ms, max_ms, .. } | Fault::DiskLatency { min_ms, max_ms, .. } => {
            range(&field, (*min_ms, *max_ms), MAX_LATENCY_MS)
        }
        Fault::Disk { extra_latency_ms, .. } => range(&field, *extra_latency_ms, MAX_LATENCY_MS),
        _ => Ok(()),
    }
}

/// Paths in a scenario file whose value is a `[low, high]` pair.
fn is_pair(path: &[String]) -> bool {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["latency_ms"] => true,
        ["faults", key] => key.ends_with("_ms"),
        ["gateway", "callback_delay_ms"] => true,
        ["workload", "stock" | "balance" | "price" | "qty" | "lines"] => true,
        ["plan", _, "extra_latency_ms"] => true,
        _ => false,
    }
}

/// The first `[low, high]` pair in the raw file that has not two elements:
/// serde would read the first two of three silently.
pub fn pairs(doc: &toml::Value) -> Result<(), Broken> {
    fn walk(v: &toml::Value, path: &mut Vec<String>) -> Result<(), Broken> {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    path.push(k.clone());
                    walk(v, path)?;
                    path.pop();
                }
            }
            toml::Value::Array(a) if is_pair(path) && a.len() != 2 => {
                return broken(path.join("."), format!("{} elements; a range is [low, high]", a.len()));
            }
            toml::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i.to_string());
                    walk(v, path)?;
                    path.pop();
                }
            }
            _ => {}
        }
        Ok(())
    }
    walk(doc, &mut Vec::new())
}
