//! Typed request/response messaging between nodes.
//!
//! Each node binds one [`Endpoint`], whose `Port` the world knows: a
//! mailbox for requests, and the calls the node waits on. A message is put
//! straight where its receiver takes it, with the time it is due (faultline
//! draws every latency, loss and duplication itself): a request into the
//! mailbox, whose reader takes it in then (`flight`); an answer into
//! its call's slot, whose caller takes it in then (`calls`). The
//! sender sets the timer that wakes the reader or the caller. madsim's own
//! sockets are not used: each of their sends and receives sleeps at least
//! 1 ms of simulated time, which capped every node at ~1,000 messages a
//! simulated second and made flash sales collapse under their own retries.
//! A per-node pump traces the answers no call waits for as late, and gives up
//! on calls at their deadlines: a lost or partitioned peer never blocks a caller.

use crate::calls::Calls;
use crate::fault::MessageAction;
use crate::flight::Mailbox;
use crate::stream::{Draw, Purpose};
use crate::trace::{DropReason, EventKind, NodeId};
use crate::world::Sim;
use serde::Serialize;
use std::any::Any;
use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

/// Which of a node's two mailboxes a message goes to: the requests, or the
/// late answers (an answer is offered to its call first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Tag {
    Request,
    Response,
}

/// A message on its way, and who sent it.
pub(crate) type Delivery = (Envelope, NodeId);

/// Anything that crosses the network. `label` names it in the trace; it must be
/// cheap (a static string), because it is taken for every message.
pub trait Message: Clone + Serialize + Send + Sync + 'static {
    fn label(&self) -> &'static str;
}

/// A message that expects a typed answer.
pub trait Request: Message {
    type Response: Message;
}

/// Why a call produced no answer. The request may or may not have been applied:
/// callers must treat the outcome as unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RpcError {
    Timeout,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no answer before the timeout (outcome unknown)")
    }
}

impl std::error::Error for RpcError {}

pub(crate) struct Envelope {
    call: u64,
    label: &'static str,
    body: Box<dyn Any + Send + Sync>,
    /// The order the sender worked for: the handler works for it too.
    order: Option<u32>,
    /// When it reaches the receiver: after its drawn latency, and a targeted
    /// fault's delay. (It is in the mailbox at once; the receiver holds it till then.)
    pub(crate) due: tokio::time::Instant,
}

impl Envelope {
    /// A bare message: call `call`, due at `due`.
    #[cfg(test)]
    pub(crate) fn bare(call: u64, due: tokio::time::Instant) -> Envelope {
        Envelope { call, label: "test", body: Box::new(()), order: None, due }
    }

    /// The call it is a request or an answer of.
    pub(crate) fn call(&self) -> u64 {
        self.call
    }
}

/// Where messages to a node go, as the world sees it: requests to its
/// mailbox, answers to the calls it waits on.
pub(crate) struct Port {
    requests: Mailbox,
    calls: Mutex<Calls>,
}

impl Port {
    /// Puts `delivery` on its way to this node (`now`: the time it is sent).
    fn post(&self, tag: Tag, delivery: Delivery, now: tokio::time::Instant) {
        match tag {
            Tag::Request => self.requests.post(delivery, now),
            Tag::Response => self.calls.lock().unwrap().deliver(delivery, now),
        }
    }
}

/// Forgets its call however the call ends: answered, timed out, or its
/// future dropped by the caller.
struct Outstanding<'a> {
    calls: &'a Mutex<Calls>,
    call: u64,
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.calls.lock().unwrap().forget(self.call);
    }
}

