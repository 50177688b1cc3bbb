//! What a walk of the catalogue found, and what it proves, pure: each book with whether its
//! product page was read, whether the walk reached the end its pager announced, and the
//! judgement against the last good catalogue (what to take as the new one).
//!
//! A book whose product page failed has no UPC, so its key falls back to its URL: compared
//! by key with the last catalogue it would look removed and added again (and the reverse
//! once its page works). A walk that ends short of the pager's "Page M of M" (a page that lost
//! its "next" link) would make every book it did not reach look removed. Neither is news
//! about the catalogue, so [`Scraped::against`] keeps such books as the last good catalogue
//! knew them: a book is found removed only by a complete walk that identified every book it
//! listed ([`Taken::proves_removals`]).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use crate::catalogue::Book;

use super::parse::Pager;

/// One listed book and how much of it was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Listing and product page both read.
    Whole(Book),
    /// The product page failed (after its retries) or was unreadable: the listing's fields
    /// only, no UPC.
    ListingOnly(Book),
    /// `robots.txt` disallows the product page, so it was not asked for: the listing's fields,
    /// as read now, are all there is of this book (keyed by its URL).
    Disallowed(Book),
    /// The product page answered 404 or 410: the book is gone, whatever the listing says.
    Gone(Book),
}

impl Found {
    pub fn book(&self) -> &Book {
        match self {
            Found::Whole(b) | Found::ListingOnly(b) | Found::Disallowed(b) | Found::Gone(b) => b,
        }
    }

    pub fn into_book(self) -> Book {
        match self {
            Found::Whole(b) | Found::ListingOnly(b) | Found::Disallowed(b) | Found::Gone(b) => b,
        }
    }
}

/// Why the walk of the listing pages stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// A page without a "next" link.
    NoNext,
    /// A "next" link back to a page already walked.
    LoopedBack,
    /// `[site] pages` (or `--pages`) listing pages were walked, as asked.
    PageLimit,
}

/// How far the walk of the listing pages went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    /// Listing pages walked.
    pub pages: u32,
    /// The "Page N of M" of the last page walked, if it had one.
    pub last_pager: Option<Pager>,
    pub end: WalkEnd,
}

impl Walk {
    /// Whether the walk saw the whole catalogue it was asked for: it stopped at the page its
    /// pager calls the last ("Page M of M"), or at a one-page catalogue without a pager, or at
    /// the page limit it was given. Only a complete walk can tell that a book is gone.
    pub fn complete(&self) -> bool {
        match (self.end, self.last_pager) {
            (WalkEnd::PageLimit, _) => true,
            (_, Some(pager)) => pager.is_last(),
            (_, None) => self.pages == 1,
        }
    }
}

/// Counts from one scrape, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeStats {
    pub listing_pages: u32,
    /// Product links to another origin, not followed (their books are left out).
    pub foreign_links: u32,
    /// Books listed again under a key already seen (left out).
    pub duplicates: u32,
    pub products: u32,
    pub requests: u32,
    pub not_modified: u32,
    pub product_failures: u32,
    /// Product pages `robots.txt` disallows, not asked for.
    pub disallowed: u32,
    /// Product pages that answered 404 or 410 (their books are gone).
    pub gone: u32,
    /// Product pages not read: listed as last seen and read within `verify_every`.
    pub known: u32,
}

/// A finished walk: the books in listing order (each key once), how far it went, its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Scraped {
    pub books: Vec<Found>,
    pub walk: Walk,
    pub stats: ScrapeStats,
}

