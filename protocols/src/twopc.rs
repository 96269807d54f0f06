//! Two-phase commit (Gray, "Notes on Data Base Operating Systems", 1978; XA),
//! the baseline the other protocols are measured against.
//!
//! The coordinator is TCC's ([`tcc::coordinate`]) with [`Flavor::TwoPc`]: it
//! logs the transaction, asks every participant to **prepare** at once — hold
//! the stock, authorize the money, promise the points, each under a row lock
//! (the SKU's row, the customer's account) — and logs commit if all voted yes,
//! abort otherwise (no answer is a no). Then it commits or aborts every
//! participant until each has answered; the locks go with the decision.
//!
//! The honest cost: a prepared participant may not decide alone. If the
//! coordinator dies between prepare and decision, the locks and reservations
//! stay until it recovers (presumed abort: an undecided transaction is rolled
//! back), and every other order for that SKU or customer waits on the lock and
//! gives up after the lock-wait timeout. That shows in lock-seconds, reserved
//! stock, held money and cancelled orders, not in a broken invariant.

use crate::shop::Shop;
use crate::stats::Stats;
use crate::tcc::{self, Flavor};
use faultline_sim::{NodeCtx, ReplicaSet};
use std::sync::Arc;

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, shop: Shop, stats: Arc<Stats>) {
    tcc::coordinate(ctx, db, shop, stats, Flavor::TwoPc).await
}
