//! A node's mailbox: messages on their way to its reader, held in due order
//! and handed over at their due time. The sender puts a message straight in
//! and sets the madsim timer that wakes the reader when it is due, so the
//! reader runs once a message, at its due time — not also when it is sent
//! (that was a third of all task polls) — and no task is spawned per message
//! in flight (a spawn and two polls a message).

use crate::rpc::Delivery;
use crate::world::Sim;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::time::Instant;

/// One mailbox, shared by its senders (through the world) and its one reader.
#[derive(Clone, Default)]
pub(crate) struct Mailbox(Arc<Mutex<Held>>);

#[derive(Default)]
struct Held {
    messages: BinaryHeap<Reverse<InFlight>>,
    /// Sending order, which breaks ties between messages due at one instant.
    sent: u64,
    /// The reader's task, once it has looked: what a message's timer wakes.
    reader: Option<Waker>,
}

struct InFlight {
    due: Instant,
    sent: u64,
    delivery: Delivery,
}

impl Mailbox {
    /// Puts `delivery` on its way; its reader is woken when it is due (`now`:
    /// the simulated time it is sent at).
    pub(crate) fn post(&self, delivery: Delivery, now: Instant) {
        let mut held = self.0.lock().unwrap();
        let due = delivery.0.due;
        held.sent += 1;
        let sent = held.sent;
        held.messages.push(Reverse(InFlight { due, sent, delivery }));
        // Before the reader's first look there is no one to wake: that look
        // sets a timer for every message held.
        if let Some(reader) = &held.reader {
            wake_at(reader, due, now);
        }
    }

    /// The next message whose time has come: the earliest due, then the
    /// earliest sent. Pending until one is due.
    pub(crate) async fn next(&self, sim: &Sim) -> Delivery {
        // Simulated time stands still within a poll: read it once a poll.
        poll_fn(|cx| self.poll_next(cx, sim.instant())).await
    }

    /// [`Mailbox::next`], polled with the simulated time `now`.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>, now: Instant) -> Poll<Delivery> {
        let mut held = self.0.lock().unwrap();
        if !held.reader.as_ref().is_some_and(|r| r.will_wake(cx.waker())) {
            // The reader's first look (or a new reader's: the timers set so far
            // wake someone else): set a timer for each message held.
            for m in held.messages.iter() {
                wake_at(cx.waker(), m.0.due, now);
            }
            held.reader = Some(cx.waker().clone());
        }
        match held.messages.peek() {
            Some(Reverse(first)) if first.due <= now => {
                Poll::Ready(held.messages.pop().expect("just peeked").0.delivery)
            }
            _ => Poll::Pending,
        }
    }
}

/// Wakes `reader` at `due` (`now`: the simulated time): now if it is due
/// already, else by a madsim timer, which cannot be cancelled (and is at
/// least 1 ms away, hence the wake at once for what is due).
pub(crate) fn wake_at(reader: &Waker, due: Instant, now: Instant) {
    if due <= now {
        reader.wake_by_ref();
    } else {
        madsim::time::wake_at(due, reader);
    }
}

impl PartialEq for InFlight {
    fn eq(&self, other: &InFlight) -> bool {
        (self.due, self.sent) == (other.due, other.sent)
    }
}

impl Eq for InFlight {}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &InFlight) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for InFlight {
    fn cmp(&self, other: &InFlight) -> Ordering {
        (self.due, self.sent).cmp(&(other.due, other.sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::Envelope;
    use crate::trace::NodeId;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;
    use std::time::Duration;

    /// Counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn now() -> Instant {
        madsim::time::TimeHandle::current().now_instant()
    }

    fn message(call: u64, due: Instant) -> Delivery {
        (Envelope::bare(call, due), NodeId(0))
    }

    #[test]
    fn a_message_is_handed_over_at_its_due_time_in_sending_order() {
        madsim::runtime::Runtime::new().block_on(async {
            let (mailbox, wakes) = (Mailbox::default(), Arc::new(Wakes::default()));
            let waker = Waker::from(wakes.clone());
            let mut cx = Context::from_waker(&waker);
            let t0 = now();
            let (soon, later) = (t0 + Duration::from_millis(5), t0 + Duration::from_millis(9));
            // Posted before the reader first looks: its first look sets the timers.
            mailbox.post(message(1, later), t0);
            assert!(mailbox.poll_next(&mut cx, t0).is_pending(), "nothing is due yet");
            mailbox.post(message(2, soon), t0);
            mailbox.post(message(3, soon), t0);
            assert_eq!(wakes.0.load(SeqCst), 0, "a message due later wakes no one now");
            madsim::time::sleep(Duration::from_millis(5)).await;
            assert!(wakes.0.load(SeqCst) >= 1, "the timers woke the reader");
            let take = |cx: &mut Context<'_>, at| match mailbox.poll_next(cx, at) {
                Poll::Ready((env, _)) => Some(env.call()),
                Poll::Pending => None,
            };
            assert_eq!(take(&mut cx, soon), Some(2), "due first, sent first");
            assert_eq!(take(&mut cx, soon), Some(3));
            assert_eq!(take(&mut cx, soon), None, "the last is not due yet");
            assert_eq!(take(&mut cx, later), Some(1));
            // One due already wakes the reader at once.
            let before = wakes.0.load(SeqCst);
            mailbox.post(message(4, later), later);
            assert_eq!(wakes.0.load(SeqCst), before + 1);
            assert_eq!(take(&mut cx, later), Some(4));
        });
    }
}
