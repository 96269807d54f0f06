//! The shop's inputs: customers with balances, SKUs with limited stock, and
//! orders arriving over simulated time. Drawn from a [`WorkloadSpec`] and a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One order as the customer placed it. Money is in cents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u32,
    pub customer: u32,
    pub sku: u32,
    pub qty: i64,
    pub amount: i64,
    pub points: i64,
    /// When the client first submits it, in ms after the start.
    pub submit_at_ms: u64,
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
    /// Units per order.
    pub qty: (i64, i64),
    /// Orders arrive uniformly over this many ms from the start.
    pub arrival_ms: u64,
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
            arrival_ms: 5_000,
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
    /// Checks an explicit workload (a shrunk counterexample's): every order
    /// names an existing customer and SKU, has units, and ids are unique.
    pub fn validate(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        for o in &self.orders {
            if o.customer as usize >= self.balances.len() || o.sku as usize >= self.stock.len() {
                return Err(format!("order {}: no customer {} or sku {}", o.id, o.customer, o.sku));
            }
            if o.qty < 1 || o.amount < 0 || o.points < 0 {
                return Err(format!("order {}: qty, amount and points must be positive", o.id));
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
                let sku = rng.gen_range(0..self.skus);
                let qty = rng.gen_range(self.qty.0..=self.qty.1);
                let amount = prices[sku as usize] * qty;
                Order {
                    id,
                    customer: rng.gen_range(0..self.customers),
                    sku,
                    qty,
                    amount,
                    points: amount / 100,
                    submit_at_ms: rng.gen_range(0..=self.arrival_ms),
                }
            })
            .collect();
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
        let demand: i64 = w.orders.iter().map(|o| o.qty).sum();
        let supply: i64 = w.stock.iter().sum();
        assert!(demand > supply, "demand {demand} supply {supply}");
    }
}