/// The catalogue to take from a walk, judged against the last good one.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    /// In listing order; then, after a short walk, the books it did not reach.
    pub books: Vec<Book>,
    /// Books whose product page failed, kept whole as the last good catalogue had them
    /// (found by URL): no change is read from a page that was not read.
    pub kept_unread: u32,
    /// Books whose product page failed and that the last good catalogue lacks: listing
    /// fields only, no UPC (the change feed leaves them out until their page is read).
    pub listing_only: u32,
    /// Books of the last good catalogue this walk did not show, kept as they were because it
    /// cannot prove them gone: it was short, or a book it listed could not be identified
    /// (listing fields only: it may be one of them). Zero whenever [`Taken::proves_removals`].
    pub kept_missing: u32,
    /// Whether a book missing from this walk is gone: the walk was complete and every book it
    /// listed was identified.
    pub proves_removals: bool,
    /// URLs of listed books whose product page answered 404 or 410: left out, even of a
    /// short walk's kept books (gone now, not merely unseen).
    pub gone: Vec<String>,
    /// Books a complete walk did not list, kept until `[site] removed_after` complete walks
    /// in a row have not (set by [`super::Absences::judge`]).
    pub pending_removal: u32,
    pub walk: Walk,
    pub stats: ScrapeStats,
}

impl Scraped {
    /// The catalogue to take instead of `last` (the last good catalogue; `None` when there is
    /// none): every book read whole as it was read; a book whose product page failed as
    /// `last` had it (by URL), else with the listing's fields only; and unless the walk was
    /// [complete](Walk::complete) with every book identified, `last`'s books it did not show,
    /// appended as they were.
    /// Compared with `last`, the result shows no book removed or changed that the walk did
    /// not actually see removed or changed.
    pub fn against(self, last: Option<&[Book]>) -> Taken {
        let last = last.unwrap_or_default();
        let by_url: HashMap<&str, &Book> = last.iter().map(|b| (b.url.as_str(), b)).collect();
        let (mut kept_unread, mut listing_only, mut kept_missing) = (0, 0, 0);
        let mut gone = Vec::new();
        let mended: Vec<Book> = self
            .books
            .into_iter()
            .filter_map(|found| match found {
                Found::Whole(book) | Found::Disallowed(book) => Some(book),
                Found::Gone(book) => {
                    gone.push(book.url);
                    None
                }
                Found::ListingOnly(book) => match by_url.get(book.url.as_str()) {
                    Some(known) => {
                        kept_unread += 1;
                        Some((*known).clone())
                    }
                    None => {
                        listing_only += 1;
                        Some(book)
                    }
                },
            })
            .collect();
        // A book kept by URL may now share its UPC with one listed elsewhere: once each.
        let (mut books, _) = dedupe(mended);
        let proves_removals = self.walk.complete() && listing_only == 0;
        if !proves_removals {
            let seen: HashSet<String> = books.iter().map(|b| b.key().to_owned()).collect();
            let missing = last
                .iter()
                .filter(|b| !seen.contains(b.key()) && !gone.contains(&b.url));
            for book in missing {
                books.push(book.clone());
                kept_missing += 1;
            }
        }
        Taken {
            books,
            kept_unread,
            listing_only,
            kept_missing,
            proves_removals,
            gone,
            pending_removal: 0,
            walk: self.walk,
            stats: self.stats,
        }
    }
}

/// A book whose key (UPC, else URL) an earlier book of the same scrape already had.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    pub key: String,
    pub first_url: String,
    pub dropped_url: String,
}

/// Keeps the first book of each key, in listing order; the others are returned to be reported.
/// The cursor follows keys, so a key listed twice would otherwise send the walk back.
pub fn dedupe(books: Vec<Book>) -> (Vec<Book>, Vec<Duplicate>) {
    dedupe_by(books, |b| b)
}

