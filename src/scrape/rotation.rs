//! Incremental refresh: which product pages a walk reads, pure. The listing pages carry most
//! of what changes (title, price, stars, availability word, the link, the set of books), so
//! a listing entry that is new or differs from the one last seen sends its product page to the
//! front of the queue; the product-only fields (UPC, stock count, category, taxes, reviews) of
//! the others are re-read on a rotation, the longest unread first, so that every product page
//! is read again at least every `[site] verify_every`, spread evenly over the walks.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use tokio::time::Instant;

use super::parse::ListingItem;
use crate::catalogue::Book;

/// How often product pages are re-read, and how often walks come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verify {
    /// Every product page is read again at least this often (`[site] verify_every`).
    pub every: Duration,
    /// The time between two walks (`[site] refresh`).
    pub cycle: Duration,
}

/// A listing entry as a 64-bit fingerprint of its fields (title, price, star word,
/// availability word, link): all the rotation compares, in 8 bytes instead of a copy of the
/// entry (about 350 bytes a book). Two different entries share one with a chance of 2^-64;
/// the product page of a book whose entry changed is then read on the rotation instead of at
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed(u64);

impl Listed {
    pub fn of(item: &ListingItem) -> Listed {
        Self::hash([
            &item.title,
            &item.price,
            &item.star_word,
            &item.availability,
            item.url.as_str(),
        ])
    }

    /// The entry a book read whole was listed with, as far as the book tells: its price and
    /// availability word are the product page's, which on a consistent site are the
    /// listing's; where they differ the entry looks changed and its page is read at once.
    pub fn of_book(book: &Book) -> Listed {
        Self::hash([
            &book.title,
            &book.price,
            &book.num_reviews,
            &book.availability,
            &book.url,
        ])
    }

    fn hash(fields: [&str; 5]) -> Listed {
        // SipHash with fixed keys: the same entry gives the same fingerprint for the whole
        // run (never persisted, so a new Rust release changing it changes nothing).
        let mut h = DefaultHasher::new();
        for f in fields {
            f.hash(&mut h);
        }
        Listed(h.finish())
    }
}

/// When a product page was last read, and the listing entry it was listed with then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub listed: Listed,
    pub verified: Instant,
}

/// The product pages of one walk: read first (new or changed entries), read on the rotation,
/// and known (not read; the book is its listing entry with the details last read).
#[derive(Debug, Default, PartialEq)]
pub struct Choice {
    pub rotation: Vec<usize>,
    pub known: Vec<usize>,
}

/// Whether the entry `item` must be read at once: never read (`seen` is `None`), or listed
/// differently now.
pub fn urgent(item: &ListingItem, seen: Option<&Seen>) -> bool {
    seen.is_none_or(|s| s.listed != Listed::of(item))
}

/// Among `candidates` (indices of entries listed as they were last seen), the ones to read on
/// the rotation: every one that would be unread for longer than `every` by the next walk, and
/// at least the walk's share (`cycle / every` of them, rounded up), the longest unread first.
/// `verified` tells when a product page (by URL) was last read.
pub fn rotate(
    candidates: &[(usize, &ListingItem)],
    verified: impl Fn(&str) -> Option<Instant>,
    verify: Verify,
    now: Instant,
) -> Choice {
    let mut aged: Vec<(Duration, usize)> = candidates
        .iter()
        .map(|(i, item)| {
            let age = verified(item.url.as_str())
                .map_or(Duration::MAX, |v| now.saturating_duration_since(v));
            (age, *i)
        })
        .collect();
    aged.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let every = verify.every.max(Duration::from_secs(1));
    let share = (aged.len() as f64 * verify.cycle.as_secs_f64() / every.as_secs_f64()).ceil();
    let due = aged
        .iter()
        .filter(|(age, _)| age.saturating_add(verify.cycle) > every)
        .count();
    let take = due.max(share as usize).min(aged.len());
    let mut rotation: Vec<usize> = aged[..take].iter().map(|(_, i)| *i).collect();
    let mut known: Vec<usize> = aged[take..].iter().map(|(_, i)| *i).collect();
    rotation.sort_unstable();
    known.sort_unstable();
    Choice { rotation, known }
}

