//! A log record's bytes, written and read by hand: postcard's encoding of
//! [`Record`] byte for byte (LEB128 varints, zigzag integers, length-prefixed
//! strings), so disks and trace hashes are unchanged, without serde's
//! visitors, which cost three times as much on every store write and replay.

use super::log::{Body, Record};
use super::{RowKey, Value};

/// The bytes of `Record { epoch, seq, body: Body::Writes(writes) }`, without
/// copying the writes.
pub(crate) fn encode_writes<K: AsRef<str>>(epoch: u64, seq: u64, writes: &[(K, Option<Value>)]) -> Vec<u8> {
    let size: usize = writes.iter().map(|(k, v)| k.as_ref().len() + v.as_ref().map_or(0, size) + 12).sum();
    let mut out = Vec::with_capacity(24 + size);
    head(&mut out, epoch, seq, WRITES, writes.len());
    for (k, v) in writes {
        text(&mut out, k.as_ref());
        match v {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                value(&mut out, v);
            }
        }
    }
    out
}

/// The bytes of `rec`.
pub(crate) fn encode(rec: &Record) -> Vec<u8> {
    match &rec.body {
        Body::Writes(writes) => encode_writes(rec.epoch, rec.seq, writes),
        Body::Snapshot(rows) => {
            let size: usize = rows.iter().map(|(k, v)| k.len() + size(v) + 12).sum();
            let mut out = Vec::with_capacity(24 + size);
            head(&mut out, rec.epoch, rec.seq, SNAPSHOT, rows.len());
            for (k, v) in rows {
                text(&mut out, k);
                value(&mut out, v);
            }
            out
        }
    }
}

/// The epoch and sequence number of the record `bytes` spell, read without
/// its body.
pub(crate) fn header(bytes: &[u8]) -> Option<(u64, u64)> {
    let mut r = Reader(bytes);
    Some((r.varint()?, r.varint()?))
}

/// The record `bytes` spell, or `None` if they spell none (trailing bytes
/// are refused).
pub(crate) fn decode(bytes: &[u8]) -> Option<Record> {
    let mut r = Reader(bytes);
    let (epoch, seq) = (r.varint()?, r.varint()?);
    let (variant, len) = (r.varint()?, r.varint()?);
    // Every entry takes at least two bytes: a length cannot ask for more.
    let n = usize::try_from(len).ok().filter(|n| n.saturating_mul(2) <= r.0.len())?;
    let body = match variant {
        WRITES => {
            let mut writes = Vec::with_capacity(n);
            for _ in 0..n {
                let key = r.key()?;
                let v = match r.byte()? {
                    0 => None,
                    1 => Some(r.value()?),
                    _ => return None,
                };
                writes.push((key, v));
            }
            Body::Writes(writes)
        }
        SNAPSHOT => {
            let mut rows = Vec::with_capacity(n);
            for _ in 0..n {
                rows.push((r.key()?, r.value()?));
            }
            Body::Snapshot(rows)
        }
        _ => return None,
    };
    r.0.is_empty().then_some(Record { epoch, seq, body })
}

/// `Body`'s variants, in declaration order, as postcard numbers them.
const WRITES: u64 = 0;
const SNAPSHOT: u64 = 1;
/// `Value`'s variants.
const INT: u64 = 0;
const TEXT: u64 = 1;

/// At most how many bytes `v`'s content takes.
fn size(v: &Value) -> usize {
    match v {
        Value::Int(_) => 10,
        Value::Text(s) => s.len(),
    }
}

fn head(out: &mut Vec<u8>, epoch: u64, seq: u64, variant: u64, entries: usize) {
    varint(out, epoch);
    varint(out, seq);
    varint(out, variant);
    varint(out, entries as u64);
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn text(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Int(i) => {
            varint(out, INT);
            varint(out, ((i << 1) ^ (i >> 63)) as u64);
        }
        Value::Text(s) => {
            varint(out, TEXT);
            text(out, s);
        }
    }
}

