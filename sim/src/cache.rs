//! A cache node, as a flash sale puts Redis in front of its inventory
//! database: integer counters held in memory and answered without touching a
//! disk — fast, and gone when the node crashes. Optionally an append-only log
//! synced every `aof_sync_ms` (Redis's `appendfsync everysec`), which a
//! restart replays: what the last sync did not reach is lost all the same.
//! Every answer carries the node's `run_id`, which changes at every start, so
//! a client can tell the cache came back empty and rebuild it from its database.

use crate::rpc::{Message, Request};
use crate::world::NodeCtx;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The trace tally of loads into a cache life after the first: a cache that
/// came back from a crash, rebuilt from its database.
pub const CACHE_REBUILT: &str = "cache-rebuilt";

/// How a cache keeps what it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Log every write and sync the log this often (ms); `None`: memory only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aof_sync_ms: Option<u64>,
}

/// A request to a cache. Each is applied atomically, as one Redis command
/// (or one Lua script) is.
#[derive(Clone, Debug, Serialize)]
pub enum CacheReq {
    Get {
        key: String,
    },
    /// Replaces all the cache holds (counters and tokens) with `entries`: a
    /// rebuild from the database. Once per life of the node: a later load
    /// answers `Already` and changes nothing (a rebuild that read the database
    /// earlier must not overwrite takes made since the first).
    Load {
        entries: Vec<(String, i64)>,
    },
    /// Takes `by` from `key` if it holds at least `by`: check and decrement in
    /// one step (a Lua script, in Redis). With a `token`, at most once per
    /// token while the cache remembers it; with a `run_id`, only in that life
    /// of the node (a client that rebuilt the cache in one life must not take
    /// from the next before rebuilding it again).
    Take {
        key: String,
        by: i64,
        token: Option<String>,
        run_id: Option<u64>,
    },
    /// Gives back what the take with `token` took, if the cache remembers it.
    Return {
        token: String,
    },
    /// Adds `by` to `key` (absent counts as 0).
    Add {
        key: String,
        by: i64,
    },
}

/// A cache's answer, with which life of the node gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CacheRsp {
    /// 1 for the node's first start, then one more at every restart.
    pub run_id: u64,
    pub outcome: CacheOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum CacheOutcome {
    /// What `Get` found (`None`: the key is absent — never set, or lost).
    Value(Option<i64>),
    /// `Take` took; this much is left.
    Taken { left: i64 },
    /// `Take` did not: the key held less (or was absent).
    NotEnough { have: Option<i64> },
    /// `Load` or `Add` applied; for `Add`, the new value.
    Done(i64),
    /// `Take`: this token already took; `Load`: this life is loaded already.
    Already,
    /// `Take`: asked of another life of the node than `run_id` names.
    Stale,
    /// `Return`: given back, and the key now holds this much (`None`: the
    /// cache remembers no take with that token).
    Returned(Option<i64>),
}

impl Message for CacheReq {
    fn label(&self) -> &'static str {
        match self {
            CacheReq::Get { .. } => "cache-get",
            CacheReq::Load { .. } => "cache-load",
            CacheReq::Take { .. } => "cache-take",
            CacheReq::Add { .. } => "cache-add",
            CacheReq::Return { .. } => "cache-return",
        }
    }
}

impl Message for CacheRsp {
    fn label(&self) -> &'static str {
        match self.outcome {
            CacheOutcome::Value(_) => "cache-value",
            CacheOutcome::Taken { .. } => "cache-taken",
            CacheOutcome::NotEnough { .. } => "cache-not-enough",
            CacheOutcome::Done(_) => "cache-done",
            CacheOutcome::Already => "cache-already",
            CacheOutcome::Stale => "cache-stale",
            CacheOutcome::Returned(_) => "cache-returned",
        }
    }
}

impl Request for CacheReq {
    type Response = CacheRsp;
}

/// What a cache holds: counters, and what each remembered token took.
#[derive(Default)]
struct Held {
    counters: BTreeMap<String, i64>,
    tokens: BTreeMap<String, (String, i64)>,
    /// Whether this life was loaded (a log's replay does not load it).
    loaded: bool,
}

