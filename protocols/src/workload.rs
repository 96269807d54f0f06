//! The shop's inputs: customers with balances, SKUs with limited stock, and
//! orders arriving over simulated time. Drawn from a [`WorkloadSpec`] and a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One line of an order: a SKU, how many units of it, and what they cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub sku: u32,
    pub qty: i64,
    /// The line's share of the order's amount, in cents: what a partial
    /// refund of this line gives back. (Absent in files written before lines
    /// had amounts: then the first line carries the whole amount.)
    #[serde(default)]
    pub amount: i64,
    /// The warehouse cannot ship this line (damaged at pick, out of the
    /// carrier's reach): the order ships without it, or not at all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub undeliverable: bool,
}

/// One order as the customer placed it: one or more lines, each of a
/// different SKU. Money is in cents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub id: u32,
    pub customer: u32,
    pub lines: Vec<Line>,
    pub amount: i64,
    pub points: i64,
    /// When the client first submits it, in ms after the start.
    pub submit_at_ms: u64,
    /// The customer asks to cancel this long after submitting, if at all —
    /// racing the order's fulfilment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_after_ms: Option<u64>,
}

impl Line {
    /// Who sells the line's SKU (see [`crate::workflow::SELLERS`]).
    pub fn seller(&self) -> u32 {
        self.sku % crate::workflow::SELLERS
    }
}

impl Order {
    /// Units over all lines.
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.qty).sum()
    }

    /// The units of `sku` the order asks for (0 if it has no such line).
    pub fn qty_of(&self, sku: u32) -> i64 {
        self.lines.iter().filter(|l| l.sku == sku).map(|l| l.qty).sum()
    }

    /// The lines the warehouse cannot ship, by number.
    pub fn short_lines(&self) -> impl Iterator<Item = (u32, &Line)> {
        (0u32..).zip(&self.lines).filter(|(_, l)| l.undeliverable)
    }

    /// No line can ship: the whole order fails at the warehouse.
    pub fn undeliverable(&self) -> bool {
        self.lines.iter().all(|l| l.undeliverable)
    }

    /// What the order comes to once shipped: its amount, less every line it
    /// ships without (0 if none ships).
    pub fn due(&self) -> i64 {
        match self.undeliverable() {
            true => 0,
            false => self.amount - self.short_lines().map(|(_, l)| l.amount).sum::<i64>(),
        }
    }

    /// The units of `sku` the order keeps once shipped.
    pub fn shipped_qty_of(&self, sku: u32) -> i64 {
        self.lines.iter().filter(|l| l.sku == sku && !l.undeliverable).map(|l| l.qty).sum()
    }
}

/// The sizes and ranges a workload is drawn from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadSpec {
    pub orders: u32,
    pub customers: u32,
    pub skus: u32,
    /// Initial stock per SKU, drawn from this range.
    pub stock: (i64, i64),
    /// Initial balance per customer in cents.
    pub balance: (i64, i64),
    /// Unit price in cents.
    pub price: (i64, i64),
    /// Units per line.
    pub qty: (i64, i64),
    /// Lines per order, each of a different SKU (at most `skus`).
    pub lines: (u32, u32),
    /// Orders arrive uniformly over this many ms from the start.
    pub arrival_ms: u64,
    /// The share of orders the customer asks to cancel, at a time drawn
    /// uniformly from 0 to `cancel_within_ms` after submitting.
    pub cancel_rate: f64,
    pub cancel_within_ms: u64,
    /// The share of order lines the warehouse cannot ship once paid. Without
    /// `partial_fulfilment`, one such line fails the whole order.
    pub undeliverable_rate: f64,
    /// An order ships the lines it can, and its short lines are refunded.
    pub partial_fulfilment: bool,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            orders: 20,
            customers: 5,
            skus: 3,
            stock: (3, 8),
            balance: (5_000, 20_000),
            price: (500, 3_000),
            qty: (1, 3),
            lines: (1, 4),
            arrival_ms: 5_000,
            cancel_rate: 0.1,
            cancel_within_ms: 3_000,
            undeliverable_rate: 0.05,
            partial_fulfilment: false,
        }
    }
}

/// A concrete workload: what the world starts with and what will be ordered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Balance of customer i, in cents, at the gateway.
    pub balances: Vec<i64>,
    /// Initial stock of SKU i.
    pub stock: Vec<i64>,
    pub prices: Vec<i64>,
    pub orders: Vec<Order>,
}

