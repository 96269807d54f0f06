//! Typed request/response messaging between nodes over madsim's network.
//!
//! Each node binds one [`Endpoint`]. Requests travel on one tag and responses on
//! another; a per-node pump routes responses to waiting calls by call id, so a
//! late response is traced and dropped instead of piling up in a mailbox.
//! Every call has a timeout: a lost or partitioned peer never blocks a caller.

use crate::fault::MessageAction;
use crate::net::{self, PORT};
use crate::stream::{Draw, Purpose};
use crate::trace::{DropReason, EventKind, NodeId};
use crate::world::Sim;
use serde::Serialize;
use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

const REQUEST: u64 = 1;
const RESPONSE: u64 = 2;

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

struct Envelope {
    call: u64,
    label: &'static str,
    body: Box<dyn Any + Send + Sync>,
    /// The order the sender worked for: the handler works for it too.
    order: Option<u32>,
    /// When it reaches the receiver: after its drawn latency, and a targeted
    /// fault's delay. (madsim delivers at once; the receiver holds it till then.)
    due: tokio::time::Instant,
}

impl Envelope {
    /// Whether it is still due later. madsim's send and receive take 1 ms
    /// each (its shortest sleep), so a latency is exact from 2 ms up; one due
    /// within the next millisecond arrives now rather than wait out another.
    fn in_flight(&self) -> bool {
        self.due > tokio::time::Instant::now() + Duration::from_millis(1)
    }
}

/// A node's network endpoint: make calls, serve requests.
pub struct Endpoint {
    sim: Arc<Sim>,
    me: NodeId,
    socket: madsim::net::Endpoint,
    pending: Mutex<BTreeMap<u64, oneshot::Sender<Box<dyn Any + Send + Sync>>>>,
}

impl Endpoint {
    pub(crate) async fn bind(sim: Arc<Sim>, me: NodeId) -> Arc<Endpoint> {
        let addr = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), PORT);
        let socket = madsim::net::Endpoint::bind(addr).await.expect("bind endpoint");
        let ep = Arc::new(Endpoint { sim, me, socket, pending: Mutex::new(BTreeMap::new()) });
        let pump = ep.clone();
        tokio::spawn(async move { pump.route_responses().await });
        ep
    }

    pub fn node(&self) -> NodeId {
        self.me
    }

    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
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
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(call, tx);
        self.transmit(to, REQUEST, call, req).await;
        // The timeout is measured by this node's clock, which may be skewed.
        match tokio::time::timeout(self.sim.real(self.me, timeout), rx).await {
            Ok(Ok(body)) => Ok(*body
                .downcast::<R::Response>()
                .unwrap_or_else(|_| panic!("response to {label} from node {} has the wrong type", to.0))),
            Ok(Err(_)) | Err(_) => {
                self.pending.lock().unwrap().remove(&call);
                self.sim.record(self.me, EventKind::Timeout { to, call, msg: label });
                Err(RpcError::Timeout)
            }
        }
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
        tokio::spawn(async move {
            loop {
                let (env, from) = ep.receive(REQUEST).await;
                let (ep, handler) = (ep.clone(), handler.clone());
                // One task per request, from its arrival to its answer, working
                // for the request's order.
                tokio::spawn(crate::order::scope(env.order, async move {
                    let Some(env) = ep.arrive(env, from).await else {
                        return;
                    };
                    let req = *env.body.downcast::<R>().unwrap_or_else(|_| {
                        panic!("node {} got a request {} of a type it does not serve", ep.me.0, env.label)
                    });
                    let rsp = handler(req, from).await;
                    ep.transmit(from, RESPONSE, env.call, rsp).await;
                }));
            }
        });
    }

    async fn route_responses(self: Arc<Self>) {
        loop {
            let (env, from) = self.receive(RESPONSE).await;
            if !env.in_flight() {
                if let Some(env) = self.arrive(env, from).await {
                    self.hand_over(env, from);
                }
                continue;
            }
            // Still in flight: it arrives later, while others pass.
            let ep = self.clone();
            tokio::spawn(async move {
                if let Some(env) = ep.arrive(env, from).await {
                    ep.hand_over(env, from);
                }
            });
        }
    }

    /// Gives a response to the call waiting for it, if it still waits.
    fn hand_over(&self, env: Envelope, from: NodeId) {
        let waiter = self.pending.lock().unwrap().remove(&env.call);
        match waiter {
            // The caller may have given up between our lookup and now; fine.
            Some(tx) => drop(tx.send(env.body)),
            None => {
                let (call, msg, reason) = (env.call, env.label, DropReason::Late);
                self.sim.record_for(
                    self.me,
                    EventKind::Drop { from, to: self.me, call, msg, reason },
                    env.order,
                );
            }
        }
    }

    /// Takes the next message on `tag`, as madsim hands it over: still in flight.
    async fn receive(&self, tag: u64) -> (Envelope, NodeId) {
        let (payload, addr) = self.socket.recv_from_raw(tag).await.expect("endpoint closed");
        let env = *payload.downcast::<Envelope>().expect("foreign payload on a faultline port");
        (env, net::node_of(addr))
    }

    /// Waits until `env` is due and takes it in; `None` when the network ate
    /// it because the link was cut while it was in flight. (A receiver that
    /// crashes meanwhile takes this task down with it: the message is lost.)
    async fn arrive(&self, env: Envelope, from: NodeId) -> Option<Envelope> {
        if env.in_flight() {
            tokio::time::sleep_until(env.due).await;
        }
        let (call, msg, order) = (env.call, env.label, env.order);
        if self.sim.net().link_cut(from, self.me) {
            let reason = DropReason::Partition;
            self.sim.record_for(self.me, EventKind::Drop { from, to: self.me, call, msg, reason }, order);
            return None;
        }
        self.sim.record_for(self.me, EventKind::Recv { from, call, msg }, order);
        Some(env)
    }

    async fn transmit<M: Message>(&self, to: NodeId, tag: u64, call: u64, msg: M) {
        let label = msg.label();
        // Every message draws its latency, loss, duplication and the copy's
        // latency from its own order's stream on this link, whatever becomes
        // of it: one fault or order more or less moves no other message's draws.
        let draws: [Draw; 4] = self.sim.draws(self.me, Purpose::Message { to });
        let fired = self.sim.net().target(self.me, to, label, crate::order::current());
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
            let net = self.sim.net();
            let (lo, hi) = net.latency_us;
            let latency = |d: Draw| Duration::from_nanos(d.within(lo * 1000, hi * 1000));
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
            REQUEST => EventKind::Send { to, call, msg: label },
            _ => EventKind::Reply { to, call, msg: label },
        };
        self.sim.record(self.me, kind);
        let dst = net::addr_of(to);
        let (order, now) = (crate::order::current(), tokio::time::Instant::now());
        let due = now + latency + late;
        if duplicate {
            self.sim.record(self.me, EventKind::Duplicate { to, call, msg: label });
            let due = now + copy_latency + late;
            let copy = Envelope { call, label, body: Box::new(msg.clone()), order, due };
            self.socket.send_to_raw(dst, tag, Box::new(copy)).await.expect("send");
        }
        let env = Envelope { call, label, body: Box::new(msg), order, due };
        self.socket.send_to_raw(dst, tag, Box::new(env)).await.expect("send");
    }
}