/// How long ago each of `n` product pages known from a saved catalogue `saved_age` old is
/// taken to have been read, in listing order. When each page was read is not saved, only
/// that the running daemon read each one within `every`: the pages are spread evenly over
/// the `every` before the catalogue was saved, the first listed taken as the oldest. So the
/// rotation goes on at its usual share a walk and reads every one of them again within
/// `every` of the start (a page may thus go unread up to twice `every`, plus the downtime,
/// across a restart); a catalogue saved `every` or more ago has every page due at once.
pub fn seeded_ages(
    n: usize,
    saved_age: Duration,
    every: Duration,
) -> impl Iterator<Item = Duration> {
    (0..n).map(move |k| {
        let spread = every.mul_f64((n - k) as f64 / n as f64);
        saved_age.saturating_add(spread)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use url::Url;

    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn item(n: usize, price: &str) -> ListingItem {
        ListingItem {
            title: format!("Book {n}"),
            price: price.into(),
            star_word: "Three".into(),
            availability: "In stock".into(),
            url: Url::parse(&format!("http://x/catalogue/b_{n}/index.html")).unwrap(),
        }
    }

    fn seen_at(items: &[ListingItem], ages: &[Duration], now: Instant) -> HashMap<Box<str>, Seen> {
        items
            .iter()
            .zip(ages)
            .map(|(i, age)| {
                let s = Seen {
                    listed: Listed::of(i),
                    verified: now - *age,
                };
                (i.url.as_str().into(), s)
            })
            .collect()
    }

    fn at(seen: &HashMap<Box<str>, Seen>) -> impl Fn(&str) -> Option<Instant> + '_ {
        |url| seen.get(url).map(|s| s.verified)
    }

    #[test]
    fn a_new_or_changed_entry_is_read_at_once() {
        let now = Instant::now();
        let items: Vec<_> = (0..3).map(|n| item(n, "£1.00")).collect();
        let seen = seen_at(&items, &[MIN; 3], now);
        assert!(!urgent(&items[0], seen.get(items[0].url.as_str())));
        let repriced = item(1, "£2.00");
        assert!(
            urgent(&repriced, seen.get(repriced.url.as_str())),
            "repriced"
        );
        assert!(urgent(&item(9, "£1.00"), None), "new");
    }

    #[test]
    fn each_walk_reads_its_share_oldest_first_and_everything_due() {
        let now = Instant::now();
        let items: Vec<_> = (0..12).map(|n| item(n, "£1.00")).collect();
        let ages: Vec<Duration> = (0..12).map(|n| MIN * (n as u32 + 1)).collect();
        let seen = seen_at(&items, &ages, now);
        let candidates: Vec<(usize, &ListingItem)> = items.iter().enumerate().collect();
        let verify = Verify {
            every: 60 * MIN,
            cycle: 10 * MIN,
        };
        // 12 books, a walk every 10 minutes, each read every hour: 2 a walk, the oldest.
        let choice = rotate(&candidates, at(&seen), verify, now);
        assert_eq!(choice.rotation, [10, 11]);
        assert_eq!(choice.known.len(), 10);
        // Three that would be unread for over an hour by the next walk: all three, before
        // the share.
        let mut ages = ages;
        ages[0] = 61 * MIN;
        ages[1] = 55 * MIN;
        ages[2] = 51 * MIN;
        let seen = seen_at(&items, &ages, now);
        let choice = rotate(&candidates, at(&seen), verify, now);
        assert_eq!(choice.rotation, [0, 1, 2]);
    }

    #[test]
    fn over_a_verify_period_every_page_is_read_at_least_once() {
        let start = Instant::now();
        let items: Vec<_> = (0..50).map(|n| item(n, "£1.00")).collect();
        let mut seen = seen_at(&items, &[Duration::ZERO; 50], start);
        let candidates: Vec<(usize, &ListingItem)> = items.iter().enumerate().collect();
        let verify = Verify {
            every: 60 * MIN,
            cycle: 7 * MIN,
        };
        let mut reads = vec![0u32; 50];
        let mut most = 0;
        for walk in 1..=30u32 {
            let now = start + 7 * MIN * walk;
            let choice = rotate(&candidates, at(&seen), verify, now);
            most = most.max(choice.rotation.len());
            for i in choice.rotation {
                reads[i] += 1;
                seen.get_mut(items[i].url.as_str()).unwrap().verified = now;
            }
            for s in seen.values() {
                let by_next_walk = now - s.verified + 7 * MIN;
                assert!(
                    by_next_walk <= 60 * MIN,
                    "walk {walk}: unread for over an hour"
                );
            }
        }
        assert!(reads.iter().all(|r| *r >= 3), "{reads:?}");
        assert!(
            most <= 8,
            "spread evenly, not in bursts: {most} in one walk"
        );
    }

    #[test]
    fn pages_known_from_a_saved_catalogue_are_all_read_again_within_verify_every() {
        let ages: Vec<Duration> = seeded_ages(4, MIN, 60 * MIN).collect();
        assert_eq!(ages, [61 * MIN, 46 * MIN, 31 * MIN, 16 * MIN]);
        // 60 books from a catalogue saved a minute ago, a walk a minute: the first walk reads
        // the two due and no burst after; every page is read again within the hour.
        let start = Instant::now() + 2 * 60 * MIN;
        let items: Vec<_> = (0..60).map(|n| item(n, "£1.00")).collect();
        let ages: Vec<Duration> = seeded_ages(60, MIN, 60 * MIN).collect();
        let mut seen = seen_at(&items, &ages, start);
        let candidates: Vec<(usize, &ListingItem)> = items.iter().enumerate().collect();
        let verify = Verify {
            every: 60 * MIN,
            cycle: MIN,
        };
        let mut first_read = vec![None; 60];
        for walk in 0..60u32 {
            let now = start + MIN * walk;
            let choice = rotate(&candidates, at(&seen), verify, now);
            assert!(
                choice.rotation.len() <= 2,
                "walk {walk}: {:?}",
                choice.rotation
            );
            for i in choice.rotation {
                first_read[i].get_or_insert(walk);
                seen.get_mut(items[i].url.as_str()).unwrap().verified = now;
            }
        }
        assert!(first_read.iter().all(Option::is_some), "{first_read:?}");
        // A catalogue saved an hour ago or more: every page is due at once.
        let stale: Vec<Duration> = seeded_ages(3, 60 * MIN, 60 * MIN).collect();
        assert!(stale.iter().all(|a| *a + MIN > 60 * MIN));
    }
}