/// One write, as the append-only log keeps it: replaying them in order
/// rebuilds what the cache held.
#[derive(Serialize, Deserialize)]
enum Record {
    Set(String, i64),
    Token(String, Option<(String, i64)>),
    Clear,
}

impl Held {
    fn replay(&mut self, record: Record) {
        match record {
            Record::Set(key, value) => {
                self.counters.insert(key, value);
            }
            Record::Token(token, Some(took)) => {
                self.tokens.insert(token, took);
            }
            Record::Token(token, None) => {
                self.tokens.remove(&token);
            }
            Record::Clear => {
                self.counters.clear();
                self.tokens.clear();
            }
        }
    }
}

/// One life of a cache node: replay the log if it keeps one, then serve.
/// `starts` counts the node's lives across restarts (it belongs to the world).
pub(crate) async fn serve(ctx: NodeCtx, config: CacheConfig, starts: Arc<AtomicU64>) {
    let run_id = starts.fetch_add(1, Ordering::Relaxed) + 1;
    let disk = ctx.disk();
    let mut held = Held::default();
    if config.aof_sync_ms.is_some() {
        for record in disk.recover().0 {
            let Ok(record) = postcard::from_bytes::<Record>(&record) else { continue };
            held.replay(record);
        }
    }
    let held = Arc::new(Mutex::new(held));
    let ep = ctx.endpoint().await;
    let log = config.aof_sync_ms.map(|_| disk.clone());
    let sim = ctx.sim().clone();
    ep.serve(move |req: CacheReq, _from| {
        let load = matches!(req, CacheReq::Load { .. });
        let outcome = apply(&mut held.lock().unwrap(), req, run_id, log.as_deref());
        if load && run_id > 1 && matches!(outcome, CacheOutcome::Done(_)) {
            sim.trace().tally(CACHE_REBUILT);
        }
        async move { CacheRsp { run_id, outcome } }
    });
    match config.aof_sync_ms {
        // A failed sync loses its records, as the kernel drops dirty pages; the
        // next one carries on (Redis logs the error and keeps serving).
        Some(ms) => loop {
            ctx.sleep(Duration::from_millis(ms.max(1))).await;
            let _ = disk.sync().await;
        },
        None => std::future::pending::<()>().await,
    }
}

fn apply(held: &mut Held, req: CacheReq, run_id: u64, log: Option<&crate::disk::Disk>) -> CacheOutcome {
    let write = |held: &mut Held, record: Record| {
        if let Some(disk) = log {
            disk.append(&postcard::to_stdvec(&record).expect("strings and numbers serialize"));
        }
        held.replay(record);
    };
    match req {
        CacheReq::Get { key } => CacheOutcome::Value(held.counters.get(&key).copied()),
        CacheReq::Load { .. } if held.loaded => CacheOutcome::Already,
        CacheReq::Load { entries } => {
            let n = entries.len() as i64;
            write(held, Record::Clear);
            for (key, value) in entries {
                write(held, Record::Set(key, value));
            }
            held.loaded = true;
            CacheOutcome::Done(n)
        }
        CacheReq::Take { run_id: Some(r), .. } if r != run_id => CacheOutcome::Stale,
        CacheReq::Take { token: Some(t), .. } if held.tokens.contains_key(&t) => CacheOutcome::Already,
        CacheReq::Take { key, by, token, .. } => match held.counters.get(&key).copied() {
            Some(have) if have >= by => {
                if let Some(t) = token {
                    write(held, Record::Token(t, Some((key.clone(), by))));
                }
                write(held, Record::Set(key, have - by));
                CacheOutcome::Taken { left: have - by }
            }
            have => CacheOutcome::NotEnough { have },
        },
        CacheReq::Return { token } => match held.tokens.get(&token).cloned() {
            Some((key, by)) => {
                let value = held.counters.get(&key).copied().unwrap_or(0) + by;
                write(held, Record::Token(token, None));
                write(held, Record::Set(key, value));
                CacheOutcome::Returned(Some(value))
            }
            None => CacheOutcome::Returned(None),
        },
        CacheReq::Add { key, by } => {
            let value = held.counters.get(&key).copied().unwrap_or(0) + by;
            write(held, Record::Set(key, value));
            CacheOutcome::Done(value)
        }
    }
}
