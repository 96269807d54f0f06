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
    key_in(&[prefix], id)
}

/// [`key`], its prefix given in parts: one allocation, not one for the
/// prefix and one for the key.
pub fn key_in(prefix: &[&str], id: u32) -> String {
    let mut key = String::with_capacity(prefix.iter().map(|p| p.len()).sum::<usize>() + 32);
    prefix.iter().for_each(|p| key.push_str(p));
    Padded(id).push_to(&mut key);
    key
}

/// `{prefix}{order:06}/{line}`, the prefix in parts: a per-line record's key.
pub fn line_key(prefix: &[&str], order: u32, line: u32) -> String {
    let mut key = key_in(prefix, order);
    key.push('/');
    push_padded(&mut key, line, 1);
    key
}

/// `{prefix}{n:0width$}{suffix}` (width at most 10), spelt without the
/// formatter: the stock, account and lock keys a message names.
pub fn padded(prefix: &str, n: u32, width: usize, suffix: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + 10 + suffix.len());
    key.push_str(prefix);
    push_padded(&mut key, n, width);
    key.push_str(suffix);
    key
}

/// Appends `n` as `{n:0width$}` spells it (width at most 10).
pub fn push_padded(out: &mut String, n: u32, width: usize) {
    spell(n, width, |s| out.push_str(s))
}

/// `n`'s digits, zero-padded to `width` (at most 10), handed to `with`.
fn spell<R>(n: u32, width: usize, with: impl FnOnce(&str) -> R) -> R {
    let mut digits = [b'0'; 10];
    let (mut n, mut start) = (n, digits.len());
    while n > 0 {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // At least one digit: `{0:00$}` is "0".
    let from = start.min(digits.len() - width.clamp(1, digits.len()));
    with(std::str::from_utf8(&digits[from..]).expect("ASCII digits"))
}

impl Padded {
    /// Appends the spelling to `out`, as `Display` writes it but without a
    /// formatter: for keys spelt on every message.
    pub fn push_to(self, out: &mut String) {
        self.spell(|s| out.push_str(s))
    }

    fn spell<R>(self, with: impl FnOnce(&str) -> R) -> R {
        spell(self.0, 6, with)
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
            assert_eq!(super::key_in(&["saga", "-order/"], id), format!("saga-order/{id:06}"));
        }
        for id in (0..3_000_000).step_by(997) {
            assert_eq!(Padded(id).to_string(), format!("{id:06}"), "{id}");
        }
        assert_eq!(super::line_key(&["did/", "step-2", "/"], 42, 0), "did/step-2/000042/0");
        assert_eq!(super::line_key(&["x/"], 1_234_567, 13), "x/1234567/13");
        for n in [0, 5, 42, 999, 1_000, 12_345, 4_294_967_295u32] {
            for width in [0, 1, 2, 3, 4, 9, 10] {
                assert_eq!(super::padded("p/", n, width, "/s"), format!("p/{n:0width$}/s"), "{n} {width}");
            }
        }
    }
}
