//! The order a task works for. Set where work for one order begins (a client
//! placing it, a driver taking it up), it travels with every message the task
//! sends and into the handler on the other side, like a tracing span: the trace
//! names each event's order, and each order's messages draw their own randomness.

use std::future::Future;

tokio::task_local! {
    static ORDER: Option<u32>;
}

/// The order the running task works for, if any.
pub fn current() -> Option<u32> {
    ORDER.try_with(|o| *o).ok().flatten()
}

/// Runs `f` as work for `order` (`None`: for no order in particular).
/// Boxed: a task's future is large, and spawning one held inline copied it
/// whole three times (into the spawn, the task-local wrapper, the task).
pub fn scope<F: Future>(order: Option<u32>, f: F) -> impl Future<Output = F::Output> {
    ORDER.scope(order, Box::pin(f))
}

/// Spawns `f` as work for the same order as the running task: a task started
/// on an order's behalf keeps working for it.
pub fn spawn<F>(f: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(scope(current(), f))
}
