//! Messages on their way to one mailbox's reader, handed over at their due
//! time, earliest first. The reader's own loop holds them and madsim wakes it
//! at each due time: no task per message in flight (a spawn and two polls a
//! message, most of what a round trip cost beside madsim's own work).

use crate::rpc::Delivery;
use crate::world::Sim;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One mailbox's messages, read as they are sent and held till they are due.
pub(crate) struct Flight {
    inbox: mpsc::UnboundedReceiver<Delivery>,
    held: BinaryHeap<Reverse<Held>>,
    /// Sending order, which breaks ties between messages due at one instant.
    sent: u64,
    /// The world dropped the mailbox's sending end: nothing more will come.
    closed: bool,
}

struct Held {
    due: Instant,
    sent: u64,
    delivery: Delivery,
}

impl Flight {
    pub(crate) fn new(inbox: mpsc::UnboundedReceiver<Delivery>) -> Flight {
        Flight { inbox, held: BinaryHeap::new(), sent: 0, closed: false }
    }

    /// The next message whose time has come: the earliest due, then the
    /// earliest sent. Pending for ever once the mailbox is closed and empty.
    pub(crate) async fn next(&mut self, sim: &Sim) -> Delivery {
        // Simulated time stands still within a poll: read it once a poll.
        poll_fn(|cx| self.poll_next(cx, sim.instant())).await
    }

    /// [`Flight::next`], polled with the simulated time `now`.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Delivery> {
        while !self.closed {
            match self.inbox.poll_recv(cx) {
                Poll::Ready(Some(delivery)) => self.hold(delivery, now, cx),
                Poll::Ready(None) => self.closed = true,
                Poll::Pending => break,
            }
        }
        match self.held.peek() {
            Some(Reverse(first)) if first.due <= now => {
                Poll::Ready(self.held.pop().expect("just peeked").0.delivery)
            }
            _ => Poll::Pending,
        }
    }

    fn hold(&mut self, delivery: Delivery, now: Instant, cx: &mut Context<'_>) {
        let due = delivery.0.due;
        if due > now {
            // A timer that wakes this loop when the message is due. madsim's
            // timers cannot be cancelled: polling the sleep once registers
            // it, and dropping it leaves it registered.
            let _ = Pin::new(&mut tokio::time::sleep_until(due)).poll(cx);
        }
        self.sent += 1;
        self.held.push(Reverse(Held { due, sent: self.sent, delivery }));
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        (self.due, self.sent) == (other.due, other.sent)
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Held) -> Ordering {
        (self.due, self.sent).cmp(&(other.due, other.sent))
    }
}
