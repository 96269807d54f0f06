//! The calls a node waits on: each one's deadline, and its answer on the way.
//! A sender puts an answer straight into its call's slot and sets the timer
//! that wakes the caller when it is due, so an answer costs the caller one
//! poll (a response pump in between, handing over through a channel, cost a
//! second poll and a channel a call). What no call waits for — an answer
//! after its call gave up, a second copy — goes to the node's late mailbox,
//! whose reader traces it as late when it is due. The same reader gives up on
//! calls at their deadlines: a timeout that is gone when the call is answered.
//! (madsim's timers cannot be cancelled: one per call kept every timeout in
//! its timer heap till it expired, and in a flash sale that heap was the
//! costliest thing we ran.)

use crate::flight::{wake_at, Mailbox};
use crate::rpc::Delivery;
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::time::Instant;

/// One node's waiting calls, shared by its callers, the nodes that answer
/// them, and its late-answer reader (the pump).
pub(crate) struct Calls {
    /// By call id, which is unique in the world (never iterated).
    waiting: FxHashMap<u64, Waiting>,
    /// The calls by deadline, then call id: which to give up on first. An
    /// answered call stays till it comes first (removing it from the middle
    /// of an ordered set cost more than all the rest of a call's bookkeeping).
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The earliest instant a timer will wake the pump at, if one will.
    armed: Option<Instant>,
    /// The pump's waker, for the timers: known once the pump has run.
    pump: Option<Waker>,
    /// Where answers go that no call takes: the pump reads it.
    late: Mailbox,
}

struct Waiting {
    deadline: Instant,
    /// The caller's task, once it has looked: what its answer's timer wakes.
    caller: Option<Waker>,
    /// Its answer, on its way till the envelope's `due`.
    answer: Option<Delivery>,
}

impl Calls {
    /// No calls yet; answers no call takes go to `late`.
    pub(crate) fn new(late: Mailbox) -> Calls {
        Calls { waiting: FxHashMap::default(), deadlines: BinaryHeap::new(), armed: None, pump: None, late }
    }

    /// Waits for call `call`'s answer until `deadline`.
    pub(crate) fn add(&mut self, call: u64, deadline: Instant) {
        let waiting = Waiting { deadline, caller: None, answer: None };
        self.waiting.insert(call, waiting);
        self.deadlines.push(Reverse((deadline, call)));
        self.arm(deadline);
    }

    /// Puts an answer on its way to its call (`now`: the simulated time), whose
    /// caller is woken when it is due. Refused, and handed back, when the call
    /// waits no more or already has an answer due no later; an answer it
    /// already had, due later, goes to the late mailbox instead.
    pub(crate) fn offer(&mut self, delivery: Delivery, now: Instant) -> Result<(), Delivery> {
        let due = delivery.0.due;
        let Some(w) = self.waiting.get_mut(&delivery.0.call()) else {
            return Err(delivery);
        };
        // Two copies due at one instant: the one sent first is taken.
        if w.answer.as_ref().is_some_and(|held| held.0.due <= due) {
            return Err(delivery);
        }
        if let Some(caller) = &w.caller {
            wake_at(caller, due, now);
        }
        if let Some(displaced) = w.answer.replace(delivery) {
            self.late.post(displaced, now);
        }
        Ok(())
    }

    /// [`Calls::offer`], an answer refused going to the late mailbox.
    pub(crate) fn deliver(&mut self, delivery: Delivery, now: Instant) {
        if let Err(late) = self.offer(delivery, now) {
            self.late.post(late, now);
        }
    }

