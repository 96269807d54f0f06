//! The calls a node waits on, each with its deadline. The node's response pump
//! hands each answer to its call and gives up on a call once its deadline has
//! passed: a timeout that is gone when the call is answered. (madsim's timers
//! cannot be cancelled: one per call kept every timeout in its timer heap till
//! it expired, and in a flash sale that heap was the costliest thing we ran.)

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Where a call's answer goes; dropped unanswered, the call timed out.
pub(crate) type Answer = oneshot::Sender<Box<dyn Any + Send + Sync>>;

/// One node's waiting calls, shared by its callers and its response pump.
#[derive(Default)]
pub(crate) struct Calls {
    waiting: BTreeMap<u64, (Instant, Answer)>,
    /// The same calls by deadline, then call id: which to give up on first.
    deadlines: BTreeSet<(Instant, u64)>,
    /// The earliest instant a timer will wake the pump at, if one will.
    armed: Option<Instant>,
    /// The pump's waker, for the timers: known once the pump has run.
    pump: Option<Waker>,
}

impl Calls {
    /// Waits for call `call`'s answer on `answer` until `deadline`.
    pub(crate) fn add(&mut self, call: u64, deadline: Instant, answer: Answer) {
        self.waiting.insert(call, (deadline, answer));
        self.deadlines.insert((deadline, call));
        self.arm(deadline);
    }

    /// Where call `call`'s answer goes, if the call still waits (not timed out).
    pub(crate) fn take(&mut self, call: u64) -> Option<Answer> {
        let (deadline, answer) = self.waiting.remove(&call)?;
        self.deadlines.remove(&(deadline, call));
        Some(answer)
    }

    /// The pump's turn at `now`: gives up on every call whose deadline has
    /// passed (its caller sees the answer channel closed), and makes sure a
    /// timer wakes the pump at the next deadline.
    pub(crate) fn expire(&mut self, now: Instant, cx: &Context<'_>) {
        if !self.pump.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.pump = Some(cx.waker().clone());
        }
        if self.armed.is_some_and(|at| at <= now) {
            self.armed = None;
        }
        while let Some(&(deadline, call)) = self.deadlines.first() {
            if deadline > now {
                self.arm(deadline);
                break;
            }
            self.deadlines.pop_first();
            self.waiting.remove(&call);
        }
    }

    /// Sets a timer that wakes the pump at `at`, unless one will wake it sooner.
    fn arm(&mut self, at: Instant) {
        let Some(pump) = &self.pump else {
            return; // the pump's first turn arms it
        };
        if self.armed.is_some_and(|armed| armed <= at) {
            return;
        }
        // Polling a sleep once registers its timer; dropping it leaves the
        // timer registered. madsim rounds a sleep up to 1 ms from now, so a
        // deadline less than 1 ms after the pump's last turn is seen up to
        // 1 ms late (unless a message wakes the pump sooner).
        let mut sleep = tokio::time::sleep_until(at);
        let _ = Pin::new(&mut sleep).poll(&mut Context::from_waker(pump));
        self.armed = Some(sleep.deadline());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Runs `f` inside a madsim runtime, where sleeps register timers.
    fn in_sim(f: impl FnOnce() + Send + 'static) {
        madsim::runtime::Runtime::new().block_on(async move { f() });
    }

    #[test]
    fn an_answered_call_is_gone_and_a_late_one_times_out() {
        in_sim(|| {
            let now = madsim::time::TimeHandle::current().now_instant();
            let mut calls = Calls::default();
            let (a, mut a_rx) = oneshot::channel();
            let (b, mut b_rx) = oneshot::channel();
            calls.add(1, now + Duration::from_millis(10), a);
            calls.add(2, now + Duration::from_millis(20), b);
            let cx = Context::from_waker(Waker::noop());
            calls.expire(now, &cx);
            assert!(calls.take(1).is_some(), "call 1 still waits before its deadline");
            assert!(calls.take(1).is_none(), "an answered call waits no more");
            calls.expire(now + Duration::from_millis(20), &cx);
            assert!(calls.take(2).is_none(), "call 2 timed out at its deadline");
            assert!(b_rx.try_recv().is_err() && a_rx.try_recv().is_err());
            assert!(calls.waiting.is_empty() && calls.deadlines.is_empty());
        });
    }

    #[test]
    fn the_pump_is_armed_for_the_earliest_deadline() {
        in_sim(|| {
            let now = madsim::time::TimeHandle::current().now_instant();
            let mut calls = Calls::default();
            let cx = Context::from_waker(Waker::noop());
            calls.add(1, now + Duration::from_millis(30), oneshot::channel().0);
            assert_eq!(calls.armed, None, "no timer before the pump has run");
            calls.expire(now, &cx);
            assert_eq!(calls.armed, Some(now + Duration::from_millis(30)));
            calls.add(2, now + Duration::from_millis(50), oneshot::channel().0);
            assert_eq!(calls.armed, Some(now + Duration::from_millis(30)), "a later deadline needs no timer");
            calls.add(3, now + Duration::from_millis(5), oneshot::channel().0);
            assert_eq!(calls.armed, Some(now + Duration::from_millis(5)), "an earlier one gets its own");
            calls.expire(now + Duration::from_millis(5), &cx);
            assert_eq!(calls.armed, Some(now + Duration::from_millis(30)), "re-armed for what is left");
        });
    }
}
