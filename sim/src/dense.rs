//! Vectors indexed by small numbers — partitions, nodes, orders — that grow
//! to an index on its first use: a lookup is an index, not a map's search.

/// The element at `at`, the vector first grown to it with `fill`'s values.
pub(crate) fn slot<T>(v: &mut Vec<T>, at: usize, fill: impl FnMut() -> T) -> &mut T {
    if v.len() <= at {
        v.resize_with(at + 1, fill);
    }
    &mut v[at]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_slot_grows_the_vector_only_to_reach_it() {
        let mut v = vec![7];
        *super::slot(&mut v, 3, || 1) += 1;
        assert_eq!(v, [7, 1, 1, 2]);
        *super::slot(&mut v, 0, || unreachable!("no growth")) += 1;
        assert_eq!(v, [8, 1, 1, 2]);
    }
}
