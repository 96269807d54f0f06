//! The store's on-disk format: one record per committed transaction (or one
//! snapshot, when a replica resyncs), each numbered by its commit sequence and
//! the primary epoch that produced it. Recovery replays them in order.

pub(crate) use super::codec::encode_writes;
use super::{codec, Before, RowKey, Table, Value};
use crate::disk::Disk;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Body {
    /// The net writes of one transaction (`None`: deleted).
    Writes(super::Writes),
    /// The whole table, replacing everything before it.
    Snapshot(Vec<(RowKey, Value)>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub epoch: u64,
    pub seq: u64,
    pub body: Body,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The record a checksummed disk entry holds: only faultline wrote it.
    fn decode(bytes: &[u8]) -> Record {
        codec::decode(bytes).expect("a checksummed record decodes")
    }
}

/// The durable records of `disk` of `epoch` after `seq` (after recovery cut
/// any torn tail), and the last sequence number `disk` durably holds of
/// `epoch`: what a failover compares between a primary and its replica. Only
/// the records asked for are decoded whole; a failover used to decode both
/// logs, every write of the run, at every failover.
pub(crate) fn reign(disk: &Disk, epoch: u64, seq: u64) -> (Vec<Record>, u64) {
    let (mut after, mut last) = (Vec::new(), 0);
    disk.recover_from(0, |bytes| {
        let (e, s) = codec::header(bytes).expect("a checksummed record decodes");
        if e == epoch {
            last = last.max(s);
            if s > seq {
                after.push(Record::decode(bytes));
            }
        }
    })
    .expect("a disk holds its first record on");
    (after, last)
}

/// Whether the live `disk` durably holds record `seq` of `epoch`; reads only.
pub(crate) fn holds(disk: &Disk, epoch: u64, seq: u64) -> bool {
    disk.peek_any(|bytes| codec::header(bytes).expect("a checksummed record decodes") == (epoch, seq))
}

/// Applies a record's body to `table`, moving its keys and values in (a
/// clone of each was a tenth of replaying a log).
pub(crate) fn apply_record(table: &mut Table, body: Body) {
    match body {
        Body::Writes(writes) => {
            for (k, v) in writes {
                table.set(k, v);
            }
        }
        Body::Snapshot(rows) => *table = rows.into_iter().collect(),
    }
}

/// How to take one record back out of a table: what each key it wrote held
/// before (in write order), or the whole table a snapshot replaced.
pub(crate) enum Undo {
    Writes(Before),
    Table(Table),
}

impl Undo {
    /// Takes the record back out of `table`, which holds it last; the undo
    /// stays, since a look takes back a clone of a table that writes on.
    pub fn undo(&self, table: &mut Table) {
        match self {
            Undo::Writes(before) => {
                for (k, v) in before.iter().rev() {
                    table.set(k.clone(), v.clone());
                }
            }
            Undo::Table(before) => *table = before.clone(),
        }
    }
}

/// Applies a record's body to `table` as [`apply_record`] does, and returns
/// how to take it back.
pub(crate) fn apply_undoable(table: &mut Table, body: Body) -> Undo {
    match body {
        Body::Writes(writes) => {
            Undo::Writes(writes.into_iter().map(|(k, v)| (k.clone(), table.set(k, v))).collect())
        }
        Body::Snapshot(rows) => Undo::Table(std::mem::replace(table, rows.into_iter().collect())),
    }
}

/// The durable table: every good record replayed in order — or the table of
/// the store serving from `disk`, taken back to its durable records, which is
/// the same rows without the replay (a settle poll looks at every store, and
/// replayed each one's writes since its last start).
pub fn recover(disk: &Disk) -> Table {
    super::server::durable_table(disk).unwrap_or_else(|| recover_table(disk, true).table)
}

/// What recovery rebuilt from a disk.
pub(crate) struct Recovered {
    pub table: Table,
    /// The sequence number of the last record replayed.
    pub seq: u64,
    /// How many durable records the table holds the writes of.
    pub records: usize,
    /// Torn records dropped.
    pub torn: usize,
}

/// Recovery for a store starting up, or a look at what a disk holds.
/// Replays only the records after those the disk's memo covers (the table
/// as of its last recovery, or the one a store left at its crash), so a
/// store that restarts often, or a settle poll, costs the log's growth, not
/// its length.
///
/// The memo is taken off the disk while the records are replayed onto it, so
/// its table is updated in place (cloned from a memo still on the disk, every
/// replayed write copied its path of the tree first). A look leaves it
/// there again (`leave_memo`), shared with the table it returns, which it
/// drops soon; a store starting up does not, so its writes do not copy the
/// nodes a memo would share — at its crash it leaves its table instead
/// ([`hand_back`]).
pub(crate) fn recover_table(disk: &Disk, leave_memo: bool) -> Recovered {
    let memo = disk.take_memo().and_then(|(n, m)| Some((n, m.downcast::<(Table, u64)>().ok()?)));
    let (from, mut table, mut seq) = match memo {
        Some((n, m)) => {
            let (table, seq) = std::sync::Arc::try_unwrap(m).unwrap_or_else(|m| (*m).clone());
            (n, table, seq)
        }
        None => (0, Table::new(), 0),
    };
    let replay = |bytes: &[u8]| {
        let rec = Record::decode(bytes);
        apply_record(&mut table, rec.body);
        seq = rec.seq;
    };
    let (replayed, torn) = disk.recover_from(from, replay).expect("a memo never outruns its disk");
    let records = from + replayed;
    if leave_memo {
        disk.set_memo(records, std::sync::Arc::new((table.clone(), seq)));
    }
    Recovered { table, seq, records, torn }
}

/// A store's last word at its crash: its table taken back to what its disk
/// durably holds, which becomes the disk's memo — so the next start replays
/// nothing. `back` takes the table back to the disk's first `good` records
/// (those that pass their checksums), returning the sequence number of the
/// last, or `None` if it cannot (see [`Disk::hand_back`]).
pub(crate) fn hand_back(disk: &Disk, mut table: Table, back: impl FnOnce(&mut Table, usize) -> Option<u64>) {
    disk.hand_back(|good| {
        let seq = back(&mut table, good)?;
        Some(std::sync::Arc::new((table, seq)) as std::sync::Arc<dyn std::any::Any + Send + Sync>)
    });
}

/// Gives a store its initial rows, durably, before the run starts.
pub fn preload(disk: &Disk, rows: Vec<(super::Key, Value)>) {
    let writes = rows.into_iter().map(|(k, v)| (RowKey::from(k), Some(v))).collect();
    disk.preload(&Record { epoch: 0, seq: 1, body: Body::Writes(writes) }.encode());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reign_is_its_epochs_records_after_a_sequence_number_and_its_last() {
        let disk = Disk::new(Default::default());
        let record = |epoch, seq| Record {
            epoch,
            seq,
            body: Body::Writes(vec![(RowKey::from("k"), Some(Value::Int(seq as i64)))]),
        };
        for (epoch, seq) in [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 1)] {
            disk.preload(&record(epoch, seq).encode());
        }
        assert_eq!(reign(&disk, 2, 1), (vec![record(2, 2), record(2, 3)], 3));
        assert_eq!(reign(&disk, 2, u64::MAX), (vec![], 3), "the last only");
        assert_eq!(reign(&disk, 4, 0), (vec![], 0), "an epoch the disk never saw");
    }
}