impl Workload {
    /// Order `id`: by bisection if the orders are in id order, else looked
    /// through — a generated workload's are in submission order. Many lookups
    /// go through [`GroundTruth::order`](crate::truth::GroundTruth::order), which indexes them.
    pub fn order(&self, id: u32) -> Option<&Order> {
        match self.orders.binary_search_by_key(&id, |o| o.id) {
            Ok(i) => Some(&self.orders[i]),
            Err(_) => self.orders.iter().find(|o| o.id == id),
        }
    }

    /// Checks an explicit workload (a shrunk counterexample's): every order
    /// names an existing customer and SKU, has units, and ids are unique.
    /// The workload as a workflow can take it: unless it can ship short no
    /// line is undeliverable; without a cancellation window no customer cancels.
    /// Unchanged for a workflow with both (the shop).
    pub fn fitted(&self, ships_short: bool, cancellable: bool) -> Workload {
        let mut w = self.clone();
        for o in &mut w.orders {
            if !ships_short {
                o.lines.iter_mut().for_each(|l| l.undeliverable = false);
            }
            if !cancellable {
                o.cancel_after_ms = None;
            }
        }
        w
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        for o in &self.orders {
            if o.customer as usize >= self.balances.len() {
                return Err(format!("order {}: no customer {}", o.id, o.customer));
            }
            if o.lines.is_empty() {
                return Err(format!("order {}: an order has at least one line", o.id));
            }
            let mut skus = std::collections::BTreeSet::new();
            for l in &o.lines {
                if l.sku as usize >= self.stock.len() {
                    return Err(format!("order {}: no sku {}", o.id, l.sku));
                }
                if !skus.insert(l.sku) {
                    return Err(format!("order {}: two lines of sku {}", o.id, l.sku));
                }
                if l.qty < 1 {
                    return Err(format!("order {}: a line has at least one unit", o.id));
                }
            }
            if o.amount < 0 || o.points < 0 {
                return Err(format!("order {}: amount and points must not be negative", o.id));
            }
            let lines: i64 = o.lines.iter().map(|l| l.amount).sum();
            if lines != o.amount && o.lines.iter().any(|l| l.amount != 0) {
                return Err(format!(
                    "order {}: line amounts sum to {lines}, not the amount {}",
                    o.id, o.amount
                ));
            }
            if !ids.insert(o.id) {
                return Err(format!("order id {} appears twice", o.id));
            }
        }
        if self.prices.len() != self.stock.len() {
            return Err("one price per sku".into());
        }
        Ok(())
    }
}

impl Workload {
    /// Orders from files written before lines had amounts: the first line
    /// carries the whole amount, so nothing can be refunded by line.
    pub fn normalize(&mut self) {
        for o in &mut self.orders {
            if o.lines.iter().all(|l| l.amount == 0) {
                if let Some(first) = o.lines.first_mut() {
                    first.amount = o.amount;
                }
            }
        }
    }
}

