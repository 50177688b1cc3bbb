//! The catalogue walk: listing pages in order (following "next"), product pages concurrently.
//!
//! A listing page that keeps failing fails the scrape (the catalogue would be incomplete); a
//! product page that keeps failing keeps the book with what the listing gave, and a warning.

mod absence;
pub mod budget;
mod courtesy;
pub mod fetch;
mod known;
mod listings;
pub mod parse;
pub mod robots;
pub mod rotation;
mod values;
pub mod walk;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use crate::catalogue::Book;
use crate::events::Event;
use crate::events::scrape::{
    ForeignLinkSkipped, ListedTwice, ListingWalkIncomplete, NextLinkLoopedBack,
};
pub use absence::Absences;
use budget::Pace;
use fetch::{FetchError, Fetcher, Validators};
use known::Known;
use parse::{ParseError, ProductFields};
use robots::Robots;
use rotation::Verify;
pub use walk::{Duplicate, Found, ScrapeStats, Scraped, Taken, Walk, WalkEnd, dedupe};

/// What to walk.
#[derive(Debug, Clone)]
pub struct ScrapePlan {
    /// Site root, e.g. `https://books.toscrape.com/`.
    pub site: Url,
    /// Stop after this many listing pages; `None` follows "next" to the end.
    pub pages: Option<u32>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Requests started per second at most, evenly spaced (`[site] max_requests_per_sec`).
    pub max_requests_per_sec: f64,
    /// Incremental: read only the product pages of new or changed listing entries, and the
    /// others on a rotation (`rotation.rs`); `None` reads every product page.
    pub verify: Option<Verify>,
}

/// Why a scrape produced no catalogue.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("listing page failed: {0}")]
    Listing(Box<FetchError>),
    #[error("listing page {url} is not a catalogue page: {source}")]
    ListingParse { url: String, source: ParseError },
    #[error("bad site URL {0}: cannot build /catalogue/page-1.html from it")]
    SiteUrl(String),
    #[error("listing page {url} lists no books (a redesign or a broken page?)")]
    Empty { url: String },
    #[error(
        "listing page {page} links to its next page on another origin ({link}); only {origin} is followed"
    )]
    ForeignNext {
        page: String,
        link: String,
        origin: String,
    },
    #[error("more than {MAX_LISTING_PAGES} listing pages; the walk was stopped there")]
    TooManyPages,
    #[error(
        "{0}: robots.txt cannot be read, so every page counts as disallowed (RFC 9309) until it can"
    )]
    Robots(Box<FetchError>),
    #[error("robots.txt disallows the listing page {url} for our user agent; nothing to walk")]
    Disallowed { url: String },
}

/// How long a `robots.txt` is used before it is fetched again.
pub const ROBOTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Most listing pages walked (the real site has 50): a site that paginates forever is cut off.
pub const MAX_LISTING_PAGES: u32 = 1000;
/// Most pages kept in the conditional-request cache (the real site has 1050).
pub const MAX_CACHE_ENTRIES: usize = 20_000;

/// What became of a product page.
#[derive(Debug, Clone)]
enum Product {
    /// Read now (a 304 answering with the fields kept), with the validators to ask with next
    /// time (boxed: a page's fields are ten, the other outcomes none).
    Read(Box<ProductFields>, Validators),
    /// Not read: listed as when it was last read, within `verify_every`; its fields then.
    Known(Box<ProductFields>),
    /// Failed after its retries, or unreadable.
    Failed,
    /// 404 or 410: the book is gone.
    Gone,
}

/// A `robots.txt` read: its site's origin, when, and its rules.
type RobotsRead = (String, Instant, Arc<Robots>);

/// A request gate and the budget (requests a second) it was made for.
type PaceFor = (f64, Arc<Pace>);