/// The bytes not read yet.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A LEB128 `u64`: at most ten bytes, the tenth holding one bit.
    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return None;
            }
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&[u8]> {
        let len = usize::try_from(self.varint()?).ok().filter(|&l| l <= self.0.len())?;
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(s)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    /// A key, read straight into its inline spelling.
    fn key(&mut self) -> Option<RowKey> {
        std::str::from_utf8(self.bytes()?).ok().map(RowKey::from)
    }

    fn value(&mut self) -> Option<Value> {
        match self.varint()? {
            INT => {
                let z = self.varint()?;
                Some(Value::Int((z >> 1) as i64 ^ -((z & 1) as i64)))
            }
            TEXT => Some(Value::Text(self.text()?)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![any::<i64>().prop_map(Value::Int), ".{0,20}".prop_map(Value::Text)]
    }

    /// Keys inline and, past the inline limit, on the heap.
    fn key() -> impl Strategy<Value = RowKey> {
        ".{0,60}".prop_map(RowKey::from)
    }

    fn record() -> impl Strategy<Value = Record> {
        let writes = prop::collection::vec((key(), prop::option::of(value())), 0..6).prop_map(Body::Writes);
        let rows = prop::collection::vec((key(), value()), 0..6).prop_map(Body::Snapshot);
        (any::<u64>(), any::<u64>(), prop_oneof![writes, rows]).prop_map(|(epoch, seq, body)| Record {
            epoch,
            seq,
            body,
        })
    }

    /// What postcard reads from `bytes` if it reads them all (it leaves
    /// trailing bytes unread, where ours refuses them).
    fn postcard_whole(bytes: &[u8]) -> Option<Record> {
        postcard::take_from_bytes::<Record>(bytes)
            .ok()
            .filter(|(_, rest)| rest.is_empty())
            .map(|(rec, _)| rec)
    }

    proptest! {
        #[test]
        fn a_record_is_postcards_bytes_and_reads_back(rec in record()) {
            let bytes = encode(&rec);
            prop_assert_eq!(&bytes, &postcard::to_stdvec(&rec).unwrap());
            prop_assert_eq!(decode(&bytes), Some(rec));
        }

        #[test]
        fn any_bytes_decode_as_postcard_reads_them_whole(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(decode(&bytes), postcard_whole(&bytes));
        }

        #[test]
        fn a_changed_byte_decodes_as_postcard_reads_it_whole(rec in record()) {
            // Every byte, to the values at the edges of tags and varints.
            let bytes = encode(&rec);
            for at in 0..bytes.len() {
                for to in [0, 1, 2, 3, 0x7f, 0x80, 0xff] {
                    let mut changed = bytes.clone();
                    changed[at] = to;
                    prop_assert_eq!(decode(&changed), postcard_whole(&changed));
                }
            }
        }

        #[test]
        fn a_cut_record_is_refused(rec in record(), cut in any::<prop::sample::Index>()) {
            let bytes = encode(&rec);
            let at = cut.index(bytes.len());
            prop_assert_eq!(decode(&bytes[..at]), None);
        }
    }

    #[test]
    fn the_extremes_of_every_number_read_back() {
        for n in [0, 1, 127, 128, u64::MAX - 1, u64::MAX] {
            for i in [0, -1, 1, i64::MIN, i64::MAX] {
                let rec =
                    Record { epoch: n, seq: n, body: Body::Writes(vec![("k".into(), Some(Value::Int(i)))]) };
                assert_eq!(encode(&rec), postcard::to_stdvec(&rec).unwrap());
                assert_eq!(decode(&encode(&rec)), Some(rec));
            }
        }
        // A tenth varint byte above 1 overflows a u64; an eleventh never comes.
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(Reader(&over).varint(), None);
        assert_eq!(Reader(&[0x80; 11]).varint(), None);
    }
}
