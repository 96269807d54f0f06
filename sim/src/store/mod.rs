//! A transactional key-value store that runs on its own nodes and is reached
//! over the simulated network, as a service's database is.
//!
//! One transaction is a list of [`Op`]s applied atomically: a failed condition
//! undoes the ops before it and nothing is written. A committed transaction's
//! writes are appended to the primary's disk and synced before the reply, so an
//! acknowledged write survives a crash of that node; whether it survives a
//! failover depends on the replica set's [`Replication`](crate::cluster::Replication).
//!
//! - [`server`] — a store node: primary or replica, replication shipping.
//! - [`log`] — the on-disk record format and recovery.
//! - [`client`] — finds the primary and runs transactions.

pub mod client;
mod codec;
pub mod log;
mod row_key;
pub mod server;
mod table;

pub use client::StoreClient;
pub use log::{preload, recover};
pub use row_key::RowKey;
pub use server::serve;
pub use table::Table;

use crate::trace::NodeId;
use serde::{Deserialize, Serialize};

pub type Key = String;

/// A transaction's net writes, each key as a table holds it (`None`: deleted):
/// what a commit records, replication ships and a failover loses. Keys are
/// held in place, so the run's history of commits is one allocation each.
pub type Writes = Vec<(RowKey, Option<Value>)>;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    Int(i64),
    Text(String),
}

impl Value {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Text(_) => None,
        }
    }
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            Value::Int(_) => None,
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Get(Key),
    Put(Key, Value),
    Delete(Key),
    /// Adds `by` to an integer (a missing key counts as 0); fails the transaction
    /// if the result would be below `floor` — e.g. stock that must stay ≥ 0.
    Incr {
        key: Key,
        by: i64,
        floor: i64,
    },
    /// Fails the transaction if `key` exists: idempotency and barrier rows.
    InsertIfAbsent(Key, Value),
    /// Fails the transaction unless `key` holds `value` (`None`: is absent).
    Expect(Key, Option<Value>),
    /// Reads every row whose key starts with the prefix, in key order.
    Scan(String),
    /// Reads the rows from `from` on whose keys start with `prefix`, in key
    /// order: the tail of a range, without the rows before it.
    ScanFrom {
        prefix: String,
        from: Key,
    },
}

impl Op {
    /// Whether the op may write a row.
    fn writes(&self) -> bool {
        matches!(self, Op::Put(..) | Op::Delete(_) | Op::Incr { .. } | Op::InsertIfAbsent(..))
    }
}

/// The result of one op, at the same index as the op.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum OpResult {
    Value(Option<Value>),
    Rows(Vec<(Key, Value)>),
    Int(i64),
    Done,
}

