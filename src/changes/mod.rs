//! The change feed's pure half: two catalogues in, the events between them out, keyed by UPC.
//!
//! Each event is one record: the book's fields exactly as in catalogue mode (the old five keys
//! first, then the typed fields; for `removed`, the last known values), then `event`,
//! `changed_fields`, `previous` (the old values of those fields), `detected_at` and `event_id`.
//! The id is a hash of the book's key, the event, the feed's generation and the baseline it was
//! detected against and the book's values, so a given change has the same id however often it
//! is sent or re-detected after a crash, and a change that happens again (a price back and
//! forth) has a new one: downstream can drop the rare duplicate a crash causes and count each
//! change exactly once.
//!
//! Only books whose product page was read (with a UPC) take part: a book known only from its
//! listing is keyed by its URL, and counting it would report it removed and added again under
//! its UPC once its page is read.

use std::collections::HashMap;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalogue::{Book, Timestamp};

mod feed;
pub use feed::Feed;

/// What happened to a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The initial load: every book once, when there is no earlier catalogue.
    Snapshot,
    Added,
    Changed,
    Removed,
}

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Snapshot => "snapshot",
            EventKind::Added => "added",
            EventKind::Changed => "changed",
            EventKind::Removed => "removed",
        }
    }
}

/// One change, as it is streamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeEvent {
    #[serde(flatten)]
    pub book: Book,
    pub event: EventKind,
    /// For `changed`: the fields that differ, in record order; empty otherwise.
    pub changed_fields: Vec<String>,
    /// For `changed`: those fields' old values; empty otherwise.
    pub previous: Map<String, Value>,
    /// When the refresh that found it finished (RFC 3339 UTC).
    pub detected_at: Timestamp,
    pub event_id: String,
}

/// Fields that say when or how a page was fetched: they never make a change on their own.
pub const FETCH_FIELDS: &[&str] = &["scraped_at"];

/// A book's values that count for change detection, in record order.
fn comparable(book: &Book) -> Map<String, Value> {
    let mut fields = match serde_json::to_value(book) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for f in FETCH_FIELDS {
        fields.remove(*f);
    }
    fields
}

fn hex_md5(parts: &[&[u8]]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("{:032x}", u128::from_be_bytes(hasher.finalize().into()))
}

/// Identifies a catalogue by its comparable content (not by when it was fetched).
pub fn baseline_id(books: &[Book]) -> String {
    let values: Vec<Map<String, Value>> = books.iter().map(comparable).collect();
    let bytes = serde_json::to_vec(&values).unwrap_or_default();
    hex_md5(&[&bytes])
}

/// Where a detection stands: the feed's generation and the baseline it compares with; both go
/// into every event id.
struct Against<'a> {
    generation: u64,
    baseline: &'a str,
}

fn event(
    kind: EventKind,
    book: &Book,
    changed: Vec<String>,
    previous: Map<String, Value>,
    against: &Against<'_>,
    detected_at: &Timestamp,
) -> ChangeEvent {
    let content = serde_json::to_vec(&comparable(book)).unwrap_or_default();
    let event_id = hex_md5(&[
        book.key().as_bytes(),
        kind.as_str().as_bytes(),
        &against.generation.to_le_bytes(),
        against.baseline.as_bytes(),
        &content,
    ]);
    ChangeEvent {
        book: book.clone(),
        event: kind,
        changed_fields: changed,
        previous,
        detected_at: *detected_at,
        event_id,
    }
}

/// Whether a book takes part in the feed: its product page was read (it has its UPC).
fn known(book: &&Book) -> bool {
    book.upc.is_some()
}

/// The initial load: one `snapshot` event per book, in listing order, in the feed's generation
/// `generation` (see [`Feed::generation`]).
pub fn snapshot(books: &[Book], detected_at: &Timestamp, generation: u64) -> Vec<ChangeEvent> {
    let against = Against {
        generation,
        baseline: "none",
    };
    books
        .iter()
        .filter(known)
        .map(|b| {
            event(
                EventKind::Snapshot,
                b,
                Vec::new(),
                Map::new(),
                &against,
                detected_at,
            )
        })
        .collect()
}

/// The events that turn `old` into `new`: `added` and `changed` in `new`'s listing order, then
/// `removed` in `old`'s. Both are expected to hold each key once (the scraper deduplicates).
/// For two saved catalogues (`bookstream diff`); the daemon's feed uses [`diff_in`].
pub fn diff(old: &[Book], new: &[Book], detected_at: &Timestamp) -> Vec<ChangeEvent> {
    diff_in(old, new, detected_at, 0)
}