    /// The caller's look at `now`: its answer once due, `None` once the call
    /// is given up (its deadline passed first). Pending in between, with a
    /// timer set to wake the caller when its answer is due.
    pub(crate) fn poll_answer(
        &mut self,
        call: u64,
        cx: &Context<'_>,
        now: Instant,
    ) -> Poll<Option<Delivery>> {
        let Some(w) = self.waiting.get_mut(&call) else {
            return Poll::Ready(None);
        };
        if w.answer.as_ref().is_some_and(|a| a.0.due <= now) {
            return Poll::Ready(w.answer.take());
        }
        if w.deadline <= now {
            self.give_up(call, now);
            return Poll::Ready(None);
        }
        if !w.caller.as_ref().is_some_and(|c| c.will_wake(cx.waker())) {
            // The caller's first look (an answer offered before it set no
            // timer), or a new task's: the timers set so far wake someone else.
            if let Some(answer) = &w.answer {
                wake_at(cx.waker(), answer.0.due, now);
            }
            w.caller = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Forgets call `call`, answered or abandoned by its caller: an answer
    /// still on its way is dropped with it, untraced, as the caller is gone.
    pub(crate) fn forget(&mut self, call: u64) {
        self.waiting.remove(&call);
    }

    /// The pump's turn at `now`: gives up on every call whose deadline has
    /// passed, waking its caller to see it, and makes sure a timer wakes the
    /// pump at the next deadline. An answer due at its call's deadline is
    /// in time: its caller, woken for it, takes it.
    pub(crate) fn expire(&mut self, now: Instant, cx: &Context<'_>) {
        if !self.pump.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.pump = Some(cx.waker().clone());
        }
        if self.armed.is_some_and(|at| at <= now) {
            self.armed = None;
        }
        while let Some(&Reverse((deadline, call))) = self.deadlines.peek() {
            let Some(w) = self.waiting.get(&call) else {
                self.deadlines.pop(); // answered, or given up by its caller
                continue;
            };
            let due = w.answer.as_ref().is_some_and(|a| a.0.due <= now);
            if deadline > now {
                self.arm(deadline);
                break;
            }
            self.deadlines.pop();
            if !due {
                if let Some(caller) = self.give_up(call, now) {
                    caller.wake();
                }
            }
        }
    }

    /// Gives up on `call`: an answer still on its way goes to the late
    /// mailbox. Returns the caller's waker, if it has looked.
    fn give_up(&mut self, call: u64, now: Instant) -> Option<Waker> {
        let w = self.waiting.remove(&call)?;
        if let Some(answer) = w.answer {
            self.late.post(answer, now);
        }
        w.caller
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
    use crate::rpc::Envelope;
    use crate::trace::NodeId;
    use std::time::Duration;

    /// Runs `f` inside a madsim runtime, where sleeps register timers.
    fn in_sim(f: impl FnOnce(Instant) + Send + 'static) {
        madsim::runtime::Runtime::new()
            .block_on(async move { f(madsim::time::TimeHandle::current().now_instant()) });
    }

    /// No calls, the mailbox their refused answers go to, and a look that
    /// wakes no one.
    fn calls() -> (Calls, Mailbox, Context<'static>) {
        let late = Mailbox::default();
        (Calls::new(late.clone()), late, Context::from_waker(Waker::noop()))
    }

    fn answer(call: u64, due: Instant) -> Delivery {
        (Envelope::bare(call, due), NodeId(0))
    }

    fn taken(polled: Poll<Option<Delivery>>) -> Option<Option<Instant>> {
        match polled {
            Poll::Ready(answer) => Some(answer.map(|a| a.0.due)),
            Poll::Pending => None,
        }
    }

    #[test]
    fn an_answer_is_taken_when_due_and_a_call_past_its_deadline_times_out() {
        in_sim(|now| {
            let ms = |n| now + Duration::from_millis(n);
            let (mut calls, _, cx) = calls();
            calls.add(1, ms(10));
            calls.add(2, ms(20));
            assert!(calls.offer(answer(1, ms(5)), now).is_ok());
            assert_eq!(taken(calls.poll_answer(1, &cx, now)), None, "not due yet");
            assert_eq!(taken(calls.poll_answer(1, &cx, ms(5))), Some(Some(ms(5))));
            calls.forget(1);
            assert!(calls.offer(answer(1, ms(6)), ms(5)).is_err(), "an answered call waits no more");
            calls.expire(ms(20), &cx);
            assert_eq!(taken(calls.poll_answer(2, &cx, ms(20))), Some(None), "call 2 timed out");
            assert!(calls.offer(answer(2, ms(21)), ms(20)).is_err());
            assert!(calls.waiting.is_empty());
            calls.expire(ms(30), &cx);
            assert!(calls.deadlines.is_empty(), "an answered call's deadline goes when it comes first");
        });
    }

    #[test]
    fn the_sooner_of_two_copies_is_taken_and_the_other_goes_late() {
        in_sim(|now| {
            let ms = |n| now + Duration::from_millis(n);
            let (mut calls, late, cx) = calls();
            calls.add(1, ms(50));
            assert!(calls.offer(answer(1, ms(9)), now).is_ok());
            assert!(calls.offer(answer(1, ms(9)), now).is_err(), "a tie goes to the copy sent first");
            assert!(calls.offer(answer(1, ms(4)), now).is_ok(), "a sooner copy displaces it");
            assert_eq!(taken(calls.poll_answer(1, &cx, ms(9))), Some(Some(ms(4))));
            let later = late.poll_next(&mut Context::from_waker(Waker::noop()), ms(9));
            assert!(matches!(later, Poll::Ready((env, _)) if env.due == ms(9)), "the displaced copy is late");
        });
    }

    #[test]
    fn an_answer_due_at_the_deadline_is_in_time_and_one_after_it_is_late() {
        in_sim(|now| {
            let ms = |n| now + Duration::from_millis(n);
            let (mut calls, late, cx) = calls();
            calls.add(1, ms(10));
            calls.add(2, ms(10));
            assert!(calls.offer(answer(1, ms(10)), now).is_ok());
            assert!(calls.offer(answer(2, ms(11)), now).is_ok());
            calls.expire(ms(10), &cx);
            assert_eq!(taken(calls.poll_answer(1, &cx, ms(10))), Some(Some(ms(10))), "in time");
            assert_eq!(taken(calls.poll_answer(2, &cx, ms(10))), Some(None), "given up");
            let mut look = Context::from_waker(Waker::noop());
            assert!(late.poll_next(&mut look, ms(10)).is_pending());
            assert!(matches!(late.poll_next(&mut look, ms(11)), Poll::Ready((env, _)) if env.call() == 2));
        });
    }

    #[test]
    fn the_pump_is_armed_for_the_earliest_deadline() {
        in_sim(|now| {
            let (mut calls, _, cx) = calls();
            calls.add(1, now + Duration::from_millis(30));
            assert_eq!(calls.armed, None, "no timer before the pump has run");
            calls.expire(now, &cx);
            assert_eq!(calls.armed, Some(now + Duration::from_millis(30)));
            calls.add(2, now + Duration::from_millis(50));
            assert_eq!(calls.armed, Some(now + Duration::from_millis(30)), "a later deadline needs no timer");
            calls.add(3, now + Duration::from_millis(5));
            assert_eq!(calls.armed, Some(now + Duration::from_millis(5)), "an earlier one gets its own");
            calls.expire(now + Duration::from_millis(5), &cx);
            assert_eq!(calls.armed, Some(now + Duration::from_millis(30)), "re-armed for what is left");
        });
    }
}