impl WorkloadSpec {
    pub fn validate(&self) -> Result<(), String> {
        let ranges =
            [("stock", self.stock), ("balance", self.balance), ("price", self.price), ("qty", self.qty)];
        for (name, (lo, hi)) in ranges {
            if lo > hi || lo < 0 {
                return Err(format!("workload.{name}: [{lo}, {hi}] must be a range of non-negative numbers"));
            }
        }
        if self.customers == 0 || self.skus == 0 {
            return Err("workload needs at least one customer and one sku".into());
        }
        if self.qty.0 == 0 {
            return Err("workload.qty: an order has at least one unit".into());
        }
        for (name, p) in [("cancel_rate", self.cancel_rate), ("undeliverable_rate", self.undeliverable_rate)]
        {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("workload.{name}: {p:?} is not a probability (0 to 1)"));
            }
        }
        if self.lines.0 == 0 || self.lines.0 > self.lines.1 {
            return Err(format!("workload.lines: [{}, {}]: from 1 line up", self.lines.0, self.lines.1));
        }
        Ok(())
    }

    /// Draws the workload. Pure: same seed, same workload.
    pub fn generate(&self, seed: u64) -> Workload {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x776f_726b_6c6f_6164);
        let mut range = |(lo, hi): (i64, i64)| rng.gen_range(lo..=hi);
        let balances = (0..self.customers).map(|_| range(self.balance)).collect();
        let stock = (0..self.skus).map(|_| range(self.stock)).collect();
        let prices: Vec<i64> = (0..self.skus).map(|_| range(self.price)).collect();
        let mut orders: Vec<Order> = (0..self.orders)
            .map(|id| {
                // Single-line workloads draw exactly as before lines existed, so
                // a scenario that says `lines = [1, 1]` keeps its seeds' runs.
                let line =
                    |sku, qty| Line { sku, qty, amount: prices[sku as usize] * qty, undeliverable: false };
                let lines: Vec<Line> = if self.lines == (1, 1) {
                    let sku = rng.gen_range(0..self.skus);
                    vec![line(sku, rng.gen_range(self.qty.0..=self.qty.1))]
                } else {
                    let n = rng.gen_range(self.lines.0..=self.lines.1).min(self.skus);
                    let mut skus =
                        rand::seq::index::sample(&mut rng, self.skus as usize, n as usize).into_vec();
                    skus.sort_unstable();
                    skus.into_iter()
                        .map(|sku| line(sku as u32, rng.gen_range(self.qty.0..=self.qty.1)))
                        .collect()
                };
                let amount = lines.iter().map(|l| l.amount).sum::<i64>();
                Order {
                    id,
                    customer: rng.gen_range(0..self.customers),
                    lines,
                    amount,
                    points: amount / 100,
                    submit_at_ms: rng.gen_range(0..=self.arrival_ms),
                    cancel_after_ms: None,
                }
            })
            .collect();
        // What happens after payment is drawn from a stream of its own, so the
        // orders themselves are the same whatever these rates are.
        let mut after = ChaCha8Rng::seed_from_u64(seed ^ 0x6166_7465_722d_7061);
        for o in &mut orders {
            for l in &mut o.lines {
                l.undeliverable = after.gen_bool(self.undeliverable_rate);
            }
            if !self.partial_fulfilment && o.lines.iter().any(|l| l.undeliverable) {
                o.lines.iter_mut().for_each(|l| l.undeliverable = true);
            }
            let cancels = after.gen_bool(self.cancel_rate);
            o.cancel_after_ms = cancels.then(|| after.gen_range(0..=self.cancel_within_ms));
        }
        orders.sort_by_key(|o| (o.submit_at_ms, o.id));
        Workload { balances, stock, prices, orders }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_pure_and_some_orders_must_fail() {
        let spec = WorkloadSpec::default();
        let w = spec.generate(3);
        assert_eq!(w, spec.generate(3));
        assert_ne!(w, spec.generate(4));
        assert_eq!(w.orders.len(), 20);
        // Demand exceeds supply on average: the workload exercises failure paths.
        let demand: i64 = w.orders.iter().map(Order::units).sum();
        assert!(w.orders.iter().any(|o| o.lines.len() > 1), "multi-line orders");
        let supply: i64 = w.stock.iter().sum();
        assert!(demand > supply, "demand {demand} supply {supply}");
        for o in &w.orders {
            assert_eq!(o.lines.iter().map(|l| l.amount).sum::<i64>(), o.amount, "lines price the order");
        }
    }

    #[test]
    fn short_lines_fail_whole_orders_unless_partial_fulfilment() {
        let spec = WorkloadSpec { orders: 400, undeliverable_rate: 0.3, ..WorkloadSpec::default() };
        let whole = spec.generate(1);
        assert!(whole.orders.iter().all(|o| o.undeliverable() || o.short_lines().next().is_none()));
        assert!(whole.orders.iter().any(Order::undeliverable));
        let partial = WorkloadSpec { partial_fulfilment: true, ..spec.clone() }.generate(1);
        let some = partial.orders.iter().find(|o| !o.undeliverable() && o.short_lines().next().is_some());
        let o = some.expect("an order shipped short");
        assert!(o.due() < o.amount && o.due() > 0);
        // The orders themselves do not change with what happens after payment.
        let strip = |w: &Workload| -> Vec<(u32, i64)> {
            w.orders.iter().flat_map(|o| o.lines.iter().map(|l| (l.sku, l.qty))).collect()
        };
        assert_eq!(strip(&whole), strip(&partial));
        assert_eq!(strip(&whole), strip(&WorkloadSpec { undeliverable_rate: 0.0, ..spec }.generate(1)));
    }

    #[test]
    fn files_written_before_lines_had_amounts_still_load() {
        let line = Line { sku: 0, qty: 2, amount: 0, undeliverable: false };
        let o = Order {
            id: 0,
            customer: 0,
            lines: vec![line, line],
            amount: 40,
            points: 0,
            submit_at_ms: 0,
            cancel_after_ms: None,
        };
        let mut w = Workload { balances: vec![100], stock: vec![5], prices: vec![10], orders: vec![o] };
        w.normalize();
        assert_eq!(w.orders[0].lines[0].amount, 40, "the first line carries the amount");
        assert_eq!(w.orders[0].due(), 40);
    }
}
