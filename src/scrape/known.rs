//! What the scraper knows of each product page between walks: the incremental refresh's
//! memory (`rotation.rs` decides from it, purely) and the conditional-request cache of
//! product pages in one entry a page, seeded at start from the saved catalogue; and the task
//! that reads one product page.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use super::budget::Pace;
use super::fetch::{FetchError, Fetched, Validators};
use super::parse::{self, ListingItem, ProductFields};
use super::rotation::{self, Listed, Seen};
use super::{Counted, MAX_CACHE_ENTRIES, Product, Scraper};
use crate::catalogue::Book;
use crate::events::Event;
use crate::events::scrape::{ProductPageFailed, ProductPageGone, ProductPageUnreadable};

/// One product page as last read: about 500 heap bytes a page with its key and table slot
/// (tests/scrape_heap.rs), where the page's parse in the cache and a second copy of it with
/// the listing entry in the record of reads came to about 1,950.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Known {
    /// Sent with the next read, so an unchanged page answers 304 (empty for a page known
    /// from a saved catalogue: its first read is a whole one).
    pub(super) validators: Validators,
    /// What the page gave the record: a 304 answers with these.
    pub(super) fields: ProductFields,
    pub(super) seen: Seen,
}

impl Scraper {
    /// Reads the product page of `item` (listing position `index`) in a task of its own.
    pub(super) fn spawn_product(
        &self,
        details: &mut JoinSet<(usize, Product, Counted)>,
        index: usize,
        item: &ListingItem,
        permits: &Arc<Semaphore>,
        pace: &Arc<Pace>,
    ) {
        let this = self.clone();
        let permits = Arc::clone(permits);
        let pace = Arc::clone(pace);
        let product_url = item.url.clone();
        details.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let (d, counted) = this.product(&product_url, &pace).await;
            (index, d, counted)
        });
    }

    /// A product page's fields (a 304 answering with the ones kept), or why there are none (a
    /// failure is logged as a warning).
    async fn product(&self, url: &Url, pace: &Pace) -> (Product, Counted) {
        let mut counted = Counted {
            requests: 1,
            ..Counted::default()
        };
        // Asked with validators only when there are fields kept for a 304 to answer with.
        let kept = self
            .known_get(url.as_str(), |k| {
                (!k.validators.is_empty()).then(|| (k.validators.clone(), k.fields.clone()))
            })
            .flatten();
        let product = match self
            .fetcher
            .get(url, kept.as_ref().map(|k| &k.0), pace)
            .await
        {
            Ok(Fetched::NotModified) => {
                counted.not_modified += 1;
                let (validators, fields) = kept.expect("304 only answers a conditional request");
                Product::Read(Box::new(fields), validators)
            }
            // The site sends no charset and its pages are UTF-8; stray bytes are replaced.
            Ok(Fetched::Body { bytes, validators }) => {
                match parse::parse_product(&String::from_utf8_lossy(&bytes)) {
                    Ok(d) => Product::Read(Box::new(ProductFields::from(&d)), validators),
                    Err(e) => {
                        ProductPageUnreadable { url, error: &e }.emit();
                        Product::Failed
                    }
                }
            }
            Err(FetchError::Status { status, .. }) if matches!(status.as_u16(), 404 | 410) => {
                ProductPageGone { url, status }.emit();
                Product::Gone
            }
            Err(e) => {
                ProductPageFailed { url, error: &e }.emit();
                Product::Failed
            }
        };
        (product, counted)
    }

    /// `f` of what is known of the product page at `url`, under the lock.
    pub(super) fn known_get<T>(&self, url: &str, f: impl FnOnce(&Known) -> T) -> Option<T> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.get(url).map(|k| f(k))
    }

    /// When each of `items` was last read, for the rotation (one lock for the whole walk).
    pub(super) fn rotate(
        &self,
        listed: &[(usize, &ListingItem)],
        verify: rotation::Verify,
    ) -> rotation::Choice {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let verified = |url: &str| known.get(url).map(|k| k.seen.verified);
        rotation::rotate(listed, verified, verify, Instant::now())
    }

    /// How long the product page read longest ago has gone unread (`None` before any read).
    pub fn oldest_verification(&self) -> Option<Duration> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.values().map(|k| k.seen.verified.elapsed()).max()
    }

    /// Whether the product page of `item` must be read now (new or changed entry).
    pub(super) fn is_urgent(&self, item: &ListingItem) -> bool {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        rotation::urgent(item, known.get(item.url.as_str()).map(|k| &k.seen))
    }

    /// Keeps what a read of the product page of `item` gave, up to [`MAX_CACHE_ENTRIES`]
    /// pages (past that, new pages are read whole every walk: slower, never unbounded).
    pub(super) fn saw(&self, item: &ListingItem, fields: &ProductFields, validators: Validators) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() < MAX_CACHE_ENTRIES || known.contains_key(item.url.as_str()) {
            let k = Known {
                validators,
                fields: fields.clone(),
                seen: Seen {
                    listed: Listed::of(item),
                    verified: Instant::now(),
                },
            };
            known.insert(item.url.as_str().into(), Box::new(k));
        }
    }

    /// After a complete walk: forgets every product page it did not list (or may not read), so
    /// that a delisted book's page neither counts as unread for ever (VerificationAge, STATUS's
    /// "products .. old") nor keeps its entry. A book listed again is read again, as a new one.
    /// Returns how many pages were forgotten.
    pub(super) fn keep_only<'a>(&self, listed: impl IntoIterator<Item = &'a str>) -> usize {
        let keep: HashSet<&str> = listed.into_iter().collect();
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let before = known.len();
        known.retain(|url, _| keep.contains(&**url));
        before - known.len()
    }

    pub(super) fn forget(&self, item: &ListingItem) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.remove(item.url.as_str());
    }

    /// Takes the books of a catalogue saved `saved_age` ago as product pages read (those read
    /// whole: with a UPC), so that the first walk after a start reads only the new or changed
    /// entries and the rotation's share, not every product page. When each page was read is
    /// not saved: see [`rotation::seeded_ages`]. A page already known is left as it is.
    /// Returns how many pages were taken.
    pub fn seed(&self, books: &[Book], saved_age: Duration, every: Duration) -> usize {
        let now = Instant::now();
        let read: Vec<(&Book, ProductFields)> = books
            .iter()
            .filter_map(|b| ProductFields::of_book(b).map(|f| (b, f)))
            .collect();
        let ages = rotation::seeded_ages(read.len(), saved_age, every);
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = 0;
        for ((book, fields), age) in read.into_iter().zip(ages) {
            // An age past what the clock can hold (a catalogue dated in the future is as old
            // as can be): not known, read at once. (Before the boot is fine on Linux.)
            let Some(verified) = now.checked_sub(age) else {
                continue;
            };
            if known.len() >= MAX_CACHE_ENTRIES || known.contains_key(book.url.as_str()) {
                continue;
            }
            let k = Known {
                validators: Validators::default(),
                fields,
                seen: Seen {
                    listed: Listed::of_book(book),
                    verified,
                },
            };
            known.insert(book.url.as_str().into(), Box::new(k));
            taken += 1;
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fetch::{FetchPolicy, Fetcher};

    fn scraper() -> Scraper {
        Scraper::new(Fetcher::new(FetchPolicy::default()).unwrap())
    }

    #[tokio::test]
    async fn books_read_whole_are_known_and_a_reload_keeps_them() {
        let read = Book::sample("a");
        let unread = Book {
            upc: None,
            url: "http://x/b".into(),
            ..Book::sample("b")
        };
        let first = scraper();
        let every = Duration::from_secs(3600);
        assert_eq!(first.oldest_verification(), None);
        assert_eq!(
            first.seed(&[read.clone(), unread], Duration::ZERO, every),
            1
        );
        assert!(first.known_get("http://x/a", |k| k.validators.is_empty()) == Some(true));
        assert_eq!(
            first.seed(&[read], Duration::ZERO, every),
            0,
            "known already"
        );
        // A catalogue dated in the future (as old as can be): nothing taken, read at once.
        let old = Book::sample("c");
        assert_eq!(first.seed(&[old], Duration::MAX, every), 0);
        let reloaded = scraper().remembering(&first);
        assert!(reloaded.oldest_verification().is_some());
        assert!(reloaded.known_get("http://x/a", |_| ()).is_some());
    }

    #[tokio::test]
    async fn a_complete_walk_forgets_the_pages_it_did_not_list() {
        let scraper = scraper();
        let every = Duration::from_secs(3600);
        let books = [Book::sample("a"), Book::sample("b")];
        assert_eq!(scraper.seed(&books, Duration::from_secs(60), every), 2);
        assert_eq!(scraper.keep_only(["http://x/a"]), 1);
        assert!(scraper.known_get("http://x/a", |_| ()).is_some());
        assert!(scraper.known_get("http://x/b", |_| ()).is_none());
        assert_eq!(scraper.keep_only(["http://x/a"]), 0);
        // A walk that listed none of them: nothing is left to count as unread.
        assert_eq!(scraper.keep_only([]), 1);
        assert_eq!(scraper.oldest_verification(), None);
    }
}
