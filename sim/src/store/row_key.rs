//! A row's key as a table holds it. Keys are short and compared on every step
//! down a table's tree, so a key up to [`INLINE`] bytes is held in place,
//! zero-padded, and compared eight bytes at a time.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Deref;

/// The longest key held in place: every key faultline's protocols write fits
/// (the longest, a broker message id such as
/// `msgid/payments/000123-payment-succeeded`, is 39 bytes). A longer key, which
/// a team's own protocol may write, lives on the heap and compares as a `str`.
pub const INLINE: usize = 46;

/// A store key: a string, ordered as `str` orders it (by bytes).
#[derive(Clone)]
pub struct RowKey(Repr);

#[derive(Clone)]
enum Repr {
    /// `bytes[..len]` is the key and every byte after it is zero, so two inline
    /// keys compare as their padded words do, then by length: a key's padding
    /// equals a longer key's bytes only if those are zero, and then the
    /// shorter key is a prefix of the longer, so it comes first, as in `str`.
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

impl RowKey {
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: `bytes[..len]` is only ever a whole `str`'s bytes, copied
            // in `From<&str>`; nothing else writes them. Checking them again on
            // every look at a key cost as much as the comparisons saved.
            Repr::Inline { len, bytes } => unsafe { std::str::from_utf8_unchecked(&bytes[..*len as usize]) },
            Repr::Heap(s) => s,
        }
    }
}

impl From<&str> for RowKey {
    fn from(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            RowKey(Repr::Inline { len: s.len() as u8, bytes })
        } else {
            RowKey(Repr::Heap(s.into()))
        }
    }
}

impl From<&String> for RowKey {
    fn from(s: &String) -> Self {
        RowKey::from(s.as_str())
    }
}

impl From<String> for RowKey {
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            RowKey::from(s.as_str())
        } else {
            RowKey(Repr::Heap(s.into_boxed_str()))
        }
    }
}

impl Ord for RowKey {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Inline { len: la, bytes: a }, Repr::Inline { len: lb, bytes: b }) => {
                let n = (*la).max(*lb) as usize;
                let mut at = 0;
                while at < n {
                    let (x, y) = (word(a, at), word(b, at));
                    if x != y {
                        return x.cmp(&y);
                    }
                    at += 8;
                }
                la.cmp(lb)
            }
            _ => self.as_str().cmp(other.as_str()),
        }
    }
}

/// The eight bytes of `bytes` from `at` as a number that orders as the bytes
/// do — or, past the last whole word, the last eight bytes: the two bytes
/// they share with the word before compared equal already (the caller
/// compares words in order and stops at the first that differs), so the
/// word orders as the six after them do, without copying a short tail.
#[inline]
fn word(bytes: &[u8; INLINE], at: usize) -> u64 {
    let at = at.min(INLINE - 8);
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

impl PartialOrd for RowKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for RowKey {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Inline { len: la, bytes: a }, Repr::Inline { len: lb, bytes: b }) => la == lb && a == b,
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for RowKey {}

impl Deref for RowKey {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for RowKey {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RowKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RowKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(RowKey::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Keys of bytes either side of and at the padding's zero, and `/`; short,
    /// at the inline limit and past it.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof!["[a\u{0}\u{1}/é]{0,12}", "[a\u{0}/]{40,50}"]
    }

    proptest! {
        /// Half the pairs are a key and that key extended, since a prefix
        /// and its extension by zero bytes pad to the same words.
        #[test]
        fn orders_and_compares_as_str(a in key(), b in key(), extend in any::<bool>()) {
            let b = if extend { format!("{a}{b}") } else { b };
            let (ka, kb) = (RowKey::from(a.as_str()), RowKey::from(b.clone()));
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            prop_assert_eq!(ka == kb, a == b);
            prop_assert_eq!(ka.as_str(), a.as_str());
        }
    }

    #[test]
    fn a_key_at_the_limit_is_inline_and_one_past_it_is_not() {
        let at = "k".repeat(INLINE);
        assert!(matches!(RowKey::from(at.as_str()).0, Repr::Inline { .. }));
        assert!(matches!(RowKey::from(format!("{at}k")).0, Repr::Heap(_)));
        assert_eq!(std::mem::size_of::<RowKey>(), 48);
    }
}
