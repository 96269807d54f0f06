//! A declared state machine (the order's, the payment's): its states, the
//! states a record may be created in, its edges and its final states. The
//! checker's `legal-transitions` walks it.

use serde::Serialize;

/// The name of the order's machine, which every workflow declares.
pub(super) const ORDER: &str = "order";

/// The states the order machine must have: every participant agrees on each
/// order's fate, and these name it.
pub const ORDER_FATES: [&str; 3] = ["pending", "completed", "cancelled"];

/// A state machine over one record per order in a participant's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Machine {
    pub name: String,
    /// The participant that keeps the record.
    pub at: String,
    pub states: Vec<String>,
    /// The states a record may first be written in (from no record at all).
    pub start: Vec<String>,
    /// The legal steps, (from, to).
    pub edges: Vec<(String, String)>,
    /// States with no way out.
    pub finals: Vec<String>,
}

impl Machine {
    /// Whether a record can go from `from` to `to` (`None`: no record) in
    /// zero or more legal steps. A state the machine does not know is
    /// reachable from nothing but itself.
    pub fn reachable(&self, from: Option<&str>, to: Option<&str>) -> bool {
        if from == to {
            return true;
        }
        let Some(to) = to else { return false }; // a record is never deleted
        let known = |s: &str| self.states.iter().any(|k| k == s);
        if !known(to) || from.is_some_and(|f| !known(f)) {
            return false;
        }
        let mut seen: Vec<&str> = match from {
            None => self.start.iter().map(String::as_str).collect(),
            Some(f) => vec![f],
        };
        let mut i = 0;
        while i < seen.len() {
            if seen[i] == to {
                return true;
            }
            for (a, b) in &self.edges {
                if a == seen[i] && !seen.contains(&b.as_str()) {
                    seen.push(b);
                }
            }
            i += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Machine {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Machine {
            name: "order".into(),
            at: "order".into(),
            states: s(&["pending", "completed", "cancelled"]),
            start: s(&["pending", "cancelled"]),
            edges: vec![("pending".into(), "completed".into()), ("pending".into(), "cancelled".into())],
            finals: s(&["completed", "cancelled"]),
        }
    }

    #[test]
    fn reachability_follows_start_states_and_edges_only() {
        let m = order();
        assert!(m.reachable(None, Some("completed")), "created pending, then completed");
        assert!(m.reachable(Some("pending"), Some("cancelled")));
        assert!(!m.reachable(Some("completed"), Some("cancelled")), "a final state is final");
        assert!(!m.reachable(Some("completed"), None), "an acknowledged state lost");
        assert!(!m.reachable(None, Some("shipped")), "an unknown state");
        assert!(!m.reachable(Some("shipped"), Some("completed")));
        assert!(m.reachable(Some("shipped"), Some("shipped")));
        assert!(m.reachable(None, None));
    }
}
