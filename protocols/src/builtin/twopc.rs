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

use super::tcc::{self, Flavor};
use crate::check::GroundTruth;
use crate::mutant::{self, Mutant};
use crate::protocol::{CrashPoint, Deployed, Protocol, Resource, Setup, Unsettled};
use crate::shop::{Service, Shop};
use crate::stats::Stats;
use faultline_sim::{NodeCtx, ReplicaSet, Value, World};
use std::sync::Arc;

pub async fn serve(ctx: NodeCtx, db: Arc<ReplicaSet>, shop: Shop, stats: Arc<Stats>) {
    tcc::coordinate(ctx, db, shop, stats, Flavor::TwoPc).await
}

/// 2PC, as the harness sees it.
pub struct TwoPc;

impl Protocol for TwoPc {
    fn name(&self) -> &'static str {
        "2pc"
    }

    fn describe(&self) -> &'static str {
        "two-phase commit: prepare every participant under row locks, then commit or abort all (baseline)"
    }

    fn deploy(&self, world: &mut World, setup: &Setup) -> Deployed {
        super::with_coordinator(world, setup, serve)
    }

    fn unsettled(&self, truth: &GroundTruth) -> Vec<Unsettled> {
        tcc::unsettled(truth, Flavor::TwoPc)
    }

    /// Reserved stock, and the row locks (`lock/…`) a prepare takes in each
    /// participant's store until the decision.
    fn held(&self, service: Service, key: &str, value: Option<&Value>) -> Option<(Resource, i64)> {
        let lock = key.starts_with("lock/").then_some((Resource::RowLock, value.is_some() as i64));
        lock.or_else(|| tcc::reserved(service, key, value))
    }

    fn crash_points(&self) -> &'static [CrashPoint] {
        &tcc::CRASH_POINTS
    }

    fn mutants(&self) -> &'static [Mutant] {
        &[mutant::STOCK_CHECK_OFF_BY_ONE]
    }
}