/// [`diff`] in the feed's generation `generation` (see [`Feed::generation`]), so that the same
/// change happening again later gets another event id.
pub fn diff_in(
    old: &[Book],
    new: &[Book],
    detected_at: &Timestamp,
    generation: u64,
) -> Vec<ChangeEvent> {
    let baseline = baseline_id(old);
    let against = Against {
        generation,
        baseline: &baseline,
    };
    let before: HashMap<&str, &Book> = old.iter().filter(known).map(|b| (b.key(), b)).collect();
    let after: HashMap<&str, &Book> = new.iter().filter(known).map(|b| (b.key(), b)).collect();
    let mut events = Vec::new();
    for book in new.iter().filter(known) {
        match before.get(book.key()) {
            None => events.push(event(
                EventKind::Added,
                book,
                Vec::new(),
                Map::new(),
                &against,
                detected_at,
            )),
            Some(was) => {
                let (then, now) = (comparable(was), comparable(book));
                let mut changed = Vec::new();
                let mut previous = Map::new();
                for (field, value) in &now {
                    let old_value = then.get(field).unwrap_or(&Value::Null);
                    if old_value != value {
                        changed.push(field.clone());
                        previous.insert(field.clone(), old_value.clone());
                    }
                }
                if !changed.is_empty() {
                    events.push(event(
                        EventKind::Changed,
                        book,
                        changed,
                        previous,
                        &against,
                        detected_at,
                    ));
                }
            }
        }
    }
    for book in old
        .iter()
        .filter(known)
        .filter(|b| !after.contains_key(b.key()))
    {
        events.push(event(
            EventKind::Removed,
            book,
            Vec::new(),
            Map::new(),
            &against,
            detected_at,
        ));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        rfc3339.parse().expect("an RFC 3339 time")
    }

    pub(super) fn book(upc: &str, price: &str, stock: u32) -> Book {
        let gbp = price.parse().ok();
        let availability = if stock > 0 {
            "In stock"
        } else {
            "Out of stock"
        };
        Book {
            price: format!("£{price}"),
            availability: availability.into(),
            price_gbp: gbp,
            stock: Some(stock),
            price_excl_tax_gbp: gbp,
            price_incl_tax_gbp: gbp,
            scraped_at: at("2026-01-01T00:00:00Z"),
            ..Book::sample(upc)
        }
    }

    #[test]
    fn added_changed_and_removed_books_become_one_event_each() {
        let old = vec![
            book("a", "1.00", 3),
            book("b", "2.00", 0),
            book("c", "3.00", 5),
        ];
        let mut refetched_a = book("a", "1.00", 3);
        refetched_a.scraped_at = at("2026-01-02T00:00:00Z");
        let new = vec![book("d", "4.00", 1), refetched_a, book("b", "2.50", 4)];
        let events = diff(&old, &new, &at("2026-01-02T00:00:05Z"));
        let got: Vec<(EventKind, &str)> = events.iter().map(|e| (e.event, e.book.key())).collect();
        assert_eq!(
            got,
            [
                (EventKind::Added, "d"),
                (EventKind::Changed, "b"),
                (EventKind::Removed, "c")
            ],
            "a was only fetched again: no event"
        );
        let changed = &events[1];
        assert_eq!(
            changed.changed_fields,
            [
                "price",
                "availability",
                "price_gbp",
                "stock",
                "price_excl_tax_gbp",
                "price_incl_tax_gbp"
            ]
        );
        assert_eq!(changed.previous["price"], "£2.00");
        assert_eq!(changed.previous["availability"], "Out of stock");
        assert_eq!(changed.previous["stock"], 0);
        assert_eq!(
            events[2].book.price, "£3.00",
            "removed: the last known values"
        );
    }

    #[test]
    fn the_record_keeps_the_old_five_keys_first_then_the_event_fields() {
        let e = &snapshot(&[book("a", "1.00", 1)], &at("2026-01-01T00:00:00Z"), 0)[0];
        let v = serde_json::to_value(e).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys[..5],
            ["title", "price", "num_reviews", "upc", "availability"]
        );
        assert_eq!(
            keys[keys.len() - 5..],
            [
                "event",
                "changed_fields",
                "previous",
                "detected_at",
                "event_id"
            ]
        );
        let back: ChangeEvent = serde_json::from_value(v).unwrap();
        assert_eq!(&back, e);
    }

    #[test]
    fn an_event_id_is_stable_for_a_change_and_differs_between_changes() {
        let old = vec![book("a", "1.00", 1)];
        let new = vec![book("a", "2.00", 1)];
        let once = diff(&old, &new, &at("2026-01-01T00:00:01Z"));
        let again = diff(&old, &new, &at("2026-01-01T00:00:02Z"));
        assert_eq!(
            once[0].event_id, again[0].event_id,
            "detected_at is not part of it"
        );
        // The same book changing again, against the new baseline, is another change.
        let newer = vec![book("a", "3.00", 1)];
        let second = diff(&new, &newer, &at("2026-01-01T00:00:03Z"));
        assert_ne!(once[0].event_id, second[0].event_id);
        let snap = snapshot(&new, &at("2026-01-01T00:00:01Z"), 0);
        assert_ne!(snap[0].event_id, once[0].event_id);
    }

    #[test]
    fn a_book_without_its_upc_takes_no_part() {
        let unread = Book {
            upc: None,
            ..book("u", "1.00", 1)
        };
        assert!(
            snapshot(
                std::slice::from_ref(&unread),
                &at("2026-01-01T00:00:00Z"),
                0
            )
            .is_empty()
        );
        assert!(
            diff(
                &[],
                std::slice::from_ref(&unread),
                &at("2026-01-01T00:00:00Z")
            )
            .is_empty(),
            "not added"
        );
        assert!(
            diff(
                std::slice::from_ref(&unread),
                &[],
                &at("2026-01-01T00:00:00Z")
            )
            .is_empty(),
            "not removed"
        );
    }
}