/// The scraper. Keeps a conditional-request cache across scrapes (for the daemon's refreshes):
/// of the listing pages, their parse; of the product pages, what the record takes from them
/// and when they were read (`known.rs`), one entry a page. Keyed by the URL's text, entries
/// behind an `Arc` or a `Box`: the tables' slots stay at 24 bytes (a `Url` key and the parse
/// inline made them about 370, 0.7 MiB of mostly empty slots for the site's 1050 pages).
#[derive(Debug, Clone)]
pub struct Scraper {
    fetcher: Fetcher,
    listings: Arc<Mutex<HashMap<Box<str>, Arc<listings::Kept>>>>,
    /// The last `robots.txt` read: its site's origin, when, and its rules.
    robots: Arc<Mutex<Option<RobotsRead>>>,
    /// The request gate, shared by every walk of this scraper (one after another, the next
    /// walk's first request keeps its distance from the last one's) with the budget it was made
    /// for.
    pace: Arc<Mutex<Option<PaceFor>>>,
    /// Each product page last read, by URL: its fields, validators, when, and the listing
    /// entry it was listed with.
    known: Arc<Mutex<HashMap<Box<str>, Box<Known>>>>,
}

impl Scraper {
    pub fn new(fetcher: Fetcher) -> Self {
        Self {
            fetcher,
            listings: Arc::default(),
            robots: Arc::default(),
            pace: Arc::default(),
            known: Arc::default(),
        }
    }

    /// Pages its walks have had answered so far (see [`Fetcher::answered`]).
    pub fn pages_answered(&self) -> u64 {
        self.fetcher.answered()
    }

    /// This scraper (a reloaded `[site]`'s client) with what `earlier` knows of the site's
    /// pages, so a reload does not make the next walk read every product page again, and
    /// its count of pages answered (a walk of `earlier` may still be running).
    pub fn remembering(self, earlier: &Scraper) -> Self {
        Self {
            fetcher: self.fetcher.counting_with(&earlier.fetcher),
            listings: Arc::clone(&earlier.listings),
            known: Arc::clone(&earlier.known),
            ..self
        }
    }

    /// [`Scraper::walk`] as plain books (a failed product page's book with the listing's
    /// fields only), for `bookstream scrape`.
    pub async fn scrape(&self, plan: &ScrapePlan) -> Result<(Vec<Book>, ScrapeStats), ScrapeError> {
        let scraped = self.walk(plan).await?;
        let books = scraped.books.into_iter().map(Found::into_book).collect();
        Ok((books, scraped.stats))
    }

