//! A store's rows, in key order: what a node serves from, what recovery
//! rebuilds, and what ground truth reads. Keys are looked up by `&str`, so a
//! `&String` key works as it is.

use super::Value;
use std::ops::Bound;

/// A row's key as a table holds it: inline when it fits in 24 bytes, as every
/// key faultline's protocols write does. A node then holds its keys' bytes: a
/// lookup compares them without a pointer chase to the heap, and a key copied
/// (a write, a node copied on write) allocates nothing.
pub type RowKey = compact_str::CompactString;

/// A persistent (structure-sharing) ordered map from key to value: a clone is
/// O(1) and shares every node with its original, so recovery starts from a
/// memoised table without copying it — a store that restarts often costs its
/// log's growth, not its size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table(imbl::OrdMap<RowKey, Value>);

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.get_mut(key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Sets `key` to `value`; returns what it held.
    pub fn insert(&mut self, key: impl Into<RowKey>, value: Value) -> Option<Value> {
        self.0.insert(key.into(), value)
    }

    /// Deletes `key`; returns what it held.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    /// Every row, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Every value, in key order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.0.values()
    }

    /// The rows whose keys start with `prefix`, in key order.
    pub fn rows<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.rows_from(prefix, prefix)
    }

    /// The rows from `from` on whose keys start with `prefix`, in key order.
    pub fn rows_from<'a>(
        &'a self,
        prefix: &'a str,
        from: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Value)> {
        let tail = self.0.range::<_, str>((Bound::Included(from), Bound::Unbounded));
        tail.map(|(k, v)| (k.as_str(), v)).take_while(move |(k, _)| k.starts_with(prefix))
    }
}

impl<K: Into<RowKey>> FromIterator<(K, Value)> for Table {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(rows: I) -> Self {
        Table(rows.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Rows come out in the order `str` sorts their keys, short or long
        /// (inline or on the heap), and a prefix scan is exactly the keys
        /// with that prefix.
        #[test]
        fn rows_are_in_str_order(keys in prop::collection::btree_set("[ab/]{0,30}", 0..40), prefix in "[ab/]{0,3}") {
            let t: Table = keys.iter().map(|k| (k.as_str(), Value::Int(1))).collect();
            let all: Vec<&str> = t.iter().map(|(k, _)| k).collect();
            prop_assert_eq!(&all, &keys.iter().map(String::as_str).collect::<Vec<_>>());
            let scanned: Vec<&str> = t.rows(&prefix).map(|(k, _)| k).collect();
            let expected: Vec<&str> = keys.iter().map(String::as_str).filter(|k| k.starts_with(prefix.as_str())).collect();
            prop_assert_eq!(scanned, expected);
        }
    }
}
