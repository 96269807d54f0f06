//! PCT-style exploration of message orderings (after Burckhardt et al., "A
//! Randomized Scheduler with Probabilistic Guarantees of Finding Bugs",
//! ASPLOS 2010). PCT lowers a thread's priority at a few random steps; here a
//! *change point* lowers one order's chain at one random message: that message
//! is held back (`delay`), or its receiver stalls (`pause-receiver`), for long
//! enough that timeouts fire and the rest of the run moves past it.
//!
//! Every order gets [`CHANGE_POINTS`] change points, each at a message drawn
//! uniformly from its first [`STEPS`]. So a bug that needs one particular
//! message of one order held back — a Try overtaken by its Cancel, a write
//! landing after its caller gave up — is hit in a run with probability at
//! least 1/STEPS times the chance the hold is long enough (about 3/4 for a
//! 1 s timeout), for every order that can carry it: with 20 orders, about one
//! run in seven, whatever the fault rates. Random faults find such a bug only
//! when a spike or a pause happens to fall on that message.

use faultline_sim::{Fault, MessageAction, TimedFault};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The messages of an order a change point is drawn among: about one order's
/// life in the built-in protocols (TCC: ~90 messages, stores included).
pub const STEPS: u32 = 100;
/// Change points per order: PCT's d - 1, for bugs of depth d = 2. (Two per
/// order, measured on `everything`, found the zoo's TCC races no sooner.)
pub const CHANGE_POINTS: u32 = 1;
/// How long a change point holds its message or its receiver, in ms: from
/// half a step timeout to past three of them (a coordinator's retries).
pub const HOLD_MS: (u64, u64) = (500, 4_000);

/// The change points of `seed` for `orders`, armed at the start of the run.
pub fn change_points(seed: u64, orders: impl IntoIterator<Item = u32>) -> Vec<TimedFault> {
    let mut points = Vec::new();
    for order in orders {
        // A stream per order: the plan's other faults are drawn as without
        // PCT, and an order's point does not depend on which orders came before.
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7063_742d_6368_616e ^ u64::from(order) << 20);
        for _ in 0..CHANGE_POINTS {
            let (nth, hold, pause) =
                (rng.gen_range(1..=STEPS), rng.gen_range(HOLD_MS.0..=HOLD_MS.1), rng.gen_bool(0.5));
            let action = if pause { MessageAction::PauseReceiver } else { MessageAction::Delay };
            points.push(TimedFault { at_ms: 0, fault: Fault::OrderMessage { order, nth, action, ms: hold } });
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_gets_its_change_points_drawn_from_the_seed() {
        let points = change_points(7, 0..1000);
        assert_eq!(points.len(), 1000 * CHANGE_POINTS as usize);
        assert_eq!(points, change_points(7, 0..1000), "same seed, same points");
        assert_ne!(points, change_points(8, 0..1000));
        let paused = points
            .iter()
            .filter(|p| matches!(p.fault, Fault::OrderMessage { action: MessageAction::PauseReceiver, .. }));
        assert!((400..600).contains(&paused.count()), "about half stall the receiver");
        for p in &points {
            let Fault::OrderMessage { nth, ms, .. } = p.fault else { panic!("{p:?}") };
            assert!((1..=STEPS).contains(&nth) && (HOLD_MS.0..=HOLD_MS.1).contains(&ms));
        }
        // An order's point does not depend on the orders before it.
        let late = change_points(7, 500..1000);
        let from_500 = |p: &&TimedFault| matches!(p.fault, Fault::OrderMessage { order, .. } if order >= 500);
        assert_eq!(late, points.iter().filter(from_500).cloned().collect::<Vec<_>>());
    }
}
