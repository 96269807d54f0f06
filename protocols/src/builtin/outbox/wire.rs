//! How an event is spelled in an outbox row and a broker message: one line of
//! `|`-separated fields. Every message of an outbox run carries an event,
//! encoded at emit and decoded at each relay and delivery; as JSON, that was a
//! fourteenth of the run's instructions.

use super::{Event, Kind};
use crate::workload::{Line, Order};

/// `kind|order|customer|amount|points|submit_at_ms|cancel_after_ms|lines`:
/// `cancel_after_ms` empty when the customer never cancels; each line
/// `sku:qty:amount`, then `:u` if it cannot be delivered; lines joined by `,`.
pub fn encode(event: &Event) -> String {
    let o = &event.order;
    let mut text = String::with_capacity(48 + 24 * o.lines.len());
    let mut num = itoa::Buffer::new();
    text.push_str(&event.kind.name());
    for n in [u64::from(o.id), u64::from(o.customer)] {
        text.push('|');
        text.push_str(num.format(n));
    }
    for n in [o.amount, o.points] {
        text.push('|');
        text.push_str(num.format(n));
    }
    text.push('|');
    text.push_str(num.format(o.submit_at_ms));
    text.push('|');
    if let Some(after) = o.cancel_after_ms {
        text.push_str(num.format(after));
    }
    text.push('|');
    for (i, l) in o.lines.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(num.format(l.sku));
        for n in [l.qty, l.amount] {
            text.push(':');
            text.push_str(num.format(n));
        }
        if l.undeliverable {
            text.push_str(":u");
        }
    }
    text
}

/// The kind and order of the event `text` spells, reading only those two
/// fields: a consumer acks the events it does not react to unread.
pub fn head(text: &str) -> Option<(Kind, u32)> {
    let mut fields = Fields::new(text, b'|');
    Some((Kind::parse(fields.next()?)?, fields.num()?))
}

/// The event `text` spells, or `None` if it spells none.
pub fn decode(text: &str) -> Option<Event> {
    let mut fields = Fields::new(text, b'|');
    let kind = Kind::parse(fields.next()?)?;
    let (id, customer) = (fields.num()?, fields.num()?);
    let (amount, points, submit_at_ms) = (fields.num()?, fields.num()?, fields.num()?);
    let cancel_after_ms = match fields.next()? {
        "" => None,
        after => Some(after.parse().ok()?),
    };
    let lines = match fields.next()? {
        "" => Vec::new(),
        lines => Fields::new(lines, b',').map(line).collect::<Option<_>>()?,
    };
    if fields.next().is_some() {
        return None;
    }
    let order = Order { id, customer, lines, amount, points, submit_at_ms, cancel_after_ms };
    Some(Event { kind, order })
}

fn line(text: &str) -> Option<Line> {
    let mut fields = Fields::new(text, b':');
    let (sku, qty, amount) = (fields.num()?, fields.num()?, fields.num()?);
    let undeliverable = match fields.next() {
        None => false,
        Some("u") => true,
        Some(_) => return None,
    };
    fields.next().is_none().then_some(Line { sku, qty, amount, undeliverable })
}

/// The fields of a text between one ASCII separator: `str::split` by bytes,
/// which for these short texts is several times cheaper than its char search.
struct Fields<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Fields<'a> {
    fn new(text: &'a str, sep: u8) -> Self {
        Fields { rest: Some(text), sep }
    }

    fn num<T: std::str::FromStr>(&mut self) -> Option<T> {
        self.next()?.parse().ok()
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        // The separator is ASCII, so both sides of it are on char boundaries.
        match text.bytes().position(|b| b == self.sep) {
            Some(i) => {
                self.rest = Some(&text[i + 1..]);
                Some(&text[..i])
            }
            None => self.rest.take(),
        }
    }
}

impl Kind {
    /// The kind named `name` (see [`Kind::name`]).
    pub fn parse(name: &str) -> Option<Kind> {
        if let Some(kind) = Kind::ALL.into_iter().find(|k| k.name() == name) {
            return Some(kind);
        }
        let step = name.strip_prefix("step-")?;
        if let Some(n) = step.strip_suffix("-done") {
            return Some(Kind::Done(n.parse().ok()?));
        }
        Some(Kind::Failed(step.strip_suffix("-failed")?.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            proptest::sample::select(Kind::ALL.to_vec()),
            any::<u8>().prop_map(Kind::Done),
            any::<u8>().prop_map(Kind::Failed),
        ]
    }

    fn order() -> impl Strategy<Value = Order> {
        let line = (any::<u32>(), any::<i64>(), any::<i64>(), any::<bool>())
            .prop_map(|(sku, qty, amount, undeliverable)| Line { sku, qty, amount, undeliverable });
        let head = (any::<u32>(), any::<u32>(), any::<i64>(), any::<i64>(), any::<u64>());
        (head, proptest::option::of(any::<u64>()), proptest::collection::vec(line, 0..4)).prop_map(
            |((id, customer, amount, points, submit_at_ms), cancel_after_ms, lines)| Order {
                id,
                customer,
                lines,
                amount,
                points,
                submit_at_ms,
                cancel_after_ms,
            },
        )
    }

    proptest! {
        #[test]
        fn every_event_decodes_to_itself((kind, order) in (kind(), order())) {
            let event = Event { kind, order };
            prop_assert_eq!(head(&encode(&event)), Some((event.kind, event.order.id)));
            prop_assert_eq!(decode(&encode(&event)), Some(event));
        }

        #[test]
        fn any_text_decodes_or_is_refused_without_panicking(text in "[-a-z0-9|:,u]{0,60}") {
            if let Some(event) = decode(&text) {
                prop_assert_eq!(decode(&encode(&event)), Some(event));
            }
        }
    }

    #[test]
    fn a_text_that_spells_no_event_is_refused() {
        let good = "order-placed|7|2|1500|15|4000||3:2:1500";
        assert!(decode(good).is_some());
        for bad in [
            "",
            "order-placed|7|2|1500|15|4000|",                 // no lines field
            "order-placed|7|2|1500|15|4000||3:2:1500|",       // a field too many
            "order-shipped-twice|7|2|1500|15|4000||3:2:1500", // no such kind
            "step-x-done|7|2|1500|15|4000||3:2:1500",         // no step number
            "order-placed|-7|2|1500|15|4000||3:2:1500",       // a negative id
            "order-placed|7|2|1500|15|4000|soon|3:2:1500",    // a cancel time that is no number
            "order-placed|7|2|1500|15|4000||3:2",             // a line without its amount
            "order-placed|7|2|1500|15|4000||3:2:1500:x",      // a line's flag that is not `u`
            "order-placed|7|2|1500|15|4000||3:2:1500:u:u",    // a line's field too many
            "order-placed|7|2|1500|15|4000||3:2:1500,",       // an empty line
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn kinds_parse_from_their_names() {
        for kind in Kind::ALL.into_iter().chain([Kind::Done(0), Kind::Done(255), Kind::Failed(3)]) {
            assert_eq!(Kind::parse(&kind.name()), Some(kind));
        }
        assert_eq!(Kind::parse("step-256-done"), None);
        assert_eq!(Kind::parse("step-3"), None);
    }
}