impl OpResult {
    pub fn value(&self) -> Option<&Value> {
        match self {
            OpResult::Value(v) => v.as_ref(),
            _ => None,
        }
    }
    pub fn rows(&self) -> &[(Key, Value)] {
        match self {
            OpResult::Rows(r) => r,
            _ => &[],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TxnError {
    /// Op `index` failed its condition; nothing was applied.
    Condition { index: usize, key: Key },
    /// No usable answer (timeout, failover in progress, a failed fsync): the
    /// transaction may or may not have committed.
    Unknown,
}

/// The net writes of one acknowledged transaction, stamped with its commit time (`None`: deleted), as acknowledged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Commit {
    pub at_us: u64,
    /// Its place in the store's log: transactions made durable by one sync
    /// share `at_us`, and this orders them as they were applied.
    pub seq: u64,
    pub store: NodeId,
    pub writes: Writes,
}

type Applied = (Vec<OpResult>, Writes);

/// Applies `ops` to `table` all or nothing; returns the results and the net writes.
pub fn apply(table: &mut Table, ops: &[Op]) -> Result<Applied, TxnError> {
    apply_undoable(table, ops).map(|(results, writes, _)| (results, writes))
}

/// What each write replaced (`None`: absent), in write order: undone newest
/// first, they take the writes back out of the table.
pub(crate) type Before = Vec<(RowKey, Option<Value>)>;

/// [`apply`], also returning what its writes replaced.
pub(crate) fn apply_undoable(
    table: &mut Table,
    ops: &[Op],
) -> Result<(Vec<OpResult>, Writes, Before), TxnError> {
    // Room for every write up front, not grown push by push.
    let writes = ops.iter().filter(|op| op.writes()).count();
    let mut effects = Effects { writes: Vec::with_capacity(writes), undo: Vec::with_capacity(writes) };
    let mut results = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        match step(table, op, &mut effects) {
            Ok(r) => results.push(r),
            Err(key) => {
                for (at, old) in effects.undo.into_iter().rev() {
                    table.set(effects.writes[at].0.clone(), old);
                }
                return Err(TxnError::Condition { index, key });
            }
        }
    }
    let undo = effects.undo.into_iter().map(|(at, before)| (effects.writes[at].0.clone(), before)).collect();
    Ok((results, effects.writes, undo))
}

/// What a transaction's writes did so far: the final value of every key
/// written, in first-write order (its net writes), and how to undo each write
/// (the key's place in `writes`, and what the key held before). Kept as it
/// writes: looking each key up again afterwards cost a lookup a write.
struct Effects {
    writes: Writes,
    undo: Vec<(usize, Option<Value>)>,
}

impl Effects {
    fn write(&mut self, table: &mut Table, k: &Key, v: Option<Value>) {
        let k = RowKey::from(k);
        let old = table.set(k.clone(), v.clone());
        self.wrote(k, v, old);
    }

    /// Notes that `k` now holds `v` and held `old` before.
    fn wrote(&mut self, k: RowKey, v: Option<Value>, old: Option<Value>) {
        let at = match self.writes.iter().position(|(w, _)| *w == k) {
            Some(at) => {
                self.writes[at].1 = v;
                at
            }
            None => {
                self.writes.push((k, v));
                self.writes.len() - 1
            }
        };
        self.undo.push((at, old));
    }
}

fn step(table: &mut Table, op: &Op, effects: &mut Effects) -> Result<OpResult, Key> {
    Ok(match op {
        Op::Get(k) => OpResult::Value(table.get(k).cloned()),
        Op::Put(k, v) => {
            effects.write(table, k, Some(v.clone()));
            OpResult::Done
        }
        Op::Delete(k) => {
            effects.write(table, k, None);
            OpResult::Done
        }
        // The two conditional writes find their row once, not once to look
        // and again to write: in a large table each descent is most of a
        // write's cost.
        Op::Incr { key, by, floor } => {
            let (next, old) = match table.get_mut(key) {
                Some(row) => {
                    let next = row.as_int().unwrap_or(0) + by;
                    if next < *floor {
                        return Err(key.clone());
                    }
                    (next, Some(std::mem::replace(row, Value::Int(next))))
                }
                None if *by < *floor => return Err(key.clone()),
                None => (*by, table.insert(key.as_str(), Value::Int(*by))),
            };
            effects.wrote(RowKey::from(key), Some(Value::Int(next)), old);
            OpResult::Int(next)
        }
        // Inserted, and put back if the key was there: nearly always it was not.
        Op::InsertIfAbsent(k, v) => {
            let key = RowKey::from(k);
            if let Some(was) = table.insert(key.clone(), v.clone()) {
                table.insert(key, was);
                return Err(k.clone());
            }
            effects.wrote(key, Some(v.clone()), None);
            OpResult::Done
        }
        Op::Expect(k, v) => {
            if table.get(k) != v.as_ref() {
                return Err(k.clone());
            }
            OpResult::Done
        }
        Op::Scan(prefix) => OpResult::Rows(rows(table, prefix, prefix)),
        Op::ScanFrom { prefix, from } => OpResult::Rows(rows(table, prefix, from)),
    })
}

fn rows(table: &Table, prefix: &str, from: &str) -> Vec<(Key, Value)> {
    table.rows_from(prefix, from).map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        s.to_string()
    }