    /// Walks the catalogue and returns its books in listing order, each key once, each marked
    /// with whether its product page was read, and how far the walk went. Only links on the
    /// site's own origin are followed; a "next" link back to a page already walked ends the
    /// walk.
    pub async fn walk(&self, plan: &ScrapePlan) -> Result<Scraped, ScrapeError> {
        let mut url = plan
            .site
            .join("catalogue/page-1.html")
            .map_err(|_| ScrapeError::SiteUrl(plan.site.to_string()))?;
        let origin = plan.site.origin();
        let pace = self.pace(plan.max_requests_per_sec);
        pace.new_walk();
        let robots = self.robots(&plan.site, &pace).await?;
        if let Some(delay) = robots.crawl_delay() {
            pace.at_least(delay);
        }
        let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
        let mut stats = ScrapeStats::default();
        let mut items = Vec::new();
        let mut visited = HashSet::new();
        let mut disallowed = HashSet::new();
        // Listed as last seen: read on the rotation, or taken as known.
        let mut candidates: Vec<usize> = Vec::new();
        let mut details: JoinSet<(usize, Product, Counted)> = JoinSet::new();
        let mut last_pager;
        let end = loop {
            if stats.listing_pages >= MAX_LISTING_PAGES {
                return Err(ScrapeError::TooManyPages);
            }
            visited.insert(url.clone());
            if !robots.allows(&url) {
                return Err(ScrapeError::Disallowed {
                    url: url.to_string(),
                });
            }
            let (page, counted) = {
                let _permit = permits.acquire().await;
                self.listing(&url, &pace).await?
            };
            counted.add_to(&mut stats);
            stats.listing_pages += 1;
            last_pager = page.pager;
            if page.items.is_empty() {
                return Err(ScrapeError::Empty {
                    url: url.to_string(),
                });
            }
            for item in page.items {
                if item.url.origin() != origin {
                    ForeignLinkSkipped {
                        page: &url,
                        link: &item.url,
                    }
                    .emit();
                    stats.foreign_links += 1;
                    continue;
                }
                let index = items.len();
                if !robots.allows(&item.url) {
                    tracing::debug!(url = %item.url, "robots.txt disallows {}; the book keeps its listing fields", item.url);
                    stats.disallowed += 1;
                    disallowed.insert(index);
                    items.push(item);
                    continue;
                }
                if plan.verify.is_some() && !self.is_urgent(&item) {
                    candidates.push(index);
                } else {
                    self.spawn_product(&mut details, index, &item, &permits, &pace);
                }
                items.push(item);
            }
            match page.next {
                Some(next) if next.origin() != origin => {
                    return Err(ScrapeError::ForeignNext {
                        page: url.to_string(),
                        link: next.to_string(),
                        origin: origin.ascii_serialization(),
                    });
                }
                Some(next) if visited.contains(&next) => {
                    NextLinkLoopedBack {
                        page: &url,
                        link: &next,
                    }
                    .emit();
                    break WalkEnd::LoopedBack;
                }
                Some(next) if plan.pages.is_none_or(|n| stats.listing_pages < n) => url = next,
                Some(_) => break WalkEnd::PageLimit,
                None => break WalkEnd::NoNext,
            }
        };
        let walk = Walk {
            pages: stats.listing_pages,
            last_pager,
            end,
        };
        if !walk.complete() {
            let says = last_pager.map_or("no \"Page N of M\"".to_owned(), |p| {
                format!("\"Page {} of {}\"", p.page, p.of)
            });
            ListingWalkIncomplete {
                page: &url,
                listing_pages: walk.pages,
                says,
            }
            .emit();
        }
        let mut found: Vec<Product> = vec![Product::Failed; items.len()];
        if let Some(verify) = plan.verify {
            let listed: Vec<(usize, &parse::ListingItem)> =
                candidates.iter().map(|&i| (i, &items[i])).collect();
            let choice = self.rotate(&listed, verify);
            for &i in &choice.rotation {
                self.spawn_product(&mut details, i, &items[i], &permits, &pace);
            }
            for &i in &choice.known {
                let fields = self.known_get(items[i].url.as_str(), |k| k.fields.clone());
                if let Some(fields) = fields {
                    found[i] = Product::Known(Box::new(fields));
                    stats.known += 1;
                }
            }
        }
        while let Some(joined) = details.join_next().await {
            // A panicking task is a bug; surface it rather than silently dropping a book.
            let (index, d, counted) =
                joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            counted.add_to(&mut stats);
            match &d {
                Product::Failed => stats.product_failures += 1,
                Product::Gone => self.forget(&items[index]),
                Product::Read(fields, validators) => {
                    self.saw(&items[index], fields, validators.clone())
                }
                Product::Known(_) => {}
            }
            if matches!(d, Product::Gone) {
                stats.gone += 1;
            }
            found[index] = d;
        }
        if walk.complete() {
            let listed = items
                .iter()
                .enumerate()
                .filter(|(i, _)| !disallowed.contains(i))
                .map(|(_, item)| item.url.as_str());
            let forgotten = self.keep_only(listed);
            if forgotten > 0 {
                tracing::debug!(
                    forgotten,
                    "{forgotten} product pages no longer listed forgotten"
                );
            }
        }
        let now = crate::catalogue::now();
        let merged: Vec<Found> = items
            .iter()
            .zip(&found)
            .enumerate()
            .map(|(index, (item, d))| match d {
                Product::Read(f, _) | Product::Known(f) => {
                    Found::Whole(parse::merge_fields(item, Some(f), &now))
                }
                Product::Gone => Found::Gone(parse::merge_fields(item, None, &now)),
                Product::Failed if disallowed.contains(&index) => {
                    Found::Disallowed(parse::merge_fields(item, None, &now))
                }
                Product::Failed => Found::ListingOnly(parse::merge_fields(item, None, &now)),
            })
            .collect();
        let (books, duplicates) = walk::dedupe_by(merged, Found::book);
        for d in &duplicates {
            ListedTwice {
                key: &d.key,
                first: &d.first_url,
                dropped: &d.dropped_url,
            }
            .emit();
        }
        stats.duplicates = duplicates.len() as u32;
        stats.products = books.len() as u32;
        Ok(Scraped { books, walk, stats })
    }
}

/// Per-task request counts, summed into [`ScrapeStats`].
#[derive(Debug, Default)]
struct Counted {
    requests: u32,
    not_modified: u32,
}

impl Counted {
    fn add_to(&self, stats: &mut ScrapeStats) {
        stats.requests += self.requests;
        stats.not_modified += self.not_modified;
    }
}
