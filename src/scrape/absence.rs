//! Never cry wolf: a book that a complete, healthy walk did not list is not gone yet. It is
//! kept as last known until `[site] removed_after` complete walks in a row have not listed
//! it (a listing that shuffled a book past a page boundary between two page fetches, or a
//! page served stale by a cache, shows it again the next time), unless its product page
//! answered 404 or 410, which is proof at once. Walks that prove nothing (incomplete, or with
//! a book they could not identify) neither count nor reset a book's absences.
//!
//! The counts live in memory: after a restart they start again, which delays a removal by at
//! most that many walks and never makes one early.

use std::collections::{HashMap, HashSet};

use crate::catalogue::Book;

use super::walk::Taken;

/// Complete walks in a row that did not list each book, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Absences {
    walks: HashMap<String, u32>,
}

impl Absences {
    /// How many complete walks in a row have not listed the book of `key`.
    pub fn of(&self, key: &str) -> u32 {
        self.walks.get(key).copied().unwrap_or(0)
    }

    /// `taken` (judged against `last`) with the books a complete walk missed kept back until
    /// they have been missed `removed_after` times in a row, and the counts to keep for the
    /// next walk.
    pub fn judge(
        &self,
        mut taken: Taken,
        last: Option<&[Book]>,
        removed_after: u32,
    ) -> (Taken, Absences) {
        let last = last.unwrap_or_default();
        // What the walk listed: the books a short walk did not reach come after them.
        let listed = taken.books.len() - (taken.kept_missing as usize).min(taken.books.len());
        let seen: HashSet<String> = taken.books[..listed]
            .iter()
            .map(|b| b.key().to_owned())
            .collect();
        let mut next = Absences::default();
        for book in last.iter().filter(|b| !seen.contains(b.key())) {
            if taken.gone.contains(&book.url) {
                continue;
            }
            let missed = self.of(book.key());
            if !taken.proves_removals {
                // Kept by the walk's own judgement (after the listed books); the count
                // stands still.
                if missed > 0 {
                    next.walks.insert(book.key().to_owned(), missed);
                }
                continue;
            }
            let missed = missed + 1;
            if missed < removed_after.max(1) {
                tracing::debug!(
                    key = book.key(), url = %book.url, missed, removed_after,
                    "{} not listed by {missed} complete walk(s) in a row; removed only after {removed_after}",
                    book.key()
                );
                next.walks.insert(book.key().to_owned(), missed);
                taken.books.push(book.clone());
                taken.pending_removal += 1;
            }
        }
        (taken, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{self, EventKind};
    use crate::scrape::parse::Pager;
    use crate::scrape::{Found, ScrapeStats, Scraped, Walk, WalkEnd};

    fn book(upc: &str) -> Book {
        Book {
            url: format!("u-{upc}"),
            ..Book::sample(upc)
        }
    }

    fn walk(found: Vec<Found>, complete: bool) -> Scraped {
        Scraped {
            books: found,
            walk: Walk {
                pages: 2,
                last_pager: Some(Pager {
                    page: if complete { 2 } else { 1 },
                    of: 2,
                }),
                end: WalkEnd::NoNext,
            },
            stats: ScrapeStats::default(),
        }
    }

    fn removed(last: &[Book], now: &[Book]) -> Vec<String> {
        changes::diff(last, now, &Default::default())
            .into_iter()
            .filter(|e| e.event == EventKind::Removed)
            .map(|e| e.book.key().to_owned())
            .collect()
    }

    #[test]
    fn a_book_is_removed_after_the_second_complete_walk_that_misses_it() {
        let last = vec![book("a"), book("b")];
        let one = walk(vec![Found::Whole(book("a"))], true).against(Some(&last));
        let (first, counts) = Absences::default().judge(one, Some(&last), 2);
        assert_eq!(first.pending_removal, 1);
        assert!(
            removed(&last, &first.books).is_empty(),
            "not after one walk"
        );
        assert_eq!(counts.of("b"), 1);
        // An incomplete walk in between proves nothing and forgets nothing.
        let short = walk(vec![Found::Whole(book("a"))], false).against(Some(&first.books));
        let (between, counts) = counts.judge(short, Some(&first.books), 2);
        assert!(removed(&first.books, &between.books).is_empty());
        assert_eq!(counts.of("b"), 1);
        let two = walk(vec![Found::Whole(book("a"))], true).against(Some(&between.books));
        let (second, counts) = counts.judge(two, Some(&between.books), 2);
        assert_eq!(removed(&between.books, &second.books), ["b"]);
        assert_eq!(counts, Absences::default());
    }

    #[test]
    fn a_book_listed_again_starts_from_zero_and_a_gone_page_is_removed_at_once() {
        let last = vec![book("a"), book("b")];
        let one = walk(vec![Found::Whole(book("a"))], true).against(Some(&last));
        let (first, counts) = Absences::default().judge(one, Some(&last), 2);
        let back = walk(vec![Found::Whole(book("a")), Found::Whole(book("b"))], true);
        let (_, counts) = counts.judge(back.against(Some(&first.books)), Some(&first.books), 2);
        assert_eq!(counts.of("b"), 0);
        // Its product page answers 410 (the listing still shows it): gone now, even from a
        // walk that is short.
        let gone = Book {
            upc: None,
            ..book("b")
        };
        let now = walk(vec![Found::Whole(book("a")), Found::Gone(gone)], false);
        let (taken, _) = counts.judge(now.against(Some(&last)), Some(&last), 2);
        assert_eq!(removed(&last, &taken.books), ["b"]);
    }

    #[test]
    fn removed_after_one_removes_at_the_first_complete_walk() {
        let last = vec![book("a"), book("b")];
        let one = walk(vec![Found::Whole(book("a"))], true).against(Some(&last));
        let (taken, _) = Absences::default().judge(one, Some(&last), 1);
        assert_eq!(removed(&last, &taken.books), ["b"]);
    }
}