    #[test]
    fn a_failed_condition_undoes_the_whole_transaction() {
        let mut t = Table::new();
        apply(&mut t, &[Op::Put(k("stock"), 1.into())]).unwrap();
        let err =
            apply(&mut t, &[Op::Put(k("note"), "x".into()), Op::Incr { key: k("stock"), by: -2, floor: 0 }])
                .unwrap_err();
        assert_eq!(err, TxnError::Condition { index: 1, key: k("stock") });
        assert_eq!(t.get("stock"), Some(&Value::Int(1)), "stock untouched");
        assert!(!t.contains_key("note"), "the earlier put was undone");
        // A key written twice is put back as it was before the first write.
        let twice =
            [Op::Put(k("stock"), 5.into()), Op::Delete(k("stock")), Op::Expect(k("x"), Some(1.into()))];
        assert!(apply(&mut t, &twice).is_err());
        assert_eq!(t.get("stock"), Some(&Value::Int(1)), "stock as before both writes");
        // and its net write is its final value, once.
        let (_, w) = apply(&mut t, &twice[..2]).unwrap();
        assert_eq!(w, vec![(RowKey::from("stock"), None)]);
    }

    #[test]
    fn floor_is_inclusive_and_missing_counts_as_zero() {
        let mut t = Table::new();
        let (r, _) = apply(&mut t, &[Op::Incr { key: k("n"), by: 3, floor: 0 }]).unwrap();
        assert_eq!(r, vec![OpResult::Int(3)]);
        apply(&mut t, &[Op::Incr { key: k("n"), by: -3, floor: 0 }]).expect("down to the floor");
        assert!(apply(&mut t, &[Op::Incr { key: k("n"), by: -1, floor: 0 }]).is_err());
        assert_eq!(t.get("n"), Some(&Value::Int(0)));
        assert!(apply(&mut t, &[Op::Incr { key: k("m"), by: -1, floor: 0 }]).is_err());
        assert!(!t.contains_key("m"), "a missing row stays missing");
    }

    #[test]
    fn insert_if_absent_and_expect_are_conditions() {
        let mut t = Table::new();
        apply(&mut t, &[Op::InsertIfAbsent(k("b"), 1.into())]).unwrap();
        assert!(apply(&mut t, &[Op::InsertIfAbsent(k("b"), 2.into())]).is_err());
        assert_eq!(t.get("b"), Some(&Value::Int(1)), "the row it found is kept");
        assert!(apply(&mut t, &[Op::Expect(k("b"), Some(1.into()))]).is_ok());
        assert!(apply(&mut t, &[Op::Expect(k("b"), None)]).is_err());
        assert!(apply(&mut t, &[Op::Expect(k("zz"), None)]).is_ok());
    }

    #[test]
    fn net_writes_and_scan() {
        let mut t = Table::new();
        let (_, w) = apply(
            &mut t,
            &[
                Op::Put(k("a/1"), 1.into()),
                Op::Put(k("a/1"), 2.into()),
                Op::Put(k("a/2"), 3.into()),
                Op::Delete(k("a/2")),
                Op::Put(k("b"), 4.into()),
            ],
        )
        .unwrap();
        let key = RowKey::from;
        assert_eq!(w, vec![(key("a/1"), Some(2.into())), (key("a/2"), None), (key("b"), Some(4.into()))]);
        let (r, w) = apply(&mut t, &[Op::Scan(k("a/"))]).unwrap();
        assert_eq!(r[0].rows(), &[(k("a/1"), Value::Int(2))]);
        assert!(w.is_empty(), "reads write nothing");
        apply(&mut t, &[Op::Put(k("a/3"), 4.into()), Op::Put(k("a/5"), 6.into())]).unwrap();
        let tail = Op::ScanFrom { prefix: k("a/"), from: k("a/2") };
        let (r, _) = apply(&mut t, &[tail]).unwrap();
        assert_eq!(r[0].rows(), &[(k("a/3"), Value::Int(4)), (k("a/5"), Value::Int(6))]);
    }
}
