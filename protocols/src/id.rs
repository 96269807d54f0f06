//! An order id as every per-order key and subject spells it: at least six
//! digits, zero-padded, as `{id:06}` would — written in one piece, without the
//! formatter's padding, which wrote the zeros a character at a time (keys are
//! spelled several times a message; it showed in profiles).

use std::fmt;

/// `id`, displayed as `format!("{id:06}")` displays it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Padded(pub u32);

/// `{prefix}{id:06}`, spelt without the formatter, with room for a suffix.
pub fn key(prefix: &str, id: u32) -> String {
    let mut key = String::with_capacity(prefix.len() + 32);
    key.push_str(prefix);
    Padded(id).push_to(&mut key);
    key
}

impl Padded {
    /// Appends the spelling to `out`, as `Display` writes it but without a
    /// formatter: for keys spelt on every message.
    pub fn push_to(self, out: &mut String) {
        self.spell(|s| out.push_str(s))
    }

    fn spell<R>(self, with: impl FnOnce(&str) -> R) -> R {
        let mut digits = [b'0'; 10];
        let (mut n, mut start) = (self.0, digits.len());
        while n > 0 {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let from = start.min(digits.len() - 6);
        with(std::str::from_utf8(&digits[from..]).expect("ASCII digits"))
    }
}

impl fmt::Display for Padded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.spell(|s| f.write_str(s))
    }
}

#[cfg(test)]
mod tests {
    use super::Padded;

    #[test]
    fn spelled_as_the_formatter_pads_it() {
        for id in [0, 7, 42, 999, 12_345, 999_999, 1_000_000, 4_294_967_295u32] {
            assert_eq!(Padded(id).to_string(), format!("{id:06}"));
            assert_eq!(format!("order/{}/x", Padded(id)), format!("order/{id:06}/x"));
            let mut pushed = String::from("order/");
            Padded(id).push_to(&mut pushed);
            assert_eq!(pushed, format!("order/{id:06}"));
            assert_eq!(super::key("order/", id), format!("order/{id:06}"));
        }
        for id in (0..3_000_000).step_by(997) {
            assert_eq!(Padded(id).to_string(), format!("{id:06}"), "{id}");
        }
    }
}