/// [`dedupe`] for anything that holds a book. In place: a second vector of the walk's 1,000
/// books (300 KB) would be the walk's peak, and the keys are borrowed, not copied.
pub fn dedupe_by<T>(mut items: Vec<T>, book: impl Fn(&T) -> &Book) -> (Vec<T>, Vec<Duplicate>) {
    let mut dropped = Vec::new();
    let keep: Vec<bool> = {
        let mut first: HashMap<&str, &str> = HashMap::with_capacity(items.len());
        items
            .iter()
            .map(|item| {
                let b = book(item);
                match first.entry(b.key()) {
                    Entry::Occupied(url) => {
                        dropped.push(Duplicate {
                            key: b.key().to_owned(),
                            first_url: (*url.get()).to_owned(),
                            dropped_url: b.url.clone(),
                        });
                        false
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(&b.url);
                        true
                    }
                }
            })
            .collect()
    };
    // `retain` visits each element once, in order.
    let mut keep = keep.into_iter();
    items.retain(|_| keep.next().unwrap_or(true));
    (items, dropped)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::changes::{self, EventKind};

    fn book(upc: &str, url: &str) -> Book {
        Book {
            url: url.into(),
            ..Book::sample(upc)
        }
    }

    /// The listing-only book a failed product page gives for `b`: no UPC, no product fields.
    fn unread(b: &Book) -> Found {
        Found::ListingOnly(Book {
            upc: None,
            stock: None,
            scraped_at: crate::catalogue::now(),
            ..b.clone()
        })
    }

    fn walk(pages: u32, page: u32, of: u32, end: WalkEnd) -> Walk {
        Walk {
            pages,
            last_pager: Some(Pager { page, of }),
            end,
        }
    }

    fn scraped(books: Vec<Found>, walk: Walk) -> Scraped {
        Scraped {
            books,
            walk,
            stats: ScrapeStats::default(),
        }
    }

    const FULL: Walk = Walk {
        pages: 3,
        last_pager: Some(Pager { page: 3, of: 3 }),
        end: WalkEnd::NoNext,
    };

    #[test]
    fn a_walk_is_complete_only_at_the_page_its_pager_calls_the_last() {
        assert!(walk(50, 50, 50, WalkEnd::NoNext).complete());
        assert!(!walk(45, 45, 50, WalkEnd::NoNext).complete());
        assert!(
            walk(3, 3, 3, WalkEnd::LoopedBack).complete(),
            "the last page looping back"
        );
        assert!(!walk(10, 10, 50, WalkEnd::LoopedBack).complete());
        assert!(
            walk(2, 2, 50, WalkEnd::PageLimit).complete(),
            "as far as asked"
        );
        let no_pager = |pages| Walk {
            pages,
            last_pager: None,
            end: WalkEnd::NoNext,
        };
        assert!(no_pager(1).complete(), "a catalogue of one page");
        assert!(!no_pager(7).complete(), "a pager that went missing");
    }

    #[test]
    fn a_book_whose_product_page_failed_is_kept_as_last_known() {
        let last = vec![book("a", "u1"), book("b", "u2")];
        let now = scraped(vec![Found::Whole(book("a", "u1")), unread(&last[1])], FULL);
        let taken = now.against(Some(&last));
        assert_eq!(taken.books, last);
        assert_eq!((taken.kept_unread, taken.listing_only), (1, 0));
        assert!(changes::diff(&last, &taken.books, &Default::default()).is_empty());
    }

    #[test]
    fn an_unknown_book_whose_product_page_failed_stays_out_of_the_feed() {
        let last = vec![book("a", "u1")];
        let fresh = book("n", "u9");
        let now = scraped(vec![Found::Whole(book("a", "u1")), unread(&fresh)], FULL);
        let taken = now.against(Some(&last));
        assert_eq!(taken.listing_only, 1);
        assert_eq!(taken.books[1].upc, None);
        assert!(
            changes::diff(&last, &taken.books, &Default::default()).is_empty(),
            "not added by URL"
        );
        // Its page works again: added, once, by its UPC; nothing removed.
        let then = vec![book("a", "u1"), fresh];
        let events = changes::diff(&taken.books, &then, &Default::default());
        let got: Vec<_> = events.iter().map(|e| (e.event, e.book.key())).collect();
        assert_eq!(got, [(EventKind::Added, "n")]);
    }

    #[test]
    fn a_short_walk_keeps_the_books_it_did_not_reach() {
        let last = vec![book("a", "u1"), book("b", "u2"), book("c", "u3")];
        let mut changed = book("a", "u1");
        changed.price = "£2.00".into();
        let short = walk(1, 1, 2, WalkEnd::NoNext);
        let taken = scraped(vec![Found::Whole(changed.clone())], short).against(Some(&last));
        assert_eq!((taken.kept_missing, taken.proves_removals), (2, false));
        assert_eq!(taken.books, [changed, book("b", "u2"), book("c", "u3")]);
        let events = changes::diff(&last, &taken.books, &Default::default());
        let got: Vec<_> = events.iter().map(|e| (e.event, e.book.key())).collect();
        assert_eq!(got, [(EventKind::Changed, "a")], "seen changes still count");
        // A complete walk that lacks them removes them.
        let full = scraped(vec![Found::Whole(book("a", "u1"))], FULL).against(Some(&last));
        assert_eq!(full.books.len(), 1);
        assert!(full.proves_removals);
    }

    #[test]
    fn a_walk_with_an_unidentified_book_removes_nothing() {
        // "b" moved to a new URL and its product page failed: it may be the unknown book.
        let last = vec![book("a", "u1"), book("b", "u2")];
        let moved = book("b", "u7");
        let now = scraped(vec![Found::Whole(book("a", "u1")), unread(&moved)], FULL);
        let taken = now.against(Some(&last));
        assert_eq!((taken.listing_only, taken.kept_missing), (1, 1));
        assert!(!taken.proves_removals);
        assert!(changes::diff(&last, &taken.books, &Default::default()).is_empty());
    }

    fn arb_catalogue() -> impl Strategy<Value = Vec<Book>> {
        proptest::collection::vec((0u8..20, 0u8..3), 0..15).prop_map(|raw| {
            let books = raw.into_iter().map(|(id, price)| Book {
                price: format!("£{price}.00"),
                ..book(&format!("k{id}"), &format!("u{id}"))
            });
            dedupe(books.collect()).0
        })
    }

    proptest! {
        /// Whatever the site did between two walks, failed product pages and a short walk
        /// never make an event the faithful walk would not, and never a `removed`.
        #[test]
        fn failures_and_short_walks_never_make_false_events(
            last in arb_catalogue(),
            now in arb_catalogue(),
            failed in proptest::collection::vec(any::<bool>(), 15),
            reached in 0usize..16,
        ) {
            let truth = changes::diff(&last, &now, &Default::default());
            let reached = reached.min(now.len());
            let found: Vec<Found> = now[..reached]
                .iter()
                .zip(failed.iter().chain(std::iter::repeat(&false)))
                .map(|(b, &f)| if f { unread(b) } else { Found::Whole(b.clone()) })
                .collect();
            let complete = reached == now.len();
            let end = Walk {
                pages: 2,
                last_pager: Some(Pager { page: if complete { 2 } else { 1 }, of: 2 }),
                end: WalkEnd::NoNext,
            };
            let taken = scraped(found, end).against(Some(&last));
            let events = changes::diff(&last, &taken.books, &Default::default());
            for e in &events {
                prop_assert!(
                    truth.iter().any(|t| t.event == e.event && t.book == e.book),
                    "false {:?} of {}", e.event, e.book.key()
                );
                prop_assert!(taken.proves_removals || e.event != EventKind::Removed);
            }
            if complete && failed.iter().take(now.len()).all(|f| !f) {
                prop_assert_eq!(events, truth, "a faithful walk: exactly the truth");
            }
        }
    }

    #[test]
    fn a_key_listed_twice_is_kept_once_at_its_first_place() {
        let books = vec![
            book("a", "u1"),
            book("b", "u2"),
            book("a", "u3"),
            book("c", "u4"),
        ];
        let (kept, dropped) = dedupe(books);
        let keys: Vec<_> = kept.iter().map(Book::key).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(
            dropped,
            [Duplicate {
                key: "a".into(),
                first_url: "u1".into(),
                dropped_url: "u3".into()
            }]
        );
    }
}