/// A node's network endpoint: make calls, serve requests.
pub struct Endpoint {
    sim: Arc<Sim>,
    me: NodeId,
    /// The receiving ends of this node's mailboxes, each taken by the one
    /// loop that reads it.
    inbox: Mutex<BTreeMap<Tag, Mailbox>>,
    /// Where messages to this node go, the calls it waits on among them.
    port: Arc<Port>,
    /// What the node's code keeps in memory beside its endpoint, one value per
    /// type (see [`Endpoint::local`]).
    locals: Mutex<BTreeMap<std::any::TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Endpoint {
    pub(crate) async fn bind(sim: Arc<Sim>, me: NodeId) -> Arc<Endpoint> {
        let (requests, late) = (Mailbox::default(), Mailbox::default());
        let calls = Mutex::new(Calls::new(late.clone()));
        let port = Arc::new(Port { requests: requests.clone(), calls });
        sim.bind_port(me, port.clone());
        let inbox = Mutex::new(BTreeMap::from([(Tag::Request, requests), (Tag::Response, late)]));
        let locals = Mutex::new(BTreeMap::new());
        let ep = Arc::new(Endpoint { sim, me, inbox, port, locals });
        let pump = ep.clone();
        tokio::spawn(async move { pump.route_late().await });
        ep
    }

    pub fn node(&self) -> NodeId {
        self.me
    }

    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    /// This incarnation's one value of type `T`, made on first use: memory a
    /// node's code shares between its tasks (waiters on a lock, say), gone
    /// with the node when it crashes, as its endpoint is.
    pub fn local<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut locals = self.locals.lock().unwrap();
        let value = locals.entry(std::any::TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default()));
        value.clone().downcast::<T>().unwrap_or_else(|_| unreachable!("kept under its own type"))
    }

    /// Sleeps for `local` on this node's (possibly skewed) clock.
    pub async fn sleep(&self, local: Duration) {
        self.sim.sleep_on(self.me, local).await
    }

    /// Sends `req` to `to` and waits at most `timeout` for its answer.
    pub async fn call<R: Request>(
        &self,
        to: NodeId,
        req: R,
        timeout: Duration,
    ) -> Result<R::Response, RpcError> {
        let call = self.sim.next_call();
        let label = req.label();
        // The timeout is measured by this node's clock, which may be skewed.
        let deadline = self.sim.instant() + self.sim.real(self.me, timeout);
        self.port.calls.lock().unwrap().add(call, deadline);
        let _outstanding = Outstanding { calls: &self.port.calls, call };
        self.transmit(to, Tag::Request, call, req).await;
        match self.answer(call).await {
            Some(body) => Ok(*body
                .downcast::<R::Response>()
                .unwrap_or_else(|_| panic!("response to {label} from node {} has the wrong type", to.0))),
            None => {
                self.sim.record(self.me, EventKind::Timeout { to, call, msg: label });
                Err(RpcError::Timeout)
            }
        }
    }

    /// Call `call`'s answer, taken in when it is due; `None` once the call is
    /// given up at its deadline.
    async fn answer(&self, call: u64) -> Option<Box<dyn Any + Send + Sync>> {
        poll_fn(|cx| {
            // Simulated time stands still within a poll: read it once.
            let now = self.sim.instant();
            loop {
                let polled = self.port.calls.lock().unwrap().poll_answer(call, cx, now);
                match polled {
                    Poll::Ready(Some((env, from))) => match self.take_in(env, from) {
                        Some(env) => return Poll::Ready(Some(env.body)),
                        // Cut off on its way: the call waits on (for a copy, say).
                        None => continue,
                    },
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    /// Serves requests of type `R` with `handler`, one task per request, until the
    /// node dies. A node serves one request type (an enum of its operations).
    pub fn serve<R, F, Fut>(self: &Arc<Self>, handler: F)
    where
        R: Request,
        F: Fn(R, NodeId) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R::Response> + Send + 'static,
    {
        let ep = self.clone();
        let handler = Arc::new(handler);
        let requests = self.take_inbox(Tag::Request);
        tokio::spawn(async move {
            loop {
                let (env, from) = requests.next(&ep.sim).await;
                let Some(env) = ep.take_in(env, from) else {
                    continue;
                };
                let (ep, handler) = (ep.clone(), handler.clone());
                // One task per request, from its arrival to its answer, working
                // for the request's order.
                tokio::spawn(crate::order::scope(env.order, async move {
                    let req = *env.body.downcast::<R>().unwrap_or_else(|_| {
                        panic!("node {} got a request {} of a type it does not serve", ep.me.0, env.label)
                    });
                    let rsp = handler(req, from).await;
                    ep.transmit(from, Tag::Response, env.call, rsp).await;
                }));
            }
        });
    }

    /// The response pump: traces every answer that comes when no call waits
    /// for it (after its call gave up, or a second copy) as late, unless its
    /// call waits again (an earlier copy was cut off); then gives up on the
    /// calls whose deadline has passed.
    async fn route_late(self: Arc<Self>) {
        let late = self.take_inbox(Tag::Response);
        poll_fn(|cx| {
            // Simulated time stands still within a poll: read it once.
            let now = self.sim.instant();
            while let Poll::Ready(delivery) = late.poll_next(cx, now) {
                let offered = self.port.calls.lock().unwrap().offer(delivery, now);
                let Err((env, from)) = offered else { continue };
                if let Some(env) = self.take_in(env, from) {
                    let (call, msg, reason) = (env.call, env.label, DropReason::Late);
                    let kind = EventKind::Drop { from, to: self.me, call, msg, reason };
                    self.sim.record_for(self.me, kind, env.order);
                }
            }
            self.port.calls.lock().unwrap().expire(now, cx);
            Poll::<()>::Pending
        })
        .await
    }

    /// The receiving end of mailbox `tag`, for the one loop that reads it.
    fn take_inbox(&self, tag: Tag) -> Mailbox {
        let taken = self.inbox.lock().unwrap().remove(&tag);
        taken.unwrap_or_else(|| panic!("node {} reads its {tag:?} mailbox twice", self.me.0))
    }

    /// Takes in `env`, due now; `None` when the network ate it because the
    /// link was cut while it was in flight. (A receiver that crashed meanwhile
    /// lost it with the loop that held it.)
    fn take_in(&self, env: Envelope, from: NodeId) -> Option<Envelope> {
        let (call, msg, order) = (env.call, env.label, env.order);
        if self.sim.net().link_cut(from, self.me) {
            let reason = DropReason::Partition;
            self.sim.record_for(self.me, EventKind::Drop { from, to: self.me, call, msg, reason }, order);
            return None;
        }
        self.sim.record_for(self.me, EventKind::Recv { from, call, msg }, order);
        Some(env)
    }

    async fn transmit<M: Message>(&self, to: NodeId, tag: Tag, call: u64, msg: M) {
        let label = msg.label();
        // Every message draws its latency, loss, duplication and the copy's
        // latency from its own order's stream on this link, whatever becomes
        // of it: one fault or order more or less moves no other message's draws.
        let draws: [Draw; 4] = self.sim.draws(self.me, Purpose::Message { to });
        // The network's state, looked at once a message: again only after a
        // targeted fault changed it (stalled or crashed the receiver).
        let mut state = self.sim.net();
        let fired = state.target(self.me, to, label, crate::order::current());
        let net = fired.is_empty().then_some(state);
        let mut targeted = None;
        let mut late = Duration::ZERO;
        for t in fired {
            let (me, peer) = (self.sim.name(self.me), self.sim.name(to));
            let detail = match t.aim.order {
                Some(_) => {
                    format!("{} ({me} → {peer} {label}): {:?}", self.sim.aim_text(&t.aim, t.nth), t.action)
                }
                None => format!("{}: {:?}", self.sim.aim_text(&t.aim, t.nth), t.action),
            };
            self.sim.record(self.me, EventKind::Injected { fault: "targeted", detail });
            let ms = Duration::from_millis(t.ms);
            match t.action {
                // The receiver stalls now, with this message on its way to it.
                MessageAction::PauseReceiver => {
                    self.sim.pause(to);
                    self.sim.after(ms, move |s| s.resume(to));
                }
                // The receiver dies now; the message finds it down.
                MessageAction::CrashReceiver => {
                    self.sim.crash(to);
                    self.sim.after(ms, move |s| s.restart(to));
                }
                MessageAction::Delay => late = late.max(ms),
                MessageAction::Drop | MessageAction::Duplicate => targeted = targeted.or(Some(t.action)),
            }
        }
        if targeted == Some(MessageAction::Drop) {
            let reason = DropReason::Targeted;
            self.sim.record(self.me, EventKind::Drop { from: self.me, to, call, msg: label, reason });
            return;
        }
        let (blocked, duplicate, [latency, copy_latency]) = {
            let net = net.unwrap_or_else(|| self.sim.net());
            let latency = |d: Draw| Duration::from_nanos(net.latency_ns(self.me, to, d));
            let lost = draws[1].chance(net.loss_rate).then_some(DropReason::Loss);
            let blocked = net.blocked(self.me, to).or(lost);
            let dup = draws[2].chance(net.dup_rate) || targeted == Some(MessageAction::Duplicate);
            (blocked, dup && blocked.is_none(), [latency(draws[0]), latency(draws[3])])
        };
        if let Some(reason) = blocked {
            let kind = EventKind::Drop { from: self.me, to, call, msg: label, reason };
            self.sim.record(self.me, kind);
            return;
        }
        let kind = match tag {
            Tag::Request => EventKind::Send { to, call, msg: label },
            Tag::Response => EventKind::Reply { to, call, msg: label },
        };
        self.sim.record(self.me, kind);
        let (order, now) = (crate::order::current(), self.sim.instant());
        let due = now + latency + late;
        let copy = duplicate.then(|| {
            let due = now + copy_latency + late;
            Envelope { call, label, body: Box::new(msg.clone()) as Box<dyn Any + Send + Sync>, order, due }
        });
        let env = Envelope { call, label, body: Box::new(msg), order, due };
        let posted = self.sim.with_port(to, |port| {
            if let Some(copy) = copy {
                port.post(tag, (copy, self.me), now);
            }
            port.post(tag, (env, self.me), now);
        });
        // Posting traces nothing: the copy's event may follow it.
        match posted {
            Some(()) if duplicate => self.sim.record(self.me, EventKind::Duplicate { to, call, msg: label }),
            Some(()) => {}
            // Up, but its endpoint not bound yet (just restarted): nobody to take it.
            None => {
                let reason = DropReason::NodeDown;
                self.sim.record(self.me, EventKind::Drop { from: self.me, to, call, msg: label, reason });
            }
        }
    }
}
