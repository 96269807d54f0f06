//! A store's rows, in key order: what a node serves from, what recovery
//! rebuilds, and what ground truth reads. Keys are looked up by `&str`, so a
//! `&String` key works as it is.

use super::{RowKey, Value};
use std::ops::Bound;

/// A row that differs between two tables: its key, its value in the first
/// (`None`: absent) and in the second.
pub type Change<'a> = (&'a str, Option<&'a Value>, Option<&'a Value>);

/// A persistent (structure-sharing) ordered map from key to value: a clone is
/// O(1) and shares every node with its original, so recovery starts from a
/// memoised table without copying it — a store that restarts often costs its
/// log's growth, not its size. A key looked up by `&str` is first copied into a
/// [`RowKey`], so every step down the tree compares two keys held in place.
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
        self.0.get(&RowKey::from(key))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.get_mut(&RowKey::from(key))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(&RowKey::from(key))
    }

    /// Sets `key` to `value`; returns what it held.
    pub fn insert(&mut self, key: impl Into<RowKey>, value: Value) -> Option<Value> {
        self.0.insert(key.into(), value)
    }

    /// Deletes `key`; returns what it held.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.remove(&RowKey::from(key))
    }

    /// Sets `key` to `value`, or deletes it if `None`; returns what it held:
    /// a write as a record or an undo holds it.
    pub fn set(&mut self, key: RowKey, value: Option<Value>) -> Option<Value> {
        match value {
            Some(v) => self.0.insert(key, v),
            None => self.0.remove(&key),
        }
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
        let tail = self.0.range((Bound::Included(RowKey::from(from)), Bound::Unbounded));
        tail.map(|(k, v)| (k.as_str(), v)).take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// The rows in which `self` and `later` differ, in key order. Skips every
    /// node the two share, so a table compared with an earlier version of
    /// itself (recovery replays onto the one before) costs what changed.
    pub fn changes<'a>(&'a self, later: &'a Table) -> impl Iterator<Item = Change<'a>> {
        self.0.diff(&later.0).map(|d| match d {
            imbl::ordmap::DiffItem::Add(k, v) => (k.as_str(), None, Some(v)),
            imbl::ordmap::DiffItem::Update { old: (k, was), new: (_, now) } => {
                (k.as_str(), Some(was), Some(now))
            }
            imbl::ordmap::DiffItem::Remove(k, v) => (k.as_str(), Some(v), None),
        })
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
    use std::collections::BTreeMap;

    /// Keys of characters either side of `/` in byte order, with no slash,
    /// one or several; inline and past the inline limit.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof!["[a!0/]{0,6}", "[a/]{40,50}"]
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(String, i64),
        Remove(String),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![(key(), any::<i64>()).prop_map(|(k, v)| Step::Insert(k, v)), key().prop_map(Step::Remove)]
    }

    proptest! {
        /// A table behaves as one ordered map of its keys: the same answers
        /// to every write, get and scan, rows in the order `str` sorts them.
        #[test]
        fn a_table_is_one_ordered_map(steps in prop::collection::vec(step(), 0..60), prefix in "[a!0/]{0,3}", from in key()) {
            let (mut t, mut model) = (Table::new(), BTreeMap::new());
            for s in &steps {
                match s {
                    Step::Insert(k, v) => prop_assert_eq!(t.insert(k.as_str(), Value::Int(*v)), model.insert(k.clone(), Value::Int(*v))),
                    Step::Remove(k) => prop_assert_eq!(t.remove(k), model.remove(k)),
                }
            }
            for k in steps.iter().map(|s| match s { Step::Insert(k, _) | Step::Remove(k) => k }) {
                prop_assert_eq!(t.get(k), model.get(k));
                prop_assert_eq!(t.contains_key(k), model.contains_key(k));
            }
            let all: Vec<(&str, &Value)> = model.iter().map(|(k, v)| (k.as_str(), v)).collect();
            prop_assert_eq!(t.iter().collect::<Vec<_>>(), all.clone());
            prop_assert_eq!(t.values().collect::<Vec<_>>(), model.values().collect::<Vec<_>>());
            prop_assert_eq!((t.len(), t.is_empty()), (model.len(), model.is_empty()));
            let scan = |from: &str| -> Vec<(&str, &Value)> {
                all.iter().copied().filter(|(k, _)| *k >= from).take_while(|(k, _)| k.starts_with(prefix.as_str())).collect()
            };
            prop_assert_eq!(t.rows(&prefix).collect::<Vec<_>>(), scan(&prefix));
            prop_assert_eq!(t.rows_from(&prefix, &from).collect::<Vec<_>>(), scan(&from));
            // Equal rows, equal tables, however they were written.
            prop_assert_eq!(&t, &model.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Table>());
        }
    }
}
